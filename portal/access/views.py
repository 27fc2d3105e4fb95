"""Pages of the access workflow: my access, the request form, request detail, the review queue, history."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal.access import selectors, services
from portal.access.forms import ApproveForm, DenyForm, ExtendForm, RequestForm
from portal.access.models import AccessRequest, AccessRole, AuditEvent
from portal.accounts.selectors import is_portal_admin
from portal.core.errors import DomainError, InvalidInput
from portal.core.ratelimit import rate_limited

State = AccessRequest.State


def _visible_request(user, request_id: int) -> AccessRequest:
    return get_object_or_404(selectors.requests_visible_to(user), pk=request_id)


def _form_errors(form, error: InvalidInput) -> None:
    for name, texts in error.fields.items():
        for text in texts:
            form.add_error(name if name in form.fields else None, text)
    if not error.fields:
        form.add_error(None, error.detail)


@login_required
def my_access(request):
    mine = selectors.requests_mine(request.user)
    return render(
        request,
        "access/my_access.html",
        {
            "eligible": selectors.roles_eligible(request.user),
            "pending": mine.filter(state=State.PENDING),
            "active": mine.filter(state__in=[State.APPROVED, State.ISSUING, State.ACTIVE, State.REVOKING]),
            "history": mine.filter(state__in=AccessRequest.FINAL_STATES)[:20],
            "review_count": selectors.requests_to_review(request.user).count(),
            "is_admin": is_portal_admin(request.user),
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
            created = services.request_create(actor=request.user, role=role, http_request=request, **form.cleaned_data)
        except InvalidInput as error:
            _form_errors(form, error)
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, f"Request #{created.pk} is {created.state}.")
            return redirect("access:request-detail", request_id=created.pk)
    return render(request, "access/request_form.html", {"form": form, "role": role, "because": eligible[slug].because})


@login_required
def request_detail(request, request_id):
    access_request = _visible_request(request.user, request_id)
    may_decide = selectors.requests_to_review(request.user).filter(pk=access_request.pk).exists()
    return render(
        request,
        "access/request_detail.html",
        {
            "req": access_request,
            "timeline": selectors.request_timeline(access_request).select_related("request"),
            "may_decide": may_decide,
            "is_requester": access_request.requester_id == request.user.pk,
            "may_revoke": selectors.may_revoke(request.user, access_request),
            "extensions": access_request.extensions.select_related("role").order_by("created_at", "id"),
            "waiting_for_vault": bool(access_request.last_error)
            and access_request.state in (State.APPROVED, State.ISSUING, State.REVOKING),
            "recent": selectors.recent_requests_of(access_request.requester, exclude_id=access_request.pk)
            if may_decide
            else [],
            "approve_form": ApproveForm(),
            "deny_form": DenyForm(),
            "extend_form": ExtendForm(),
        },
    )


def _decide(request, request_id, form_class, action):
    access_request = _visible_request(request.user, request_id)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()))
        return redirect("access:request-detail", request_id=access_request.pk)
    try:
        action(access_request, form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect("access:request-detail", request_id=access_request.pk)


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
            http_request=request,
        )
        messages.success(request, f"You approved request #{access_request.pk}.")

    return _decide(request, request_id, ApproveForm, approve)


@login_required
@require_POST
@rate_limited("approval")
def request_deny(request, request_id):
    def deny(access_request, data):
        services.request_deny(
            actor=request.user, request_id=access_request.pk, comment=data["comment"], http_request=request
        )
        messages.success(request, f"You denied request #{access_request.pk}.")

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
        except InvalidInput as error:
            _form_errors(form, error)
        except DomainError as error:
            form.add_error(None, error.detail)
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
        creds = services.grant_reveal(actor=request.user, request_id=access_request.pk, http_request=request)
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
    return redirect("access:request-detail", request_id=access_request.pk)


@login_required
def grants_active(request):
    if not is_portal_admin(request.user):
        raise PermissionDenied
    return render(request, "access/grants_active.html", {"grants": selectors.grants_open()})


@login_required
@require_POST
def grants_revoke_bulk(request):
    if not is_portal_admin(request.user):
        raise PermissionDenied
    user = get_object_or_404(get_user_model(), pk=request.POST["user"]) if request.POST.get("user") else None
    role = get_object_or_404(AccessRole, pk=request.POST["role"]) if request.POST.get("role") else None
    try:
        revoked = services.grants_revoke_bulk(
            actor=request.user, user=user, role=role, reason=request.POST.get("reason", ""), http_request=request
        )
        messages.success(request, f"{len(revoked)} grant{'s' if len(revoked) != 1 else ''} being revoked.")
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect("access:grants-active")


@login_required
def review_queue(request):
    queue = list(selectors.requests_to_review(request.user).order_by("created_at", "id"))
    for item in queue:
        item.recent = selectors.recent_requests_of(item.requester, exclude_id=item.pk)
    return render(request, "access/review_queue.html", {"queue": queue})


@login_required
def audit_history(request):
    if not is_portal_admin(request.user):
        raise PermissionDenied
    events = AuditEvent.objects.select_related("request", "role").order_by("-id")
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    return render(request, "access/audit_history.html", {"page": page})
