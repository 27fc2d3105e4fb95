"""Every form of the pages, fuzzed: generated field values posted (or sent) as each persona, with a valid
CSRF token. Bad input gets a form error, a message or a 4xx; never a 500."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.access import services
from portal.access.models import AccessRequest
from portal.core.clock import now

pytestmark = pytest.mark.django_db
WHY = "Investigating the late orders of ticket OPS-12"
PERSONAS = ["alice", "bob", "carol", "dave", "erin"]
EXAMPLES_PER_FORM = 25

# Text a person may type, and the words that have broken forms before: view names for `next`, IDs out of range.
_TRICKY = [
    "",
    " ",
    "id",
    "home",
    "access:my-access",
    "//evil.example/",
    "/\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/access/",
    "0",
    "-1",
    "1.5",
    "1e9",
    "²",
    "٣",
    "99999999999999999999",
    "2147483648",
    "\x00",
    "a\x00b",
    "/access/\x00",
    "/access/\r\nSet-Cookie: x=1",
    "c0000000-0000-4000-8000-000000000001",
    "alice@contoso.example",
    "now",
    "later",
    "2030-01-31T09:00",
    "2030-13-45T25:61",
    "Europe/Paris",
    "Not/AZone",
    "OPS-12",
    "<!channel>",
    "a" * 600,
]
_VALUE = st.one_of(
    st.sampled_from(_TRICKY),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
)
_FIELD = st.one_of(st.none(), _VALUE, st.lists(_VALUE, min_size=2, max_size=3))


def _fields(*names: str):
    """Return a strategy of form bodies: each field absent, one value or repeated."""
    return st.fixed_dictionaries({name: _FIELD for name in names}).map(
        lambda body: {name: value for name, value in body.items() if value is not None}
    )


# (method, path with {id} or {slug}, the form's fields) for every form the pages show.
FORMS = [
    (
        "post",
        "/access/requests/new/{slug}/",
        ("duration_minutes", "start", "starts_at", "tz", "justification", "ticket"),
    ),
    ("post", "/access/requests/{id}/approve/", ("comment", "duration_minutes", "next")),
    ("post", "/access/requests/{id}/deny/", ("comment", "next")),
    ("post", "/access/requests/{id}/cancel/", ("next",)),
    ("post", "/access/requests/{id}/extend/", ("duration_minutes", "justification")),
    ("post", "/access/requests/{id}/reveal/", ()),
    ("post", "/access/requests/{id}/revoke/", ("reason", "next")),
    ("post", "/access/grants/revoke/", ("user", "role", "reason")),
    ("get", "/access/audit/", ("person", "role", "action", "state", "since", "until", "q", "page")),
    ("get", "/access/audit/export.csv", ("person", "role", "action", "state", "since", "until", "q")),
    ("get", "/access/review/", ("page",)),
]


@pytest.fixture
def unlimited(settings):
    settings.RATE_LIMITS = {scope: "1000000/m" for scope in settings.RATE_LIMITS}


@pytest.fixture
def targets(alice, bob, carol, dave, catalog):
    """Return request IDs in several states and of several owners, and role slugs, for the forms to aim at."""
    pending = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    grant = services.request_create(actor=alice, role="analytics-readonly", justification=WHY)
    start = now()
    AccessRequest.objects.filter(pk=grant.pk).update(
        state="active", starts_at=start, ends_at=start + timedelta(minutes=60), wrapped_secret="s.token"
    )
    admin = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-7")
    denied = services.request_create(actor=bob, role="orders-readwrite", justification=WHY)
    services.request_deny(actor=carol, request_id=denied.pk, comment="Not this week")
    return {
        "id": [pending.pk, grant.pk, admin.pk, denied.pk, 0, 2_000_000_000],
        "slug": ["orders-readwrite", "orders-admin", "analytics-readonly", "no-such-role"],
    }


CSRF_REFUSED = b"CSRF verification failed"


def _client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user)
    client.get("/")
    return client, client.cookies["csrftoken"].value


def test_a_refused_csrf_token_is_told_apart_from_other_refusals(alice):
    client, token = _client(alice)

    refused = client.post("/access/grants/revoke/", {"csrfmiddlewaretoken": "x" * len(token)})
    not_allowed = client.post("/access/grants/revoke/", {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403 and CSRF_REFUSED in refused.content
    assert not_allowed.status_code == 403 and CSRF_REFUSED not in not_allowed.content


@pytest.mark.long
@pytest.mark.timeout(300)
@pytest.mark.parametrize("form", FORMS, ids=lambda form: f"{form[0]} {form[1]}")
@pytest.mark.parametrize("name", PERSONAS)
def test_no_form_of_the_pages_answers_500(name, form, request, targets, unlimited):
    user = request.getfixturevalue(name)
    client, token = _client(user)
    method, path, fields = form
    failures = []

    def answer(url: str, body: dict) -> None:
        # Each answer on the same requests as the first: rolled back, whatever it did (or broke in the database).
        with transaction.atomic():
            if method == "post":
                response = client.post(url, {**body, "csrfmiddlewaretoken": token})
            else:
                response = client.get(url, body)
            transaction.set_rollback(True)
        if response.status_code >= 500:
            failures.append((url, body, response.status_code))
        # A refused CSRF token would hide every other answer: each post must get past it. (Django's refusal
        # page says so; "CSRF" alone also turns up now and then inside the random token of the sign-out form.)
        assert response.status_code != 403 or CSRF_REFUSED not in response.content

    # Every known troublemaker in every field at once, on the requests this persona may act on ...
    for request_id in targets["id"][:2]:
        for value in _TRICKY:
            answer(path.format(id=request_id, slug=targets["slug"][0]), dict.fromkeys(fields, value))

    # ... then generated bodies on any target.
    @settings(
        max_examples=EXAMPLES_PER_FORM,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.sampled_from(targets["id"]), st.sampled_from(targets["slug"]), _fields(*fields))
    def send(request_id, slug, body):
        answer(path.format(id=request_id, slug=slug), body)

    send()
    assert failures == []
