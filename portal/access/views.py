"""Pages of the access workflow: my access, the request form, request detail, the review queue, admin pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal.access import exports, policy, selectors, services
from portal.access.forms import (
    ApproveForm,
    DenyForm,
    ExtendForm,
    HistoryFilterForm,
    RequestForm,
)
from portal.access.models import (
    HOLDING_STATES,
    MOVING_STATES,
    VAULT_WORK_STATES,
    AccessRequest,
    AccessRole,
)
from portal.core.errors import DomainError, Gone
from portal.core.forms import add_refusal, fields_for_each
from portal.core.paging import FirstPageFirst
from portal.core.ratelimit import rate_limited
from portal.core.views import redirect_back

State = AccessRequest.State
HISTORY_PAGE_SIZE = 50
REVIEW_PAGE_SIZE = 25


def _require_admin(user) -> None:
    # History, every grant and the dashboard are for portal admins only (with memberships read recently).
    try:
        policy.check_admin(user, doing="open this page")
    except DomainError as error:
        raise PermissionDenied(error.detail) from None


def _visible_request(user, request_id: int) -> AccessRequest:
    found = selectors.request_visible_to(user, request_id)
    if found is None:
        raise Http404("No such request.")
    return found


@login_required
def my_access(request):
    # The open requests and the newest ended ones in one query (newest first), split by state here.
    own = selectors.requests_own(request.user)
    open_ones = own.open
    return render(
        request,
        "access/my_access.html",
        {
            "eligible": selectors.roles_eligible(request.user),
            "pending": [
                (item, selectors.approver_labels(item.role)) for item in open_ones if item.state == State.PENDING
            ],
            "active": [item for item in open_ones if item.state in HOLDING_STATES],
            "history": own.ended,
        },
    )


@login_required
@rate_limited("request_create")
def request_new(request, slug):
    eligible = {item.role.slug: item for item in selectors.roles_eligible(request.user)}
    if slug not in eligible:
        raise Http404("No such role to request.")
    role = eligible[slug].role
    form = RequestForm(request.POST or None, role=role)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.request_create(
                actor=request.user, role=role, http_request=request, **form.request_fields()
            )
        except DomainError as error:
            add_refusal(form, error)
        else:
            messages.success(request, f"Request #{created.pk} sent.")
            return redirect("access:request-detail", request_id=created.pk)
    return render(
        request,
        "access/request_form.html",
        {"form": form, "role": role, "because": eligible[slug].because, "approvers": selectors.approver_labels(role)},
    )


def _detail_context(user, access_request: AccessRequest) -> dict:
    timeline = selectors.request_timeline(access_request)
    return {
        "req": access_request,
        "timeline": timeline,
        "may_decide": policy.may_decide(user, access_request),
        "compromised": selectors.request_compromised(timeline),
        "extensions": selectors.request_extensions(access_request),
        "waiting_for_vault": bool(access_request.last_error) and access_request.state in VAULT_WORK_STATES,
        "moving": access_request.state in MOVING_STATES,
        "approvers": selectors.approver_labels(access_request.role),
    }


@login_required
def request_detail(request, request_id):
    access_request = _visible_request(request.user, request_id)
    context = _detail_context(request.user, access_request)
    context.update(
        {
            "recent": selectors.recent_requests_of(access_request.requester, exclude_id=access_request.pk)
            if context["may_decide"]
            else [],
            "approve_form": ApproveForm(auto_id="approve-%s"),
            "deny_form": DenyForm(auto_id="deny-%s"),
        }
    )
    return render(request, "access/request_detail.html", context)


@login_required
@never_cache
def request_live(request, request_id):
    """Render the live part of a request's page (state, progress, actions, timeline) for the page to poll."""
    access_request = _visible_request(request.user, request_id)
    return render(request, "access/_request_live.html", _detail_context(request.user, access_request))


def _decide(request, request_id, form_class, action):
    access_request = _visible_request(request.user, request_id)
    fallback = reverse("access:request-detail", args=[access_request.pk])
    form = form_class(request.POST)
    if not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            messages.error(request, f"#{access_request.pk}: {label + ': ' if label else ''}{' '.join(errors)}")
        return redirect_back(request, fallback)
    try:
        action(access_request, form.cleaned_data)
    except DomainError as error:
        messages.error(request, f"#{access_request.pk}: {error.detail}")
    return redirect_back(request, fallback)


@login_required
@require_POST
@rate_limited("approval")
def request_approve(request, request_id):
    def approve(access_request, data):
        services.request_approve(
            actor=request.user,
            request_id=access_request.pk,
            comment=data["comment"],
            duration_minutes=data["duration_minutes"],
            extends_id=access_request.extends_id,
            http_request=request,
        )
        messages.success(request, f"You approved request #{access_request.pk} of {access_request.requester_label}.")

    return _decide(request, request_id, ApproveForm, approve)


@login_required
@require_POST
@rate_limited("approval")
def request_deny(request, request_id):
    def deny(access_request, data):
        services.request_deny(
            actor=request.user, request_id=access_request.pk, comment=data["comment"], http_request=request
        )
        messages.success(request, f"You denied request #{access_request.pk} of {access_request.requester_label}.")

    return _decide(request, request_id, DenyForm, deny)


@login_required
@require_POST
def request_cancel(request, request_id):
    access_request = _visible_request(request.user, request_id)
    try:
        services.request_cancel(actor=request.user, request_id=access_request.pk, http_request=request)
        messages.success(request, f"You cancelled request #{access_request.pk}.")
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect("access:request-detail", request_id=access_request.pk)


@login_required
@rate_limited("request_create")
def request_extend(request, request_id):
    grant = _visible_request(request.user, request_id)
    form = ExtendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            extension = services.request_extend(
                actor=request.user, request_id=grant.pk, http_request=request, **form.cleaned_data
            )
        except DomainError as error:
            add_refusal(form, error)
        else:
            messages.success(request, f"Extension #{extension.pk} is {extension.state}.")
            return redirect("access:request-detail", request_id=extension.pk)
    return render(request, "access/extend_form.html", {"form": form, "grant": grant})


@login_required
@require_POST
@never_cache
@rate_limited("reveal")
def request_reveal(request, request_id):
    access_request = _visible_request(request.user, request_id)
    try:
        creds = services.grant_reveal(
            actor=request.user, request_id=access_request.pk, extends_id=access_request.extends_id, http_request=request
        )
    except Gone as error:
        response = render(request, "410.html", {"req": access_request, "detail": error.detail}, status=410)
        response["Cache-Control"] = "no-store"
        return response
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("access:request-detail", request_id=access_request.pk)
    response = render(request, "access/credentials.html", {"req": access_request, "creds": creds})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def request_revoke(request, request_id):
    access_request = _visible_request(request.user, request_id)
    fallback = reverse("access:request-detail", args=[access_request.pk])
    try:
        services.grant_revoke(
            actor=request.user,
            request_id=access_request.pk,
            reason=request.POST.get("reason", ""),
            http_request=request,
        )
        messages.success(request, f"Grant #{access_request.pk} is being revoked.")
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect_back(request, fallback)


@login_required
def grants_active(request):
    _require_admin(request.user)
    grants = list(selectors.grants_open())
    # People by their object ID: a UPN may name more than one person.
    holders = {grant.requester.profile.oid: grant.requester_label for grant in grants}
    roles = {grant.role_id: grant.role.name for grant in grants}
    return render(
        request,
        "access/grants_active.html",
        {
            "grants": grants,
            "holders": sorted(holders.items(), key=lambda item: item[1]),
            "roles": sorted(roles.items(), key=lambda item: item[1]),
        },
    )


@login_required
@require_POST
def grants_revoke_bulk(request):
    _require_admin(request.user)
    scope = _bulk_scope(request.POST)
    if scope is None:
        messages.error(request, "Choose one person or one role whose grants to revoke.")
        return redirect("access:grants-active")
    try:
        revoked = services.grants_revoke_bulk(
            actor=request.user, reason=request.POST.get("reason", ""), http_request=request, **scope
        )
        messages.success(request, f"{len(revoked)} grant{'s' if len(revoked) != 1 else ''} being revoked.")
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect("access:grants-active")


def _bulk_scope(data) -> dict | None:
    """Return the person (by oid) or the role the bulk form names: exactly one, and one that exists; else None."""
    person, role = data.get("user", ""), _pk(data.get("role", ""))
    if bool(person) == (role is not None):
        return None
    if person:
        try:
            return {"user": selectors.person_by_oid_or_upn(person)}
        except DomainError:
            return None
    found = AccessRole.objects.filter(pk=role).first()
    return {"role": found} if found else None


def _pk(value: str) -> int | None:
    """Return `value` as a row ID if it is one (plain digits, in the database's range), else None."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number < 2**31 else None


@login_required
def review_queue(request):
    # A page at a time: each item renders its own forms and recent requests, which a long queue pays per item.
    listing = selectors.review_queue_of(request.user)
    queue = FirstPageFirst(listing.queryset, REVIEW_PAGE_SIZE, first_rows=listing.first)
    queue.count = selectors.count_to_review_in(request)  # the navigation's count: counted once for both
    page = queue.get_page(request.GET.get("page"))
    items = selectors.with_recent_requests(list(page))
    approve_fields = fields_for_each(ApproveForm, "approve", items)
    deny_fields = fields_for_each(DenyForm, "deny", items)
    for item in items:
        item.recent = selectors.recent_requests_of(item.requester, exclude_id=item.pk)
        item.approve_fields, item.deny_fields = approve_fields[item.pk], deny_fields[item.pk]
    return render(request, "access/review_queue.html", {"page": page})


def _history_filters(request) -> tuple[HistoryFilterForm, dict]:
    form = HistoryFilterForm(request.GET or None, actions=selectors.audit_actions())
    if request.GET and form.is_valid():
        return form, form.filters()
    return form, {}


class _UncountedPage:
    """One page of a long list, newer and older only: counting a million matching events costs more than the page.

    One row more than the page tells whether an older page exists.
    """

    # Far past any history; a larger number would overflow the database's offset.
    MAX_PAGE = 1_000_000

    def __init__(self, queryset, number, size: int):
        self.number = min(_pk(str(number or "")) or 1, self.MAX_PAGE)
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        self.object_list = rows[:size]
        self.has_next = len(rows) > size
        self.has_previous = self.number > 1
        self.next_page_number = self.number + 1
        self.previous_page_number = self.number - 1
        self.start_index = start + 1
        self.end_index = start + len(self.object_list)

    def __iter__(self):
        return iter(self.object_list)


@login_required
def audit_history(request):
    _require_admin(request.user)
    form, filters = _history_filters(request)
    events = selectors.audit_events_filtered(**filters)
    page = _UncountedPage(events, request.GET.get("page"), HISTORY_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "access/audit_history.html",
        {"form": form, "page": page, "query": query.urlencode(), "filtered": bool(filters)},
    )


@login_required
def audit_export(request, fmt):
    """Stream the filtered history as CSV or JSON, so its size does not matter."""
    _require_admin(request.user)
    form, filters = _history_filters(request)
    if request.GET and not form.is_valid():
        return redirect(f"{reverse('access:audit-history')}?{request.GET.urlencode()}")
    events = selectors.audit_events_filtered(**filters)
    return exports.streamed(events, fmt, filename="latchkey-history", csv_type="text/csv; charset=utf-8")


@login_required
def dashboard(request):
    _require_admin(request.user)
    stats = selectors.dashboard()
    peak = max((count for _, count in stats.per_day), default=0)
    return render(
        request,
        "access/dashboard.html",
        {
            "stats": stats,
            "chart": _chart(stats.per_day, peak),
            "total": sum(count for _, count in stats.per_day),
            "median": _spoken(stats.median_to_approval),
            "top_max": max((count for _, count in stats.top_roles), default=0),
        },
    )


def _spoken(duration) -> str:
    """Return a wait as people say it: 45 s, 12 min, 3 h 5 min."""
    if duration is None:
        return ""
    seconds = int(duration.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def _chart(per_day, peak: int) -> dict:
    """Lay out the bars of the requests-per-day chart in SVG units (inline attributes pass the CSP)."""
    width, height, gap = 600, 160, 2
    step = width / max(len(per_day), 1)
    scale = (height - 20) / peak if peak else 0
    bars = []
    for index, (day, count) in enumerate(per_day):
        bar_height = round(count * scale, 1)
        bars.append(
            {
                "x": round(index * step + gap / 2, 1),
                "y": round(height - 16 - bar_height, 1),
                "width": round(step - gap, 1),
                "height": bar_height,
                "day": day,
                "count": count,
            }
        )
    return {"width": width, "height": height, "bars": bars, "peak": peak, "baseline": height - 16}
