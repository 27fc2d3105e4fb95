import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.defaults import server_error as django_server_error

from portal.accounts.selectors import is_portal_admin
from portal.core import health, metrics


def redirect_back(request, fallback: str, *, anchor: str = "") -> HttpResponseRedirect:
    """Redirect to the page a form came from (its `next`, a path of the portal only), else to `fallback`."""
    target = request.POST.get("next", "")
    # A local path, never a view name or another site: `redirect()` would take a bare word for a view name.
    local = (
        target.startswith("/") and target.isprintable() and url_has_allowed_host_and_scheme(target, allowed_hosts=None)
    )
    return HttpResponseRedirect((target if local else fallback) + anchor)


def healthz(request):
    """Answer liveness probes: the process serves requests."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Answer readiness probes: 200 when Vault, Redis and the database work, else 503 (checked every few seconds)."""
    checks = health.cached_readiness_checks()
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


def _metrics_allowed(request) -> bool:
    """Return whether the caller shows the metrics token or comes from an allowed network."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
def prometheus_metrics(request):
    """Serve Prometheus metrics to holders of the metrics token or to allowed networks."""
    # The figures say who uses what, how much: not for everyone.
    if not _metrics_allowed(request):
        return JsonResponse({"error": "forbidden", "detail": "Metrics need the metrics token."}, status=403)
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """Answer an unknown URL: the JSON error body under /api/, the friendly page elsewhere."""
    if _is_api(request):
        return JsonResponse({"error": "not_found", "detail": "There is no such endpoint."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    """Answer a crash: the JSON error body under /api/, the friendly page elsewhere."""
    if _is_api(request):
        return JsonResponse({"error": "server_error", "detail": "Something went wrong on our side."}, status=500)
    return django_server_error(request)
