"""Every rule of the request workflow, through the service layer."""

from datetime import timedelta

import pytest

from portal.access import services
from portal.access.models import AccessRequest, Approval, AuditEvent
from portal.core.clock import now
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound
from tests.support.clock import clock_at

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def create(actor, role="orders-readwrite", **kwargs):
    kwargs.setdefault("justification", WHY)
    return services.request_create(actor=actor, role=role, **kwargs)


def test_alice_requests_orders_readwrite_and_it_waits_for_an_approver(alice, catalog):
    request = create(alice, duration_minutes=30)

    assert request.state == State.PENDING
    assert request.duration_minutes == 30
    assert request.starts_at is None and request.ends_at is None
    event = AuditEvent.objects.get(request=request)
    assert event.action == "request.created"
    assert event.actor_label == "alice@contoso.example"
    assert event.details["eligible_through"] == ["orders-engineers"]


def test_duration_defaults_to_the_roles_default(alice, catalog):
    assert create(alice).duration_minutes == catalog["orders-readwrite"].default_duration_minutes


def test_auto_approved_role_is_approved_at_once(alice, catalog):
    request = create(alice, role="analytics-readonly")

    assert request.state == State.APPROVED
    assert list(AuditEvent.objects.filter(request=request).values_list("action", "actor_label")) == [
        ("request.created", "alice@contoso.example"),
        ("request.approved", "system"),
    ]


def test_erin_without_groups_cannot_request_any_role(erin, catalog):
    with pytest.raises(NotAllowed):
        create(erin)


def test_unknown_or_disabled_role_cannot_be_requested(alice, catalog):
    with pytest.raises(NotFound):
        create(alice, role="no-such-role")
    catalog["orders-readwrite"].vault_role_missing = True
    catalog["orders-readwrite"].save()
    with pytest.raises(NotFound):
        create(alice)


def test_stale_memberships_must_be_refreshed_before_requesting(alice, catalog):
    alice.profile.groups_read_at = now() - timedelta(days=1)
    alice.profile.save()

    with pytest.raises(NotAllowed, match="sign in again"):
        create(alice)


@pytest.mark.parametrize("duration", [0, -5, 241])
def test_duration_must_be_between_one_minute_and_the_roles_maximum(alice, catalog, duration):
    with pytest.raises(InvalidInput) as error:
        create(alice, duration_minutes=duration)
    assert "duration_minutes" in error.value.fields


def test_duration_may_be_exactly_the_maximum(alice, catalog):
    assert create(alice, duration_minutes=240).duration_minutes == 240


@pytest.mark.parametrize("justification", ["", "   ", "too short", "a b c d e f g h i"[:9], "x" * 2001])
def test_justification_needs_ten_non_blank_characters_and_at_most_two_thousand(alice, catalog, justification):
    with pytest.raises(InvalidInput) as error:
        create(alice, justification=justification)
    assert "justification" in error.value.fields


def test_justification_of_ten_characters_is_enough(alice, catalog):
    assert create(alice, justification="0123456789").justification == "0123456789"


def test_ticket_is_required_when_the_role_says_so(dave, catalog):
    with pytest.raises(InvalidInput) as error:
        create(dave, role="orders-admin")
    assert "ticket" in error.value.fields


def test_ticket_must_match_the_roles_pattern(dave, catalog):
    with pytest.raises(InvalidInput) as error:
        create(dave, role="orders-admin", ticket="ops 12")
    assert "ticket" in error.value.fields
    assert create(dave, role="orders-admin", ticket="OPS-12").ticket == "OPS-12"


def test_start_time_cannot_be_in_the_past_or_more_than_fourteen_days_ahead(alice, catalog):
    for starts_at in (now() - timedelta(hours=1), now() + timedelta(days=15)):
        with pytest.raises(InvalidInput) as error:
            create(alice, starts_at=starts_at)
        assert "starts_at" in error.value.fields
    later = now() + timedelta(days=13)
    assert create(alice, starts_at=later).requested_starts_at == later


def test_every_field_problem_is_reported_at_once(dave, catalog):
    with pytest.raises(InvalidInput) as error:
        create(dave, role="orders-admin", duration_minutes=999, justification="short")
    assert set(error.value.fields) == {"duration_minutes", "justification", "ticket"}


def test_a_second_open_request_for_the_same_role_points_to_the_first(alice, catalog):
    first = create(alice)

    with pytest.raises(InvalidTransition) as error:
        create(alice)
    assert error.value.extra == {"existing_request": first.pk}


def test_a_second_request_that_races_past_the_check_points_to_the_first_and_records_nothing(
    alice, catalog, monkeypatch
):
    from portal.access.services import requests

    first = create(alice)
    events = AuditEvent.objects.count()
    asked, found = requests.role_asked_for, requests.open_request_for
    checks = []

    def check(user, slug):
        # The second submission's check ran before the first's insert committed: it found nothing.
        checks.append(slug)
        role = asked(user, slug)
        role.open_request_id = role.open_request_state = None
        return role

    def look_up(**kw):
        checks.append(kw)
        return found(**kw)

    monkeypatch.setattr(requests, "role_asked_for", check)
    monkeypatch.setattr(requests, "open_request_for", look_up)

    with pytest.raises(InvalidTransition) as error:
        create(alice)

    assert error.value.extra == {"existing_request": first.pk}
    # The insert ran into the constraint, and the first request was looked up again to point to it.
    assert len(checks) == 2
    assert AccessRequest.objects.filter(requester=alice).count() == 1
    assert AuditEvent.objects.count() == events


def test_a_broken_constraint_other_than_one_open_request_is_not_called_a_duplicate(alice, catalog, monkeypatch):
    from django.db import IntegrityError

    from portal.access.services import requests

    def refuse(**kw):
        raise IntegrityError("another constraint")

    monkeypatch.setattr(requests, "record", refuse)

    with pytest.raises(IntegrityError, match="another constraint"):
        create(alice)
    assert not AccessRequest.objects.filter(requester=alice).exists()


def test_a_new_request_is_allowed_once_the_first_is_closed(alice, catalog):
    first = create(alice)
    services.request_cancel(actor=alice, request_id=first.pk)

    assert create(alice).state == State.PENDING


def test_bob_approves_alices_request(alice, bob, catalog):
    request = create(alice)

    approved = services.request_approve(actor=bob, request_id=request.pk, comment="ok")

    assert approved.state == State.APPROVED
    assert approved.decided_at is not None
    assert Approval.objects.get(request=request).approver == bob
    # The access clock has not started: that happens at issuance.
    assert approved.starts_at is None and approved.ends_at is None


def test_approver_cannot_approve_own_request(bob, catalog):
    request = create(bob)

    with pytest.raises(NotAllowed, match="own request"):
        services.request_approve(actor=bob, request_id=request.pk)
    assert AccessRequest.objects.get(pk=request.pk).state == State.PENDING


def test_approver_not_in_an_approver_group_cannot_decide(alice, dave, catalog):
    request = create(alice)

    with pytest.raises(NotAllowed):
        services.request_approve(actor=dave, request_id=request.pk)
    with pytest.raises(NotAllowed):
        services.request_deny(actor=dave, request_id=request.pk, comment="no reason at all")


def test_approver_removed_from_the_group_before_deciding_cannot_decide(alice, bob, catalog):
    request = create(alice)
    bob.profile.groups = [g for g in bob.profile.groups if g != "a0000000-0000-4000-8000-000000000003"]
    bob.profile.save()

    with pytest.raises(NotAllowed):
        services.request_approve(actor=bob, request_id=request.pk)


def test_approver_with_stale_memberships_must_sign_in_again(alice, bob, catalog):
    request = create(alice)
    bob.profile.groups_read_at = now() - timedelta(days=1)
    bob.profile.save()

    with pytest.raises(NotAllowed, match="sign in again"):
        services.request_approve(actor=bob, request_id=request.pk)


def test_two_approvals_are_needed_for_orders_admin(dave, bob, carol, catalog):
    request = create(dave, role="orders-admin", ticket="OPS-1")

    assert services.request_approve(actor=bob, request_id=request.pk).state == State.PENDING
    assert services.request_approve(actor=carol, request_id=request.pk).state == State.APPROVED


def test_the_same_approver_counts_once(dave, bob, catalog):
    request = create(dave, role="orders-admin", ticket="OPS-1")
    services.request_approve(actor=bob, request_id=request.pk)

    with pytest.raises(InvalidTransition):
        services.request_approve(actor=bob, request_id=request.pk)
    assert AccessRequest.objects.get(pk=request.pk).state == State.PENDING


def test_approver_may_shorten_but_not_lengthen_the_duration(alice, bob, catalog):
    request = create(alice, duration_minutes=60)

    with pytest.raises(InvalidInput):
        services.request_approve(actor=bob, request_id=request.pk, duration_minutes=61)
    approved = services.request_approve(actor=bob, request_id=request.pk, duration_minutes=15)
    assert approved.duration_minutes == 15
    assert AccessRequest.objects.get(pk=request.pk).duration_minutes == 15


def test_requester_who_left_the_group_gets_nothing_and_history_says_so(alice, bob, catalog):
    request = create(alice)
    alice.profile.groups = []
    alice.profile.save()

    with pytest.raises(NotAllowed, match="no longer eligible"):
        services.request_approve(actor=bob, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == State.DENIED
    event = AuditEvent.objects.filter(request=request).last()
    assert event.details["reason"] == "requester_not_eligible"


def test_one_denial_ends_the_request_and_needs_a_comment(dave, bob, carol, catalog):
    request = create(dave, role="orders-admin", ticket="OPS-1")
    services.request_approve(actor=bob, request_id=request.pk)

    with pytest.raises(InvalidInput):
        services.request_deny(actor=carol, request_id=request.pk, comment="  ")
    denied = services.request_deny(actor=carol, request_id=request.pk, comment="Not during the freeze")
    assert denied.state == State.DENIED
    with pytest.raises(InvalidTransition):
        services.request_approve(actor=carol, request_id=request.pk)


def test_a_denial_comment_with_a_null_character_is_refused_and_changes_nothing(dave, carol, catalog):
    request = create(dave, role="orders-admin", ticket="OPS-1")

    with pytest.raises(InvalidInput) as refused:
        services.request_deny(actor=carol, request_id=request.pk, comment="Not now\x00")

    assert refused.value.fields == {"comment": ["Null characters are not allowed."]}
    assert AccessRequest.objects.get(pk=request.pk).state == State.PENDING
    assert not Approval.objects.filter(request=request).exists()


def test_requester_may_cancel_while_pending_and_nobody_else_may(alice, bob, catalog):
    request = create(alice)

    with pytest.raises(NotAllowed):
        services.request_cancel(actor=bob, request_id=request.pk)
    assert services.request_cancel(actor=alice, request_id=request.pk).state == State.CANCELLED
    with pytest.raises(InvalidTransition):
        services.request_cancel(actor=alice, request_id=request.pk)


def test_approved_request_cannot_be_cancelled_or_denied(alice, bob, carol, catalog):
    request = create(alice)
    services.request_approve(actor=bob, request_id=request.pk)

    with pytest.raises(InvalidTransition):
        services.request_cancel(actor=alice, request_id=request.pk)
    with pytest.raises(InvalidTransition):
        services.request_deny(actor=carol, request_id=request.pk, comment="Too late for that")


def test_pending_request_expires_after_the_roles_pending_lifetime(alice, catalog):
    request = create(alice)
    with pytest.raises(InvalidTransition):
        services.request_expire_pending(request_id=request.pk)
    assert services.requests_expire_stale() == 0

    later = now() + timedelta(minutes=catalog["orders-readwrite"].pending_lifetime_minutes + 1)
    with clock_at(later):
        assert services.requests_expire_stale() == 1

    request.refresh_from_db()
    assert request.state == State.EXPIRED
    assert AuditEvent.objects.filter(request=request).last().actor_label == "system"


def _activate(request, minutes=60):
    """Stand in for issuance (the Vault side): make the request an active grant."""
    start = now()
    AccessRequest.objects.filter(pk=request.pk).update(
        state=State.ACTIVE, starts_at=start, ends_at=start + timedelta(minutes=minutes)
    )
    request.refresh_from_db()
    return request


def test_extension_needs_approval_and_then_moves_the_grants_end(alice, bob, catalog):
    grant = create(alice)
    services.request_approve(actor=bob, request_id=grant.pk)
    grant = _activate(grant)
    old_end = grant.ends_at

    extension = services.request_extend(
        actor=alice, request_id=grant.pk, duration_minutes=30, justification="The migration takes longer"
    )
    assert extension.state == State.PENDING and extension.extends == grant
    grant.refresh_from_db()
    assert grant.ends_at == old_end

    services.request_approve(actor=bob, request_id=extension.pk)
    grant.refresh_from_db()
    assert grant.ends_at == old_end + timedelta(minutes=30)
    assert grant.state == State.ACTIVE
    assert AuditEvent.objects.filter(request=grant, action="grant.extended").exists()


def test_only_an_active_grant_can_be_extended_and_only_by_its_holder(alice, bob, catalog):
    request = create(alice)
    with pytest.raises(InvalidTransition):
        services.request_extend(actor=alice, request_id=request.pk, duration_minutes=10, justification=WHY)
    services.request_approve(actor=bob, request_id=request.pk)
    grant = _activate(request)
    with pytest.raises(NotAllowed):
        services.request_extend(actor=bob, request_id=grant.pk, duration_minutes=10, justification=WHY)


def test_extension_follows_the_duration_and_justification_rules(alice, bob, catalog):
    grant = create(alice)
    services.request_approve(actor=bob, request_id=grant.pk)
    grant = _activate(grant)

    with pytest.raises(InvalidInput) as error:
        services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=999, justification="short")
    assert set(error.value.fields) == {"duration_minutes", "justification"}


def test_only_one_pending_extension_per_grant(alice, bob, catalog):
    grant = create(alice)
    services.request_approve(actor=bob, request_id=grant.pk)
    grant = _activate(grant)
    first = services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=10, justification=WHY)

    with pytest.raises(InvalidTransition) as error:
        services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=10, justification=WHY)
    assert error.value.extra == {"existing_request": first.pk}


def test_auto_approved_extension_moves_the_end_at_once(alice, catalog):
    grant = _activate(create(alice, role="analytics-readonly"))
    old_end = grant.ends_at

    extension = services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=20, justification=WHY)

    assert extension.state == State.APPROVED
    grant.refresh_from_db()
    assert grant.ends_at == old_end + timedelta(minutes=20)


def test_a_lock_told_the_wrong_grant_refuses_before_any_change(alice, catalog):
    from django.db import transaction

    from portal.access.services.kernel import locked_with_grant

    request, other = create(alice), create(alice, role="analytics-readonly")

    # A caller that read the request's `extends_id` passes it; one that does not match is refused.
    with transaction.atomic():
        assert locked_with_grant(request.pk, extends_id=None) == (request, None)
        with pytest.raises(InvalidTransition, match="does not extend"):
            locked_with_grant(request.pk, extends_id=other.pk)


def test_a_lock_of_many_that_waits_takes_them_in_the_order_of_their_ids_and_all_of_them(alice, catalog):
    from django.db import transaction

    from portal.access.services.kernel import locked_many

    first, second = create(alice), create(alice, role="analytics-readonly")

    with transaction.atomic():
        # Two waits in different orders could deadlock: only a lock that skips held rows may reorder or stop.
        with pytest.raises(ValueError, match="skips held rows"):
            locked_many(pk__in=[first.pk, second.pk], first=second.pk)
        with pytest.raises(ValueError, match="skips held rows"):
            locked_many(pk__in=[first.pk, second.pk], limit=1)
        assert locked_many(pk__in=[first.pk, second.pk]) == [first, second]
        assert locked_many(pk__in=[first.pk, second.pk], skip_locked=True, first=second.pk) == [second, first]
        assert locked_many(pk__in=[first.pk, second.pk], skip_locked=True, first=second.pk, limit=1) == [second]


def _audit_inserts(run) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    statements = [query["sql"] for query in captured.captured_queries]
    return (
        sum(sql.startswith('INSERT INTO "access_auditevent"') for sql in statements),
        sum("latchkey_audit_chain_head" in sql for sql in statements),
    )


def test_an_approval_that_approves_writes_its_two_events_in_one_turn_of_the_chain(alice, bob, catalog):
    request = create(alice)

    assert _audit_inserts(lambda: services.request_approve(actor=bob, request_id=request.pk)) == (1, 1)

    events = list(AuditEvent.objects.filter(request=request).order_by("id").values_list("action", flat=True))
    assert events == ["request.created", "request.approval", "request.approved"]


def test_a_request_approved_at_once_writes_its_two_events_in_one_turn_of_the_chain(alice, catalog):
    assert _audit_inserts(lambda: create(alice, role="analytics-readonly")) == (1, 1)

    request = AccessRequest.objects.get(requester=alice, role__slug="analytics-readonly")
    assert request.state == State.APPROVED
    events = list(AuditEvent.objects.filter(request=request).order_by("id").values_list("action", flat=True))
    assert events == ["request.created", "request.approved"]
