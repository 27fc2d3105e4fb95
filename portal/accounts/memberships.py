"""Group memberships and app roles of a verified Entra ID token, for the browser sign-in and the API alike.

Groups come from the token's `groups` claim; when Entra sends the overage indicator
instead (more groups than a token can list), they come from Microsoft Graph. App roles
come from the `roles` claim. Never continue with zero groups when Graph fails: that
would hide roles and approvals silently.
"""

from collections.abc import Callable

from portal.accounts.errors import SignInRefused
from portal.integrations import graph


def string_list(value) -> list[str]:
    """Return the strings of a list claim (anything else in it, or a claim that is no list, counts for nothing)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def has_group_overage(claims: dict) -> bool:
    """Return whether the token says "too many groups to list, ask Graph" instead of listing them."""
    claim_names = claims.get("_claim_names")
    return (isinstance(claim_names, dict) and "groups" in claim_names) or claims.get("hasgroups") is True


def app_roles(claims: dict) -> list[str]:
    """Return the app role values of verified token `claims`."""
    return string_list(claims.get("roles"))


def groups(
    claims: dict, *, graph_access_token: Callable[[], str], refusal: type[SignInRefused], token_name: str
) -> list[str]:
    """Return the group object IDs of the person of verified token `claims`.

    `graph_access_token` is called only on overage and returns a token for Microsoft
    Graph (or raises a refusal of its own). A Graph failure raises `refusal` (status
    503) naming `token_name` ("sign-in token", "access token").
    """
    if not has_group_overage(claims):
        return string_list(claims.get("groups"))
    access_token = graph_access_token()
    try:
        return graph.member_group_ids(access_token=access_token)
    except graph.GraphUnavailable as error:
        raise refusal(
            f"You are in too many groups to list in the {token_name}, and reading them from Microsoft "
            f"Graph failed: {error} Try again in a minute.",
            status=503,
            reason=f"group overage: Graph: {error}",
        ) from error
