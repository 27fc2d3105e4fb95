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


def group_member_users(*, group_id: str, access_token: str) -> list[dict]:
    """Return the users in group `group_id`, directly or through nested groups.

    Each user is a dict with `id`, `userPrincipalName`, `displayName` and `mail`. The cast to
    `microsoft.graph.user` is an advanced query: Graph refuses it without the
    `ConsistencyLevel: eventual` header and `$count=true`. Needs `GroupMember.Read.All`.
    """
    group = requests.utils.quote(group_id, safe="")
    url = f"{settings.GRAPH_BASE_URL}/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user"
    params: dict[str, str] | None = {"$count": "true", "$select": "id,userPrincipalName,displayName,mail"}
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json", "ConsistencyLevel": "eventual"}
    users: list[dict] = []
    for _ in range(MAX_PAGES):
        page = _get_page(url, params=params, headers=headers)
        try:
            users += [
                {
                    "id": item["id"],
                    "userPrincipalName": item.get("userPrincipalName") or "",
                    "displayName": item.get("displayName") or "",
                    "mail": item.get("mail") or "",
                }
                for item in page["value"]
            ]
        except (KeyError, TypeError) as error:
            raise GraphUnavailable("Microsoft Graph answered with an unexpected body.") from error
        url = page.get("@odata.nextLink")
        if not url:
            return users
        # The next link already carries every query parameter, including $skiptoken.
        params = None
    raise GraphUnavailable(f"Microsoft Graph returned more than {MAX_PAGES} pages of group members.")


def _get_page(url: str, *, params: dict[str, str] | None, headers: dict[str, str]) -> dict:
    """GET one page of a Graph collection; map every failure to `GraphUnavailable`."""
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
    if not isinstance(page, dict):
        raise GraphUnavailable("Microsoft Graph answered with an unexpected body.")
    return page
