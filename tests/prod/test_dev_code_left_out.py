"""Development-only code (the local stack launcher, the benchmark seeding) is in neither the wheel nor the image.

The wheel is built from a copy of what the Dockerfile's build stage copies. For the image, no
Docker engine runs here: the test applies `.dockerignore` to the build context as Docker does
(last matching pattern wins, `!` re-includes, a matched folder takes its contents with it) and
follows the COPY lines of the `build` and `runtime` stages.
"""

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("portal/devstack/", "bench/", "tests/")


def _pattern(line: str) -> re.Pattern:
    """Return the regular expression of one .dockerignore pattern (Go's filepath.Match, plus `**`)."""
    parts = re.split(r"(\*\*/?|\*|\?)", line.strip().strip("/"))
    regex = ""
    for part in parts:
        if part in ("**", "**/"):
            regex += "(?:.*/)?" if part == "**/" else ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        else:
            regex += re.escape(part)
    # A pattern that names a folder excludes everything under it.
    return re.compile(f"{regex}(?:/.*)?")


def build_context() -> list[str]:
    """Return the files of the repository that Docker sends as the build context (relative paths)."""
    rules = []
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern(line.lstrip("!"))))
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    context = []
    for path in tracked:
        excluded = False
        for negated, regex in rules:
            if regex.fullmatch(path):
                excluded = not negated
        if not excluded and (REPO_ROOT / path).exists():
            context.append(path)
    return context


def copy_sources(stage: str) -> list[str]:
    """Return the context paths that the stage's plain COPY lines name (not those `--from` another stage)."""
    sources, current = [], None
    logical = ""
    for raw in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        logical += raw.rstrip("\\").strip() + " "
        if raw.rstrip().endswith("\\"):
            continue
        instruction, _, rest = logical.strip().partition(" ")
        logical = ""
        if instruction == "FROM":
            current = rest.split(" AS ")[-1].strip()
        elif current == stage and instruction == "COPY" and not rest.startswith("--"):
            sources += shlex.split(rest)[:-1]
    return sources


def image_files(stage: str) -> list[str]:
    context = build_context()
    copied = []
    for source in copy_sources(stage):
        source = source.strip("./") if source not in (".", "./") else ""
        copied += [path for path in context if not source or path == source or path.startswith(f"{source}/")]
    return copied


@pytest.mark.parametrize("stage", ["build", "runtime"])
def test_the_image_copies_no_development_only_code(stage):
    copied = image_files(stage)

    assert "portal/settings.py" in copied, "the stage copies the portal"
    assert not [path for path in copied if path.startswith(DEV_ONLY)]
    assert not [path for path in copied if "seed_bench" in path or path.startswith("portal/devstack")]


def test_the_evaluation_stand_in_is_built_from_the_launchers_folder_not_the_portals_image():
    standin = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["entra-standin"]
    context = REPO_ROOT / standin["build"]["context"]
    dockerfile = (context / standin["build"]["dockerfile"]).read_text()

    assert context.resolve() == (REPO_ROOT / "portal" / "devstack").resolve()
    assert [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY")] == ["tenant.py"]
    assert (context / "tenant.py").is_file()
    assert "entra-standin" not in (REPO_ROOT / "Dockerfile").read_text()


@pytest.mark.timeout(280)
def test_the_wheel_installs_no_development_only_code(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "portal", source / "portal", ignore=shutil.ignore_patterns("__pycache__"))

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("latchkey-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "portal/settings.py" in names and "portal/cli/main.py" in names
    assert not [name for name in names if name.startswith(("portal/devstack/", "bench/", "tests/"))]
    assert not [name for name in names if "seed_bench" in name]
