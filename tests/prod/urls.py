"""Views that log and fail on purpose, to check what reaches the logs."""

import logging

from django.http import HttpResponse
from django.urls import path

logger = logging.getLogger("portal.tests")


def log_secrets(request):
    """Log the request's secrets in every way a careless caller might."""
    secret = request.GET["secret"]
    logger.info("calling Vault with token %s", secret, extra={"vault_token": secret, "headers": dict(request.headers)})
    logger.warning("headers seen: %r", dict(request.headers))
    return HttpResponse("logged")


def fail_with_secret(request):
    raise RuntimeError(f"cannot connect to postgresql://portal:{request.GET['secret']}@db:5432/latchkey")


urlpatterns = [
    path("log-secrets", log_secrets),
    path("fail", fail_with_secret),
]
