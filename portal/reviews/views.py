"""Pages of access reviews: campaigns (start, list, decide), the removals export and right-sizing."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.access.models import REASON_MAX_CHARS
from portal.accounts.selectors import is_approver, is_portal_admin
from portal.core.errors import DomainError
from portal.core.forms import add_refusal
from portal.core.views import redirect_back
from portal.reviews import exports, selectors, services
from portal.reviews import rightsizing as sizing
from portal.reviews.forms import CampaignStartForm, DecisionForm
from portal.reviews.models import Campaign, ReviewItem


def _require_admin(user) -> None:
    # Starting reviews, the removals export and right-sizing are for portal admins only.
    if not is_portal_admin(user):
        raise PermissionDenied


# People of a review shown on one page of it.
CAMPAIGN_PAGE_SIZE = 50

# The start form asks for a due day where the service takes a due time.
_RENAMES = {"due_at": "due_on"}


@login_required
def campaigns(request):
    admin = is_portal_admin(request.user)
    # Reviews are for the admins who run them and the approvers who decide them
    if not admin and not is_approver(request.user):
        raise PermissionDenied
    form = CampaignStartForm(request.POST or None) if admin else None
    if request.method == "POST":
        _require_admin(request.user)
        if form.is_valid():
            try:
                campaign = services.campaign_start(
                    actor=request.user,
                    role=form.role_slug(),
                    due_at=form.due_at(),
                    when_overdue=form.cleaned_data["when_overdue"],
                    repeat_every_days=form.cleaned_data["repeat_every_days"],
                    http_request=request,
                )
            except DomainError as error:
                add_refusal(form, error, renames=_RENAMES)
            else:
                messages.success(request, f"Review #{campaign.pk} of {campaign.scope_label} has started.")
                return redirect("reviews:campaign-detail", campaign_id=campaign.pk)
    listed = [(campaign, selectors.progress_of(campaign)) for campaign in selectors.campaigns_visible_to(request.user)]
    return render(
        request,
        "reviews/campaigns.html",
        {
            "form": form,
            "open": [(c, p) for c, p in listed if c.state == Campaign.State.OPEN],
            "closed": [(c, p) for c, p in listed if c.state == Campaign.State.CLOSED],
            "graph": selectors.graph_configured(),
        },
    )


@login_required
def campaign_detail(request, campaign_id):
    campaign = get_object_or_404(selectors.campaigns_all(), pk=campaign_id)
    if not selectors.may_see_campaign(request.user, campaign):
        raise Http404
    # A page at a time: each person renders their evidence and forms, which a review of a large group pays per person.
    page = Paginator(selectors.items_of(campaign), CAMPAIGN_PAGE_SIZE).get_page(request.GET.get("page"))
    items = list(page)
    evidence = selectors.evidence_for(items)
    for item in items:
        item.evidence = evidence[item.pk]
        item.through_labels = [selectors.group_label(item.role, through) for through in item.eligible_through]
        item.may_decide = selectors.may_decide(item, request.user)
        item.is_me = selectors.is_subject(item, request.user)
    return render(
        request,
        "reviews/campaign_detail.html",
        {
            "campaign": campaign,
            "items": items,
            "page": page,
            "progress": selectors.progress_of(campaign),
            "admin": is_portal_admin(request.user),
        },
    )


@login_required
@require_POST
def item_decide(request, item_id):
    item = get_object_or_404(ReviewItem.objects.select_related("campaign"), pk=item_id)
    if not selectors.may_see_campaign(request.user, item.campaign):
        raise Http404
    # Back to the page of the review the decision came from, at the person decided.
    fallback = reverse("reviews:campaign-detail", args=[item.campaign_id])
    anchor = f"#item-{item.pk}"
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Choose keep or remove; a reason has at most {REASON_MAX_CHARS} characters.")
        return redirect_back(request, fallback, anchor=anchor)
    try:
        decided = services.item_decide(
            actor=request.user,
            item_id=item.pk,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            http_request=request,
        )
    except DomainError as error:
        messages.error(request, f"{item.label}: {error.detail}")
        return redirect_back(request, fallback, anchor=anchor)
    if decided.decision == ReviewItem.Decision.KEEP:
        messages.success(request, f"You kept {decided.label} in {decided.role.name}.")
    else:
        revoked = len(decided.revoked_requests)
        messages.success(
            request,
            f"You removed {decided.label} from {decided.role.name}"
            + (f"; {revoked} open grant{'s' if revoked != 1 else ''} revoked." if revoked else "."),
        )
    return redirect_back(request, fallback, anchor=anchor)


@login_required
def removals_export(request):
    _require_admin(request.user)
    campaign = None
    if request.GET.get("campaign"):
        if not request.GET["campaign"].isdigit():
            raise Http404
        campaign = get_object_or_404(Campaign, pk=int(request.GET["campaign"]))
    filename = f"latchkey-review-{campaign.pk}-removals" if campaign else "latchkey-review-removals"
    return exports.removals_csv(selectors.removals(campaign=campaign), filename=filename)


@login_required
def rightsizing(request):
    _require_admin(request.user)
    rows = sizing.rightsizing()
    return render(
        request,
        "reviews/rightsizing.html",
        {"rows": rows, "chart": sizing.chart(rows), "days": sizing.WINDOW_DAYS},
    )


@login_required
def rightsizing_export(request):
    _require_admin(request.user)
    return exports.rightsizing_csv(sizing.rightsizing())
