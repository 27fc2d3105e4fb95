"""The Microsoft Graph module reads every page of memberships and turns each failure into one error."""

import pytest
import requests

from portal.integrations import graph
from tests.support.sign_in import GRAPH_ACCESS_TOKEN

GROUPS = [{"id": f"d0000000-0000-4000-8000-{n:012d}", "displayName": f"team-{n}"} for n in range(1, 6)]


def test_every_page_is_read_by_following_the_next_link(fake_graph):
    fake_graph.groups = GROUPS

    assert graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN) == [group["id"] for group in GROUPS]
    assert len(fake_graph.requests) == 3


def test_a_person_in_no_group_gets_an_empty_list_from_one_page(fake_graph):
    assert graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN) == []
    assert len(fake_graph.requests) == 1


def test_an_error_names_graphs_status_and_error_code(fake_graph):
    fake_graph.fail_with = 429

    with pytest.raises(graph.GraphUnavailable, match=r"HTTP 429 \(serviceNotAvailable\)"):
        graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN)


def test_the_access_token_never_appears_in_the_error(fake_graph):
    with pytest.raises(graph.GraphUnavailable) as raised:
        graph.member_group_ids(access_token="a-token-graph-does-not-accept")

    assert "a-token-graph-does-not-accept" not in str(raised.value)
    assert "InvalidAuthenticationToken" in str(raised.value)


def test_a_next_link_that_never_ends_is_cut_off(fake_graph, monkeypatch):
    monkeypatch.setattr(graph, "MAX_PAGES", 2)
    fake_graph.groups = GROUPS

    with pytest.raises(graph.GraphUnavailable, match="more than 2 pages"):
        graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN)


def test_every_page_is_asked_as_an_advanced_query(fake_graph):
    fake_graph.groups = GROUPS

    graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN)

    assert all(headers.get("ConsistencyLevel") == "eventual" for headers in fake_graph.request_headers)
    assert all("%24count=true" in path or "$count=true" in path for path in fake_graph.requests)


def test_the_fake_graph_refuses_an_odata_cast_without_the_advanced_query_header_as_graph_does(fake_graph):
    url = f"{fake_graph.server.url}/v1.0/me/transitiveMemberOf/microsoft.graph.group"
    headers = {"Authorization": f"Bearer {GRAPH_ACCESS_TOKEN}"}

    without_header = requests.get(url, params={"$count": "true"}, headers=headers, timeout=5)
    without_count = requests.get(url, headers={**headers, "ConsistencyLevel": "eventual"}, timeout=5)

    for response in (without_header, without_count):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_a_refused_advanced_query_names_graphs_error_code(fake_graph, monkeypatch):
    monkeypatch.setattr(graph, "ADVANCED_QUERY_HEADERS", {})

    with pytest.raises(graph.GraphUnavailable, match=r"HTTP 400 \(Request_UnsupportedQuery\)"):
        graph.member_group_ids(access_token=GRAPH_ACCESS_TOKEN)
