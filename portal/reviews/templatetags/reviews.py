"""Template helpers of access reviews: the navigation entries, the dashboard card, durations in words."""

from django import template
from django.urls import reverse

from portal.accounts.selectors import is_approver_in, is_portal_admin
from portal.reviews import rightsizing, selectors

register = template.Library()


@register.inclusion_tag("reviews/_nav_items.html", takes_context=True)
def reviews_nav(context):
    """Render the navigation entries of reviews: for approvers with how many people wait for them."""
    request = getattr(context, "request", None) or context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"items": []}
    # Right-sizing is linked from the reviews page and the dashboard: the navigation stays one line.
    if not is_portal_admin(user) and not is_approver_in(request):
        return {"items": []}
    url = reverse("reviews:campaigns")
    count = selectors.pending_for_reviewer(user)
    items = [{"label": "Access reviews", "url": url, "count": count, "current": request.path.startswith(url)}]
    return {"items": items}


@register.inclusion_tag("reviews/_dashboard_card.html")
def reviews_dashboard():
    """Render the dashboard's card of open access reviews and their progress."""
    return {"open": selectors.open_campaigns_summary()}


@register.filter
def spoken_minutes(value) -> str:
    """Return minutes (possibly fractional) as people say them: under 1 min, 45 min, 1 h 30 min."""
    return rightsizing.spoken(value)
