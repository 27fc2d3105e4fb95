"""Pages of break-glass: activate a role in an emergency, and the approvers' review of each use."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.breakglass import selectors, services
from portal.breakglass.forms import ActivateForm, ConfirmForm, FlagForm
from portal.core.errors import DomainError
from portal.core.forms import add_refusal, fields_for_each
from portal.core.ratelimit import rate_limited

REVIEWED_SHOWN = 20


@login_required
@rate_limited("request_create")
def activate(request, slug):
    options = {option.role.slug: option for option in selectors.break_glass_options(request.user)}
    if slug not in options:
        raise Http404("No role to break the glass of.")
    option = options[slug]
    form = ActivateForm(request.POST or None, option=option)
    if request.method == "POST" and form.is_valid():
        try:
            use = services.break_glass_activate(
                actor=request.user, role=option.role, http_request=request, **form.cleaned_data
            )
        except DomainError as error:
            add_refusal(form, error)
        else:
            messages.warning(
                request,
                f"Break-glass: request #{use.request_id} is approved and being issued. The admins and the "
                f"approvers of {option.role.name} have been told; they review this use.",
            )
            return redirect("access:request-detail", request_id=use.request_id)
    return render(request, "breakglass/activate.html", {"form": form, "option": option})


@login_required
def review_queue(request):
    to_review = list(selectors.uses_to_review(request.user))
    confirm_fields = fields_for_each(ConfirmForm, "confirm", to_review)
    flag_fields = fields_for_each(FlagForm, "flag", to_review)
    for use in to_review:
        use.confirm_fields, use.flag_fields = confirm_fields[use.pk], flag_fields[use.pk]
    reviewed = selectors.uses_visible_to(request.user).exclude(review_state="pending")[:REVIEWED_SHOWN]
    return render(request, "breakglass/review_queue.html", {"to_review": to_review, "reviewed": reviewed})


def _review(request, use_id, form_class, service, done: str):
    use = get_object_or_404(selectors.uses_visible_to(request.user), pk=use_id)
    form = form_class(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Break-glass #{use.request_id}: {' '.join(errors)}")
        return redirect("breakglass:review-queue")
    try:
        service(actor=request.user, use_id=use.pk, comment=form.cleaned_data["comment"], http_request=request)
    except DomainError as error:
        messages.error(request, f"Break-glass #{use.request_id}: {error.detail}")
    else:
        messages.success(request, f"Break-glass #{use.request_id} of {use.request.requester_label}: {done}.")
    return redirect("breakglass:review-queue")


@login_required
@require_POST
@rate_limited("approval")
def confirm(request, use_id):
    return _review(request, use_id, ConfirmForm, services.break_glass_confirm, "confirmed as justified")


@login_required
@require_POST
@rate_limited("approval")
def flag(request, use_id):
    return _review(request, use_id, FlagForm, services.break_glass_flag, "flagged as misuse")
