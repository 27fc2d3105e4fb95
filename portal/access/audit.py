"""The audit trail: one writer that keeps the hash chain, and one reader that verifies it."""

from dataclasses import dataclass

from django.db import connection, transaction

from portal.access.models import AuditEvent
from portal.core.clock import now

GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serialises writers of the chain.
_CHAIN_LOCK = 0x4C41544348  # "LATCH"


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    profile = getattr(actor, "profile", None)
    return (profile.upn if profile is not None and profile.upn else "") or actor.get_username()


def _client(http_request) -> tuple[str | None, str]:
    if http_request is None:
        return None, ""
    # REMOTE_ADDR only: a forwarded-for header is whatever the client chose to send.
    return http_request.META.get("REMOTE_ADDR") or None, http_request.META.get("HTTP_USER_AGENT", "")[:500]


def audit_record(*, actor, action, request=None, role=None, details=None, http_request=None) -> AuditEvent:
    """Append one event to the audit trail, chained to the one before it."""
    ip, user_agent = _client(http_request)
    if role is None and request is not None:
        role = request.role
    with transaction.atomic():
        # Writers queue here until the previous writer's transaction ends, so the chain stays one line.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            at=now(),
            actor=actor,
            actor_label=_actor_label(actor),
            action=action,
            request=request,
            role=role,
            ip=ip,
            user_agent=user_agent,
            details=details or {},
            prev_hash=last or GENESIS_HASH,
        )
        event.hash = event.compute_hash()
        event.save()
    return event


@dataclass(frozen=True)
class BrokenLink:
    event_id: int
    reason: str


def audit_verify() -> BrokenLink | None:
    """Return the first broken link of the chain, or None if every row is as it was written."""
    expected_prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return BrokenLink(event.id, "the event before it was removed or changed (previous hash does not match)")
        if event.compute_hash() != event.hash:
            return BrokenLink(event.id, "its content was changed after it was written (hash does not match)")
        expected_prev = event.hash
    return None
