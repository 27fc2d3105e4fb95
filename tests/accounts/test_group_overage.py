"""Group overage: when the token only says "too many groups", the memberships come from Microsoft Graph."""

import pytest

from portal.accounts.models import Profile
from portal.devstack import tenant
from tests.support.sign_in import sign_in, sign_in_with_token, signed_in_user_id

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

OVERAGE = {
    "_claim_names": {"groups": "src1"},
    "_claim_sources": {
        "src1": {"endpoint": "https://graph.windows.net/c0000000-0000-4000-8000-00000000000c/users/x/getMemberObjects"}
    },
}
MANY_GROUPS = [{"id": f"d0000000-0000-4000-8000-{n:012d}", "displayName": f"team-{n}"} for n in range(1, 4)] + [
    {"id": tenant.GROUPS["portal-admins"], "displayName": "portal-admins"}
]


def overage_token(provider, name):
    return lambda nonce: provider.sign(provider.claims(name, nonce=nonce, groups=None, **OVERAGE))


def test_groups_come_from_every_page_of_graph_when_the_token_has_the_overage_indicator(
    client, fake_provider, fake_graph
):
    fake_graph.groups = MANY_GROUPS

    response = sign_in_with_token(client, fake_provider, overage_token(fake_provider, "carol"))

    assert response.status_code == 302
    profile = Profile.objects.get(oid=tenant.USERS["carol"].oid)
    assert profile.groups == sorted(group["id"] for group in MANY_GROUPS)
    assert profile.user.is_superuser
    assert len(fake_graph.requests) == 2
    assert "%24select=id%2CdisplayName" in fake_graph.requests[0]
    assert "$skiptoken=2" in fake_graph.requests[1]


def test_a_failing_graph_refuses_the_sign_in_and_says_why(client, fake_provider, fake_graph):
    fake_graph.groups = MANY_GROUPS
    fake_graph.fail_with = 503

    response = sign_in_with_token(client, fake_provider, overage_token(fake_provider, "carol"))

    assert response.status_code == 503
    page = response.content.decode()
    assert "Microsoft Graph" in page
    assert "serviceNotAvailable" in page
    assert signed_in_user_id(client) is None
    assert not Profile.objects.exists()


def test_graph_refusing_the_access_token_refuses_the_sign_in(client, fake_provider, fake_graph):
    fake_graph.access_token = "some-other-token"

    response = sign_in_with_token(client, fake_provider, overage_token(fake_provider, "alice"))

    assert response.status_code == 503
    assert "InvalidAuthenticationToken" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_an_unreachable_graph_refuses_the_sign_in(client, fake_provider, settings):
    settings.GRAPH_BASE_URL = "http://127.0.0.1:9"

    response = sign_in_with_token(client, fake_provider, overage_token(fake_provider, "alice"))

    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_dave_with_overage_at_the_real_provider_gets_his_groups_from_graph(client, stack, provider_user, fake_graph):
    fake_graph.access_token = None
    fake_graph.groups = [{"id": tenant.GROUPS["dba"], "displayName": "dba"}]
    provider_user("dave", groups=None, **OVERAGE)

    response = sign_in(client, "dave")

    assert response.status_code == 302
    assert Profile.objects.get(oid=tenant.USERS["dave"].oid).groups == [tenant.GROUPS["dba"]]
    assert len(fake_graph.requests) == 1
