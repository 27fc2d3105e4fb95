"""The modules of the portal import on their own: no import circle, and none dodged inside a function."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"
# Function-level imports of the portal's own modules that are not there to dodge a circle.
ALLOWED_LATE_IMPORTS = {
    # Django's place for it: register tasks and signal handlers once the apps are loaded.
    ("portal/access/apps.py", "ready"),
    ("portal/accounts/apps.py", "ready"),
    ("portal/breakglass/apps.py", "ready"),
    ("portal/chatops/apps.py", "ready"),
    ("portal/core/apps.py", "ready"),
    ("portal/reviews/apps.py", "ready"),
    # The Vault client imports the metrics module before Django has loaded the apps (the test harness does).
    ("portal/core/metrics.py", "collect"),
    ("portal/core/metrics.py", "render"),
    # The test harness creates people before Django is configured, from its conftest files.
    ("portal/devstack/personas.py", "make_people"),
}


def _modules() -> list[str]:
    names = []
    for path in sorted(PORTAL.rglob("*.py")):
        relative = path.relative_to(PORTAL.parent)
        if "migrations" in relative.parts or relative.parts[1] in ("cli", "devstack"):
            continue
        parts = relative.with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# Django is set up once in an interpreter of its own; each module is then imported in a child forked
# from it, the same interpreter as a new one would be after `django.setup()`, without starting Python
# and loading the apps again for every module. A child that fails prints one line: the module, the error.
_IMPORT_EACH_IN_A_FORK = r"""
import importlib, os, sys
import django

django.setup()
failed = 0
for name in sys.argv[1:]:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as error:
            os.write(1, f"{name}\t{type(error).__name__}: {error}\n".encode())
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        failed += 1
sys.exit(1 if failed else 0)
"""


def test_each_module_imports_alone_in_a_fresh_interpreter():
    modules = [name for name in _modules() if name not in ("portal.settings", "portal.wsgi")]
    # One interpreter per module: a circle shows up only when its module is imported first.
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_IN_A_FORK, *modules],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        cwd=PORTAL.parent,
    )
    failures = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    assert failures == {}
    assert done.returncode == 0, done.stderr[-2000:]
    assert "portal.access.services.kernel" in modules and "portal.access.tasks" in modules


def test_no_module_of_the_portal_imports_the_portal_inside_a_function():
    late = []
    for path in sorted(PORTAL.rglob("*.py")):
        relative = str(path.relative_to(PORTAL.parent))
        if "/migrations/" in relative:
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [module or ""]
                if isinstance(node, ast.Import | ast.ImportFrom) and any(n.startswith("portal") for n in names):
                    if (relative, function.name) not in ALLOWED_LATE_IMPORTS:
                        late.append(f"{relative}:{node.lineno} in {function.name}()")
    assert late == []


@pytest.mark.parametrize("path", ["portal/access/services"])
def test_each_stage_of_the_workflow_reads_in_one_sitting(path):
    lengths = {p.name: len(p.read_text().splitlines()) for p in (PORTAL.parent / path).glob("*.py")}
    assert max(lengths.values()) <= 350, lengths


def test_only_the_queue_module_hands_work_to_celery():
    callers = []
    for path in sorted(PORTAL.rglob("*.py")):
        text = path.read_text()
        if ".delay(" in text or ".apply_async(" in text or "send_task(" in text:
            callers.append(str(path.relative_to(PORTAL.parent)))
    assert callers == ["portal/core/queue.py"]


def test_the_workflow_queues_its_tasks_through_the_kernel_alone():
    users = []
    for path in sorted((PORTAL / "access").rglob("*.py")):
        if "portal.core.queue" in path.read_text() or "from portal.core import queue" in path.read_text():
            users.append(str(path.relative_to(PORTAL.parent)))
    # The services through the kernel; a task that hands its work over to another task, directly.
    assert users == ["portal/access/services/kernel.py", "portal/access/tasks.py"]
