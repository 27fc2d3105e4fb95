"""Seed a database with a large history for benchmarks: requests and a hash-chained audit trail, with COPY.

The audit events are chained exactly as `audit_record` chains them (each row carries the SHA-256 of the
one before, computed by `AuditEvent.compute_hash`), so `manage.py verify_audit` passes on the result.
"""

import random
import secrets
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg.types.json import Jsonb

from portal.access.audit import _CHAIN_LOCK, GENESIS_HASH
from portal.access.models import OPEN_STATES, AccessRequest, AccessRole, AuditAction, AuditEvent
from portal.accounts.models import Profile
from portal.core import clock
from portal.devstack import tenant

State = AccessRequest.State
A = AuditAction

# Final states in the proportions a year of use might leave; the pending ones are recent (below).
FINAL_STATES = [State.EXPIRED] * 12 + [State.REVOKED] * 3 + [State.DENIED] * 2 + [State.CANCELLED] * 2 + [State.FAILED]
# The actions of one request's life, cut to the number of events each request gets.
LIFE = {
    State.EXPIRED: [A.REQUEST_CREATED, A.REQUEST_APPROVAL, A.REQUEST_APPROVED, A.GRANT_ISSUED, A.GRANT_REVEALED],
    State.REVOKED: [A.REQUEST_CREATED, A.REQUEST_APPROVAL, A.REQUEST_APPROVED, A.GRANT_ISSUED, A.GRANT_REVEALED],
    State.DENIED: [A.REQUEST_CREATED, A.REQUEST_DENIED],
    State.CANCELLED: [A.REQUEST_CREATED, A.REQUEST_CANCELLED],
    State.FAILED: [A.REQUEST_CREATED, A.REQUEST_APPROVED, A.GRANT_ISSUE_FAILED],
    State.PENDING: [A.REQUEST_CREATED],
}
ENDINGS = {
    State.EXPIRED: [A.GRANT_ENDED, A.GRANT_EXPIRED],
    State.REVOKED: [A.GRANT_REVOKE_REQUESTED, A.GRANT_REVOKED],
}
# Filler actions between a grant's start and its end: extensions and their decisions.
FILLER = [A.REQUEST_EXTENSION_REQUESTED, A.REQUEST_APPROVAL, A.REQUEST_APPROVED, A.GRANT_EXTENDED, A.GRANT_ISSUED]
USER_ACTIONS = {A.REQUEST_CREATED, A.REQUEST_CANCELLED, A.GRANT_REVEALED, A.GRANT_REVOKE_REQUESTED}
APPROVER_ACTIONS = {A.REQUEST_APPROVAL, A.REQUEST_DENIED}
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


class Command(BaseCommand):
    help = "Seed requests and a verifiable audit trail in bulk (COPY), for benchmarks. Adds to what is there."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=100_000)
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=1_000, help="seeded requesters (seed-N@contoso.example)")
        parser.add_argument("--pending", type=int, default=100, help="of the requests, how many wait for review")
        parser.add_argument(
            "--heavy-user", default="alice", help="a demo persona who gets 1%% of the requests (created if missing)"
        )
        parser.add_argument("--days", type=int, default=365, help="how far back the history goes")
        parser.add_argument("--seed", type=int, default=8, help="random seed, for the same data on every run")

    def handle(self, *args, **options):
        requests, events = options["requests"], options["events"]
        if requests < 1 or events < requests:
            raise CommandError("Seed at least one request and at least one event per request.")
        roles = list(AccessRole.objects.order_by("pk"))
        if not roles:
            raise CommandError("Load a catalog first (manage.py seed_demo).")
        if options["pending"] > options["users"]:
            raise CommandError("A user has one pending request per role: seed more users than pending requests.")
        rng = random.Random(options["seed"])
        started = time.monotonic()
        users = self._users(options["users"])
        heavy = self._persona(options["heavy_user"])
        approver = self._persona("bob")
        self.stdout.write(f"{len(users)} seeded users ({time.monotonic() - started:.1f} s)")
        with transaction.atomic():
            rows = self._requests(rng, roles, users, heavy, options)
            self.stdout.write(f"{len(rows)} requests ({time.monotonic() - started:.1f} s)")
            written = self._events(rng, rows, events, approver, options["days"])
            self.stdout.write(f"{written} audit events ({time.monotonic() - started:.1f} s)")
        # As autovacuum would leave them after a while: statistics, and a visibility map for index-only scans
        # (VACUUM cannot run in a transaction: inside a caller's, statistics only).
        statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{statement} access_accessrequest")
            cursor.execute(f"{statement} access_auditevent")
        self.stdout.write(f"Seeded in {time.monotonic() - started:.1f} s.")

    def _users(self, count: int) -> list:
        """Create the seeded requesters (in every requester group, groups read just now) and return them."""
        User = get_user_model()
        existing = {user.username: user for user in User.objects.filter(username__startswith="seed-")}
        groups = [tenant.GROUPS["analytics-readers"], tenant.GROUPS["orders-engineers"], tenant.GROUPS["dba"]]
        new = [
            User(username=f"seed-{n}@{tenant.EMAIL_DOMAIN}", email=f"seed-{n}@{tenant.EMAIL_DOMAIN}")
            for n in range(count)
            if f"seed-{n}@{tenant.EMAIL_DOMAIN}" not in existing
        ]
        User.objects.bulk_create(new, batch_size=1000)
        Profile.objects.bulk_create(
            [
                Profile(
                    user=user,
                    tid=tenant.TENANT_ID,
                    oid=f"5eed0000-0000-4000-8000-{user.pk:012d}",
                    upn=user.username,
                    display_name=user.username.split("@")[0],
                    email=user.username,
                    groups=groups,
                    groups_read_at=clock.now(),
                )
                for user in new
            ],
            batch_size=1000,
        )
        return list(User.objects.filter(username__startswith="seed-").select_related("profile").order_by("pk"))

    def _persona(self, name: str):
        User = get_user_model()
        demo = tenant.USERS[name]
        user = User.objects.filter(username=demo.upn).first()
        if user is None:
            user = User.objects.create(username=demo.upn, email=demo.upn, first_name=demo.display_name)
            Profile.objects.create(
                user=user,
                tid=tenant.TENANT_ID,
                oid=demo.oid,
                upn=demo.upn,
                display_name=demo.display_name,
                email=demo.upn,
                groups=demo.group_ids,
                groups_read_at=clock.now(),
            )
        return user

    def _requests(self, rng, roles, users, heavy, options) -> list[tuple]:
        """COPY the requests in; return (id, role, requester, state, created_at) of each, oldest first."""
        count, pending = options["requests"], options["pending"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('access_accessrequest', 'id')) FROM generate_series(1, %s)",
                [count],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
        current = clock.now()
        span = timedelta(days=options["days"])
        step = span / count
        start = current - span
        pending_role = next((role for role in roles if role.approvals_required), roles[0])
        # One open request per person and role: the waiting ones go to people who have none for that role yet.
        busy = set(
            AccessRequest.objects.filter(role=pending_role, state__in=OPEN_STATES, extends=None).values_list(
                "requester_id", flat=True
            )
        )
        free = [user for user in users if user.pk not in busy]
        if len(free) < pending:
            raise CommandError(f"Only {len(free)} seeded users have no open {pending_role.slug} request; seed more.")
        rows = []
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY access_accessrequest ({', '.join(REQUEST_COLUMNS)}) FROM STDIN") as copy,
        ):
            for index, request_id in enumerate(ids):
                # The last `pending` requests are recent and wait for review, one per user (the open-request rule).
                waiting = index >= count - pending
                requester = free[index - (count - pending)] if waiting else rng.choice(users)
                if not waiting and rng.random() < 0.01:
                    requester = heavy
                role = pending_role if waiting else rng.choice(roles)
                state = State.PENDING if waiting else rng.choice(FINAL_STATES)
                created = start + step * index
                duration = min(role.default_duration_minutes, role.max_duration_minutes)
                issued = state in (State.EXPIRED, State.REVOKED)
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
                        "Done early" if state == State.REVOKED else "",
                        "",
                        1 if issued or state == State.FAILED else 0,
                        "Vault refused the request" if state == State.FAILED else "",
                    )
                )
                rows.append((request_id, role, requester, state, created))
        return rows

    def _events(self, rng, rows, total: int, approver, days: int) -> int:
        """COPY the audit events in, chained onto the newest existing event; return how many."""
        per_request, extra = divmod(total, len(rows))
        with connection.cursor() as cursor:
            # The same lock `audit_record` takes: no other writer can slip a row into the chain meanwhile.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
            cursor.execute("SELECT hash FROM access_auditevent ORDER BY id DESC LIMIT 1")
            last = cursor.fetchone()
        prev = last[0] if last else GENESIS_HASH
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
                    event.hash = event.compute_hash()
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
    if action == A.REQUEST_CREATED:
        return {"duration_minutes": 60, "ticket": "", "starts_at": None, "eligible_through": ["orders-engineers"]}
    if action in (A.GRANT_ISSUED, A.GRANT_EXPIRED, A.GRANT_REVOKED):
        return {"token_accessor": f"{rng.getrandbits(96):024x}"}
    if action == A.REQUEST_APPROVAL:
        return {"comment": "ok", "approvals": 1, "required": 1}
    if action == A.REQUEST_DENIED:
        return {"comment": "Not during the freeze"}
    return {}
