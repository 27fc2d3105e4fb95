"""The Microsoft Graph module reads every page of memberships and turns each failure into one error."""

import pytest

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
