"""The address of the client behind the portal's own proxies: for rate limits and the audit trail.

`REMOTE_ADDR` is the last hop: behind a load balancer or TLS proxy it is the proxy's
address, the same for everyone. `X-Forwarded-For` names the hops before it, but any
client can write that header. So the header is read only as far as trusted proxies
vouch for it: from the right, each address that is one of `TRUSTED_PROXIES` (networks)
is skipped, and the first that is not is the client. Without trusted proxies, the
header is ignored.
"""

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: list[str], *, setting: str) -> list[str]:
    """Return `values` once each is a network (`10.0.0.0/8`) or an address; raise ImproperlyConfigured if not."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as error:
            raise ImproperlyConfigured(
                f"{setting} lists networks or addresses like 10.0.0.0/8 or 192.0.2.10, not {value!r}."
            ) from error
    return values


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _address(text: str | None) -> Address | None:
    """Return the address in one hop (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`)."""
    value = (text or "").strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    return getattr(address, "ipv4_mapped", None) or address


def client_ip(request) -> str | None:
    """Return the address of the client of `request`, as far as the trusted proxies vouch for it."""
    remote = _address(request.META.get("REMOTE_ADDR"))
    if remote is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))

    def trusted(address: Address) -> bool:
        return any(address in network for network in networks)

    client = remote
    if not trusted(remote):
        return str(remote)
    # Several X-Forwarded-For headers reach Django joined with commas, in order.
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address(hop)
        if address is None:
            # Not an address: written by whoever sent it, so nothing left of it can be believed.
            break
        client = address
        if not trusted(address):
            break
    return str(client)
