"""A history of grants whose right-sizing is known: for the report's tests and the browser story's screenshot."""

from datetime import timedelta

from portal.access import audit
from portal.access.models import AccessRequest
from portal.core.clock import now
from tests.reviews.conftest import WHY

State = AccessRequest.State
# orders-readwrite: ten grants of 4 h; eight revoked early after these minutes, two ran their window.
HELD = [10, 15, 20, 20, 25, 30, 30, 30]
# Six of the ten were revealed, this many minutes after issue; four never were.
REVEALED_AFTER = [1, 2, 3, 4, 5, 6]


def grant(user, role, *, minutes: int, started, state: str, revealed_after=None):
    return AccessRequest.objects.create(
        role=role,
        requester=user,
        state=state,
        justification=WHY,
        duration_minutes=minutes,
        created_at=started - timedelta(minutes=1),
        starts_at=started,
        ends_at=started + timedelta(minutes=minutes),
        revealed_at=started + timedelta(minutes=revealed_after) if revealed_after is not None else None,
    )


def revoke_requested(monkeypatch, request, at):
    monkeypatch.setattr(audit, "now", lambda: at)
    audit.audit_record(actor=None, action="grant.revoke_requested", request=request)
    monkeypatch.undo()


def seed_orders_history(orders, user, monkeypatch) -> None:
    """Give `user` ten 4 h grants of `orders` in the last ten days: eight revoked early, two ran their window."""
    base = now() - timedelta(days=10)
    for index, held in enumerate(HELD):
        started = base + timedelta(hours=index * 5)
        revealed = REVEALED_AFTER[index] if index < len(REVEALED_AFTER) else None
        request = grant(user, orders, minutes=240, started=started, state=State.REVOKED, revealed_after=revealed)
        revoke_requested(monkeypatch, request, started + timedelta(minutes=held))
    for index in range(2):
        grant(user, orders, minutes=240, started=base + timedelta(days=2, hours=index * 5), state=State.EXPIRED)
