"""What a web request's commits queue goes to the broker once its answer is sent; elsewhere, at the commit."""

import logging

import pytest

from portal.access import api, services
from portal.core import queue
from tests.support.grants import client_for

pytestmark = pytest.mark.django_db(transaction=True)

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture
def events(monkeypatch):
    """Record, in order, each task sent to the broker and each answer the approve view returns."""
    seen = []
    monkeypatch.setattr(queue, "send", lambda task, *args, eta=None: seen.append(task.rsplit(".", 1)[1]))
    answer = api.ApproveView.post

    def answered(self, request, request_id):
        response = answer(self, request, request_id)
        seen.append("answered")
        return response

    monkeypatch.setattr(api.ApproveView, "post", answered)
    return seen


def test_an_approval_is_answered_before_its_tasks_are_queued(people, catalog, events):
    request = services.request_create(actor=people["alice"], role="orders-readwrite", justification=WHY)
    events.clear()

    response = client_for(people["bob"]).post(f"/api/v1/requests/{request.pk}/approve", {}, "application/json")

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"
    assert events == ["answered", "notify_email", "issue_grant"]


def test_outside_a_web_request_tasks_are_queued_at_the_commit(people, catalog, events):
    request = services.request_create(actor=people["alice"], role="orders-readwrite", justification=WHY)
    assert events == ["notify_email"]

    services.request_approve(actor=people["bob"], request_id=request.pk)

    assert events == ["notify_email", "notify_email", "issue_grant"]


def test_a_send_that_fails_after_the_answer_is_logged_and_the_next_still_goes(people, catalog, monkeypatch, caplog):
    request = services.request_create(actor=people["alice"], role="orders-readwrite", justification=WHY)
    sent = []

    def broker_away_for_mail(task, *args, eta=None):
        if task.endswith("notify_email"):
            raise ConnectionError("broker away")
        sent.append(task.rsplit(".", 1)[1])

    monkeypatch.setattr(queue, "send", broker_away_for_mail)

    with caplog.at_level(logging.ERROR, logger="portal.core.queue"):
        response = client_for(people["bob"]).post(f"/api/v1/requests/{request.pk}/approve", {}, "application/json")

    assert response.status_code == 200, response.content
    assert sent == ["issue_grant"]
    assert [record.message for record in caplog.records] == [
        "A task could not be queued after the answer; the sweeper queues it again if it must."
    ]
    # The next request starts with nothing held from this one.
    assert queue._after_answer.sends is None


def test_a_request_whose_answer_is_never_closed_holds_back_nothing_queued_after_it(people, catalog, events):
    from django.http import HttpResponse
    from django.test import RequestFactory

    request = services.request_create(actor=people["alice"], role="orders-readwrite", justification=WHY)
    events.clear()
    # Handled, but its answer never closed (a streamed answer nobody read to its end): no `request_finished`.
    queue.SendAfterAnswerMiddleware(lambda _: HttpResponse())(RequestFactory().get("/"))

    services.request_approve(actor=people["bob"], request_id=request.pk)

    assert events == ["notify_email", "issue_grant"]
