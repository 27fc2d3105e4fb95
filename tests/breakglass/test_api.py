"""Break-glass in the API: activate, see it marked on the request, review it."""

import pytest

from portal.breakglass.models import BreakGlassUse
from tests.breakglass.conftest import INCIDENT, WHY


def _post(client, user, path, body):
    client.force_login(user)
    return client.post(f"/api/v1/{path}", body, content_type="application/json")


def test_dave_breaks_the_glass_and_the_request_says_so(client, dave, policy, vault_tasks_held):
    response = _post(client, dave, "roles/orders-admin/break-glass", {"incident": INCIDENT, "justification": WHY})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "approved" and body["duration_minutes"] == 60
    assert body["break_glass"]["incident"] == INCIDENT
    assert body["break_glass"]["review_state"] == "pending" and body["break_glass"]["escalated"] is False
    listed = client.get("/api/v1/requests").json()["results"]
    assert listed[0]["break_glass"]["incident"] == INCIDENT


def test_an_ordinary_request_has_no_break_glass(client, alice, catalog, vault_tasks_held):
    response = _post(client, alice, "requests", {"role": "analytics-readonly", "justification": WHY})

    assert response.json()["break_glass"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"incident": "outage", "justification": WHY}, "incident"),
        ({"incident": INCIDENT, "justification": "short"}, "justification"),
        ({"incident": INCIDENT, "justification": WHY, "duration_minutes": 61}, "duration_minutes"),
        ({"incident": INCIDENT, "justification": WHY, "duration_minutes": "lots"}, "duration_minutes"),
        ({"justification": WHY}, "incident"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field(client, dave, policy, body, field):
    response = _post(client, dave, "roles/orders-admin/break-glass", body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and field in response.json()["fields"]
    assert not BreakGlassUse.objects.exists()


def test_a_role_without_break_glass_is_404(client, alice, catalog):
    response = _post(client, alice, "roles/orders-readwrite/break-glass", {"incident": INCIDENT, "justification": WHY})

    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_limit_is_a_403_with_its_own_code(client, dave, policy, vault_tasks_held):
    policy.uses_allowed = 1
    policy.save()
    first = _post(client, dave, "roles/orders-admin/break-glass", {"incident": INCIDENT, "justification": WHY})
    from portal.access.models import AccessRequest

    AccessRequest.objects.filter(pk=first.json()["id"]).update(state="expired")

    response = _post(client, dave, "roles/orders-admin/break-glass", {"incident": "INC-2", "justification": WHY})

    assert response.status_code == 403
    assert response.json()["error"] == "break_glass_limit" and response.json()["limit"] == 1


def test_bob_lists_and_flags_dave_s_use(client, dave, bob, policy, vault_tasks_held):
    _post(client, dave, "roles/orders-admin/break-glass", {"incident": INCIDENT, "justification": WHY})
    use = BreakGlassUse.objects.get()

    client.force_login(bob)
    queue = client.get("/api/v1/break-glass/reviews").json()
    assert [(item["request"], item["requester"], item["role"]) for item in queue] == [
        (use.request_id, "dave@contoso.example", "orders-admin")
    ]
    response = _post(client, bob, f"break-glass/{use.pk}/flag", {"comment": "No such incident"})

    assert response.status_code == 200, response.content
    assert response.json()["review_state"] == "misuse" and response.json()["reviewer"] == "bob@contoso.example"
    assert client.get(f"/api/v1/requests/{use.request_id}").json()["state"] == "revoking"


def test_dave_cannot_confirm_his_own_use(client, dave, policy, vault_tasks_held):
    _post(client, dave, "roles/orders-admin/break-glass", {"incident": INCIDENT, "justification": WHY})
    use = BreakGlassUse.objects.get()

    response = _post(client, dave, f"break-glass/{use.pk}/confirm", {})

    assert response.status_code == 403


def test_erin_cannot_see_a_use_at_all(client, dave, erin, policy, vault_tasks_held):
    _post(client, dave, "roles/orders-admin/break-glass", {"incident": INCIDENT, "justification": WHY})
    use = BreakGlassUse.objects.get()

    assert _post(client, erin, f"break-glass/{use.pk}/confirm", {}).status_code == 404


def test_roles_say_which_may_be_broken_into_and_how(client, dave, alice, policy):
    policy.max_minutes = 90  # beyond the role's maximum of 60: the role's maximum wins
    policy.save()
    client.force_login(dave)

    roles = {role["slug"]: role for role in client.get("/api/v1/roles").json()}

    assert roles["orders-admin"]["break_glass"] == {
        "max_minutes": 60,
        "incident_pattern": "^INC-[0-9]+$",
        "uses_allowed": 2,
        "window_days": 7,
        "review_due_hours": 24,
    }
    client.force_login(alice)
    assert all(role["break_glass"] is None for role in client.get("/api/v1/roles").json())


def test_the_roles_list_reads_every_roles_break_glass_with_the_roles(client, catalog, django_assert_max_num_queries):
    from portal.devstack import tenant
    from tests.breakglass.conftest import allow_break_glass
    from tests.support.personas import make_person

    # Eligible for every role of the demo catalog, two of which may be broken into (one a window of its own).
    groups = [tenant.GROUPS[name] for name in ("analytics-readers", "orders-engineers", "dba")]
    everyone = make_person(
        upn="all@contoso.example", oid="d0000000-0000-4000-8000-000000000001", display_name="All", group_ids=groups
    )
    allow_break_glass(catalog["orders-admin"])
    allow_break_glass(catalog["orders-readwrite"], max_minutes=30)
    allow_break_glass(catalog["analytics-readonly"], allowed=False)  # a policy that does not allow it is none
    client.force_login(everyone)
    with django_assert_max_num_queries(50) as captured:
        listed = client.get("/api/v1/roles").json()

    by_slug = {role["slug"]: role["break_glass"] for role in listed}
    assert by_slug["analytics-readonly"] is None
    assert by_slug["orders-admin"] is not None and by_slug["orders-readwrite"]["max_minutes"] == 30
    policy_reads = [query for query in captured.captured_queries if "breakglass_breakglasspolicy" in query["sql"]]
    assert len(policy_reads) == 1
    # With the roles themselves, not in a query of their own.
    assert 'FROM "access_accessrole"' in policy_reads[0]["sql"]
