"""The baselines: a grant's Vault work done directly with hvac, with nothing of the portal around it.

One raw grant is what a worker asks of Vault at the least: create the orphan grant token through the
token role, then read the role's credentials with that token, response-wrapped. One raw revocation
revokes the token by accessor (which revokes its lease, so Vault drops the database role).
"""

import multiprocessing
import time
from dataclasses import dataclass

import hvac

from portal.devstack.stack import DATABASE_MOUNT, GRANT_TOKEN_ROLE, grant_policy_name


@dataclass(frozen=True)
class VaultLogin:
    """Where Vault is and the portal's AppRole, so that a baseline signs in as the portal does."""

    addr: str
    role_id: str
    secret_id: str


def _signed_in(login: VaultLogin) -> hvac.Client:
    client = hvac.Client(url=login.addr, token="")
    body = client.adapter.post("/v1/auth/approle/login", json={"role_id": login.role_id, "secret_id": login.secret_id})
    client.token = body["auth"]["client_token"]
    return client


def _grant(portal: hvac.Client, reader: hvac.Client, role: str, ttl_seconds: int) -> str:
    body = portal.adapter.post(
        f"/v1/auth/token/create/{GRANT_TOKEN_ROLE}",
        json={
            "policies": [grant_policy_name(DATABASE_MOUNT, role)],
            "no_default_policy": True,
            "ttl": f"{ttl_seconds}s",
            "explicit_max_ttl": f"{ttl_seconds}s",
            "renewable": False,
            "display_name": f"grant-{role}",
            "meta": {"request_id": "baseline"},
        },
    )
    reader.token = body["auth"]["client_token"]
    wrapped = reader.adapter.get(f"/v1/{DATABASE_MOUNT}/creds/{role}", wrap_ttl=f"{ttl_seconds}s")
    if not wrapped.get("wrap_info"):
        raise RuntimeError("Vault did not wrap the baseline's credentials.")
    return body["auth"]["accessor"]


def _revoke(portal: hvac.Client, accessor: str) -> None:
    portal.adapter.post("/v1/auth/token/revoke-accessor", json={"accessor": accessor})


def grants_timed(login: VaultLogin, *, role: str, count: int, ttl_seconds: int = 3600) -> tuple[list[float], list[str]]:
    """Do `count` raw grants one after the other; return each one's milliseconds and the tokens' accessors."""
    portal, reader = _signed_in(login), hvac.Client(url=login.addr, token="")
    timings, accessors = [], []
    for _ in range(count):
        started = time.perf_counter()
        accessors.append(_grant(portal, reader, role, ttl_seconds))
        timings.append((time.perf_counter() - started) * 1000)
    return timings, accessors


def revoke_all(login: VaultLogin, accessors: list[str]) -> None:
    portal = _signed_in(login)
    for accessor in accessors:
        _revoke(portal, accessor)


def _child(login: VaultLogin, job: str, items: list, role: str, ready, start, results) -> None:
    portal, reader = _signed_in(login), hvac.Client(url=login.addr, token="")
    ready.put(True)
    start.wait()
    done = []
    for item in items:
        if job == "grant":
            done.append(_grant(portal, reader, role, item))
        else:
            _revoke(portal, item)
            done.append(item)
    results.put((done, time.monotonic()))


def in_parallel(login: VaultLogin, *, job: str, items: list, role: str = "", processes: int = 2) -> tuple[float, list]:
    """Run raw grants (items: TTLs) or revocations (items: accessors) from `processes` processes at once.

    Return the seconds from the start signal until the last process finished, and what they made.
    """
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    shares = [items[index::processes] for index in range(processes)]
    children = [
        context.Process(target=_child, args=(login, job, share, role, ready, start, results)) for share in shares
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=60)
    started = time.monotonic()
    start.set()
    made, finished = [], started
    for _ in children:
        done, at = results.get(timeout=600)
        made += done
        finished = max(finished, at)
    for child in children:
        child.join(timeout=30)
    return finished - started, made
