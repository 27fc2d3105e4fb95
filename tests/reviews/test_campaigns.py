"""Starting a review: who is listed, who may start one, bad input, Microsoft Graph, the reviewers told."""

import pytest

from portal.access.models import AuditEvent
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, ServiceUnavailable
from portal.devstack import tenant
from portal.reviews import services
from portal.reviews.models import Campaign, ReviewItem
from tests.reviews.conftest import in_days
from tests.support.personas import make_person
from tests.support.sign_in import GRAPH_ACCESS_TOKEN

pytestmark = pytest.mark.django_db

ENGINEERS = tenant.GROUPS["orders-engineers"]


def test_a_review_lists_everyone_who_signed_in_with_an_eligible_group(
    catalog, alice, bob, carol, dave, erin, start_review
):
    campaign = start_review("orders-readwrite")

    items = {item.upn: item for item in campaign.items.all()}
    assert set(items) == {"alice@contoso.example", "bob@contoso.example"}
    assert items["alice@contoso.example"].eligible_through == [ENGINEERS]
    assert items["alice@contoso.example"].user == alice
    assert {item.decision for item in items.values()} == {ReviewItem.Decision.PENDING}
    assert campaign.sources == ["sign-ins"]
    event = AuditEvent.objects.get(action="review.campaign_started")
    assert event.actor == carol
    assert event.details["people"] == 2
    assert event.details["roles"] == ["orders-readwrite"]


def test_a_review_of_all_roles_lists_each_person_once_per_role(catalog, alice, bob, carol, dave, start_review):
    campaign = start_review(None)

    assert campaign.role is None
    pairs = set(campaign.items.values_list("role__slug", "upn"))
    assert pairs == {
        ("analytics-readonly", "alice@contoso.example"),
        ("orders-readwrite", "alice@contoso.example"),
        ("orders-readwrite", "bob@contoso.example"),
        ("orders-admin", "dave@contoso.example"),
    }


def test_only_portal_admins_start_a_review(catalog, alice, bob):
    with pytest.raises(NotAllowed):
        services.campaign_start(actor=bob, role="orders-readwrite", due_at=in_days(7), when_overdue="keep")

    assert not Campaign.objects.exists()


def test_a_second_start_of_the_same_role_finds_the_open_review(catalog, alice, start_review):
    first = start_review("orders-readwrite")

    with pytest.raises(InvalidTransition) as refused:
        start_review("orders-readwrite")

    assert refused.value.extra["existing_campaign"] == first.pk
    assert Campaign.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.campaign_started").count() == 1


@pytest.mark.parametrize(
    ("days", "when_overdue", "field"),
    [(-1, "keep", "due_at"), (400, "keep", "due_at"), (7, "maybe", "when_overdue")],
)
def test_bad_input_is_refused_field_by_field_and_changes_nothing(catalog, start_review, days, when_overdue, field):
    events = AuditEvent.objects.count()

    with pytest.raises(InvalidInput) as refused:
        start_review("orders-readwrite", days=days, when_overdue=when_overdue)

    assert field in refused.value.fields
    assert not Campaign.objects.exists()
    assert AuditEvent.objects.count() == events


def test_an_unknown_role_is_refused(catalog, start_review):
    with pytest.raises(InvalidInput, match="no role"):
        start_review("no-such-role")


def test_only_the_review_of_one_role_repeats(catalog, start_review):
    with pytest.raises(InvalidInput) as refused:
        start_review(None, repeat_every_days=30)

    assert "repeat_every_days" in refused.value.fields


def test_the_reviewers_hear_that_a_review_started(
    catalog, alice, bob, carol, eager_tasks, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(actor=carol, role="orders-readwrite", due_at=in_days(7), when_overdue="remove")

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    # The approvers of orders-readwrite: bob and carol (orders-approvers).
    assert sorted(message.to) == ["bob@contoso.example", "carol@contoso.example"]
    assert "Access review of Orders (read-write): 2 people" in message.subject
    assert "Anyone not decided by" in message.body and "is removed" in message.body
    assert "/reviews/" in message.body


def test_with_graph_configured_the_members_of_eligible_groups_are_listed_too(
    settings, catalog, alice, carol, fake_provider, fake_graph
):
    settings.REVIEWS_READ_GROUP_MEMBERS = True
    fake_provider.will_answer(id_token="", access_token=GRAPH_ACCESS_TOKEN)
    fake_graph.page_size = 1
    frank = {"id": "f0000000-0000-4000-8000-000000000006", "userPrincipalName": "frank@contoso.example"}
    fake_graph.group_members = {
        ENGINEERS: [
            {"id": tenant.USERS["alice"].oid, "userPrincipalName": "alice@contoso.example", "displayName": "Alice"},
            {**frank, "displayName": "Frank", "mail": "frank@contoso.example"},
        ]
    }

    campaign = services.campaign_start(actor=carol, role="orders-readwrite", due_at=in_days(7), when_overdue="keep")

    items = {item.upn: item for item in campaign.items.all()}
    assert set(items) == {"alice@contoso.example", "frank@contoso.example"}
    assert items["alice@contoso.example"].seen_at_sign_in and items["alice@contoso.example"].seen_in_graph
    assert items["frank@contoso.example"].user is None
    assert items["frank@contoso.example"].seen_in_graph and not items["frank@contoso.example"].seen_at_sign_in
    assert items["frank@contoso.example"].eligible_through == [ENGINEERS]
    assert campaign.sources == ["sign-ins", "Microsoft Graph"]
    # The portal's own token (client credentials), and both pages read as an advanced query.
    assert fake_provider.token_requests[-1]["grant_type"] == "client_credentials"
    assert fake_provider.token_requests[-1]["scope"] == "https://graph.microsoft.com/.default"
    assert len(fake_graph.requests) == 2
    assert all(headers.get("ConsistencyLevel") == "eventual" for headers in fake_graph.request_headers)


def test_with_graph_down_no_review_starts(settings, catalog, alice, carol, fake_provider, fake_graph):
    settings.REVIEWS_READ_GROUP_MEMBERS = True
    fake_provider.will_answer(id_token="", access_token=GRAPH_ACCESS_TOKEN)
    fake_graph.fail_with = 503

    with pytest.raises(ServiceUnavailable, match="orders-engineers"):
        services.campaign_start(actor=carol, role="orders-readwrite", due_at=in_days(7), when_overdue="keep")

    assert not Campaign.objects.exists()


def test_a_person_a_review_removed_is_not_listed_again(catalog, alice, bob, carol, start_review):
    first = start_review("orders-readwrite")
    services.item_decide(
        actor=carol, item_id=first.items.get(user=alice).pk, decision="remove", reason="Left the orders team"
    )
    services.item_decide(actor=carol, item_id=first.items.get(user=bob).pk, decision="keep")

    second = start_review("orders-readwrite")

    assert list(second.items.values_list("upn", flat=True)) == ["bob@contoso.example"]


def test_applications_are_never_listed(catalog, alice, start_review):
    app = make_person(
        upn="app:deploy", oid="e0000000-0000-4000-8000-0000000000b1", display_name="deploy", group_ids=[ENGINEERS]
    )
    app.profile.is_application = True
    app.profile.save()

    campaign = start_review("orders-readwrite")

    assert list(campaign.items.values_list("upn", flat=True)) == ["alice@contoso.example"]
