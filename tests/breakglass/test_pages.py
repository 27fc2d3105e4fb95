"""The break-glass pages: offered where allowed, activated with a form, marked everywhere, reviewed in a queue."""

from portal.access.models import AccessRequest
from portal.breakglass import services
from portal.breakglass.models import BreakGlassUse
from tests.breakglass.conftest import INCIDENT, WHY


def test_my_access_offers_break_glass_to_dave_only(client, dave, alice, policy):
    client.force_login(dave)
    page = client.get("/").content.decode()
    assert "Break glass…" in page and "/break-glass/activate/orders-admin/" in page

    client.force_login(alice)
    assert "/break-glass/activate/" not in client.get("/").content.decode()
    assert client.get("/break-glass/activate/orders-admin/").status_code == 404


def test_dave_breaks_the_glass_from_the_page(
    client, dave, policy, vault_tasks_held, django_capture_on_commit_callbacks
):
    client.force_login(dave)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/break-glass/activate/orders-admin/",
            {"incident": INCIDENT, "justification": WHY, "duration_minutes": 30},
        )

    use = BreakGlassUse.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/access/requests/{use.request_id}/"
    page = client.get(response["Location"]).content.decode()
    assert "Break-glass grant" in page and INCIDENT in page
    assert "none: break-glass" in page
    assert "Break-glass activated" in page


def test_a_bad_incident_reference_is_a_form_error_and_changes_nothing(client, dave, policy):
    client.force_login(dave)
    response = client.post(
        "/break-glass/activate/orders-admin/", {"incident": "outage", "justification": WHY, "duration_minutes": 30}
    )

    assert response.status_code == 200
    assert "must match" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_a_window_beyond_the_maximum_is_a_form_error(client, dave, policy):
    client.force_login(dave)
    response = client.post(
        "/break-glass/activate/orders-admin/", {"incident": INCIDENT, "justification": WHY, "duration_minutes": 61}
    )

    assert response.status_code == 200 and "at most 60" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_the_grant_is_marked_on_my_access_active_grants_and_dashboard(client, dave, carol, policy, vault_tasks_held):
    services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)

    client.force_login(dave)
    assert 'class="state state-break-glass"' in client.get("/").content.decode()
    client.force_login(carol)
    assert 'class="state state-break-glass"' in client.get("/access/grants/").content.decode()
    dashboard = client.get("/access/dashboard/").content.decode()
    assert "Break-glass" in dashboard and "Awaiting review</dt><dd>1</dd>" in dashboard


def test_bob_confirms_from_the_review_queue(client, dave, bob, policy, vault_tasks_held):
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    client.force_login(bob)
    queue = client.get("/break-glass/reviews/").content.decode()
    assert INCIDENT in queue and f"/break-glass/uses/{use.pk}/confirm/" in queue
    assert "Break-glass reviews" in queue
    # Each use's fields have IDs of their own, so every label points at its own input.
    assert f'for="confirm-{use.pk}-comment"' in queue and f'id="flag-{use.pk}-comment"' in queue

    response = client.post(f"/break-glass/uses/{use.pk}/confirm/", {"comment": "Seen in the incident channel"})

    assert response.status_code == 302
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "confirmed"


def test_dave_sees_no_review_task_for_his_own_use_and_cannot_post_one(client, dave, policy, vault_tasks_held):
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    client.force_login(dave)
    assert f"/break-glass/uses/{use.pk}/confirm/" not in client.get("/break-glass/reviews/").content.decode()

    client.post(f"/break-glass/uses/{use.pk}/confirm/", {"comment": ""})

    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"


def test_flagging_without_a_comment_changes_nothing(client, dave, bob, policy, vault_tasks_held):
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    client.force_login(bob)

    response = client.post(f"/break-glass/uses/{use.pk}/flag/", {"comment": ""}, follow=True)

    assert "required" in response.content.decode()
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"


def test_a_get_never_reviews(client, dave, bob, policy, vault_tasks_held):
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    client.force_login(bob)

    assert client.get(f"/break-glass/uses/{use.pk}/flag/").status_code == 405
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"
