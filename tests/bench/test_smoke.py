"""The benchmark suite, run small (a few grants, tiny data), so that it cannot silently stop working.

It starts a stack of its own, as `make bench` does; this checks that it produces every figure, not
how fast anything is.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {"n", "min", "median", "p95", "p99", "max"}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Run `python -m bench.run --smoke` once and return its JSON figures and its printed table."""
    output = tmp_path_factory.mktemp("bench") / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(output.read_text()), done.stdout


@pytest.mark.long
def test_every_scenario_reports_its_distribution(smoke_run):
    figures, _ = smoke_run
    names = set(figures["distributions"])
    for expected in (
        "1. approval -> active",
        "1. approval -> active, the workers' first grants (apart)",
        "1. baseline: raw Vault grant (hvac)",
        "1. baseline: one PostgreSQL commit of one row (fsync on)",
        "2. revocation lateness (ends_at -> role gone)",
        "2. same second: lateness of each",
        "4. My access (alice)",
        "4. approval queue (bob)",
        "4. history, first page (carol)",
        "4. history, filtered (carol)",
        "4. GET /api/v1/requests (alice)",
    ):
        assert expected in names
    for entry in figures["distributions"].values():
        assert SUMMARY_KEYS <= set(entry)
        assert entry["n"] > 0
        assert entry["min"] <= entry["median"] <= entry["p95"] <= entry["p99"] <= entry["max"]


def test_the_workers_first_grants_are_timed_apart_from_the_others(smoke_run):
    figures, _ = smoke_run
    distributions, sizes = figures["distributions"], figures["sizes"]
    # The p99 is of grants made once the workers are warm; the first ones are reported, not dropped.
    assert distributions["1. approval -> active"]["n"] == sizes["sequential"]
    assert distributions["1. approval -> active, the workers' first grants (apart)"]["n"] == sizes["warm_up"] >= 1


def test_ratios_to_baselines_measured_in_the_same_run_are_reported(smoke_run):
    figures, _ = smoke_run
    values = figures["figures"]
    assert values["1. approval -> active p99 / raw median"]["value"] > 0
    assert values["4. GET /api/v1/audit (carol): first call, nothing cached"]["value"] > 0
    for name in ("issue", "revocation"):
        assert values[f"3. {name}: grants per second (2 worker processes)"]["value"] > 0
        assert values[f"3. {name}: baseline, raw Vault from 2 processes"]["value"] > 0
    # The least time the endings at once can take here: Vault's own, for as many revocations.
    n = figures["sizes"]["throughput"]
    raw_time = values[f"3. revocation: raw Vault's time for {n} from 2 processes"]
    assert raw_time["unit"] == "s"
    raw_rate = values["3. revocation: baseline, raw Vault from 2 processes"]["value"]
    assert raw_time["value"] == pytest.approx(n / raw_rate)


def test_memory_and_the_csv_export_are_measured(smoke_run):
    figures, _ = smoke_run
    values = figures["figures"]
    assert values["5. worker: resident memory, largest process"]["value"] > 0
    assert values["5. web: resident memory of the gunicorn worker"]["value"] > 0
    assert values["4. CSV export: peak resident memory of the process"]["value"] > 0
    exported = next(name for name in values if name.startswith("4. CSV export of "))
    # Every seeded event and the ones the scenarios wrote.
    assert int(exported.split()[4]) > 3000


def test_each_target_is_judged_met_or_not_and_printed(smoke_run):
    figures, table = smoke_run
    assert len(figures["targets"]) >= 10
    for target in figures["targets"]:
        assert isinstance(target["met"], bool)
        assert target["name"] in table
    assert "p99" in table


def test_the_machine_and_the_versions_are_recorded(smoke_run):
    figures, _ = smoke_run
    assert figures["machine"]["cpu_count"] >= 1
    for part in ("django", "celery", "hvac", "postgresql", "openbao", "redis-server"):
        assert figures["versions"][part]
