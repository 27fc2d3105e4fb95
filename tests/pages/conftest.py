"""Page tests with Django's test client; the personas and the demo catalog are the shared fixtures (tests/support)."""

from django.test import Client

WHY = "Investigate the late orders of ticket OPS-12"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ask(user, role: str = "orders-readwrite", justification: str = WHY, **fields):
    from portal.access import services

    return services.request_create(actor=user, role=role, justification=justification, **fields)
