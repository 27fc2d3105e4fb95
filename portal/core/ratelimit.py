"""Rate limits (sign-in, request creation, approval, reveal) and the request body size limit.

Counters live in Django's cache (Redis in every deployment, so that all web processes
share them), one fixed window per scope and caller. A cache that cannot be reached lets
the request through: a limit protects the portal, it must not take it down with Redis.
"""

from __future__ import annotations

import functools
import logging
import re
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.shortcuts import render

from portal.core import clock
from portal.core.api import error_response
from portal.core.client_ip import client_ip
from portal.core.errors import DomainError

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rate(text: str) -> Rate:
    """Parse `N/m`, `N/5m`, `N/s` or `N/h` (N calls per window)."""
    match = _RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"A rate limit is written like 30/m, 100/5m or 1000/h, not {text!r}.")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if multiple < 1:
        raise ImproperlyConfigured(f"A rate limit's window is at least 1 {unit}, not {text!r}.")
    return Rate(count=count, seconds=multiple * _UNIT_SECONDS[unit])


class RateLimited(DomainError):
    """Too many attempts; wait a little and try again."""

    code = "throttled"
    status = 429

    def __init__(self, *, scope: str, retry_after: int):
        super().__init__(
            f"Too many {scope.replace('_', ' ')} attempts. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
        self.scope = scope
        self.retry_after = retry_after


def _caller(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    # The client behind the trusted proxies, never the proxy itself: one client must not lock
    # everyone behind the same load balancer out of sign-in.
    return f"ip:{client_ip(request) or 'unknown'}"


def rate_limit_check(scope: str, request) -> None:
    """Count one call of `scope` by the caller of `request`; raise RateLimited above the scope's rate."""
    rate = parse_rate(settings.RATE_LIMITS[scope])
    at = int(clock.now().timestamp())
    window = at // rate.seconds
    key = f"ratelimit:{scope}:{_caller(request)}:{window}"
    try:
        count = _count(caches[settings.RATE_LIMIT_CACHE], key, timeout=rate.seconds + 1)
    except Exception:  # noqa: BLE001 - any cache failure must fail open, see the module docstring
        logger.warning("rate limit not checked: the cache is unavailable", extra={"scope": scope})
        return
    if count > rate.count:
        retry_after = max(1, (window + 1) * rate.seconds - at)
        logger.warning("rate limit exceeded", extra={"scope": scope, "caller": _caller(request)})
        raise RateLimited(scope=scope, retry_after=retry_after)


# The Redis client of each cache's write pool, made once. Django's cache makes a new one at every call, and with it
# its table of some two hundred reply callbacks: a fifth of a millisecond of each rate-limited call's CPU.
_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _writer(cache: RedisCache):
    pool = cache._cache._get_connection_pool(write=True)
    client = _writers.get(pool)
    if client is None:
        client = _writers[pool] = cache._cache.get_client(write=True)
    return client


def _count(cache, key: str, *, timeout: int) -> int:
    """Count one call under `key`, which expires `timeout` seconds after its first call; return the count.

    The counter is created only when it is missing, so two processes never reset each other's count. With
    Redis both steps go in one transaction, one round trip; any other cache takes two calls.
    """
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(key)
        with _writer(cache).pipeline(transaction=True) as both:
            both.set(key, 0, ex=timeout, nx=True)
            both.incr(key)
            return both.execute()[-1]
    cache.add(key, 0, timeout=timeout)
    return cache.incr(key)


def _throttled_response(request, error: RateLimited):
    if request.path.startswith("/api/"):
        # Returned from an API view's method, so DRF renders it like any other answer.
        response = error_response(error.code, error.detail, error.status, retry_after=error.retry_after)
    else:
        response = render(request, "core/throttled.html", {"retry_after": error.retry_after}, status=429)
    response["Retry-After"] = str(error.retry_after)
    return response


def rate_limited(scope: str, *, methods: tuple[str, ...] = ("POST",)):
    """Decorate a page view, or an API view's method, with the rate limit of `scope` for `methods`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            # A function view gets the request first; an APIView method gets it after `self`.
            request = args[1] if len(args) > 1 and not hasattr(args[0], "META") else args[0]
            if request.method not in methods:
                return view(*args, **kwargs)
            try:
                rate_limit_check(scope, request)
            except RateLimited as error:
                return _throttled_response(request, error)
            return view(*args, **kwargs)

        return wrapper

    return decorate


class BodySizeLimitMiddleware:
    """Refuse a request whose declared body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    Django checks that size for form fields only, not for uploaded files nor for the
    JSON bodies that the API reads from the stream. Django's WSGI request reads no more
    than Content-Length declares (nothing without it), so the header is the whole check.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = -1
        if limit is not None and (declared > limit or declared < 0):
            detail = (
                f"The request body may be at most {limit} bytes."
                if declared > limit
                else "The Content-Length header is not a number."
            )
            status = 413 if declared > limit else 400
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": "too_large" if status == 413 else "invalid", "detail": detail}, status=status
                )
            return render(request, "core/too_large.html", {"detail": detail}, status=status)
        return self.get_response(request)
