"""gunicorn runs the portal with the shipped configuration: JSON access log lines without query strings."""

import json
import multiprocessing
import runpy
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from portal.devstack.processes import free_port, tcp_open
from tests.prod.compose import REPO_ROOT
from tests.support.waiting import wait_until

CONFIG = REPO_ROOT / "gunicorn.conf.py"


def test_workers_follow_the_cpu_count_unless_web_concurrency_is_set(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert runpy.run_path(str(CONFIG))["workers"] == multiprocessing.cpu_count() * 2 + 1

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(str(CONFIG))["workers"] == 3


def test_the_access_log_format_has_no_query_string():
    config = runpy.run_path(str(CONFIG))

    # %(U)s is the path alone; %(r)s (the request line) and %(q)s (the query) would carry the query.
    assert "%(U)s" in config["access_log_format"]
    assert "%(r)s" not in config["access_log_format"] and "%(q)s" not in config["access_log_format"]
    assert config["timeout"] > 0 and config["graceful_timeout"] > 0


def web_env(stack) -> dict:
    """The web process's environment: it signs in to Vault as the web identity, as in production."""
    return {
        **stack.portal_env(debug=False, identity="web"),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }


@contextmanager
def gunicorn(stack, log_path: Path, workers: int):
    """Run gunicorn with the shipped configuration, as the web identity, on a free port; yield the port."""
    port = free_port()
    env = {**web_env(stack), "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    with log_path.open("w+") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", str(CONFIG)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not tcp_open(port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.integration
def test_gunicorn_serves_the_portal_and_logs_json_without_the_query_string(stack, tmp_path):
    with gunicorn(stack, tmp_path / "gunicorn.log", workers=1) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz?token=hvs.{'q' * 30}", headers={"X-Request-Id": "gunicorn-test-0001"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["X-Request-Id"] == "gunicorn-test-0001"
        deadline = time.monotonic() + 10
        while "gunicorn.access" not in (tmp_path / "gunicorn.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    text = (tmp_path / "gunicorn.log").read_text()
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [event for event in events if event["logger"] == "gunicorn.access"]
    assert access, text
    assert "GET /healthz 200" in access[0]["message"]
    assert "request_id=gunicorn-test-0001" in access[0]["message"]
    assert "token" not in text and "qqqq" not in text
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text


@pytest.mark.integration
def test_two_workers_forked_from_the_loaded_master_boot_and_reach_the_database_and_redis(stack, tmp_path):
    with gunicorn(stack, tmp_path / "gunicorn.log", workers=2) as port:
        for _ in range(6):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
                    checks = json.loads(response.read())["checks"]
            except urllib.error.HTTPError as refused:  # 503 while a check that is not asked here fails
                checks = json.loads(refused.read())["checks"]
            assert checks["database"] and checks["redis"], checks

        def booted() -> set[str]:
            # The second worker may still be booting after the first answered every call: give it its time.
            text = (tmp_path / "gunicorn.log").read_text()
            events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            return {event["message"].split()[-1] for event in events if event["message"].startswith("Booting worker")}

        wait_until(lambda: len(booted()) >= 2, timeout_seconds=30)
        text = (tmp_path / "gunicorn.log").read_text()
    assert len(booted()) == 2, text


def test_the_master_loads_the_portal_once_for_all_its_workers():
    config = runpy.run_path(str(CONFIG))

    assert config["preload_app"] is True
    assert callable(config["when_ready"])


@pytest.mark.integration
def test_loading_the_portal_opens_no_connection(stack):
    """The master loads the portal before forking: a connection opened then would be shared by every worker."""
    load = (
        "import psutil; from portal.wsgi import application; from django.db import connections; "
        "print(len(psutil.Process().net_connections(kind='inet')), "
        "sum(c.connection is not None for c in connections.all(initialized_only=True)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", load], cwd=REPO_ROOT, env=web_env(stack), capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"], done.stdout
