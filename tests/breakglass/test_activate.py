"""An eligible person breaks the glass: access at once, loudly, within the policy's limits."""

from datetime import timedelta

import pytest
from django.core import mail

from portal.access.models import AccessRequest, AuditEvent
from portal.breakglass import services
from portal.breakglass.models import BreakGlassUse
from portal.core.clock import now
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound
from tests.breakglass.conftest import INCIDENT, WHY, allow_break_glass


def test_dave_gets_orders_admin_at_once_without_any_approval(dave, policy):
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)

    request = AccessRequest.objects.get(pk=use.request_id)
    assert request.state == AccessRequest.State.APPROVED
    assert request.approvals.count() == 0
    assert request.duration_minutes == 60
    assert request.ticket == INCIDENT
    assert use.review_state == "pending"
    assert use.review_due_at - use.activated_at == timedelta(hours=24)
    actions = list(AuditEvent.objects.filter(request=request).values_list("action", "details"))
    assert [action for action, _ in actions] == ["request.created", "request.approved", "breakglass.activated"]
    assert actions[1][1] == {"auto": True, "break_glass": True}
    assert actions[2][1]["incident"] == INCIDENT


def test_admins_and_approvers_hear_of_it_at_once_on_every_channel(
    dave, bob, carol, alice, policy, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)

    loud = [message for message in mail.outbox if "BREAK-GLASS" in message.subject]
    assert len(loud) == 1
    # bob and carol approve orders-admin; carol is also a portal admin. alice is neither.
    assert loud[0].to == ["bob@contoso.example", "carol@contoso.example"]
    assert INCIDENT in loud[0].subject and f"request #{use.request_id}" in loud[0].body
    assert "/break-glass/reviews/" in loud[0].body


def test_the_incident_reference_must_match_the_policy_and_nothing_is_created_otherwise(dave, policy):
    with pytest.raises(InvalidInput) as refused:
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="outage")

    assert "incident" in refused.value.fields
    assert not AccessRequest.objects.exists() and not BreakGlassUse.objects.exists()


def test_the_window_is_at_most_the_break_glass_maximum(dave, policy):
    policy.max_minutes = 20
    policy.save()

    with pytest.raises(InvalidInput) as refused:
        services.break_glass_activate(
            actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT, duration_minutes=30
        )
    assert "duration_minutes" in refused.value.fields
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    assert use.request.duration_minutes == 20


def test_a_role_without_a_policy_cannot_be_broken_into(alice, catalog):
    with pytest.raises(NotFound):
        services.break_glass_activate(actor=alice, role="orders-readwrite", justification=WHY, incident=INCIDENT)


def test_a_disallowed_policy_is_no_policy(dave, policy):
    policy.allowed = False
    policy.save()

    with pytest.raises(NotFound):
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)


def test_erin_who_is_not_eligible_cannot_break_the_glass(erin, policy):
    with pytest.raises(NotAllowed):
        services.break_glass_activate(actor=erin, role="orders-admin", justification=WHY, incident=INCIDENT)
    assert not BreakGlassUse.objects.exists()


def test_stale_memberships_must_be_refreshed_first(dave, policy):
    dave.profile.groups_read_at = now() - timedelta(days=1)
    dave.profile.save()

    with pytest.raises(NotAllowed, match="sign in again"):
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)


def test_an_application_never_breaks_the_glass(dave, policy):
    dave.profile.is_application = True
    dave.profile.save()

    with pytest.raises(NotAllowed, match="Applications"):
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)


def test_an_open_grant_of_the_same_role_is_reported_not_doubled(dave, policy):
    first = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)

    with pytest.raises(InvalidTransition) as refused:
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="INC-4712")
    assert refused.value.extra["existing_request"] == first.request_id
    assert BreakGlassUse.objects.count() == 1


def _close(use):
    AccessRequest.objects.filter(pk=use.request_id).update(state=AccessRequest.State.EXPIRED)


def test_the_per_person_limit_refuses_a_third_use_within_the_window(dave, policy):
    for number in (1, 2):
        _close(
            services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=f"INC-{number}")
        )

    with pytest.raises(services.LimitReached) as refused:
        services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="INC-3")
    assert refused.value.status == 403 and refused.value.code == "break_glass_limit"
    assert refused.value.extra == {"uses": 2, "limit": 2}
    assert BreakGlassUse.objects.count() == 2


def test_uses_older_than_the_window_no_longer_count(dave, policy):
    for number in (1, 2):
        _close(
            services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=f"INC-{number}")
        )
    BreakGlassUse.objects.update(activated_at=now() - timedelta(days=7, minutes=1))

    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="INC-3")
    assert use.request.state == AccessRequest.State.APPROVED


def test_the_limit_is_per_role(dave, catalog, policy):
    allow_break_glass(catalog["analytics-readonly"], incident_pattern="", uses_allowed=1)
    dave.profile.groups = [*dave.profile.groups, "a0000000-0000-4000-8000-000000000001"]
    dave.profile.save()
    catalog["analytics-readonly"].approver_groups = ["a0000000-0000-4000-8000-000000000003"]
    catalog["analytics-readonly"].save()

    services.break_glass_activate(actor=dave, role="analytics-readonly", justification=WHY, incident="anything")
    use = services.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident=INCIDENT)
    assert use.role.slug == "orders-admin"


def test_the_demo_lets_dave_break_the_glass_of_orders_admin_and_seeding_again_changes_nothing(db):
    import io

    from django.core.management import call_command

    from portal.breakglass.models import BreakGlassPolicy

    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)

    policy = BreakGlassPolicy.objects.get()
    assert (policy.role.slug, policy.max_minutes, policy.uses_allowed) == ("orders-admin", 60, 2)
    assert "break-glass orders-admin: allowed" in first.getvalue()
    assert "break-glass" not in second.getvalue()
