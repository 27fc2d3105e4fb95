"""Seed a database with a large history for benchmarks: requests and a hash-chained audit trail, with COPY.

`python -m bench.seed --requests 100000 --events 1000000` (with the portal's settings in the environment),
or `seed_history(...)` from the benchmark. Development only: not part of the installed package.

The audit events are chained exactly as `audit_record` chains them (each row carries the keyed HMAC of the
one before and of itself, computed by `audit.chain_hash`), so `manage.py verify_audit` passes on the result.
"""

import argparse
import os
import random
import secrets
import sys
import time
from datetime import timedelta

from portal.devstack import tenant
from portal.devstack.personas import Person, demo_user, make_people

# Final states (AccessRequest.State values) in the proportions a year of use might leave;
# the pending ones are recent (below).
FINAL_STATES = ["expired"] * 12 + ["revoked"] * 3 + ["denied"] * 2 + ["cancelled"] * 2 + ["failed"]
# The actions of one request's life, cut to the number of events each request gets.
LIFE = {
    "expired": ["request.created", "request.approval", "request.approved", "grant.issued", "grant.revealed"],
    "revoked": ["request.created", "request.approval", "request.approved", "grant.issued", "grant.revealed"],
    "denied": ["request.created", "request.denied"],
    "cancelled": ["request.created", "request.cancelled"],
    "failed": ["request.created", "request.approved", "grant.issue_failed"],
    "pending": ["request.created"],
}
ENDINGS = {
    "expired": ["grant.ended", "grant.expired"],
    "revoked": ["grant.revoke_requested", "grant.revoked"],
}
# Filler actions between a grant's start and its end: extensions and their decisions.
FILLER = ["request.extension_requested", "request.approval", "request.approved", "grant.extended", "grant.issued"]
# The heavy user's share of the requests: 1%, and in a small seeding enough for well over a full page of the API's
# lists (50), so that a list measured on the small history and on the whole one shows the same number of rows.
HEAVY_SHARE = 0.01
HEAVY_AT_LEAST = 75
USER_ACTIONS = {"request.created", "request.cancelled", "grant.revealed", "grant.revoke_requested"}
APPROVER_ACTIONS = {"request.approval", "request.denied"}
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

REQUEST_COLUMNS = [
    "id",
    "role_id",
    "requester_id",
    "state",
    "justification",
    "ticket",
    "duration_minutes",
    "created_at",
    "updated_at",
    "decided_at",
    "starts_at",
    "ends_at",
    "vault_token_accessor",
    "wrapped_secret",
    "revoke_reason",
    "closing_as",
    "issue_attempts",
    "last_error",
]
EVENT_COLUMNS = [
    "at",
    "actor_id",
    "actor_label",
    "action",
    "request_id",
    "role_id",
    "ip",
    "user_agent",
    "details",
    "prev_hash",
    "hash",
]


class SeedError(ValueError):
    """The seeding cannot run as asked (no catalog, too few people); nothing was written."""


def seed_history(
    *,
    requests: int = 100_000,
    events: int = 1_000_000,
    users: int = 1_000,
    pending: int = 100,
    heavy_user: str = "alice",
    days: int = 365,
    seed: int = 8,
    say=print,
) -> None:
    """Add `requests` requests and `events` chained audit events to the portal database; say how it went."""
    from django.db import connection, transaction

    from portal.access.models import AccessRole

    if requests < 1 or events < requests:
        raise SeedError("Seed at least one request and at least one event per request.")
    roles = list(AccessRole.objects.order_by("pk"))
    if not roles:
        raise SeedError("Load a catalog first (manage.py seed_demo).")
    if pending > users:
        raise SeedError("A user has one pending request per role: seed more users than pending requests.")
    rng = random.Random(seed)
    started = time.monotonic()
    seeded = _users(users)
    heavy = demo_user(heavy_user)
    approver = demo_user("bob")
    say(f"{len(seeded)} seeded users ({time.monotonic() - started:.1f} s)")
    with transaction.atomic():
        rows = _requests(rng, roles, seeded, heavy, count=requests, pending=pending, days=days)
        say(f"{len(rows)} requests ({time.monotonic() - started:.1f} s)")
        written = _events(rng, rows, events, approver)
        say(f"{written} audit events ({time.monotonic() - started:.1f} s)")
    # As autovacuum would leave them after a while: statistics, and a visibility map for index-only scans
    # (VACUUM cannot run in a transaction: inside a caller's, statistics only).
    statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} access_accessrequest")
        cursor.execute(f"{statement} access_auditevent")
    say(f"Seeded in {time.monotonic() - started:.1f} s.")


def _users(count: int) -> list:
    """Create the seeded requesters (in every requester group, groups read just now) and return them."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    existing = set(User.objects.filter(username__startswith="seed-").values_list("username", flat=True))
    groups = (tenant.GROUPS["analytics-readers"], tenant.GROUPS["orders-engineers"], tenant.GROUPS["dba"])
    upns = [f"seed-{n}@{tenant.EMAIL_DOMAIN}" for n in range(count)]
    make_people(
        [
            Person(upn=upn, oid=f"5eed0000-0000-4000-8000-{n:012d}", display_name=upn.split("@")[0], group_ids=groups)
            for n, upn in enumerate(upns)
            if upn not in existing
        ]
    )
    return list(User.objects.filter(username__startswith="seed-").select_related("profile").order_by("pk"))


def _requests(rng, roles, users, heavy, *, count: int, pending: int, days: int) -> list[tuple]:
    """COPY the requests in; return (id, role, requester, state, created_at) of each, oldest first."""
    from django.db import connection

    from portal.access.models import OPEN_STATES, AccessRequest
    from portal.access.selectors import RECENT_LIMIT
    from portal.core import clock

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('access_accessrequest', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    heavy_share = max(HEAVY_SHARE, min(1.0, HEAVY_AT_LEAST / max(1, count - pending)))
    current = clock.now()
    span = timedelta(days=days)
    step = span / count
    start = current - span
    pending_role = next((role for role in roles if role.approvals_required), roles[0])
    # The waiting ones were asked within the last half of their role's pending lifetime, a minute apart at most:
    # the sweeper that expires requests nobody reviewed in time leaves them waiting while the history is used.
    waiting_step = min(
        timedelta(minutes=1), timedelta(minutes=pending_role.pending_lifetime_minutes) / (2 * pending or 1)
    )
    # One open request per person and role: the waiting ones go to people who have none for that role yet.
    busy = set(
        AccessRequest.objects.filter(role=pending_role, state__in=OPEN_STATES, extends=None).values_list(
            "requester_id", flat=True
        )
    )
    free = [user for user in users if user.pk not in busy]
    if len(free) < pending:
        raise SeedError(f"Only {len(free)} seeded users have no open {pending_role.slug} request; seed more.")
    # The people waiting for review asked before, more often than the approval queue shows beside each item: a
    # small history's queue shows as much as a large one's, whose requesters have a hundred requests each.
    asked_before = min(pending * (RECENT_LIMIT + 2), count - pending)
    rows = []
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY access_accessrequest ({', '.join(REQUEST_COLUMNS)}) FROM STDIN") as copy,
    ):
        for index, request_id in enumerate(ids):
            # The last `pending` requests are recent and wait for review, one per user (the open-request rule).
            waiting = index >= count - pending
            if waiting:
                requester = free[index - (count - pending)]
            elif rng.random() < heavy_share:
                requester = heavy
            elif index < asked_before:
                requester = free[index % pending]
            else:
                requester = rng.choice(users)
            role = pending_role if waiting else rng.choice(roles)
            state = AccessRequest.State.PENDING if waiting else rng.choice(FINAL_STATES)
            created = current - waiting_step * (count - index) if waiting else start + step * index
            duration = min(role.default_duration_minutes, role.max_duration_minutes)
            issued = state in (AccessRequest.State.EXPIRED, AccessRequest.State.REVOKED)
            starts = created + timedelta(minutes=5) if issued else None
            ends = starts + timedelta(minutes=duration) if issued else None
            copy.write_row(
                (
                    request_id,
                    role.pk,
                    requester.pk,
                    state,
                    f"Bench request {request_id}: investigate the order export",
                    f"OPS-{request_id}" if role.ticket_required else "",
                    duration,
                    created,
                    ends or created,
                    None if waiting else created + timedelta(minutes=2),
                    starts,
                    ends,
                    secrets.token_hex(12) if issued else "",
                    "",
                    "Done early" if state == AccessRequest.State.REVOKED else "",
                    "",
                    1 if issued or state == AccessRequest.State.FAILED else 0,
                    "Vault refused the request" if state == AccessRequest.State.FAILED else "",
                )
            )
            rows.append((request_id, role, requester, state, created))
    return rows


def _events(rng, rows, total: int, approver) -> int:
    """COPY the audit events in, chained onto the newest existing event; return how many."""
    from django.db import connection
    from psycopg.types.json import Jsonb

    from portal.access.audit import _lock_chain_at_head, chain_hash
    from portal.access.models import AuditEvent

    per_request, extra = divmod(total, len(rows))
    # The same lock `audit_record` takes, and the head read under it: no other writer can slip a row into the
    # chain meanwhile.
    prev = _lock_chain_at_head()
    written = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY access_auditevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy,
    ):
        for index, (request_id, role, requester, state, created) in enumerate(rows):
            actions = _life(state, per_request + (1 if index < extra else 0))
            for offset, action in enumerate(actions):
                if action in USER_ACTIONS:
                    actor, ip, agent = requester, f"10.{index % 250}.{offset}.{index % 199 + 1}", AGENT
                elif action in APPROVER_ACTIONS:
                    actor, ip, agent = approver, "10.0.0.2", AGENT
                else:
                    actor, ip, agent = None, None, ""
                event = AuditEvent(
                    at=created + timedelta(seconds=offset),
                    actor_id=actor.pk if actor else None,
                    actor_label=actor.username if actor else "system",
                    action=action,
                    request_id=request_id,
                    role_id=role.pk,
                    ip=ip,
                    user_agent=agent,
                    details=_details(action, rng),
                    prev_hash=prev,
                )
                event.hash = chain_hash(event)
                prev = event.hash
                copy.write_row(
                    (
                        event.at,
                        event.actor_id,
                        event.actor_label,
                        event.action,
                        event.request_id,
                        event.role_id,
                        event.ip,
                        event.user_agent,
                        Jsonb(event.details),
                        event.prev_hash,
                        event.hash,
                    )
                )
                written += 1
    return written


def _life(state: str, count: int) -> list[str]:
    """Return `count` actions for a request that ended in `state`: its start, fillers, its end."""
    head, tail = LIFE[state], ENDINGS.get(state, [])
    if count <= len(head):
        return head[:count]
    middle = count - len(head) - len(tail)
    if middle < 0:
        return (head + tail)[:count]
    return head + [FILLER[i % len(FILLER)] for i in range(middle)] + tail


def _details(action: str, rng) -> dict:
    if action == "request.created":
        return {"duration_minutes": 60, "ticket": "", "starts_at": None, "eligible_through": ["orders-engineers"]}
    if action in ("grant.issued", "grant.expired", "grant.revoked"):
        return {"token_accessor": f"{rng.getrandbits(96):024x}"}
    if action == "request.approval":
        return {"comment": "ok", "approvals": 1, "required": 1}
    if action == "request.denied":
        return {"comment": "Not during the freeze"}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000, help="seeded requesters (seed-N@contoso.example)")
    parser.add_argument("--pending", type=int, default=100, help="of the requests, how many wait for review")
    parser.add_argument(
        "--heavy-user", default="alice", help="a persona with 1%% of the requests, at least 60 (created if missing)"
    )
    parser.add_argument("--days", type=int, default=365, help="how far back the history goes")
    parser.add_argument("--seed", type=int, default=8, help="random seed, for the same data on every run")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    try:
        seed_history(**vars(args))
    except SeedError as error:
        print(f"Cannot seed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
