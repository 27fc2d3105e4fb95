"""The JSON API of access reviews: start, read, decide, the removals; errors as {"error", "detail"}."""

from datetime import timedelta

import pytest

from portal.core.clock import now
from portal.reviews.models import Campaign, ReviewItem

pytestmark = pytest.mark.django_db


def api(client, user):
    client.force_login(user)
    return client


def due(days=7) -> str:
    return (now() + timedelta(days=days)).isoformat()


def test_an_admin_starts_a_review_and_reads_it_with_the_evidence(catalog, alice, bob, carol, client):
    response = api(client, carol).post(
        "/api/v1/reviews/campaigns",
        {"role": "orders-readwrite", "due_at": due(), "when_overdue": "keep"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "orders-readwrite"
    assert body["progress"] == {"total": 2, "kept": 0, "removed": 0, "pending": 2}
    alice_item = next(item for item in body["items"] if item["upn"] == "alice@contoso.example")
    assert alice_item["evidence"]["open_grants"] == 0
    assert alice_item["evidence"]["last_request_at"] is None
    assert client.get(f"/api/v1/reviews/campaigns/{body['id']}").json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "orders-readwrite", "when_overdue": "keep"}, "due_at"),
        ({"role": "orders-readwrite", "due_at": "tomorrow", "when_overdue": "keep"}, "due_at"),
        ({"role": "orders-readwrite", "due_at": "2020-01-01T00:00:00Z", "when_overdue": "keep"}, "due_at"),
        ({"role": "orders-readwrite", "due_at": "2999-01-01T00:00:00Z", "when_overdue": "drop"}, "when_overdue"),
        ({"role": "nope", "due_at": "2999-01-01T00:00:00Z", "when_overdue": "keep"}, "role"),
    ],
)
def test_bad_input_gets_400_with_the_field_and_changes_nothing(catalog, carol, client, body, field):
    response = api(client, carol).post("/api/v1/reviews/campaigns", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert field in response.json()["fields"]
    assert not Campaign.objects.exists()


def test_a_second_start_answers_409_with_the_open_review(catalog, alice, carol, client):
    client = api(client, carol)
    body = {"role": "orders-readwrite", "due_at": due(), "when_overdue": "keep"}
    first = client.post("/api/v1/reviews/campaigns", body, content_type="application/json").json()

    again = client.post("/api/v1/reviews/campaigns", body, content_type="application/json")

    assert again.status_code == 409
    assert again.json()["existing_campaign"] == first["id"]


def test_only_admins_start_reviews(catalog, bob, client):
    response = api(client, bob).post(
        "/api/v1/reviews/campaigns", {"due_at": due(), "when_overdue": "keep"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_an_approver_decides_through_the_api_and_a_repeat_is_a_no_op(catalog, alice, bob, carol, client, start_review):
    campaign = start_review("orders-readwrite")
    item = campaign.items.get(user=alice)
    client = api(client, bob)

    first = client.post(
        f"/api/v1/reviews/items/{item.pk}/decide",
        {"decision": "remove", "reason": "Left the team"},
        content_type="application/json",
    )
    repeat = client.post(
        f"/api/v1/reviews/items/{item.pk}/decide",
        {"decision": "remove", "reason": "Left the team"},
        content_type="application/json",
    )
    other = client.post(
        f"/api/v1/reviews/items/{item.pk}/decide", {"decision": "keep"}, content_type="application/json"
    )

    assert first.status_code == 200 and first.json()["decision"] == "remove"
    assert first.json()["decided_by"] == "bob@contoso.example"
    assert repeat.status_code == 200 and repeat.json() == first.json()
    assert other.status_code == 409
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewItem.Decision.REMOVE


def test_deciding_about_yourself_answers_403_and_unknown_items_404(catalog, bob, start_review, client):
    campaign = start_review("orders-readwrite")
    client = api(client, bob)

    own = client.post(
        f"/api/v1/reviews/items/{campaign.items.get(user=bob).pk}/decide",
        {"decision": "keep"},
        content_type="application/json",
    )
    unknown = client.post("/api/v1/reviews/items/999999/decide", {"decision": "keep"}, content_type="application/json")

    assert own.status_code == 403 and "own access" in own.json()["detail"]
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_the_removals_come_as_json_and_csv_for_admins_only(catalog, alice, bob, carol, start_review, client):
    campaign = start_review("orders-readwrite")
    client = api(client, carol)
    client.post(
        f"/api/v1/reviews/items/{campaign.items.get(user=alice).pk}/decide",
        {"decision": "remove", "reason": "Left the team"},
        content_type="application/json",
    )

    rows = client.get(f"/api/v1/reviews/removals?campaign={campaign.pk}").json()
    download = client.get("/api/v1/reviews/removals?format=csv")
    bad = client.get("/api/v1/reviews/removals?campaign=abc")

    assert [(row["person_upn"], row["remove_from"]) for row in rows] == [("alice@contoso.example", "orders-engineers")]
    assert download.status_code == 200 and "alice@contoso.example" in download.content.decode()
    assert bad.status_code == 400
    client.force_login(bob)
    assert client.get("/api/v1/reviews/removals").status_code == 403


def test_reviews_are_listed_to_their_reviewers_only(catalog, alice, bob, dave, start_review, client):
    campaign = start_review("orders-readwrite")

    assert [c["id"] for c in api(client, bob).get("/api/v1/reviews/campaigns").json()] == [campaign.pk]
    client.force_login(dave)
    assert client.get("/api/v1/reviews/campaigns").json() == []
    assert client.get(f"/api/v1/reviews/campaigns/{campaign.pk}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/reviews/campaigns"),
        ("post", "/api/v1/reviews/campaigns"),
        ("get", "/api/v1/reviews/campaigns/1"),
        ("post", "/api/v1/reviews/items/1/decide"),
        ("get", "/api/v1/reviews/removals"),
        ("get", "/api/v1/reviews/rightsizing"),
    ],
)
def test_anonymous_callers_get_401(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
