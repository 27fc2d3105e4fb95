"""Reading a group's members from Microsoft Graph: every page, the advanced query, errors without secrets."""

import pytest
import requests

from portal.integrations import graph
from tests.support.sign_in import GRAPH_ACCESS_TOKEN

GROUP = "a0000000-0000-4000-8000-000000000002"
USERS = [{"id": f"u{n}", "userPrincipalName": f"user{n}@contoso.example", "displayName": f"User {n}"} for n in range(5)]


def test_every_page_is_read_by_following_the_next_link(fake_graph):
    fake_graph.group_members = {GROUP: USERS}

    members = graph.group_member_users(group_id=GROUP, access_token=GRAPH_ACCESS_TOKEN)

    assert [member["id"] for member in members] == [user["id"] for user in USERS]
    assert members[0] == {"id": "u0", "userPrincipalName": "user0@contoso.example", "displayName": "User 0", "mail": ""}
    assert len(fake_graph.requests) == 3
    assert fake_graph.requests[0].startswith(f"/v1.0/groups/{GROUP}/transitiveMembers/microsoft.graph.user?")
    assert "%24count=true" in fake_graph.requests[0]


def test_graph_refuses_the_cast_without_the_advanced_query_and_so_does_the_fake(fake_graph, settings):
    fake_graph.group_members = {GROUP: USERS}
    url = f"{settings.GRAPH_BASE_URL}/v1.0/groups/{GROUP}/transitiveMembers/microsoft.graph.user"
    auth = {"Authorization": f"Bearer {GRAPH_ACCESS_TOKEN}"}

    no_header = requests.get(url, params={"$count": "true"}, headers=auth, timeout=5)
    no_count = requests.get(url, headers={**auth, "ConsistencyLevel": "eventual"}, timeout=5)

    for response in (no_header, no_count):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_an_unknown_group_is_an_error_that_names_graphs_code(fake_graph):
    with pytest.raises(graph.GraphUnavailable, match=r"HTTP 404 \(Request_ResourceNotFound\)"):
        graph.group_member_users(group_id="no-such-group", access_token=GRAPH_ACCESS_TOKEN)


def test_the_access_token_never_appears_in_the_error(fake_graph):
    with pytest.raises(graph.GraphUnavailable) as refused:
        graph.group_member_users(group_id=GROUP, access_token="secret-token-value")

    assert "401" in str(refused.value)
    assert "secret-token-value" not in str(refused.value)


def test_graph_out_of_reach_is_graph_unavailable(settings):
    settings.GRAPH_BASE_URL = "http://127.0.0.1:9"

    with pytest.raises(graph.GraphUnavailable, match="could not be reached"):
        graph.group_member_users(group_id=GROUP, access_token=GRAPH_ACCESS_TOKEN)
