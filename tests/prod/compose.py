"""Read `docker-compose.yml` and `.env.example` the way `docker compose` does, for the tests."""

import ast
import re
import secrets
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
PORTAL_SERVICES = ("migrate", "web", "worker", "beat")
PLACEHOLDER = re.compile(r"^change-me")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_ASSIGNMENT = re.compile(r"^#?\s*(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example(*, documented_only: bool = False) -> dict[str, str]:
    """Return `.env.example`'s variables; with `documented_only`, also the commented-out optional ones."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line.startswith("#") and not documented_only:
            continue
        match = _ASSIGNMENT.match(line)
        if match and (documented_only or not line.startswith("#")):
            env[match["name"]] = match["value"]
    return env


def production_dotenv() -> dict[str, str]:
    """Return `.env.example` as an operator would fill it: each placeholder replaced by a fresh secret."""
    return {
        name: secrets.token_urlsafe(48) if PLACEHOLDER.match(value) else value for name, value in env_example().items()
    }


def interpolate(value: str, env: dict[str, str]) -> str:
    """Expand `${NAME}`, `${NAME:-default}` and `${NAME:?error}` as `docker compose` does."""

    def expand(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?") and not current:
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(expand, value)


def service_secrets(service: str) -> dict[str, str]:
    """Return the service's Docker secrets: the path inside the container, and the secret's name."""
    spec = load_compose()["services"][service]
    mounted = {}
    for entry in spec.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        mounted[target if target.startswith("/") else f"/run/secrets/{target}"] = source
    return mounted


_SECRET_FILES = Path(tempfile.mkdtemp(prefix="latchkey-compose-secrets-"))


def secret_file(name: str) -> Path:
    """Return a file that stands for the Docker secret `name`, as an operator would fill it (one per name)."""
    path = _SECRET_FILES / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path


def service_environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """Return the environment a service's container gets: its `env_file` (the `.env`) and `environment`.

    A path to one of its Docker secrets points at a local file that stands for that secret.
    """
    spec = load_compose()["services"][service]
    env = dict(dotenv) if spec.get("env_file") else {}
    environment = spec.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({name: interpolate(str(value), dotenv) for name, value in environment.items()})
    mounted = service_secrets(service)
    for name, value in env.items():
        if value in mounted:
            env[name] = str(secret_file(mounted[value]))
    return env


def variables_read_by_code() -> dict[str, bool]:
    """Return every variable that `portal/` reads through the `portal.env` helpers, and whether it is required.

    Required means no default outside debug mode: `env_secret`, or another helper without a default.
    """
    helpers = {
        node.name
        for node in ast.parse((REPO_ROOT / "portal" / "env.py").read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("env_")
    }
    found: dict[str, bool] = {}
    for path in (REPO_ROOT / "portal").rglob("*.py"):
        if "devstack" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers):
                continue
            if not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            name = node.args[0].value
            has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
            default_is_none = (
                len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value is None
            )
            required = node.func.id == "env_secret" or not has_default or default_is_none
            found[name] = found.get(name, False) or required
    return found
