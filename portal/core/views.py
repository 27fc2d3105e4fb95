from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from portal.accounts.selectors import is_portal_admin
from portal.core import health


def healthz(request):
    """Answer liveness probes: the process serves requests."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Answer readiness probes: 200 when Vault, Redis and the database work, else 503."""
    checks = health.readiness_checks()
    ready = health.is_ready(checks)
    body = {"status": "ready" if ready else "not_ready", "checks": {check.name: check.ok for check in checks}}
    return JsonResponse(body, status=200 if ready else 503)


@login_required
@never_cache
def health_page(request):
    """Show admins the state of Vault, Redis, the database, the worker and the sweeper."""
    # Only portal admins see how the portal's parts are doing.
    if not is_portal_admin(request.user):
        raise PermissionDenied
    checks = health.run_checks()
    return render(request, "core/health.html", {"checks": checks, "ready": health.is_ready(checks)})
