"""Rate limits answer 429, bodies over the size limit are refused, and lists never return more than a page."""

import pytest
from django.test import Client

from portal.access import services
from portal.access.models import AccessRequest
from portal.core.ratelimit import RateLimited, parse_rate, rate_limit_check
from tests.security.conftest import WHY, api_post, ask, client_for
from tests.support.sign_in import CALLBACK, start_sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db, pytest.mark.usefixtures("one_rate_window")]


def limit(settings, **rates):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}


def test_request_creation_above_the_rate_is_answered_429_in_json_and_creates_nothing(settings, alice, catalog):
    limit(settings, request_create="2/m")
    client = client_for(alice)
    assert ask(client, duration_minutes=30).status_code == 201
    assert ask(client, "analytics-readonly", duration_minutes=30).status_code == 201

    response = ask(client, "orders-readwrite", duration_minutes=45)

    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "throttled"
    assert body["detail"]
    assert 1 <= body["retry_after"] <= 60
    assert int(response["Retry-After"]) == body["retry_after"]
    assert AccessRequest.objects.filter(requester=alice).count() == 2


def test_the_rate_is_counted_per_user(settings, alice, bob, catalog):
    limit(settings, request_create="1/m")
    assert ask(client_for(alice), duration_minutes=30).status_code == 201
    assert ask(client_for(alice), "analytics-readonly").status_code == 429

    assert ask(client_for(bob), duration_minutes=30).status_code == 201


def test_the_request_form_above_the_rate_shows_a_friendly_page_with_429(settings, alice, catalog):
    limit(settings, request_create="1/m")
    client = client_for(alice)
    form = {"duration_minutes": 30, "start": "now", "justification": WHY, "ticket": ""}
    assert client.post("/access/requests/new/orders-readwrite/", form).status_code == 302

    response = client.post("/access/requests/new/analytics-readonly/", form)

    assert response.status_code == 429
    assert "core/throttled.html" in [template.name for template in response.templates]
    assert "Too many attempts" in response.content.decode()
    assert AccessRequest.objects.filter(requester=alice).count() == 1


def test_showing_the_request_form_is_not_counted(settings, alice, catalog):
    limit(settings, request_create="1/m")
    client = client_for(alice)
    for _ in range(3):
        assert client.get("/access/requests/new/orders-readwrite/").status_code == 200


def test_approvals_above_the_rate_are_answered_429(settings, alice, bob, dave, catalog):
    limit(settings, approval="1/m")
    first = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    second = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-1")
    approver = client_for(bob)
    assert api_post(approver, f"requests/{first.pk}/approve").status_code == 200

    response = api_post(approver, f"requests/{second.pk}/deny", {"comment": "Not today"})

    assert response.status_code == 429
    assert AccessRequest.objects.get(pk=second.pk).state == "pending"


def test_approving_from_the_page_above_the_rate_shows_the_friendly_page(settings, alice, bob, dave, catalog):
    limit(settings, approval="1/m")
    first = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    second = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-1")
    approver = client_for(bob)
    assert approver.post(f"/access/requests/{first.pk}/approve/", {"comment": ""}).status_code == 302

    response = approver.post(f"/access/requests/{second.pk}/approve/", {"comment": ""})

    assert response.status_code == 429
    assert AccessRequest.objects.get(pk=second.pk).state == "pending"


def test_reveals_above_the_rate_are_answered_429_before_vault_is_asked(settings, alice, catalog):
    limit(settings, reveal="1/m")
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    client = client_for(alice)
    # Not active: the first reveal is refused by the workflow (409) but still counted.
    assert api_post(client, f"requests/{request.pk}/credentials").status_code == 409

    response = api_post(client, f"requests/{request.pk}/credentials")

    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert client.post(f"/access/requests/{request.pk}/reveal/").status_code == 429


def test_sign_in_callbacks_above_the_rate_are_answered_429_per_address(settings, fake_provider, db):  # noqa: F811
    limit(settings, sign_in="2/m")
    client = Client()
    for _ in range(2):
        authorization = start_sign_in(client)
        assert client.get(CALLBACK, {"code": "x", "state": authorization["state"] + "x"}).status_code == 401

    response = client.get(CALLBACK, {"code": "x", "state": start_sign_in(client)["state"]})

    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert Client(REMOTE_ADDR="192.0.2.7").get(CALLBACK).status_code == 400


def test_an_unreachable_cache_lets_requests_through(settings, alice, catalog):
    settings.CACHES = {
        **settings.CACHES,
        settings.RATE_LIMIT_CACHE: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    limit(settings, request_create="1/m")

    assert ask(client_for(alice), duration_minutes=30).status_code == 201
    assert ask(client_for(alice), "analytics-readonly").status_code == 201


@pytest.mark.parametrize(
    ("text", "count", "seconds"), [("30/m", 30, 60), ("100/5m", 100, 300), ("5/s", 5, 1), ("1000 / h", 1000, 3600)]
)
def test_rates_are_written_as_calls_per_window(text, count, seconds):
    rate = parse_rate(text)
    assert (rate.count, rate.seconds) == (count, seconds)


@pytest.mark.parametrize("text", ["", "30", "0/m", "30/d", "x/m", "30/0m", "-1/m"])
def test_a_bad_rate_is_refused_loudly(text):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


def test_an_api_body_over_the_size_limit_is_refused_with_413_and_creates_nothing(settings, alice, catalog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = '{"role": "orders-readwrite", "justification": "' + "x" * 5000 + '"}'

    response = client_for(alice).post("/api/v1/requests", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert not AccessRequest.objects.exists()


def test_a_form_body_over_the_size_limit_is_refused_with_413(settings, alice, catalog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    form = {"duration_minutes": 30, "start": "now", "justification": "x" * 5000}

    response = client_for(alice).post("/access/requests/new/orders-readwrite/", form)

    assert response.status_code == 413
    assert "at most 4096 bytes" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_a_body_under_the_limit_is_read_as_usual(settings, alice, catalog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    assert (
        api_post(client_for(alice), "requests", {"role": "orders-readwrite", "justification": WHY}).status_code == 201
    )


def test_a_page_of_an_api_list_never_holds_more_than_the_cap(settings, carol, alice, catalog):
    settings.API_PAGE_SIZE_MAX = 3
    for _ in range(5):
        services.request_create(actor=alice, role="analytics-readonly", justification=WHY, duration_minutes=1)
        AccessRequest.objects.filter(requester=alice).update(state="expired")
    admin = client_for(carol)

    listed = admin.get("/api/v1/requests?scope=all&page_size=100000").json()
    audit = admin.get("/api/v1/audit?page_size=100000").json()

    assert len(listed["results"]) == 3
    assert listed["count"] == 5
    assert len(audit["results"]) == 3


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999"])
def test_a_page_out_of_range_is_a_clean_404_not_a_500(alice, catalog, page):
    response = client_for(alice).get(f"/api/v1/requests?page={page}")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_counter_is_one_round_trip_to_redis_and_expires_after_its_window(settings, alice, monkeypatch):
    from django.core.cache import caches
    from django.test import RequestFactory
    from redis.connection import AbstractConnection

    limit(settings, request_create="2/m")
    request = RequestFactory().post("/api/v1/requests")
    request.user = alice
    sent = []
    send = AbstractConnection.send_packed_command
    monkeypatch.setattr(
        AbstractConnection, "send_packed_command", lambda self, *a, **k: sent.append(a) or send(self, *a, **k)
    )

    rate_limit_check("approval", request)  # the connection is open, as it is after a web process's first call
    sent.clear()
    rate_limit_check("request_create", request)

    # The counter's creation and its increment leave in one write, answered at once.
    assert len(sent) == 1
    rate_limit_check("request_create", request)
    with pytest.raises(RateLimited):
        rate_limit_check("request_create", request)
    cache = caches[settings.RATE_LIMIT_CACHE]
    client = cache._cache.get_client(write=True)
    (key,) = client.keys(f"{cache.key_prefix}:*request_create:user:{alice.pk}:*")
    assert 0 < client.ttl(key) <= 61
    assert int(client.get(key)) == 3


def test_a_web_process_counts_through_one_redis_client(settings, alice, bob, monkeypatch):
    from django.core.cache import caches
    from django.test import RequestFactory
    from redis import Redis

    made = []
    init = Redis.__init__
    monkeypatch.setattr(Redis, "__init__", lambda self, *a, **k: made.append(self) or init(self, *a, **k))
    limit(settings, request_create="5/m", approval="5/m")
    calls = []
    for person in (alice, bob):
        request = RequestFactory().post("/api/v1/requests")
        request.user = person
        calls.append(request)

    for scope in ("request_create", "approval", "request_create"):
        for request in calls:
            rate_limit_check(scope, request)

    assert len(made) <= 1
    cache = caches[settings.RATE_LIMIT_CACHE]
    client = cache._cache.get_client(write=True)
    counts = sorted(int(client.get(key)) for key in client.keys(f"{cache.key_prefix}:*user:*"))
    assert counts == [1, 1, 2, 2]


def test_a_cache_other_than_redis_counts_the_same(settings, alice, catalog):
    settings.CACHES = {
        **settings.CACHES,
        settings.RATE_LIMIT_CACHE: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits"},
    }
    limit(settings, request_create="1/m")

    assert ask(client_for(alice), duration_minutes=30).status_code == 201
    assert ask(client_for(alice), "analytics-readonly").status_code == 429
