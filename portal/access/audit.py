"""The audit trail: one writer that keeps the keyed chain, a reader that verifies it, and its anchor in Vault.

Each event carries `hash`, an HMAC-SHA256 (key: `AUDIT_CHAIN_KEY`, never in the database) of the
previous event's `hash` and of its own content. Someone with the database but not the key can
neither edit, insert nor recompute an event unseen. Beat anchors the head (event ID, HMAC, number
of events, time) in Vault every `AUDIT_ANCHOR_INTERVAL_SECONDS`, so deleting the newest events is seen
too, once they were anchored. A database trigger refuses UPDATE, DELETE and TRUNCATE of the table.

Events written before the chain was keyed (an unkeyed SHA-256 chain) stay as they are: the
migration that introduced the key appended one keyed `audit.chain_keyed` event that names the
last unkeyed event and is chained to its hash, so the older events are held by the key too.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, models, transaction

from portal.access.models import AuditAction, AuditEvent
from portal.accounts.models import Profile
from portal.core.client_ip import client_ip
from portal.core.clock import now
from portal.integrations import vault

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# The event that marks where the keyed chain took over from the unkeyed one of earlier releases.
CHAIN_KEYED = AuditAction.AUDIT_CHAIN_KEYED
# Key of the PostgreSQL advisory lock that serialises writers of the chain.
_CHAIN_LOCK = 0x4C41544348  # "LATCH"
# Person flags whose every change is audited: who may sign in, who is an application, who is admin.
PERSON_FLAGS = ("is_active", "is_application", "is_staff", "is_superuser")
NEW_PERSON_FLAGS = {"is_active": True, "is_application": False, "is_staff": False, "is_superuser": False}


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    profile = getattr(actor, "profile", None)
    return (profile.upn if profile is not None and profile.upn else "") or actor.get_username()


def _client(http_request) -> tuple[str | None, str]:
    if http_request is None:
        return None, ""
    # The client behind the portal's own proxies (TRUSTED_PROXIES); a header anyone else sent is not believed.
    return client_ip(http_request) or None, http_request.META.get("HTTP_USER_AGENT", "")[:500]


def chain_hash(event) -> str:
    """Return the keyed hash of `event`: HMAC-SHA256 of the previous event's hash and of its content."""
    # Called on the class so that it also serves the migrations' historical model instances.
    message = (event.prev_hash + AuditEvent.canonical(event)).encode()
    return hmac.new(settings.AUDIT_CHAIN_KEY.encode(), message, hashlib.sha256).hexdigest()


def audit_proves(*, request, action: AuditAction) -> bool:
    """Return whether the history holds `action` for `request` written by a holder of the chain key.

    Someone with the database alone can insert an event, but not one whose HMAC the key confirms.
    """
    return request.pk in audit_proven(requests=[request], action=action)


def audit_proven(*, requests, action: AuditAction) -> set[int]:
    """Return the IDs of those of `requests` for which `audit_proves` holds, read in one query.

    The query reads the switch to the keyed chain with the events: it says which events were hashed without
    the key. A switch that the key does not confirm leaves nothing unkeyed: every event must then match the key.
    """
    events = list(
        AuditEvent.objects.filter(
            models.Q(request__in=requests, action=action) | models.Q(action=CHAIN_KEYED)
        ).order_by("id")
    )
    switch = next((event for event in events if event.action == CHAIN_KEYED), None)
    unkeyed_through = _unkeyed_through(switch, proving=True)
    proven = set()
    for event in events:
        if event.action != action or event.request_id in proven:
            continue
        if event.id > unkeyed_through:
            if hmac.compare_digest(event.hash, chain_hash(event)):
                proven.add(event.request_id)
        elif _held_by_switch(event, switch):
            proven.add(event.request_id)
    return proven


def _held_by_switch(event, switch) -> bool:
    """Return whether the unkeyed `event` is in the unkeyed chain that the (confirmed) keyed `switch` holds.

    Anyone with the database can hash an event the unkeyed way, and could insert one where a rolled-back
    insert left a free ID: only the links from it up to the switch, each event's unkeyed hash intact and the
    switch's HMAC over the last one, show that it was written before the take-over.
    """
    prev = event.hash
    if not hmac.compare_digest(prev, event.compute_hash()):
        return False
    for later in AuditEvent.objects.filter(id__gt=event.id, id__lt=switch.id).order_by("id").iterator(chunk_size=2000):
        if later.prev_hash != prev or not hmac.compare_digest(later.hash, later.compute_hash()):
            return False
        prev = later.hash
    return switch.prev_hash == prev


def _lock_chain() -> None:
    # Held until the caller's transaction ends: writers queue here, so the chain stays one line
    # in the order of the IDs. Take it as late as possible in a transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def _lock_chain_at_head() -> str:
    """Take the chain's lock (as `_lock_chain`) and return the hash the next event chains to: the newest
    event's, read once the lock is held, or the chain's start. One round trip (migration 0009)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT latchkey_audit_chain_head(%s)", [_CHAIN_LOCK])
        head = cursor.fetchone()[0]
    return head or GENESIS_HASH


def _new_event(*, actor, action, request=None, role=None, details=None, http_request=None) -> AuditEvent:
    ip, user_agent = _client(http_request)
    if role is None and request is not None:
        role = request.role
    return AuditEvent(
        actor=actor,
        actor_label=_actor_label(actor),
        action=action,
        request=request,
        role=role,
        ip=ip,
        user_agent=user_agent,
        details=details or {},
    )


def audit_record(*, actor, action, request=None, role=None, details=None, http_request=None) -> AuditEvent:
    """Append one event to the audit trail, chained to the one before it."""
    event = _new_event(
        actor=actor, action=action, request=request, role=role, details=details, http_request=http_request
    )
    # No savepoint: its release would be one more round trip under the lock, and an error here must undo
    # the caller's whole transaction anyway (a state change is never committed without its event).
    with transaction.atomic(savepoint=False):
        event.prev_hash = _lock_chain_at_head()
        event.at = now()
        event.hash = chain_hash(event)
        event.save()
    return event


def audit_record_many(entries: list[dict]) -> list[AuditEvent]:
    """Append several events (each given as `audit_record`'s arguments), in order, chained, in one insert.

    One lock, one read of the head and one INSERT for all of them: what a bulk action writes.
    """
    events = [_new_event(**entry) for entry in entries]
    if not events:
        return []
    with transaction.atomic(savepoint=False):
        prev = _lock_chain_at_head()
        at = now()
        for event in events:
            event.at, event.prev_hash = at, prev
            event.hash = prev = chain_hash(event)
        # The queryset's own bulk_create refuses, so that nothing else inserts events around the chain.
        models.QuerySet.bulk_create(AuditEvent.objects.all(), events)
        ids = [event.id for event in events]
        # The chain runs in the order of the IDs: one INSERT numbers its rows in order, and this says so.
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            raise RuntimeError("The audit events of one insert were not numbered in order.")
    return events


def field_changes(before: dict, after: dict) -> dict[str, dict]:
    """Return each field whose value differs, as {"before": ..., "after": ...} (None before a creation)."""
    return {
        name: {"before": before.get(name), "after": value} for name, value in after.items() if before.get(name) != value
    }


def audit_changes(*, actor, action, before: dict, after: dict, role=None, details=None, http_request=None):
    """Record the fields that changed from `before` to `after`, with both values; return the event or None."""
    changes = field_changes(before, after)
    if not changes:
        return None
    return audit_record(
        actor=actor,
        action=action,
        role=role,
        details={**(details or {}), "changes": changes},
        http_request=http_request,
    )


def person_flags(user, *, profile=None) -> dict:
    """Return the flags of `user` that give or take power: active, application, staff, superuser."""
    if profile is None:
        profile = getattr(user, "profile", None)
    return {
        "is_active": user.is_active,
        "is_application": bool(profile is not None and profile.is_application),
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


def stored_person_flags(user_id) -> dict:
    """Return the person's flags as stored, their row locked until the transaction ends (a new person's if none)."""
    stored = get_user_model().objects.select_for_update().filter(pk=user_id).first() if user_id else None
    if stored is None:
        return dict(NEW_PERSON_FLAGS)
    return person_flags(stored, profile=Profile.objects.filter(user=stored).first())


def audit_person_flags(*, actor, person, before: dict, profile=None, reason: str = "", http_request=None):
    """Record each change of `person`'s flags since `before` (NEW_PERSON_FLAGS for a new person), or nothing."""
    profile = profile if profile is not None else getattr(person, "profile", None)
    details = {"person": _actor_label(person) if profile is None or not profile.upn else profile.upn}
    if profile is not None:
        details["oid"] = profile.oid
    if reason:
        details["reason"] = reason
    return audit_changes(
        actor=actor,
        action=AuditAction.ACCOUNT_FLAGS_CHANGED,
        before=before,
        after=person_flags(person, profile=profile),
        details=details,
        http_request=http_request,
    )


# ----- verifying the chain -----


@dataclass(frozen=True)
class BrokenLink:
    event_id: int
    reason: str


class AuditChainBroken(Exception):
    """The history does not extend the anchored head: the anchor is not moved."""

    def __init__(self, broken: BrokenLink):
        super().__init__(f"The audit chain is broken at event #{broken.event_id}: {broken.reason}.")
        self.broken = broken


def _first_switch():
    return AuditEvent.objects.filter(action=CHAIN_KEYED).order_by("id").first()


def _unkeyed_through(switch, *, proving: bool = False) -> int:
    """Return the ID of the last event of the unkeyed chain of earlier releases, or 0 if there is none.

    `switch` is the first `audit.chain_keyed` event, or None: the chain was keyed from its start.
    """
    if switch is None:
        return 0
    if not hmac.compare_digest(switch.hash, chain_hash(switch)):
        # Changed or forged. A proof then trusts no event without the key (a forged switch would otherwise make
        # forged unkeyed events before it prove an approval); the walk reaches it as it stands and names it.
        return 0 if proving else switch.id - 1
    try:
        through = int(switch.details.get("unkeyed_through", 0))
    except (AttributeError, TypeError, ValueError):
        return 0
    return min(through, switch.id - 1)


class _Walk:
    """Follow the chain event by event, from `prev` on, and remember where it first breaks."""

    def __init__(self, *, prev: str, count: int, unkeyed_through: int):
        self.prev, self.count, self.unkeyed_through = prev, count, unkeyed_through
        self.last_id: int | None = None

    def step(self, event) -> BrokenLink | None:
        if event.prev_hash != self.prev:
            return BrokenLink(
                event.id, "the event before it was removed or changed (its link to the previous event does not match)"
            )
        expected = event.compute_hash() if event.id <= self.unkeyed_through else chain_hash(event)
        if not hmac.compare_digest(event.hash, expected):
            return BrokenLink(
                event.id, "it was changed, forged or recomputed after it was written (its HMAC does not match the key)"
            )
        self.prev, self.count, self.last_id = event.hash, self.count + 1, event.id
        return None


def _anchor_mismatch(event, walk: _Walk, anchor) -> BrokenLink | None:
    if event.hash == anchor.hmac and walk.count == anchor.count:
        return None
    return BrokenLink(
        event.id,
        f"it is not the head anchored in Vault at {anchor.at:%Y-%m-%d %H:%M:%S} "
        f"(event number {anchor.count}); the history up to it was rewritten",
    )


def _anchor_missing(anchor, *, last_id: int | None) -> BrokenLink:
    ends = f"the newest event is #{last_id}" if last_id is not None else "the history is empty"
    return BrokenLink(
        anchor.event_id,
        f"it was anchored in Vault at {anchor.at:%Y-%m-%d %H:%M:%S} as event number {anchor.count}, but it is "
        f"missing ({ends}): events were deleted",
    )


def audit_verify(*, anchor=None) -> BrokenLink | None:
    """Return the first broken link of the chain, or None if every event is as it was written.

    With `anchor` (see `vault.audit_anchor_read`), the anchored head must be in the table, with the
    same HMAC and as many events up to it: otherwise the newest events were deleted or replaced.
    """
    walk = _Walk(prev=GENESIS_HASH, count=0, unkeyed_through=_unkeyed_through(_first_switch()))
    anchor_seen = False
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        broken = walk.step(event)
        if broken is None and anchor is not None and event.id == anchor.event_id:
            anchor_seen = True
            broken = _anchor_mismatch(event, walk, anchor)
        if broken is not None:
            return broken
    if anchor is not None and not anchor_seen:
        return _anchor_missing(anchor, last_id=walk.last_id)
    return None


# ----- anchoring the head outside the database -----


def audit_anchor():
    """Anchor the chain's head in Vault if it moved, after checking that it extends the last anchor.

    Raise `AuditChainBroken` (and leave the anchor where it is) when the events since the last
    anchor do not follow it: deleting the newest events never becomes the new truth. Return the
    anchor that is in Vault afterwards, or None while the history is empty.
    """
    previous = vault.audit_anchor_read()
    # Committed events only: every ID below the newest visible one is committed too (IDs are taken under the lock).
    head = AuditEvent.objects.order_by("-id").only("id", "hash").first()
    if head is None:
        if previous is not None:
            raise AuditChainBroken(_anchor_missing(previous, last_id=None))
        return None
    if previous is not None and head.id == previous.event_id and head.hash == previous.hmac:
        return previous
    if previous is None:
        walk = _Walk(prev=GENESIS_HASH, count=0, unkeyed_through=_unkeyed_through(_first_switch()))
        events = AuditEvent.objects
    else:
        anchored = AuditEvent.objects.filter(id=previous.event_id).only("id", "hash").first()
        if anchored is None:
            raise AuditChainBroken(_anchor_missing(previous, last_id=head.id))
        if anchored.hash != previous.hmac:
            raise AuditChainBroken(
                BrokenLink(anchored.id, "it is not the head anchored in Vault; the history up to it was rewritten")
            )
        walk = _Walk(prev=previous.hmac, count=previous.count, unkeyed_through=_unkeyed_through(_first_switch()))
        events = AuditEvent.objects.filter(id__gt=previous.event_id)
    for event in events.filter(id__lte=head.id).order_by("id").iterator(chunk_size=2000):
        broken = walk.step(event)
        if broken is not None:
            raise AuditChainBroken(broken)
    anchor_at = now()
    version = vault.audit_anchor_write(
        event_id=head.id, hmac=head.hash, count=walk.count, at=anchor_at, cas=previous.version if previous else 0
    )
    logger.info("Anchored the audit chain at event #%s (%s events)", head.id, walk.count)
    return vault.AuditAnchor(event_id=head.id, hmac=head.hash, count=walk.count, at=anchor_at, version=version)


def audit_chain_take_over(event_model=AuditEvent) -> None:
    """Key the chain from here on: append a keyed event that names the last event of an unkeyed chain.

    Run by the migration that introduced the key (with its historical model); a database without
    events, or whose chain is keyed already, is left as it is.
    """
    with transaction.atomic():
        _lock_chain()
        last = event_model.objects.order_by("-id").first()
        if last is None or event_model.objects.filter(action=CHAIN_KEYED).exists():
            return
        event = event_model(
            at=now(),
            actor=None,
            actor_label="system",
            action=CHAIN_KEYED,
            request=None,
            role=None,
            ip=None,
            user_agent="",
            details={"unkeyed_through": last.id},
            prev_hash=last.hash,
        )
        event.hash = chain_hash(event)
        event.save()


# ----- counting a filtered history -----

# How long a filter's count is remembered after its last use.
_COUNT_KEPT_SECONDS = 3600


def audit_count(events: models.QuerySet) -> int:
    """Return exactly how many events `events` (a filter of the trail) holds, without recounting the trail.

    The trail only grows, and in the order of its IDs: a writer holds the chain's lock from before its
    events are numbered until it commits, so once event N is visible every earlier event is too. The count
    of a filter up to event N, remembered in this process's cache with N's hash, is therefore still right;
    up to a newer head it is that plus the matches after N. If event N is gone or is another event (a
    restored or emptied database), the whole filter is counted again. A filter must test only what an event
    holds (never a role's or person's current name), or a rename would change what it matched before.
    """
    try:
        sql, params = events.query.sql_with_params()
    except EmptyResultSet:
        return 0
    head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    if head is None:
        return 0
    head_id, head_hash = head
    key = "audit-count:" + hashlib.sha256(repr((sql, params)).encode()).hexdigest()
    known = cache.get(key)
    if known is not None and known[:2] == (head_id, head_hash):
        return known[2]
    if known is not None and known[0] < head_id and AuditEvent.objects.filter(pk=known[0], hash=known[1]).exists():
        count = known[2] + events.filter(id__gt=known[0], id__lte=head_id).count()
    else:
        count = events.filter(id__lte=head_id).count()
    cache.set(key, (head_id, head_hash, count), _COUNT_KEPT_SECONDS)
    return count
