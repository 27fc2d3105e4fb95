"""The client address behind trusted proxies: what rate limits count, and what no client can forge."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from portal.core.client_ip import client_ip, parse_networks

PROXY = "10.0.0.5"
rf = RequestFactory()


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(rf.get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []

    assert address(PROXY, "198.51.100.7") == PROXY


def test_behind_a_trusted_proxy_the_client_is_the_address_it_forwarded(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address(PROXY, "198.51.100.7") == "198.51.100.7"


def test_an_address_the_client_wrote_itself_is_not_believed(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    # The client sent "X-Forwarded-For: 203.0.113.9"; the proxy appended the address it saw.
    assert address(PROXY, "203.0.113.9, 198.51.100.7") == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.10"]

    assert address(PROXY, "203.0.113.9, 198.51.100.7, 192.168.1.10") == "198.51.100.7"


def test_a_caller_that_is_not_a_trusted_proxy_cannot_name_another_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address("198.51.100.7", "10.0.0.9, 203.0.113.9") == "198.51.100.7"


def test_ports_brackets_and_mapped_addresses_are_read(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]

    assert address(PROXY, "198.51.100.7:4711") == "198.51.100.7"
    assert address(PROXY, "[2001:db9::1]:4711") == "2001:db9::1"
    assert address("::ffff:10.0.0.5", "198.51.100.7") == "198.51.100.7"


def test_garbage_in_the_header_stops_the_walk_at_the_last_trusted_hop(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address(PROXY, "not-an-address") == PROXY
    assert address(PROXY, "198.51.100.7, <script>") == PROXY


def test_a_bad_network_in_the_setting_is_refused_at_start():
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        parse_networks(["10.0.0.0/8", "proxy.internal"], setting="TRUSTED_PROXIES")


@pytest.fixture
def own_counters(settings, one_rate_window):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sign_in": "2/m"}


def callback(forwarded: str):
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded).get("/oidc/callback/")


@pytest.mark.integration
@pytest.mark.django_db
def test_one_client_behind_the_proxy_does_not_lock_out_the_others(settings, own_counters):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    first = [callback("198.51.100.7").status_code for _ in range(3)]

    assert first == [400, 400, 429]
    assert callback("198.51.100.8").status_code == 400


@pytest.mark.integration
@pytest.mark.django_db
def test_a_forged_forwarded_header_does_not_escape_the_limit(settings, own_counters):
    settings.TRUSTED_PROXIES = []

    answers = [callback(f"198.51.100.{n}").status_code for n in range(3)]

    assert answers == [400, 400, 429]
