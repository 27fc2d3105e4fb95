"""Break-glass on the demo catalog: dave (dba) may break the glass of orders-admin; bob and carol approve it."""

import pytest

INCIDENT = "INC-4711"
WHY = "Orders database is down, restoring service"


def allow_break_glass(role, **policy):
    from portal.breakglass.models import BreakGlassPolicy

    return BreakGlassPolicy.objects.create(role=role, **policy)


@pytest.fixture
def policy(catalog):
    """Let orders-admin be broken into: at most 60 minutes, INC-n incidents, 2 uses in 7 days, review in 24 h."""
    return allow_break_glass(catalog["orders-admin"], incident_pattern=r"^INC-[0-9]+$")
