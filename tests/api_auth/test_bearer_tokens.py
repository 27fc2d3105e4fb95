"""The API with Entra ID access tokens as `Authorization: Bearer`: people, applications, and every refusal."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client

from portal.access.models import AccessRequest, AuditEvent
from portal.accounts import oidc
from portal.accounts.models import Profile
from portal.core.clock import now
from portal.devstack import tenant
from tests.support.entra import API_AUDIENCE, DEPLOY_APP_ID, bearer

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

WHY = "Nightly migration of the orders schema"
FOREIGN_TENANT = "f0000000-0000-4000-8000-00000000000f"


def get(path: str, token: str):
    return Client().get(f"/api/v1/{path}", **bearer(token))


def post(path: str, token: str, body: dict | None = None):
    return Client().post(f"/api/v1/{path}", body or {}, content_type="application/json", **bearer(token))


def assert_refused(response, status: int = 401):
    assert response.status_code == status, response.content
    assert response.json()["error"] == "invalid_token"
    assert "detail" in response.json()


# ----- people -----


def test_a_users_access_token_says_who_they_are_with_their_groups(token_issuer):
    response = get("me", token_issuer.user_token("alice"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["oid"] == tenant.USERS["alice"].oid
    assert body["upn"] == "alice@contoso.example"
    assert body["groups"] == sorted(tenant.USERS["alice"].group_ids)
    assert body["is_application"] is False


def test_a_users_token_requests_a_role_in_their_own_name(token_issuer, catalog):
    response = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})

    assert response.status_code == 201, response.content
    assert response.json()["requester"] == "alice@contoso.example"
    event = AuditEvent.objects.get(action="request.created")
    assert event.actor_label == "alice@contoso.example"


def test_an_approver_approves_with_a_bearer_token(token_issuer, catalog):
    created = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})

    response = post(f"requests/{created.json()['id']}/approve", token_issuer.user_token("bob"))

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"


def test_the_token_memberships_replace_those_of_an_earlier_sign_in(token_issuer, catalog):
    get("me", token_issuer.user_token("alice"))

    response = get("roles", token_issuer.user_token("alice", groups=[tenant.GROUPS["dba"]]))

    assert [role["slug"] for role in response.json()] == ["orders-admin"]


def test_a_bearer_call_needs_no_csrf_token(token_issuer, catalog):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/api/v1/requests",
        {"role": "analytics-readonly", "justification": WHY},
        content_type="application/json",
        **bearer(token_issuer.user_token("alice")),
    )

    assert response.status_code == 201, response.content


def test_the_application_id_uri_and_the_client_id_are_both_accepted_as_audience(token_issuer, settings):
    settings.OIDC_API_AUDIENCE = [API_AUDIENCE, "latchkey-client-id"]

    assert get("me", token_issuer.user_token("alice")).status_code == 200
    assert get("me", token_issuer.user_token("alice", aud="latchkey-client-id")).status_code == 200


def test_by_default_the_client_id_and_api_client_id_are_the_audiences(token_issuer, settings):
    settings.OIDC_API_AUDIENCE = []
    client_id = settings.OIDC_RP_CLIENT_ID

    assert get("me", token_issuer.user_token("alice", aud=client_id)).status_code == 200
    assert get("me", token_issuer.user_token("alice", aud=f"api://{client_id}")).status_code == 200
    assert_refused(get("me", token_issuer.user_token("alice", aud="api://latchkey-other")))


def test_a_v1_token_is_verified_with_the_v1_metadata_of_the_tenant(token_issuer):
    response = get("me", token_issuer.v1_user_token("alice"))

    assert response.status_code == 200, response.content
    assert response.json()["upn"] == "alice@contoso.example"


def test_a_v1_token_signed_with_a_key_of_the_v1_key_set_only_is_accepted(token_issuer):
    v1_key = rsa.generate_private_key(65537, 2048)
    token_issuer.v1_only_keys = [("v1-key", v1_key)]
    claims = jwt.decode(token_issuer.v1_user_token("alice"), options={"verify_signature": False})

    response = get("me", token_issuer.sign(claims, key=v1_key, headers={"kid": "v1-key"}))

    assert response.status_code == 200, response.content


def test_a_v2_token_signed_with_a_key_of_the_v1_key_set_only_is_refused(token_issuer):
    v1_key = rsa.generate_private_key(65537, 2048)
    token_issuer.v1_only_keys = [("v1-key", v1_key)]

    response = get("me", token_issuer.sign(token_issuer.user_claims("alice"), key=v1_key, headers={"kid": "v1-key"}))

    assert_refused(response)


def test_a_v1_token_naming_the_v2_issuer_is_refused(token_issuer):
    assert_refused(get("me", token_issuer.v1_user_token("alice", iss=token_issuer.issuer)))


def test_a_v2_token_naming_the_v1_issuer_is_refused(token_issuer):
    assert_refused(get("me", token_issuer.user_token("alice", iss=token_issuer.v1_issuer)))


# ----- applications -----


def test_an_application_is_an_identity_of_its_own(token_issuer):
    response = get("me", token_issuer.app_token(roles=["latchkey.orders-migrate"]))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_application"] is True
    assert body["upn"] == f"app:{DEPLOY_APP_ID}"
    assert body["groups"] == []
    assert body["is_approver"] is False
    profile = Profile.objects.get(is_application=True)
    assert profile.app_roles == ["latchkey.api", "latchkey.orders-migrate"]
    assert not profile.user.is_staff


def test_an_application_without_idtyp_is_recognised_by_its_missing_scopes(token_issuer):
    response = get("me", token_issuer.app_token(idtyp=None))

    assert response.json()["is_application"] is True


def test_a_persons_token_without_an_object_id_is_refused_never_taken_for_an_application(token_issuer):
    get("me", token_issuer.user_token("alice"))

    response = get("me", token_issuer.user_token("alice", oid=None, idtyp=None))

    assert_refused(response)
    assert "oid" in response.json()["detail"]
    assert not Profile.objects.filter(is_application=True).exists()


def test_a_token_with_delegated_scopes_is_a_persons_even_without_idtyp(token_issuer):
    response = get("me", token_issuer.user_token("alice", idtyp=None))

    assert response.json()["is_application"] is False
    assert response.json()["oid"] == tenant.USERS["alice"].oid


def test_idtyp_app_makes_an_application_token_whatever_else_it_carries(token_issuer):
    response = get("me", token_issuer.app_token(scp="access_as_user"))

    assert response.json()["is_application"] is True


def open_to_applications(role, *, auto_approve: bool = False):
    """Let applications with the app role `latchkey.orders-migrate` request `role`."""
    role.eligible_app_roles = ["latchkey.orders-migrate"]
    role.applications_may_request = True
    role.applications_auto_approve = auto_approve
    role.full_clean()
    role.save()


def test_an_application_is_eligible_through_app_roles_only(token_issuer, catalog):
    open_to_applications(catalog["orders-readwrite"])
    # Group claims in an application's token count for nothing: groups are for people.
    in_groups = token_issuer.app_token(groups=list(tenant.GROUPS.values()))
    with_role = token_issuer.app_token(roles=["latchkey.orders-migrate"])

    assert get("roles", in_groups).json() == []
    assert [role["slug"] for role in get("roles", with_role).json()] == ["orders-readwrite"]


def test_an_application_may_not_request_a_role_that_does_not_admit_applications(token_issuer, catalog):
    catalog["orders-readwrite"].eligible_app_roles = ["latchkey.orders-migrate"]
    catalog["orders-readwrite"].save()
    token = token_issuer.app_token(roles=["latchkey.orders-migrate"])

    listed = get("roles", token)
    response = post("requests", token, {"role": "orders-readwrite", "justification": WHY})

    assert listed.json() == []
    assert response.status_code == 403, response.content
    assert "Applications may not request" in response.json()["detail"]
    assert not AccessRequest.objects.exists()


def test_an_applications_request_waits_for_a_person_unless_the_role_auto_approves_applications(token_issuer, catalog):
    open_to_applications(catalog["orders-readwrite"])
    open_to_applications(catalog["analytics-readonly"], auto_approve=True)
    catalog["analytics-readonly"].approvals_required = 1
    catalog["analytics-readonly"].approver_groups = [tenant.GROUPS["orders-approvers"]]
    catalog["analytics-readonly"].save()
    token = token_issuer.app_token(roles=["latchkey.orders-migrate"])

    waiting = post("requests", token, {"role": "orders-readwrite", "justification": WHY})
    at_once = post("requests", token, {"role": "analytics-readonly", "justification": WHY})
    by_bob = post(f"requests/{waiting.json()['id']}/approve", token_issuer.user_token("bob"))
    people_wait = post(
        "requests", token_issuer.user_token("alice"), {"role": "analytics-readonly", "justification": WHY}
    )

    assert waiting.json()["state"] == "pending"
    assert at_once.json()["state"] == "approved"
    assert by_bob.json()["state"] == "approved"
    # The shortcut is for applications: people still need the role's approvals.
    assert people_wait.json()["state"] == "pending"


def test_applications_auto_approve_needs_applications_may_request(catalog):
    role = catalog["orders-readwrite"]
    role.applications_auto_approve = True

    with pytest.raises(ValidationError):
        role.full_clean()


def test_an_applications_request_is_named_as_the_application_in_the_history(token_issuer, catalog):
    open_to_applications(catalog["orders-readwrite"])
    token = token_issuer.app_token(roles=["latchkey.orders-migrate"], app_displayname="orders-deploy")

    response = post("requests", token, {"role": "orders-readwrite", "justification": WHY})

    assert response.status_code == 201, response.content
    assert response.json()["requester"] == "app:orders-deploy"
    assert AuditEvent.objects.get(action="request.created").actor_label == "app:orders-deploy"


def test_an_application_cannot_approve_even_as_a_portal_admin_with_an_approver_group_claim(
    token_issuer, catalog, settings
):
    settings.PORTAL_ADMIN_APP_ROLES = ["latchkey.admin"]
    created = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})
    app = token_issuer.app_token(roles=["latchkey.admin"], groups=[tenant.GROUPS["orders-approvers"]])

    response = post(f"requests/{created.json()['id']}/approve", app)

    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    assert "Applications cannot approve" in response.json()["detail"]
    assert AccessRequest.objects.get().state == AccessRequest.State.PENDING


def test_an_application_cannot_deny_its_way_past_the_rule(token_issuer, catalog, settings):
    settings.PORTAL_ADMIN_APP_ROLES = ["latchkey.admin"]
    created = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})
    app = token_issuer.app_token(roles=["latchkey.admin"])

    response = post(f"requests/{created.json()['id']}/deny", app, {"comment": "no"})

    assert response.status_code == 403, response.content
    assert "Applications cannot deny" in response.json()["detail"]


def test_an_application_sees_no_request_of_others_to_approve(token_issuer, catalog):
    created = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})
    app = token_issuer.app_token(groups=[tenant.GROUPS["orders-approvers"]])

    assert get("requests?scope=to_review", app).json()["results"] == []
    assert post(f"requests/{created.json()['id']}/approve", app).status_code == 404


def test_a_persons_object_id_cannot_be_reused_by_an_application_token(token_issuer):
    get("me", token_issuer.user_token("alice"))

    response = get("me", token_issuer.app_token(oid=tenant.USERS["alice"].oid))

    assert_refused(response)
    assert Profile.objects.get(oid=tenant.USERS["alice"].oid).is_application is False


# ----- refusals -----


def _hs256_with_public_key(issuer) -> str:
    public_pem = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    # PyJWT refuses to sign HS256 with a PEM key, which is the whole attack: build the token by hand.
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, issuer.user_claims("alice"))]
    signing_input = b".".join(jwt.utils.base64url_encode(part) for part in parts)
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


REFUSED_TOKENS = {
    "wrong_audience": lambda issuer: issuer.user_token("alice", aud="api://another-app"),
    "wrong_issuer": lambda issuer: issuer.user_token("alice", iss="https://login.example/other/v2.0"),
    "foreign_tenant": lambda issuer: issuer.user_token("alice", tid=FOREIGN_TENANT),
    "no_tenant": lambda issuer: issuer.user_token("alice", tid=None),
    "expired": lambda issuer: issuer.user_token("alice", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "not_yet_valid": lambda issuer: issuer.user_token("alice", nbf=int(time.time()) + 3600),
    "no_expiry": lambda issuer: issuer.user_token("alice", exp=None),
    "alg_none": lambda issuer: jwt.encode(issuer.user_claims("alice"), None, algorithm="none"),
    "hs256_with_a_shared_secret": lambda issuer: jwt.encode(
        issuer.user_claims("alice"), "a-guessable-secret-of-32-bytes!!", algorithm="HS256", headers={"kid": issuer.kid}
    ),
    "hs256_with_the_public_key": _hs256_with_public_key,
    "signed_by_another_key_with_a_known_kid": lambda issuer: issuer.sign(
        issuer.user_claims("alice"), key=rsa.generate_private_key(65537, 2048)
    ),
    "an_id_token": lambda issuer: issuer.sign(issuer.claims("alice", nonce="n", aud=API_AUDIENCE)),
    "garbage": lambda issuer: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(REFUSED_TOKENS))
def test_a_bad_token_is_refused_with_401_and_creates_nobody(token_issuer, case):
    token = REFUSED_TOKENS[case](token_issuer)

    response = get("me", token)

    assert_refused(response)
    assert not Profile.objects.exists()


def test_an_unknown_kid_refreshes_the_key_set_once_then_is_refused(token_issuer):
    assert get("me", token_issuer.user_token("alice")).status_code == 200
    reads = token_issuer.jwks_reads

    response = get("me", token_issuer.sign(token_issuer.user_claims("alice"), headers={"kid": "never-published"}))

    assert_refused(response)
    assert token_issuer.jwks_reads == reads + 1


def test_a_stream_of_unknown_kids_reads_the_key_set_once(token_issuer):
    assert get("me", token_issuer.user_token("alice")).status_code == 200
    reads = token_issuer.jwks_reads

    for number in range(5):
        claims = token_issuer.user_claims("alice")
        assert_refused(get("me", token_issuer.sign(claims, headers={"kid": f"made-up-{number}"})))

    assert token_issuer.jwks_reads == reads + 1


def test_a_rotated_key_is_picked_up_by_one_refresh(token_issuer):
    assert get("me", token_issuer.user_token("alice")).status_code == 200
    reads = token_issuer.jwks_reads
    old_token = token_issuer.user_token("alice")
    token_issuer.rotate("test-key-2")

    first = get("me", token_issuer.user_token("alice"))
    second = get("me", token_issuer.user_token("bob"))

    assert first.status_code == 200, first.content
    assert second.status_code == 200, second.content
    assert token_issuer.jwks_reads == reads + 1
    # The retired key is gone from the set the portal now holds.
    assert_refused(get("me", old_token))


def test_no_credentials_is_401_naming_the_bearer_scheme(db):
    response = Client().get("/api/v1/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer two tokens", "Bearer é"])
def test_a_malformed_authorization_header_is_refused(db, header):
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["error"] in ("invalid_token", "not_authenticated")


def test_unreachable_signing_keys_answer_503(token_issuer):
    token = token_issuer.user_token("alice")
    token_issuer.server.stop()

    response = get("me", token)

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "invalid_token"


def test_a_session_still_works_without_a_bearer_header(alice):
    client = Client()
    client.force_login(alice)

    assert client.get("/api/v1/me").json()["upn"] == "alice@contoso.example"


# ----- group overage -----


def test_group_overage_reads_the_groups_from_graph_on_behalf_of_the_user(token_issuer, fake_graph, catalog):
    fake_graph.groups = [{"id": tenant.GROUPS["dba"], "displayName": "dba"}]
    token_issuer.will_answer(id_token="", access_token="graph-token-for-alice")
    fake_graph.access_token = "graph-token-for-alice"
    token = token_issuer.user_token(
        "alice", groups=None, _claim_names={"groups": "src1"}, _claim_sources={"src1": {"endpoint": "x"}}
    )

    first = get("roles", token)
    second = get("roles", token)

    assert [role["slug"] for role in first.json()] == ["orders-admin"]
    assert second.json() == first.json()
    (exchange,) = token_issuer.token_requests
    assert exchange["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert exchange["requested_token_use"] == "on_behalf_of"
    assert exchange["assertion"] == token


def test_group_overage_with_graph_down_answers_503_not_zero_groups(token_issuer, fake_graph):
    fake_graph.fail_with = 503
    token_issuer.will_answer(id_token="", access_token="graph-token")
    fake_graph.access_token = None
    token = token_issuer.user_token("alice", groups=None, hasgroups=True)

    response = get("roles", token)

    assert response.status_code == 503, response.content
    assert not Profile.objects.exists()


CA_CLAIMS = '{"access_token":{"capolids":{"essential":true,"values":["c1b0b4d5-0000-4000-8000-00000000ca01"]}}}'


def _overage_token(issuer) -> str:
    return issuer.user_token("alice", groups=None, hasgroups=True)


def test_a_conditional_access_claims_challenge_answers_401_with_the_challenge(token_issuer, fake_graph):
    token_issuer.answer_status = 400
    token_issuer.answer = {
        "error": "interaction_required",
        "error_description": "AADSTS50079: Due to a configuration change made by your administrator, you must use MFA.",
        "claims": CA_CLAIMS,
    }

    response = get("roles", _overage_token(token_issuer))

    assert response.status_code == 401, response.content
    assert response.json()["error"] == "interaction_required"
    assert response.json()["claims"] == CA_CLAIMS
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_claims"' in challenge
    assert f'claims="{base64.b64encode(CA_CLAIMS.encode()).decode()}"' in challenge
    assert f'authorization_uri="{token_issuer.issuer.removesuffix("/v2.0")}/oauth2/v2.0/authorize"' in challenge
    assert not fake_graph.requests
    assert not Profile.objects.exists()


def test_consent_required_answers_401_not_503(token_issuer, fake_graph):
    token_issuer.answer_status = 400
    token_issuer.answer = {"error": "consent_required", "error_description": "AADSTS65001: consent needed."}

    response = get("roles", _overage_token(token_issuer))

    assert response.status_code == 401, response.content
    assert response.json()["error"] == "consent_required"
    assert "consent" in response.json()["detail"]
    assert 'error="consent_required"' in response["WWW-Authenticate"]


def test_another_on_behalf_of_refusal_still_answers_503(token_issuer, fake_graph):
    token_issuer.answer_status = 400
    token_issuer.answer = {"error": "invalid_grant", "error_description": "AADSTS50013: assertion failed."}

    response = get("roles", _overage_token(token_issuer))

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "invalid_token"


# ----- what the portal's API asks of a token: scope, app role, allowed client -----


def assert_forbidden(response, code: str):
    assert response.status_code == 403, response.content
    assert response.json()["error"] == code
    assert not Profile.objects.exists()


def test_a_persons_token_without_the_portals_scope_is_refused(token_issuer):
    response = get("me", token_issuer.user_token("alice", scp="User.Read profile"))

    assert_forbidden(response, "insufficient_scope")
    assert "access_as_user" in response.json()["detail"]


def test_a_persons_token_with_the_scope_among_others_is_accepted(token_issuer):
    assert get("me", token_issuer.user_token("alice", scp="User.Read access_as_user")).status_code == 200


def test_an_applications_token_without_the_portals_app_role_is_refused(token_issuer):
    response = get("me", token_issuer.app_token(roles=["latchkey.orders-migrate"], api_role=False))

    assert_forbidden(response, "insufficient_scope")
    assert "latchkey.api" in response.json()["detail"]


def test_an_applications_token_with_no_role_at_all_is_refused(token_issuer):
    assert_forbidden(get("me", token_issuer.app_token(api_role=False)), "insufficient_scope")


def test_a_persons_token_from_a_client_not_allowed_is_refused(token_issuer):
    response = get("me", token_issuer.user_token("alice", azp="d0000000-0000-4000-8000-0000000000ff"))

    assert_forbidden(response, "client_not_allowed")
    assert "d0000000-0000-4000-8000-0000000000ff" in response.json()["detail"]


def test_a_v1_token_from_a_client_not_allowed_is_refused(token_issuer):
    response = get("me", token_issuer.v1_user_token("alice", appid="d0000000-0000-4000-8000-0000000000ff"))

    assert_forbidden(response, "client_not_allowed")


def test_an_application_not_allowed_is_refused_even_with_the_app_role(token_issuer):
    response = get("me", token_issuer.app_token(app_id="e0000000-0000-4000-8000-0000000000ff"))

    assert_forbidden(response, "client_not_allowed")


def test_no_client_is_allowed_until_one_is_named(token_issuer, settings):
    settings.OIDC_API_ALLOWED_CLIENTS = []

    assert_forbidden(get("me", token_issuer.user_token("alice")), "client_not_allowed")


# ----- memberships of a token: fresh as of its iat, for the call only -----


def _old_token(issuer, name: str, **overrides) -> str:
    issued = int(time.time()) - settings.GROUPS_MAX_AGE_SECONDS - 120
    return issuer.user_token(name, iat=issued, nbf=issued, **overrides)


def test_a_token_issued_longer_ago_than_the_memberships_may_be_cannot_approve(token_issuer, catalog):
    created = post("requests", token_issuer.user_token("alice"), {"role": "orders-readwrite", "justification": WHY})

    response = post(f"requests/{created.json()['id']}/approve", _old_token(token_issuer, "bob"))

    assert response.status_code == 403, response.content
    assert "sign in again" in response.json()["detail"]
    assert AccessRequest.objects.get().state == AccessRequest.State.PENDING


def test_a_bearer_call_does_not_refresh_the_browser_sessions_memberships(token_issuer, alice, catalog):
    stale = now() - timedelta(seconds=settings.GROUPS_MAX_AGE_SECONDS + 60)
    Profile.objects.filter(user=alice).update(groups_read_at=stale)
    browser = Client()
    browser.force_login(alice)

    assert get("me", token_issuer.user_token("alice", groups=[tenant.GROUPS["dba"]])).status_code == 200
    response = browser.post(
        "/api/v1/requests", {"role": "orders-readwrite", "justification": WHY}, content_type="application/json"
    )

    assert response.status_code == 403, response.content
    profile = Profile.objects.get(user=alice)
    assert profile.groups_read_at == stale
    assert profile.groups == sorted(tenant.USERS["alice"].group_ids)


def test_the_memberships_of_a_new_identity_from_a_token_are_not_fresh_for_a_browser(token_issuer):
    get("me", token_issuer.user_token("alice"))

    profile = Profile.objects.get(oid=tenant.USERS["alice"].oid)
    assert profile.groups == sorted(tenant.USERS["alice"].group_ids)
    assert profile.groups_read_at is None
    assert not profile.user.is_staff


def test_a_known_person_calling_again_under_the_same_names_writes_nothing(token_issuer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = token_issuer.user_token("alice")
    assert get("me", token).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        again = get("me", token)

    assert again.status_code == 200
    assert again.json()["upn"] == "alice@contoso.example"
    writes = [q["sql"] for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []

    # A new name in the token is still written.
    renamed = get("me", token_issuer.sign(token_issuer.user_claims("alice") | {"name": "Alice Liddell"}))
    assert renamed.status_code == 200
    assert Profile.objects.get(oid=tenant.USERS["alice"].oid).display_name == "Alice Liddell"


def test_a_key_replaced_under_the_same_kid_is_parsed_anew(token_issuer):
    # Keys are parsed once and kept: a new key published under an old kid must not verify with the kept one.
    old_token = token_issuer.user_token("alice")
    assert get("me", old_token).status_code == 200
    token_issuer.rotate(token_issuer.kid)
    oidc.clear_cache()  # as when the key set is read again once its cache time is over

    assert get("me", token_issuer.user_token("alice")).status_code == 200
    assert_refused(get("me", old_token))
