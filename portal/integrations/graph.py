"""The one module that talks to Microsoft Graph: it reads group memberships and group members.

Reading a collection with an OData cast (`…/transitiveMemberOf/microsoft.graph.group`)
is one of Graph's advanced queries on directory objects: Graph answers it only with the
`ConsistencyLevel: eventual` header and `$count=true`, and refuses it otherwise with
400 `Request_UnsupportedQuery` (https://learn.microsoft.com/graph/aad-advanced-queries).
"""

import requests
from django.conf import settings

TIMEOUT_SECONDS = 10
# A runaway `@odata.nextLink` chain must not hold a sign-in forever; 100 pages of up
# to 999 objects is far beyond any real directory.
MAX_PAGES = 100
ADVANCED_QUERY_HEADERS = {"ConsistencyLevel": "eventual"}
ADVANCED_QUERY_PARAMS = {"$count": "true"}


class GraphUnavailable(Exception):
    """Microsoft Graph could not be read."""


def member_group_ids(*, access_token: str) -> list[str]:
    """Return the object IDs of every group the signed-in person belongs to, directly or not."""
    items = collection(
        "/me/transitiveMemberOf/microsoft.graph.group",
        access_token=access_token,
        params={"$select": "id,displayName"},
        advanced_query=True,
    )
    try:
        return [item["id"] for item in items]
    except (KeyError, TypeError) as error:
        raise GraphUnavailable("Microsoft Graph answered with an unexpected body.") from error


def collection(path: str, *, access_token: str, params: dict[str, str], advanced_query: bool) -> list[dict]:
    """Return every item of the Graph collection at `path` (under /v1.0), following `@odata.nextLink`.

    With `advanced_query`, every page is asked with `ConsistencyLevel: eventual` and
    `$count=true`, as Graph requires for OData casts, `$search` and most `$filter`s.
    """
    url = f"{settings.GRAPH_BASE_URL}/v1.0{path}"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    query: dict[str, str] | None = dict(params)
    if advanced_query:
        headers.update(ADVANCED_QUERY_HEADERS)
        query.update(ADVANCED_QUERY_PARAMS)
    items: list[dict] = []
    for _ in range(MAX_PAGES):
        page = _get_page(url, params=query, headers=headers)
        items += page["value"]
        url = page.get("@odata.nextLink")
        if not url:
            return items
        # The next link already carries every query parameter, including $skiptoken; the
        # headers are sent again, since each page is a request of its own.
        query = None
    raise GraphUnavailable(f"Microsoft Graph returned more than {MAX_PAGES} pages.")


def _get_page(url: str, *, params: dict[str, str] | None, headers: dict[str, str]) -> dict:
    try:
        response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise GraphUnavailable(f"Microsoft Graph could not be reached ({error.__class__.__name__}).") from error
    if response.status_code != 200:
        raise GraphUnavailable(f"Microsoft Graph answered HTTP {response.status_code}{_graph_error(response)}.")
    try:
        page = response.json()
    except ValueError as error:
        raise GraphUnavailable("Microsoft Graph answered with an unexpected body.") from error
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        raise GraphUnavailable("Microsoft Graph answered with an unexpected body.")
    return page


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


def group_member_users(*, group_id: str, access_token: str) -> list[dict]:
    """Return the users in group `group_id`, directly or through nested groups.

    Each user is a dict with `id`, `userPrincipalName`, `displayName` and `mail`. The cast to
    `microsoft.graph.user` is an advanced query. Needs `GroupMember.Read.All`.
    """
    group = requests.utils.quote(group_id, safe="")
    items = collection(
        f"/groups/{group}/transitiveMembers/microsoft.graph.user",
        access_token=access_token,
        params={"$select": "id,userPrincipalName,displayName,mail"},
        advanced_query=True,
    )
    try:
        return [
            {
                "id": item["id"],
                "userPrincipalName": item.get("userPrincipalName") or "",
                "displayName": item.get("displayName") or "",
                "mail": item.get("mail") or "",
            }
            for item in items
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise GraphUnavailable("Microsoft Graph answered with an unexpected body.") from error
