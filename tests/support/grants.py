"""Grants end to end: ask, wait for a state, reveal, and check a credential and Vault's tokens."""

import time

import psycopg
import pytest

from portal.devstack.processes import StackError

WHY = "Investigate the failed nightly order export"


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def grant_for(user, role: str, *, approver=None, minutes: int = 1):
    """Ask for `role` as `user` (and approve it as `approver` when the role needs that)."""
    from portal.access import services

    request = services.request_create(actor=user, role=role, justification=WHY, duration_minutes=minutes)
    if approver is not None:
        services.request_approve(actor=approver, request_id=request.pk)
    return request


def wait_for_state(request_id: int, *states: str, timeout_seconds: float = 60):
    """Poll the request until it reaches one of `states`; fail with where it is stuck otherwise."""
    from portal.access.models import AccessRequest

    deadline = time.monotonic() + timeout_seconds
    while True:
        request = AccessRequest.objects.get(pk=request_id)
        if request.state in states:
            return request
        if time.monotonic() > deadline:
            pytest.fail(f"#{request_id} is {request.state} ({request.last_error!r}), not {states}")
        time.sleep(0.25)


def reveal(user, request_id: int) -> dict:
    response = client_for(user).post(f"/api/v1/requests/{request_id}/credentials")
    assert response.status_code == 200, response.content
    return response.json()


def can_log_in(body: dict) -> bool:
    try:
        with psycopg.connect(body["connection_uri"], connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def live_tokens_of(stack, request_id: int) -> list[str]:
    """Return the accessors of every grant token Vault holds for the request (found by its metadata)."""
    listed = stack._vault("GET", "auth/token/accessors?list=true")
    found = []
    for accessor in listed["data"]["keys"]:
        try:
            token = stack._vault("POST", "auth/token/lookup-accessor", {"accessor": accessor})
        except StackError:
            # Revoked between the listing and the lookup: not live.
            token = {"data": {}}
        if (token["data"].get("meta") or {}).get("request_id") == str(request_id):
            found.append(accessor)
    return found


def removed_by_a_review(person, role) -> None:
    """Record that a review removed `person` from `role`, as a removal landing after an approval would."""
    from datetime import timedelta

    from portal.core.clock import now
    from portal.reviews.models import Campaign, ReviewItem, RoleExclusion

    campaign = Campaign.objects.create(
        role=role, due_at=now() + timedelta(days=7), when_overdue="keep", started_by=person, owner=person
    )
    profile = person.profile
    item = ReviewItem.objects.create(
        campaign=campaign, role=role, user=person, tid=profile.tid, oid=profile.oid, decision="remove"
    )
    RoleExclusion.objects.create(role=role, tid=profile.tid, oid=profile.oid, item=item)
