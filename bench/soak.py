"""A bounded soak test: simulated people browse, request, approve, reveal and revoke for a few minutes.

    python -m bench.soak [--users 50] [--minutes 5] [--web-workers 8]      (or `make soak`)

It starts its own stack on free loopback ports (PostgreSQL, Redis, OpenBao, the Entra stand-in,
whose key set verifies the demo's access tokens), the portal under gunicorn (8 workers unless told
otherwise), two workers and beat, drives them with an asyncio client, and stops by itself. Each
person arrives at a random moment of the first 2 s and pauses 0.5 to 2 s between two actions (a
page, an API call, an approval), as people do; a person waiting for access asks again every 2 s.
The people's first 20 s warm the portal up and are not timed; then the timed minutes start. At
the end every grant is ended and the target database must hold none of the database users that were
revealed. It prints the p95 of each page and endpoint, beside the p95 of /healthz called alone by as
many people at the same pace right after (so the ratio reads the same on any machine), and each
against its target; a few more callers ask /healthz during the soak, at the same pace, so that the
report also says what the load alone adds to a call that does nothing, and how late the load
generator's own loop reads answers in both runs. Then it prints the CPU each part of the stack used;
it exits non-zero on any error or leaked credential. The web tier and the workers run without
debugging extras, as in production. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from portal.devstack import tenant, tokens
from portal.devstack.processes import tcp_open, wait_for
from portal.devstack.stack import OIDC_CLIENT_ID, REPO_ROOT, TARGET_DATABASE, VENV_BIN, Ports, Stack

WHY = "Soak test: reading the order tables for the nightly check"
APPROVERS_EVERY = 5  # one simulated person in five is an approver
HARD_STOP_SECONDS = 15 * 60  # whatever happens, the run ends
# The people's first seconds are not timed: each web worker's first calls of each kind (its connections, its
# statements not yet prepared, what Django builds on first use) are the portal starting, not the steady state.
WARM_UP_SECONDS = 20
THINK_SECONDS = (0.5, 2.0)  # a person's pause between two actions, drawn evenly
POLL_SECONDS = 2.0  # how often a person waiting for access asks again: as the request's page and the CLI do


@dataclass
class Person:
    name: str
    oid: str
    approver: bool
    token: str = ""
    session: str = ""


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    usernames: set[str] = field(default_factory=set)
    granted: int = 0
    # The label of each call by the request ID it sent: gunicorn's access log gives the server's own time of it.
    labels: dict[str, str] = field(default_factory=dict)

    def record(self, label: str, seconds: float) -> None:
        self.latencies[label].append(seconds)

    def request_id(self, label: str) -> str:
        request_id = f"soak-{next(_CALL_NUMBERS):08d}"
        self.labels[request_id] = label
        return request_id


_CALL_NUMBERS = itertools.count()  # unique across the soak and the /healthz run after it
# gunicorn's access log line (gunicorn.conf.py): "... <ms>ms request_id=<id>".
_ACCESS_LINE = re.compile(r" (\d+)ms request_id=(soak-\d{8})")


def _server_times(labels: dict[str, str], web_log: Path) -> dict[str, list[float]]:
    """Return, by label, the time each call took inside the web tier (gunicorn's own measure), in seconds."""
    times = defaultdict(list)
    for line in web_log.read_text(errors="replace").splitlines():
        found = _ACCESS_LINE.search(line)
        if found and found.group(2) in labels:
            times[labels[found.group(2)]].append(int(found.group(1)) / 1000)
    return times


def _people(count: int) -> list[Person]:
    return [
        Person(name=f"soak{number:03d}", oid=str(uuid.uuid4()), approver=number % APPROVERS_EVERY == 0)
        for number in range(count)
    ]


def _claims(stack: Stack, person: Person) -> dict:
    groups = ["analytics-readers", "orders-engineers"] + (["orders-approvers"] if person.approver else [])
    upn = f"{person.name}@contoso.example"
    minutes = (HARD_STOP_SECONDS + 600) // 60
    return {
        **tokens.base_claims(issuer=stack.issuer, audience=OIDC_CLIENT_ID, minutes=minutes),
        "sub": f"sub-{person.name}",
        "oid": person.oid,
        "azp": tenant.CLI_CLIENT_ID,
        "scp": tenant.API_SCOPE,
        "idtyp": "user",
        "preferred_username": upn,
        "upn": upn,
        "name": person.name,
        "groups": [tenant.GROUPS[group] for group in groups],
    }


def _session_for(person: Person) -> str:
    """Return a session key for the person (created by their first API call), as a sign-in would."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from portal.accounts.models import Profile
    from portal.accounts.sessions import SessionStore

    user = Profile.objects.select_related("user").get(oid=person.oid).user
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "portal.accounts.signin.EntraSignInBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


async def _call(client: httpx.AsyncClient, results: Results, label: str, method: str, url: str, **kwargs):
    headers = {**kwargs.pop("headers", {}), "X-Request-Id": results.request_id(label)}
    started = time.monotonic()
    try:
        response = await client.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as error:
        results.errors.append(f"{label}: {type(error).__name__}: {error}")
        return None
    results.record(label, time.monotonic() - started)
    if response.status_code >= 500:
        results.errors.append(f"{label}: {response.status_code}")
    return response


async def _think() -> None:
    """A person's pause between two actions (a page, an API call, an approval): 0.5 to 2 s."""
    await asyncio.sleep(random.uniform(THINK_SECONDS[0], THINK_SECONDS[1]))


async def _act(client: httpx.AsyncClient, results: Results, label: str, method: str, url: str, **kwargs):
    """One action of a person, then their pause before the next one."""
    response = await _call(client, results, label, method, url, **kwargs)
    await _think()
    return response


async def _person_loop(base: str, person: Person, results: Results, deadline: float) -> None:
    api = {"Authorization": f"Bearer {person.token}"}
    pages = {"Cookie": f"sessionid={person.session}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await _think()  # people arrive one by one, not all in the same millisecond
        while time.monotonic() < deadline:
            await _act(client, results, "page /", "GET", "/", headers=pages)
            await _act(client, results, "GET /api/v1/roles", "GET", "/api/v1/roles", headers=api)
            await _act(client, results, "GET /api/v1/requests", "GET", "/api/v1/requests", headers=api)
            if person.approver:
                await _approve_some(client, person, results)
            else:
                await _one_grant(client, person, results, deadline)


async def _approve_some(client, person: Person, results: Results) -> None:
    api = {"Authorization": f"Bearer {person.token}"}
    await _act(
        client,
        results,
        "page /access/review/",
        "GET",
        "/access/review/",
        headers={"Cookie": f"sessionid={person.session}"},
    )
    listed = await _act(
        client, results, "GET /api/v1/requests?scope=to_review", "GET", "/api/v1/requests?scope=to_review", headers=api
    )
    if listed is None or listed.status_code != 200:
        return
    for item in listed.json()["results"][:5]:
        answer = await _act(
            client, results, "POST approve", "POST", f"/api/v1/requests/{item['id']}/approve", headers=api, json={}
        )
        # Another approver may have been first: 409 is part of the game, anything else is not.
        if answer is not None and answer.status_code not in (200, 409):
            results.errors.append(f"approve: {answer.status_code} {answer.text[:200]}")


async def _one_grant(client, person: Person, results: Results, deadline: float) -> None:
    api = {"Authorization": f"Bearer {person.token}"}
    role = random.choice(["analytics-readonly", "orders-readwrite"])
    created = await _act(
        client,
        results,
        "POST /api/v1/requests",
        "POST",
        "/api/v1/requests",
        headers=api,
        json={"role": role, "duration_minutes": 1, "justification": WHY},
    )
    if created is None:
        return
    if created.status_code == 409:
        return
    if created.status_code != 201:
        results.errors.append(f"request: {created.status_code} {created.text[:200]}")
        return
    request_id = created.json()["id"]
    await _act(
        client,
        results,
        "page /access/requests/<id>/",
        "GET",
        f"/access/requests/{request_id}/",
        headers={"Cookie": f"sessionid={person.session}"},
    )
    while time.monotonic() < deadline:
        detail = await _call(
            client, results, "GET /api/v1/requests/<id>", "GET", f"/api/v1/requests/{request_id}", headers=api
        )
        if detail is None or detail.status_code != 200:
            return
        state = detail.json()["state"]
        if state == "active":
            break
        if state not in ("pending", "approved", "issuing"):
            return
        await asyncio.sleep(POLL_SECONDS)
    else:
        return
    revealed = await _act(
        client, results, "POST credentials", "POST", f"/api/v1/requests/{request_id}/credentials", headers=api
    )
    if revealed is None or revealed.status_code != 200:
        if revealed is not None:
            results.errors.append(f"reveal: {revealed.status_code} {revealed.text[:200]}")
        return
    results.usernames.add(revealed.json()["username"])
    results.granted += 1
    if random.random() < 0.5:
        revoked = await _act(
            client,
            results,
            "POST revoke",
            "POST",
            f"/api/v1/requests/{request_id}/revoke",
            headers=api,
            json={"reason": "done"},
        )
        if revoked is not None and revoked.status_code not in (200, 409):
            results.errors.append(f"revoke: {revoked.status_code} {revoked.text[:200]}")


async def _healthz_loop(base: str, results: Results, deadline: float, label: str = "/healthz") -> None:
    """One simulated person's pace, calling nothing but /healthz: the baseline of the same client and machine."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await _think()
        while time.monotonic() < deadline:
            await _act(client, results, label, "GET", "/healthz")


LAG_TIMER_SECONDS = 0.005  # the timer whose lateness says how long the load generator's own loop keeps a call waiting


async def _loop_lag(lags: list[float], deadline: float) -> None:
    """Record how late a short timer fires in the load generator: the time any answer waits before it is read."""
    while time.monotonic() < deadline:
        started = time.monotonic()
        await asyncio.sleep(LAG_TIMER_SECONDS)
        lags.append(max(time.monotonic() - started - LAG_TIMER_SECONDS, 0.0))


# The parts of the machine's work during the soak, by what their command line runs.
PARTS = {
    "web (gunicorn)": "gunicorn",
    "workers and beat (celery)": "celery",
    "PostgreSQL": "postgres",
    "OpenBao": "bao server",
    "Redis": "redis-server",
}
LOAD_GENERATOR = "load generator (this process)"


def _cpu_by_part() -> dict[str, float]:
    """Return the CPU seconds used so far by this process (the load generator) and each part of its stack."""
    me = psutil.Process()
    used = defaultdict(float)
    used[LOAD_GENERATOR] = sum(me.cpu_times()[:2])
    for process in me.children(recursive=True):
        try:
            times, part = process.cpu_times(), _part_of(process, me)
        except psutil.Error:
            continue
        # With its children that ended and were reaped (gunicorn's workers replaced after `max_requests`).
        used[part] += times.user + times.system + times.children_user + times.children_system
    return used


class CoreWaits:
    """Sum, by part, the time each thread of the soak spent on a core and waiting in the run queue for one.

    Linux keeps both for every thread (`/proc/<pid>/task/<tid>/schedstat`: nanoseconds on a core, nanoseconds
    waiting, time slices); a thread's own counters go when it ends, so they are sampled every second and
    their increments summed. Empty where the kernel keeps no such counters. The time slices are counted too: a
    thread starts one each time it is put on a core, after waking (an answer from PostgreSQL, Redis or Vault
    arrived) or after being preempted, so the wait for each says what every wake-up costs on this machine.
    """

    INTERVAL = 1.0

    def __init__(self) -> None:
        self.on_core: dict[str, float] = defaultdict(float)
        self.waiting: dict[str, float] = defaultdict(float)
        self.slices: dict[str, int] = defaultdict(int)
        self._last: dict[int, tuple[int, int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="core-waits", daemon=True)
        self.available = Path(f"/proc/{os.getpid()}/schedstat").exists()

    def __enter__(self) -> CoreWaits:
        if self.available:
            self._sample()
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.available:
            self._stop.set()
            self._thread.join()
            self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self._sample()

    def _sample(self) -> None:
        me = psutil.Process()
        for process in [me, *me.children(recursive=True)]:
            try:
                part = _part_of(process, me)
                tids = os.listdir(f"/proc/{process.pid}/task")
            except (psutil.Error, OSError):
                continue
            for tid in tids:
                stat = Path(f"/proc/{process.pid}/task/{tid}/schedstat")
                try:
                    on_core, waiting, slices = map(int, stat.read_text().split())
                except (OSError, ValueError):
                    continue
                before = self._last.get(int(tid))
                if before is not None:
                    self.on_core[part] += (on_core - before[0]) / 1e9
                    self.waiting[part] += (waiting - before[1]) / 1e9
                    self.slices[part] += slices - before[2]
                self._last[int(tid)] = (on_core, waiting, slices)


class LockWaits:
    """Sample how many of the portal's PostgreSQL sessions wait for a lock: the audit chain's (the one advisory
    lock the portal takes) and any other (a row's). Samples times interval estimate the seconds spent waiting."""

    INTERVAL = 0.1
    SAMPLE = (
        "SELECT count(*) FILTER (WHERE wait_event = 'advisory'), count(*) FILTER (WHERE wait_event <> 'advisory') "
        "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.chain = self.other = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-waits", daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.wait(self.INTERVAL):
                chain, other = conn.execute(self.SAMPLE).fetchone()
                self.chain += chain * self.INTERVAL
                self.other += other * self.INTERVAL


def _part_of(process: psutil.Process, me: psutil.Process) -> str:
    if process.pid == me.pid:
        return LOAD_GENERATOR
    command = " ".join(process.cmdline())
    return next((name for name, marker in PARTS.items() if marker in command), "other")


def _machine_busy() -> float:
    """Return the CPU seconds the whole machine has spent busy (every process, not idle or waiting on disk)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _report_cpu(before: dict[str, float], after: dict[str, float], busy: float, seconds: float, calls: int) -> None:
    total = sum(after.values()) - sum(before.values())
    cores = psutil.cpu_count() or 1
    web = after["web (gunicorn)"] - before.get("web (gunicorn)", 0.0)
    print(
        f"CPU during the soak: the machine was busy {busy:.0f} s of {seconds * cores:.0f} s "
        f"({cores} cores x {seconds:.0f} s); {calls} calls ({calls / seconds:.0f} a second), "
        f"{web / max(calls, 1) * 1000:.1f} ms of the web tier's CPU each; the soak's own processes used {total:.0f} s:"
    )
    for part in sorted(after, key=lambda name: before.get(name, 0.0) - after[name]):
        used = after[part] - before.get(part, 0.0)
        print(f"  {part:<32} {used:>7.0f} s  {used / seconds:>5.2f} cores  {used / total:>4.0%}")


def _report_waits(waits: CoreWaits, calls: int) -> None:
    if not waits.available:
        return
    web = "web (gunicorn)"
    print(
        "Time on a core and time runnable but waiting for one (the run queue), by part: the web tier's calls "
        f"were on a core {waits.on_core[web] / max(calls, 1) * 1000:.1f} ms and waited for one "
        f"{waits.waiting[web] / max(calls, 1) * 1000:.1f} ms each, on average, in "
        f"{waits.slices[web] / max(calls, 1):.1f} turns on a core (each after a wake-up or a preemption):"
    )
    for part in sorted(waits.on_core, key=lambda name: -waits.on_core[name]):
        turns = max(waits.slices[part], 1)
        print(
            f"  {part:<32} {waits.on_core[part]:>7.0f} s on a core  {waits.waiting[part]:>7.0f} s waiting for one  "
            f"{waits.slices[part]:>9} turns, {waits.on_core[part] / turns * 1000:5.2f} ms on a core and "
            f"{waits.waiting[part] / turns * 1000:5.2f} ms waiting each"
        )


@dataclass(frozen=True)
class CallTime:
    """What one call's worker thread did, from the call's start until its answer was written (`bench/wsgi.py`)."""

    wall_ms: float
    on_core_ms: float
    waiting_ms: float  # runnable, waiting for a core
    turns: int

    @property
    def asleep_ms(self) -> float:
        """The rest: the thread slept, waiting for PostgreSQL, Redis or Vault to answer."""
        return max(self.wall_ms - self.on_core_ms - self.waiting_ms, 0.0)


def call_times(labels: dict[str, str], folder: Path) -> dict[str, list[CallTime]]:
    """Return, by label, what each call's worker thread did (the web tier's notes in `folder`, one file a worker)."""
    found = defaultdict(list)
    for path in sorted(folder.glob("calls-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] in labels:
                wall, on_core, waiting = (float(part) for part in parts[1:4])
                found[labels[parts[0]]].append(CallTime(wall, on_core, waiting, int(parts[4])))
    return found


def _report_call_times(times: dict[str, list[CallTime]]) -> None:
    """Print, for each page and endpoint, where its time inside the web tier went, by its thread's counters."""
    if not times:
        return
    print(
        "Inside the web tier, by each call's own worker thread (its scheduler counters, from the call's start until "
        "its answer was written): on a core, runnable but waiting for a core, and asleep waiting for PostgreSQL, "
        "Redis or Vault to answer; mean and p95 of each, in ms, and the p95 of the call's time without its waits "
        "for a core:"
    )
    print(
        f"{'page or endpoint':<40} {'calls':>6} {'p50':>5} {'p95':>5}  {'on a core':>11}  {'waiting':>11}  "
        f"{'asleep':>11}  {'turns':>5}  {'p95 without waiting':>19}"
    )

    def both(values: list[float]) -> str:
        return f"{statistics.fmean(values):>5.1f} {_p95(values):>5.1f}"

    for label, calls in sorted(times.items()):
        walls = [call.wall_ms for call in calls]
        print(
            f"{label:<40} {len(calls):>6} {statistics.median(walls):>5.1f} {_p95(walls):>5.1f}  "
            f"{both([call.on_core_ms for call in calls])}  {both([call.waiting_ms for call in calls])}  "
            f"{both([call.asleep_ms for call in calls])}  {statistics.fmean(call.turns for call in calls):>5.1f}  "
            f"{_p95([call.wall_ms - call.waiting_ms for call in calls]):>19.1f}"
        )


def _report_locks(locks: LockWaits, results: Results) -> None:
    writes = sum(len(values) for label, values in results.latencies.items() if label.startswith("POST"))
    print(
        f"PostgreSQL sessions waiting for a lock (sampled every {locks.INTERVAL:.1f} s): the audit chain's "
        f"{locks.chain:.1f} s in all ({locks.chain / max(writes, 1) * 1000:.1f} ms for each of the {writes} writing "
        f"calls, the workers' waits included), a row's {locks.other:.1f} s"
    )


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


# Targets: every page and endpoint's p95 under the soak, and as a multiple of /healthz's p95 alone.
P95_TARGET_MS = 250
HEALTHZ_RATIO_TARGET = 3.0
# Callers of /healthz during the soak, beside the people and at their pace: what the load alone adds to a call that
# does nothing (the machine's share of every call's time), measured by the same client in the same run.
PROBES = 5
PROBE_LABEL = "/healthz during the soak"


def _report(
    results: Results,
    leaked: list[str],
    seconds: float,
    healthz: list[float],
    server: dict[str, list[float]],
    probes: list[float] | None = None,
    lags: tuple[list[float], list[float]] | None = None,
) -> None:
    print(f"\nSoak: {seconds:.0f} s, {results.granted} grants revealed, {len(results.errors)} errors")
    baseline = _p95(healthz) * 1000 if healthz else float("nan")
    _report_healthz("/healthz alone, same people and pace", healthz, server.get("/healthz"))
    loaded = _p95(probes) * 1000 if probes else float("nan")
    if probes:
        _report_healthz(f"{PROBE_LABEL} ({PROBES} callers at the same pace)", probes, server.get(PROBE_LABEL))
        print(f"  {loaded / baseline:.1f}x /healthz alone: the soak's load by itself, on a call that does nothing")
    if lags and all(lags):
        during, alone = (f"p50 {statistics.median(run) * 1000:.1f} ms, p95 {_p95(run) * 1000:.1f} ms" for run in lags)
        print(
            f"The load generator's own loop: a {LAG_TIMER_SECONDS * 1000:.0f} ms timer fired late by {during} during "
            f"the soak, {alone} during /healthz alone (what any answer may wait before it is read)"
        )
    print(
        f"{'page or endpoint':<40} {'calls':>7} {'p50 ms':>8} {'p95 ms':>8} {'/healthz':>9} {'in soak':>8}  "
        f"{'server p50':>10} {'p95':>5}  target (p95 <= {P95_TARGET_MS} ms, <= {HEALTHZ_RATIO_TARGET:.0f}x /healthz)"
    )
    met = 0
    for label, values in sorted(results.latencies.items()):
        p95 = _p95(values) * 1000
        ratio = p95 / baseline
        ok = p95 <= P95_TARGET_MS and ratio <= HEALTHZ_RATIO_TARGET
        met += ok
        inside = server.get(label) or [float("nan")]
        print(
            f"{label:<40} {len(values):>7} {statistics.median(values) * 1000:>8.0f} {p95:>8.0f} {ratio:>8.1f}x "
            f"{p95 / loaded:>7.1f}x  {statistics.median(inside) * 1000:>10.0f} {_p95(inside) * 1000:>5.0f}  "
            f"{'met' if ok else 'NOT MET'}"
        )
    print(f"{met} of {len(results.latencies)} pages and endpoints met their targets")
    print("(in soak: the p95 as a multiple of /healthz's during the soak; the target is against /healthz alone)")
    print(
        "(server: the time gunicorn's access log gives each call, from reading the request to writing the answer;"
        " the rest is the wait for a free worker, the network and the load generator)"
    )
    for error in results.errors[:20]:
        print(f"error: {error}")
    print(f"database users still present after every grant ended: {len(leaked)}")


def _report_healthz(title: str, seen: list[float], inside: list[float] | None) -> None:
    print(
        f"{title}: {len(seen)} calls, p50 {statistics.median(seen) * 1000:.0f} ms, p95 {_p95(seen) * 1000:.0f} ms"
        if seen
        else f"{title}: no calls"
    )
    if inside:
        print(f"  inside the web tier: p50 {statistics.median(inside) * 1000:.0f} ms, p95 {_p95(inside) * 1000:.0f} ms")


def _leaked_users(stack: Stack, usernames: set[str]) -> list[str]:
    import psycopg

    with psycopg.connect(stack.database_url(TARGET_DATABASE)) as conn:
        present = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
    return sorted(usernames & present)


def _end_every_grant(stack: Stack) -> None:
    """End every grant still open (as if every window closed now) and wait until the workers are done."""
    from portal.access.models import AccessRequest
    from portal.core.clock import now

    AccessRequest.objects.filter(state__in=["pending"]).update(state="cancelled")
    AccessRequest.objects.filter(state="active").update(ends_at=now())
    limit = time.monotonic() + 180
    while AccessRequest.objects.filter(state__in=["approved", "issuing", "active", "revoking"]).exists():
        if time.monotonic() > limit:
            raise SystemExit("Grants did not end within 3 minutes of the soak's end.")
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5)
    # Calls spend much of their time waiting on PostgreSQL, Vault and Redis: with 4 workers, /healthz during the
    # soak waited mostly for a free one (bench/README.md); 8 and 16 gave the same figures.
    parser.add_argument("--web-workers", type=int, default=8, help="gunicorn's workers (WEB_CONCURRENCY)")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 500 or not 0 < args.minutes <= 10 or not 1 <= args.web_workers <= 32:
        parser.error("--users is 1 to 500, --minutes at most 10 and --web-workers 1 to 32: the soak is bounded.")

    def _hard_stop(signum, frame):
        raise SystemExit(f"The soak ran into its hard limit of {HARD_STOP_SECONDS} s.")

    signal.signal(signal.SIGALRM, _hard_stop)
    signal.alarm(HARD_STOP_SECONDS)
    state_dir = Path(tempfile.mkdtemp(prefix="latchkey-soak-"))
    passed = False
    stack = Stack(state_dir=state_dir, ports=Ports.free(), fast=True)
    started = time.monotonic()
    try:
        stack.start()
        env = {
            **stack.portal_env(),
            # The soak measures the workflow, not the rate limits.
            **{f"RATE_LIMIT_{scope}": "1000000/m" for scope in ("SIGN_IN", "REQUEST_CREATE", "APPROVAL", "REVEAL")},
        }
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        import django

        django.setup()
        # One log line per call of 50 people would drown the report.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        manage = [str(VENV_BIN / "python"), str(REPO_ROOT / "manage.py")]
        subprocess.run(
            [*manage, "migrate", "--no-input", "--verbosity", "0"], env={**os.environ}, cwd=REPO_ROOT, check=True
        )
        subprocess.run([*manage, "seed_demo"], env={**os.environ}, cwd=REPO_ROOT, check=True, capture_output=True)
        # As in production and in `make bench`: no debugging extras (the query log) in the web tier or the workers.
        # The environment keeps DJANGO_DEBUG=1 only so that pages need no `collectstatic` (see bench/wsgi.py).
        quiet = {**env, "DJANGO_DEBUG": "0"}
        stack.start_worker(quiet, name="worker-1", concurrency=2)
        stack.start_worker(quiet, name="worker-2", concurrency=2)
        stack.start_beat(quiet)
        # Each web worker notes what every call's thread did (bench/wsgi.py): `_report_call_times`.
        calls_folder = state_dir / "calls"
        calls_folder.mkdir()
        web = stack.start_portal_process(
            "web",
            [str(VENV_BIN / "gunicorn"), "-c", str(REPO_ROOT / "gunicorn.conf.py"), "bench.wsgi:application"],
            {
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{stack.ports.web}",
                "WEB_CONCURRENCY": str(args.web_workers),
                "BENCH_CALL_TIMES": str(calls_folder),
            },
        )
        wait_for(lambda: tcp_open(stack.ports.web), what="the portal", process=web)
        base = f"http://127.0.0.1:{stack.ports.web}"

        people = _people(args.users)
        for person in people:
            person.token = tokens.sign(_claims(stack, person), stack.state_dir)
            response = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {person.token}"}, timeout=60)
            response.raise_for_status()
            person.session = _session_for(person)

        warm = Results()

        async def warm_up():
            warmed_until = time.monotonic() + WARM_UP_SECONDS
            await asyncio.gather(*(_person_loop(base, person, warm, warmed_until) for person in people))

        asyncio.run(warm_up())
        print(f"Warm-up: {WARM_UP_SECONDS} s, {sum(map(len, warm.latencies.values()))} calls, not timed", flush=True)

        results, probes, lags = Results(), Results(), []
        cpu_before, busy_before = _cpu_by_part(), _machine_busy()
        soak_started = time.monotonic()
        deadline = soak_started + args.minutes * 60

        async def run_all():
            await asyncio.wait_for(
                asyncio.gather(
                    *(_person_loop(base, person, results, deadline) for person in people),
                    *(_healthz_loop(base, probes, deadline, label=PROBE_LABEL) for _ in range(PROBES)),
                    _loop_lag(lags, deadline),
                ),
                timeout=args.minutes * 60 + 120,
            )

        with CoreWaits() as waits, LockWaits(stack.database_url()) as locks:
            asyncio.run(run_all())
        soaked = time.monotonic() - soak_started
        cpu_after, busy = _cpu_by_part(), _machine_busy() - busy_before
        # The same number of people at the same pace, calling /healthz alone: what the client and the machine
        # cost by themselves, so that the ratio can be read on any machine.
        alone = Results()
        healthz_deadline = time.monotonic() + min(60.0, args.minutes * 60 / 5)

        alone_lags = []

        async def healthz_all():
            await asyncio.gather(
                *(_healthz_loop(base, alone, healthz_deadline) for _ in people), _loop_lag(alone_lags, healthz_deadline)
            )

        asyncio.run(healthz_all())
        results.errors += warm.errors + alone.errors + probes.errors
        results.usernames |= warm.usernames
        _end_every_grant(stack)
        leaked = _leaked_users(stack, results.usernames)
        # Request IDs are unique across both runs: one read of the log serves the soak and /healthz alone.
        every_label = {**results.labels, **alone.labels, **probes.labels}
        server = _server_times(every_label, web.log_path)
        healthz = alone.latencies["/healthz"]
        _report(results, leaked, soaked, healthz, server, probes.latencies[PROBE_LABEL], (lags, alone_lags))
        calls = sum(len(values) for values in results.latencies.values())
        _report_cpu(cpu_before, cpu_after, busy, soaked, calls)
        _report_waits(waits, calls)
        _report_locks(locks, results)
        _report_call_times(call_times(every_label, calls_folder))
        passed = not results.errors and not leaked and results.granted > 0
        return 0 if passed else 1
    finally:
        signal.alarm(0)
        stack.stop()
        if passed:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            print(f"Logs are in {stack.log_dir}", file=sys.stderr)
        print(f"Stopped after {time.monotonic() - started:.0f} s.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
