"""Template helpers of the pages: the navigation with its counts, state labels, moments, durations, request links."""

import functools
from datetime import UTC, datetime

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from portal.access import policy, selectors
from portal.access.models import REASON_MAX_CHARS, STATE_LABELS, AccessRequest, AuditAction
from portal.accounts.selectors import is_approver_in
from portal.breakglass.selectors import count_uses_to_review

register = template.Library()
State = AccessRequest.State


@register.inclusion_tag("_nav.html", takes_context=True)
def site_nav(context):
    """Render the navigation of the signed-in user, with the number of requests waiting for them."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"items": []}
    items = [("My access", _path("home"), None)]
    approver = is_approver_in(request)
    if approver:
        items.append(("To review", _path("access:review-queue"), selectors.count_to_review_in(request)))
    if approver or policy.may_admin(user):
        items.append(("Break-glass reviews", _path("breakglass:review-queue"), count_uses_to_review(user)))
    if policy.may_admin(user):
        items += [
            ("Active grants", _path("access:grants-active"), selectors.grants_open().count()),
            ("History", _path("access:audit-history"), None),
            ("Dashboard", _path("access:dashboard"), None),
            ("Health", _path("health"), None),
        ]
    return {
        "items": [
            {"label": label, "url": url, "count": count, "current": _is_current(request.path, url)}
            for label, url, count in items
        ]
    }


def _is_current(path: str, url: str) -> bool:
    if url == _path("home"):
        # A request's page is one's own access too: the path before its ID, under any script prefix.
        requests_path, _ = _around_request_id("access:request-detail", get_script_prefix(), get_urlconf())
        return path in (url, _path("access:my-access")) or path.startswith(requests_path)
    return path.startswith(url)


def _path(route: str) -> str:
    """Return the path of `route`, which takes no argument: resolved once for each script prefix and URLconf (the
    navigation of every page names some ten)."""
    return _resolved(route, get_script_prefix(), get_urlconf())


@functools.lru_cache(maxsize=64)
def _resolved(route: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse(route)


@register.filter
def state_badge(state: str) -> str:
    """Return a request state as the pages show it: the words people read for it, in a badge of its colour."""
    return format_html('<span class="state state-{}">{}</span>', state, STATE_LABELS.get(state, state))


@register.filter
def recent_requests(requests: list[AccessRequest]) -> str:
    """Return a requester's recent requests as the approval queue lists them, each linked, with its state.

    A filter rather than a loop of the template: the queue shows five for each of its 25 items, and the
    template's loop spent a third of the page's rendering on them.
    """
    if not requests:
        return mark_safe('<p class="muted small">None before this one.</p>')
    rows = format_html_join(
        "",
        '<li><a href="{}">#{}</a> {} · {} · {} ago</li>',
        (
            (
                request_url("access:request-detail", r.pk),
                r.pk,
                r.role.name,
                state_badge(r.state),
                timesince(r.created_at),
            )
            for r in requests
        ),
    )
    return format_html('<ul class="history-mini">{}</ul>', rows)


@register.simple_tag
def request_url(route: str, request_id) -> str:
    """Return the path of `route`, a request's page or action (`access:request-detail`, ...), for `request_id`.

    The same as `{% url route request_id %}`, without resolving the route each time: the lists link every row,
    and a page of the approval queue some two hundred requests (resolving takes 0.02 ms each).
    """
    before, after = _around_request_id(route, get_script_prefix(), get_urlconf())
    return f"{before}{int(request_id)}{after}"


_ID_MARKER = str(2**31 - 1)  # the highest request ID: no route's own text holds it


@functools.lru_cache(maxsize=64)
def _around_request_id(route: str, script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    """Return the path of `route` before and after its request ID, resolved once for each prefix and URLconf."""
    before, marker, after = reverse(route, args=[_ID_MARKER]).partition(_ID_MARKER)
    if not marker:
        raise ValueError(f"The route {route} does not take a request ID.")
    return before, after


@register.filter
def utc_time(value, precision: str = "minutes") -> str:
    """Return a moment as the pages write it: a `<time>` with its ISO 8601 form, read as UTC to the minute.

    `precision` "seconds" shows the seconds too (the history). The page's script shows the moment in the
    reader's own time zone (`data-local`), keeping the UTC reading in its tooltip. Anything but a datetime
    is written as nothing, as Django's `date` filter writes it.
    """
    if not isinstance(value, datetime):
        return ""
    value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    reading = f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"
    if precision == "seconds":
        reading += f":{value.second:02d}"
    elif precision != "minutes":
        raise template.TemplateSyntaxError(f'utc_time takes "minutes" or "seconds", not {precision!r}.')
    # Nothing but a datetime's digits and separators goes in, so there is nothing to escape.
    return mark_safe(f'<time datetime="{value.isoformat()}" data-local>{reading} UTC</time>')  # noqa: S308


@register.filter
def minutes(value) -> str:
    """Return a duration in minutes as people say it: 45 min, 1 h, 1 h 30 min, 2 days."""
    try:
        total = int(value)
    except (TypeError, ValueError):
        return ""
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if mins or not parts:
        parts.append(f"{mins} min")
    return " ".join(parts)


@register.filter
def action_label(action: str) -> str:
    """Return the words people read for an audit action."""
    return AuditAction.label_of(action)


@register.simple_tag
def progress_steps(req) -> list[dict]:
    """Return the steps of a request's life, each `done`, `current`, `stopped` or `todo`."""
    state = req.state
    refused = state in (State.DENIED, State.CANCELLED) or (state == State.EXPIRED and req.starts_at is None)
    issued = req.starts_at is not None
    ended = state in (State.EXPIRED, State.REVOKED, State.FAILED) or refused
    steps = [
        ("Requested", "done"),
        ("Approved", "stopped" if refused else "current" if state == State.PENDING else "done"),
        (
            "Issued",
            "todo"
            if refused or state == State.PENDING
            else "done"
            if issued
            else "stopped"
            if ended or state == State.REVOKING
            else "current",
        ),
        ("Revealed", "done" if req.revealed_at else "current" if state == State.ACTIVE else "todo"),
        ("Ended", "done" if ended else "current" if state == State.REVOKING else "todo"),
    ]
    return [{"label": label, "status": status} for label, status in steps]


@register.simple_tag(takes_context=True)
def may(context, verb: str, req) -> bool:
    """Return whether the signed-in user may `verb` (cancel, decide, extend, revoke, reveal) the request now."""
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return False
    return policy.VERBS[verb](user, req)


@register.simple_tag
def reason_max_chars() -> int:
    """Return the longest reason a revocation may give."""
    return REASON_MAX_CHARS
