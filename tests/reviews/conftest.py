"""Access reviews: the demo personas and catalog, a campaign helper, and active grants made in the database."""

from datetime import timedelta

import pytest

WHY = "Investigate the late orders of ticket OPS-12"


def in_days(days: float):
    from portal.core.clock import now

    return now() + timedelta(days=days)


def active_grant(user, role, *, minutes: int = 60):
    """Return an active grant of `role` for `user`, as issuing would leave it (no Vault token)."""
    from portal.access.models import AccessRequest
    from portal.core.clock import now

    started = now() - timedelta(minutes=5)
    return AccessRequest.objects.create(
        role=role,
        requester=user,
        state=AccessRequest.State.ACTIVE,
        justification=WHY,
        duration_minutes=minutes,
        starts_at=started,
        ends_at=started + timedelta(minutes=minutes),
        decided_at=started,
    )


@pytest.fixture
def start_review(carol):
    """Start a review as carol (a portal admin) of a role slug, or of every role with None."""
    from portal.reviews import services

    def start(role="orders-readwrite", *, days: float = 7, when_overdue: str = "keep", **extra):
        return services.campaign_start(actor=carol, role=role, due_at=in_days(days), when_overdue=when_overdue, **extra)

    return start
