"""Page tests with Django's test client; the personas and the demo catalog are the shared fixtures (tests/support)."""

from tests.support.grants import client_for  # noqa: F401 (the folder's tests import it from here)

WHY = "Investigate the late orders of ticket OPS-12"


def ask(user, role: str = "orders-readwrite", justification: str = WHY, **fields):
    from portal.access import services

    return services.request_create(actor=user, role=role, justification=justification, **fields)
