"""Each break-glass use is reviewed by the role's approvers, never its user; overdue reviews go to the admins."""

from datetime import timedelta

import pytest
from django.core import mail

from portal.access.models import AccessRequest, AuditEvent
from portal.breakglass import selectors, services
from portal.breakglass.models import BreakGlassUse
from portal.core.clock import now
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed
from tests.breakglass.conftest import INCIDENT, WHY


@pytest.fixture
def use(dave, policy):
    return services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)


def test_the_review_task_is_in_the_queue_of_the_approvers_and_not_of_dave(use, dave, bob, carol, alice):
    assert list(selectors.uses_to_review(bob)) == [use]
    assert list(selectors.uses_to_review(carol)) == [use]
    assert list(selectors.uses_to_review(dave)) == []
    assert list(selectors.uses_to_review(alice)) == []


def test_bob_confirms_the_use(use, bob):
    services.break_glass_confirm(actor=bob, use_id=use.pk, comment="Matches the incident channel")

    use.refresh_from_db()
    assert (use.review_state, use.reviewer, use.review_comment) == ("confirmed", bob, "Matches the incident channel")
    assert AuditEvent.objects.filter(request=use.request, action="breakglass.confirmed", actor=bob).count() == 1
    assert list(selectors.uses_to_review(bob)) == []


def test_dave_cannot_review_his_own_use(use, dave):
    with pytest.raises(NotAllowed, match="your own"):
        services.break_glass_confirm(actor=dave, use_id=use.pk)
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"


def test_alice_who_approves_nothing_cannot_review(use, alice):
    with pytest.raises(NotAllowed):
        services.break_glass_confirm(actor=alice, use_id=use.pk)


def test_an_approver_with_stale_memberships_must_sign_in_again(use, bob):
    bob.profile.groups_read_at = now() - timedelta(days=1)
    bob.profile.save()

    with pytest.raises(NotAllowed, match="sign in again"):
        services.break_glass_confirm(actor=bob, use_id=use.pk)


def test_a_use_is_reviewed_once(use, bob, carol):
    services.break_glass_confirm(actor=bob, use_id=use.pk)

    with pytest.raises(InvalidTransition):
        services.break_glass_flag(actor=carol, use_id=use.pk, comment="Not an incident")
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "confirmed"


def test_flagging_needs_a_comment(use, bob):
    with pytest.raises(InvalidInput):
        services.break_glass_flag(actor=bob, use_id=use.pk, comment="  ")
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"


@pytest.mark.parametrize("flag", [True, False])
def test_a_comment_with_a_null_character_is_refused_and_changes_nothing(use, bob, flag):
    review = services.break_glass_flag if flag else services.break_glass_confirm
    events = AuditEvent.objects.count()

    with pytest.raises(InvalidInput) as refused:
        review(actor=bob, use_id=use.pk, comment="Used for a report\x00")

    assert refused.value.fields == {"comment": ["Null characters are not allowed."]}
    assert BreakGlassUse.objects.get(pk=use.pk).review_state == "pending"
    assert AuditEvent.objects.count() == events


def test_flagging_misuse_revokes_the_open_grant_and_tells_the_admins(
    use, bob, carol, eager_tasks, vault_tasks_held, django_capture_on_commit_callbacks
):
    # The revocation's Vault side is tested on the real stack; here the worker's part stays queued.
    with django_capture_on_commit_callbacks(execute=True):
        services.break_glass_flag(actor=bob, use_id=use.pk, comment="No incident INC-4711 exists")

    request = AccessRequest.objects.get(pk=use.request_id)
    assert request.state == AccessRequest.State.REVOKING
    assert request.revoked_by == bob and "misuse" in request.revoke_reason
    flagged = AuditEvent.objects.get(request=request, action="breakglass.flagged")
    assert flagged.details == {"comment": "No incident INC-4711 exists", "grant_revoked": True}
    to_admins = [message for message in mail.outbox if "misuse" in message.subject]
    assert [message.to for message in to_admins] == [["carol@contoso.example"]]


def test_flagging_an_ended_grant_records_the_misuse_only(use, bob):
    AccessRequest.objects.filter(pk=use.request_id).update(state=AccessRequest.State.EXPIRED)

    services.break_glass_flag(actor=bob, use_id=use.pk, comment="Used for a report, not an incident")

    assert AccessRequest.objects.get(pk=use.request_id).state == AccessRequest.State.EXPIRED
    assert AuditEvent.objects.get(action="breakglass.flagged").details["grant_revoked"] is False


def test_an_overdue_review_is_escalated_to_the_admins_once(use, carol, eager_tasks, django_capture_on_commit_callbacks):
    assert services.break_glass_escalate_due() == 0
    BreakGlassUse.objects.filter(pk=use.pk).update(review_due_at=now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.break_glass_escalate_due() == 1
        assert services.break_glass_escalate_due() == 0

    assert BreakGlassUse.objects.get(pk=use.pk).escalated
    assert AuditEvent.objects.filter(request=use.request, action="breakglass.escalated", actor=None).count() == 1
    escalations = [message for message in mail.outbox if "not reviewed in time" in message.subject]
    assert [message.to for message in escalations] == [["carol@contoso.example"]]


def test_a_reviewed_use_is_never_escalated(use, bob):
    services.break_glass_confirm(actor=bob, use_id=use.pk)
    BreakGlassUse.objects.filter(pk=use.pk).update(review_due_at=now() - timedelta(hours=1))

    assert services.break_glass_escalate_due() == 0
    with pytest.raises(InvalidTransition):
        services.break_glass_escalate(use_id=use.pk)


def test_a_portal_admin_may_review_an_escalated_use(use, carol):
    carol.profile.groups = ["a0000000-0000-4000-8000-000000000005"]
    carol.profile.save()

    services.break_glass_confirm(actor=carol, use_id=use.pk)
    assert BreakGlassUse.objects.get(pk=use.pk).reviewer == carol


def test_the_navigation_counts_the_uses_each_person_reviews_in_one_query(use, alice, bob, carol, dave, erin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for person in (alice, bob, carol, dave, erin):
        with CaptureQueriesContext(connection) as queries:
            counts[person.pk] = selectors.count_uses_to_review(person)
        assert counts[person.pk] == len(selectors.uses_to_review(person)), person.username
        if counts[person.pk]:
            assert [query["sql"].startswith("SELECT COUNT(*)") for query in queries] == [True]

    # bob approves the role; carol is a portal admin (every use); nobody reviews their own (dave).
    assert counts[bob.pk] == counts[carol.pk] == 1
    assert counts[dave.pk] == counts[alice.pk] == 0


def test_an_actions_answer_reads_the_uses_of_its_requests_as_a_list_reads_them(use, alice, bob, carol):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.access import selectors as access_selectors
    from portal.access import services as access_services
    from portal.access.serializers import RequestSerializer

    plain = access_services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    ids = [use.request_id, plain.pk]
    # As an action leaves them: read with their role and requester, not with their uses nor approvals.
    acted_on = list(
        AccessRequest.objects.select_related("role", "requester__profile").filter(pk__in=ids).order_by("pk")
    )

    with CaptureQueriesContext(connection) as queries:
        answered = RequestSerializer(access_selectors.load_related(acted_on), many=True).data
    listed = RequestSerializer(
        access_selectors.requests_visible_to(carol).filter(pk__in=ids).order_by("pk"), many=True
    ).data

    assert answered == listed
    assert [item["break_glass"] is not None for item in answered] == [True, False]
    assert answered[0]["break_glass"]["incident"] == INCIDENT
    assert len(queries) == 2  # the uses, then the approvals
    again = acted_on[0].break_glass_use
    assert again.request is acted_on[0]
