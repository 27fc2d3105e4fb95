"""Deciding a person: keep, or remove with a reason; who may decide; a second click; what a removal does."""

from datetime import timedelta

import pytest

from portal.access import services as access_services
from portal.access.models import AccessRequest, AuditEvent
from portal.access.policy import eligibility as role_eligibility
from portal.access.selectors import roles_eligible
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound
from portal.reviews import services
from portal.reviews.models import Campaign, ReviewItem, RoleExclusion
from tests.reviews.conftest import WHY, active_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(catalog, alice, bob, carol, dave, start_review):
    return start_review("orders-readwrite")


def item_of(campaign, user) -> ReviewItem:
    return campaign.items.get(user=user)


def test_an_approver_keeps_a_person_and_the_history_says_so(review, alice, carol):
    item = services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="keep")

    item.refresh_from_db()
    assert item.decision == ReviewItem.Decision.KEEP
    assert item.decided_by == carol
    assert item.decided_at is not None
    event = AuditEvent.objects.get(action="review.kept")
    assert event.actor == carol
    assert event.details["person"] == "alice@contoso.example"
    assert event.role.slug == "orders-readwrite"
    assert role_eligibility(item.role, alice) == ["orders-engineers"]


def test_a_second_click_on_the_same_decision_changes_nothing(review, alice, carol):
    item_id = item_of(review, alice).pk
    services.item_decide(actor=carol, item_id=item_id, decision="remove", reason="Left the orders team")
    events = AuditEvent.objects.count()

    again = services.item_decide(actor=carol, item_id=item_id, decision="remove", reason="Left the orders team")

    assert again.decision == ReviewItem.Decision.REMOVE
    assert AuditEvent.objects.count() == events
    assert RoleExclusion.objects.count() == 1


def test_a_different_decision_after_the_first_is_refused(review, alice, carol):
    item_id = item_of(review, alice).pk
    services.item_decide(actor=carol, item_id=item_id, decision="keep")

    with pytest.raises(InvalidTransition, match="already decided"):
        services.item_decide(actor=carol, item_id=item_id, decision="remove", reason="Changed my mind")

    assert ReviewItem.objects.get(pk=item_id).decision == ReviewItem.Decision.KEEP
    assert not RoleExclusion.objects.exists()


def test_nobody_reviews_their_own_access(review, bob, carol):
    item_id = item_of(review, bob).pk

    with pytest.raises(NotAllowed, match="your own access"):
        services.item_decide(actor=bob, item_id=item_id, decision="keep")

    assert ReviewItem.objects.get(pk=item_id).decision == ReviewItem.Decision.PENDING
    services.item_decide(actor=carol, item_id=item_id, decision="keep")
    assert ReviewItem.objects.get(pk=item_id).decided_by == carol


def test_someone_who_is_not_an_approver_of_the_role_learns_nothing(review, alice, dave):
    with pytest.raises(NotFound):
        services.item_decide(actor=dave, item_id=item_of(review, alice).pk, decision="keep")


def test_a_stale_reviewer_must_sign_in_again(review, alice, carol):
    carol.profile.groups_read_at -= timedelta(days=1)
    carol.profile.save()

    with pytest.raises(NotAllowed, match="sign in again"):
        services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="keep")


@pytest.mark.parametrize(
    ("decision", "reason", "field"),
    [
        ("remove", "  ", "reason"),
        ("remove", "x" * 501, "reason"),
        ("remove", "Left the team\x00", "reason"),
        ("keep", "Still on call\x00", "reason"),
        ("maybe", "", "decision"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(review, alice, carol, decision, reason, field):
    item_id = item_of(review, alice).pk
    events = AuditEvent.objects.count()

    with pytest.raises(InvalidInput) as refused:
        services.item_decide(actor=carol, item_id=item_id, decision=decision, reason=reason)

    assert field in refused.value.fields
    assert ReviewItem.objects.get(pk=item_id).decision == ReviewItem.Decision.PENDING
    assert AuditEvent.objects.count() == events


def test_removing_a_person_excludes_them_at_once_and_revokes_their_open_grant(review, catalog, alice, carol):
    role = catalog["orders-readwrite"]
    grant = active_grant(alice, role)
    analytics = active_grant(alice, catalog["analytics-readonly"])

    item = services.item_decide(
        actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the orders team"
    )

    assert item.revoked_requests == [grant.pk]
    grant.refresh_from_db()
    assert grant.state == AccessRequest.State.REVOKING
    assert grant.revoked_by == carol
    assert "Access review" in grant.revoke_reason
    # Only the reviewed role: her other access stays.
    analytics.refresh_from_db()
    assert analytics.state == AccessRequest.State.ACTIVE
    assert role_eligibility(role, alice) == []
    assert [e.role.slug for e in roles_eligible(alice)] == ["analytics-readonly"]
    removed = AuditEvent.objects.get(action="review.removed")
    assert removed.actor == carol
    assert removed.details["reason"] == "Left the orders team"
    assert removed.details["revoked_requests"] == [grant.pk]
    assert AuditEvent.objects.filter(action="grant.revoke_requested", request=grant).exists()


def test_a_removed_person_cannot_request_the_role_again(review, alice, carol):
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")

    with pytest.raises(NotAllowed, match="not in a group"):
        access_services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    assert not AccessRequest.objects.filter(requester=alice).exists()


def test_a_pending_request_of_a_removed_person_is_denied_at_approval(review, alice, bob, carol):
    pending = access_services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")

    with pytest.raises(NotAllowed, match="no longer eligible"):
        access_services.request_approve(actor=bob, request_id=pending.pk)

    assert AccessRequest.objects.get(pk=pending.pk).state == AccessRequest.State.DENIED


def test_a_review_closes_when_everyone_is_decided(review, alice, bob, carol):
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="keep")
    assert Campaign.objects.get(pk=review.pk).state == Campaign.State.OPEN

    services.item_decide(actor=carol, item_id=item_of(review, bob).pk, decision="remove", reason="Moved to billing")

    closed = Campaign.objects.get(pk=review.pk)
    assert closed.state == Campaign.State.CLOSED
    event = AuditEvent.objects.get(action="review.campaign_closed")
    assert event.details == {"campaign": review.pk, "kept": 1, "removed": 1, "at_due_date": False}
    with pytest.raises(InvalidTransition):
        services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Late")


def test_an_admin_lifts_a_removal_and_the_person_may_ask_again(review, catalog, alice, carol):
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")
    exclusion = RoleExclusion.objects.get()

    services.exclusion_lift(actor=carol, exclusion_id=exclusion.pk)

    assert role_eligibility(catalog["orders-readwrite"], alice) == ["orders-engineers"]
    assert AuditEvent.objects.filter(action="review.exclusion_lifted").count() == 1


def test_only_admins_lift_a_removal(review, alice, bob, carol):
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")

    with pytest.raises(NotAllowed):
        services.exclusion_lift(actor=bob, exclusion_id=RoleExclusion.objects.get().pk)

    assert RoleExclusion.objects.count() == 1


def test_the_django_admin_lifts_a_removal_through_the_audited_service(review, catalog, alice, carol, client):
    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")
    carol.is_staff = carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    exclusion = RoleExclusion.objects.get()

    response = client.post(
        "/admin/reviews/roleexclusion/",
        {"action": "lift", "_selected_action": [exclusion.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 removal(s) lifted." in response.content.decode()
    assert not RoleExclusion.objects.exists()
    assert AuditEvent.objects.get(action="review.exclusion_lifted").actor == carol
    assert role_eligibility(catalog["orders-readwrite"], alice) == ["orders-engineers"]


def test_a_role_without_approvers_is_reviewed_by_the_portal_admins(catalog, alice, bob, carol, start_review):
    campaign = start_review(None)
    item = campaign.items.get(user=alice, role__slug="analytics-readonly")

    with pytest.raises(NotFound):
        services.item_decide(actor=bob, item_id=item.pk, decision="keep")
    services.item_decide(actor=carol, item_id=item.pk, decision="keep")

    assert ReviewItem.objects.get(pk=item.pk).decided_by == carol


def test_the_navigation_counts_the_items_each_person_may_decide_in_one_query(review, alice, bob, carol, dave, erin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.reviews.selectors import may_decide, pending_for_reviewer

    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="keep")
    items = list(ReviewItem.objects.select_related("campaign", "role"))
    counts = {}
    for person in (alice, bob, carol, dave, erin):
        with CaptureQueriesContext(connection) as queries:
            counts[person.pk] = pending_for_reviewer(person)
        assert counts[person.pk] == sum(may_decide(item, person) for item in items), person.username
        if counts[person.pk]:
            # The roles (whose reviewer they are), then the count of their items.
            assert [query["sql"].startswith("SELECT COUNT(*)") for query in queries] == [False, True]

    assert any(counts.values()) and not all(counts.values())


def test_a_removal_excludes_the_person_of_its_tenant_and_object_id_only(review, alice, bob, carol, dave):
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Profile
    from portal.devstack.personas import make_person
    from portal.reviews.exclusions import roles_excluded_for, roles_excluded_for_each

    services.item_decide(actor=carol, item_id=item_of(review, alice).pk, decision="remove", reason="Left the team")
    # Alice's object ID in another tenant, and another object ID in alice's tenant: other people.
    elsewhere = make_person(
        upn="alice@fabrikam.example", oid="d0000000-0000-4000-8000-000000000009", display_name="A", group_ids=[]
    )
    Profile.objects.filter(user=elsewhere).update(tid="f0000000-0000-4000-8000-000000000001", oid=alice.profile.oid)
    elsewhere = get_user_model().objects.select_related("profile").get(pk=elsewhere.pk)

    excluded = roles_excluded_for_each([alice, bob, dave, elsewhere])

    role = review.items.get(user=alice).role_id
    assert excluded == {alice.pk: {role}, bob.pk: set(), dave.pk: set(), elsewhere.pk: set()}
    assert roles_excluded_for(alice) == {role} and roles_excluded_for(elsewhere) == set()
