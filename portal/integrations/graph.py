"""The one module that talks to Microsoft Graph: it reads a person's group memberships."""

import requests
from django.conf import settings

TIMEOUT_SECONDS = 10
# A runaway `@odata.nextLink` chain must not hold a sign-in forever; 100 pages of up
# to 999 groups is far beyond any real directory.
MAX_PAGES = 100


class GraphUnavailable(Exception):
    """Microsoft Graph could not be read."""


def member_group_ids(*, access_token: str) -> list[str]:
    """Return the object IDs of every group the signed-in person belongs to, directly or not."""
    url = f"{settings.GRAPH_BASE_URL}/v1.0/me/transitiveMemberOf/microsoft.graph.group"
    params: dict[str, str] | None = {"$select": "id,displayName"}
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    group_ids: list[str] = []
    for _ in range(MAX_PAGES):
        try:
            response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise GraphUnavailable(f"Microsoft Graph could not be reached ({error.__class__.__name__}).") from error
        if response.status_code != 200:
            raise GraphUnavailable(f"Microsoft Graph answered HTTP {response.status_code}{_graph_error(response)}.")
        try:
            page = response.json()
            group_ids += [item["id"] for item in page["value"]]
        except (ValueError, KeyError, TypeError) as error:
            raise GraphUnavailable("Microsoft Graph answered with an unexpected body.") from error
        url = page.get("@odata.nextLink")
        if not url:
            return group_ids
        # The next link already carries every query parameter, including $skiptoken.
        params = None
    raise GraphUnavailable(f"Microsoft Graph returned more than {MAX_PAGES} pages of groups.")


def _graph_error(response: requests.Response) -> str:
    """Return Graph's own error code (`Authorization_RequestDenied`, …) for the message, if any."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f" ({code})" if isinstance(code, str) else ""


def reachable() -> None:
    """Check that Microsoft Graph answers at all (an unauthenticated call gets 401: reachable)."""
    url = f"{settings.GRAPH_BASE_URL}/v1.0/"
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise GraphUnavailable(f"Microsoft Graph could not be reached ({error.__class__.__name__}).") from error
    if response.status_code >= 500:
        raise GraphUnavailable(f"Microsoft Graph answered HTTP {response.status_code}{_graph_error(response)}.")
