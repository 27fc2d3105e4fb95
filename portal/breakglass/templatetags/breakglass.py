"""Template helpers that mark break-glass grants on the pages and offer break-glass where it is allowed."""

from django import template

from portal.breakglass import selectors

register = template.Library()


def _use_of(req):
    # The reverse one-to-one raises when absent; the selectors fetch it with the request.
    return getattr(req, "break_glass_use", None)


@register.inclusion_tag("breakglass/_badge.html")
def break_glass_badge(req):
    """Render the break-glass mark of a grant (nothing for an ordinary one)."""
    return {"use": _use_of(req)}


@register.inclusion_tag("breakglass/_banner.html")
def break_glass_banner(req):
    """Render the break-glass notice of a request's page: incident and review."""
    return {"use": _use_of(req)}


@register.inclusion_tag("breakglass/_options.html", takes_context=True)
def break_glass_options(context):
    """Render the roles the signed-in person may break the glass of."""
    request = context.get("request")
    if request is None:
        return {"options": []}
    # The page's own list of the roles the person may request, when it has one: read once for both.
    return {"options": selectors.break_glass_options(request.user, eligible=context.get("eligible"))}


@register.inclusion_tag("breakglass/_dashboard.html")
def break_glass_dashboard():
    """Render the break-glass figures of the admins' dashboard."""
    return {"summary": selectors.summary()}
