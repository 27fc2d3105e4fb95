"""`docker-compose.yml` is a valid Compose file and passes every variable that the portal's code needs."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings

from portal.devstack import stack as devstack
from tests.prod.compose import (
    COMPOSE_FILE,
    PORTAL_SERVICES,
    env_example,
    load_compose,
    production_dotenv,
    service_environment,
    service_secrets,
    variables_read_by_code,
)

SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY")


@pytest.fixture
def compose() -> dict:
    return load_compose()


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))

    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]

    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(compose):
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    compose["services"]["web"]["helthcheck"] = compose["services"]["web"].pop("healthcheck")

    assert not validator.is_valid(compose)


def test_the_stack_has_every_service_and_each_has_a_health_check(compose):
    services = compose["services"]

    assert set(services) >= {"postgres", "redis", "openbao", "migrate", "web", "worker", "beat", "entra-standin"}
    for name, spec in services.items():
        if name in ("migrate", "prepare-vault"):
            # A one-shot job: its exit status is its health.
            assert spec["restart"] == "no"
            continue
        assert spec["healthcheck"]["test"], f"{name} has no health check"
        assert not spec["healthcheck"].get("disable"), f"{name} disables its health check"


def test_web_and_workers_wait_for_a_healthy_database_and_the_migrations(compose):
    for name in ("web", "worker", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert compose["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_workers_scale_and_beat_runs_exactly_once(compose):
    worker, beat = compose["services"]["worker"], compose["services"]["beat"]

    # A fixed container name or host port would stop `--scale worker=N`.
    assert "container_name" not in worker and "ports" not in worker
    assert beat["deploy"]["replicas"] == 1
    assert worker["command"][:3] == ["celery", "-A", "portal"] and "worker" in worker["command"]
    assert beat["command"][:4] == ["celery", "-A", "portal", "beat"]
    assert compose["services"]["web"]["command"] == ["gunicorn", "--config", "gunicorn.conf.py"]


def test_the_worker_serves_every_queue_revocations_first_and_notifications_last(compose):
    command = compose["services"]["worker"]["command"]

    assert command[command.index("-Q") + 1] == "revocations,celery,notifications" == settings.WORKER_QUEUES
    assert devstack.WORKER_QUEUES == settings.WORKER_QUEUES


def test_the_entra_stand_in_runs_only_in_the_evaluation_profile(compose):
    assert compose["services"]["entra-standin"]["profiles"] == ["evaluation"]
    assert compose["services"]["prepare-vault"]["profiles"] == ["setup"]
    for name, spec in compose["services"].items():
        if name not in ("entra-standin", "prepare-vault"):
            assert "profiles" not in spec, name


def test_no_secret_is_written_in_the_compose_file(compose):
    for name, spec in compose["services"].items():
        for variable, value in spec.get("environment", {}).items():
            value = str(value)
            # A password inside a URL must come from the `.env` file.
            assert not re.search(r"://[^:/@]+:(?!\$\{)[^/@]+@", value), f"{name}: {variable} holds a password"
            if variable.endswith("_FILE"):
                # The path of a Docker secret mounted into the service, not the secret itself.
                assert value.startswith("/run/secrets/"), f"{name}: {variable} is not a Docker secret"
            elif SECRET_NAME.search(variable):
                assert value.startswith("${") or "${" in value or not value, f"{name}: {variable} is written out"


@pytest.mark.parametrize("service", PORTAL_SERVICES)
def test_every_variable_the_code_requires_reaches_each_portal_service(service):
    env = service_environment(service, production_dotenv())
    required = [name for name, needed in variables_read_by_code().items() if needed]

    missing = [name for name in required if not env.get(name) and not env.get(f"{name}_FILE")]

    assert required, "the parser found no required variable: it is broken"
    assert missing == []
    # The portal signs in to Vault with AppRole: the settings refuse to start without it.
    assert env.get("VAULT_ROLE_ID") and env.get("VAULT_SECRET_ID_FILE")


@pytest.mark.parametrize(
    ("service", "identity"), [("web", "web"), ("migrate", "web"), ("worker", "worker"), ("beat", "worker")]
)
def test_each_portal_service_signs_in_to_vault_as_its_own_identity_only(compose, service, identity):
    dotenv = production_dotenv()
    other = "worker" if identity == "web" else "web"
    env = service_environment(service, dotenv)

    assert env["VAULT_ROLE_ID"] == dotenv[f"{identity.upper()}_VAULT_ROLE_ID"]
    assert env["VAULT_ROLE_ID"] != dotenv[f"{other.upper()}_VAULT_ROLE_ID"]
    mounted = service_secrets(service)
    assert mounted == {"/run/secrets/vault-secret-id": f"{identity}-vault-secret-id"}
    assert compose["secrets"][f"{identity}-vault-secret-id"]["file"] == f"./secrets/{identity}-vault-secret-id"


def test_no_vault_secret_id_is_in_the_env_file_that_every_service_reads():
    documented = env_example(documented_only=True)

    assert not [name for name in documented if "SECRET_ID" in name and not name.endswith("_TTL")]


def test_the_check_of_required_variables_notices_a_missing_one():
    dotenv = production_dotenv()
    del dotenv["CREDENTIAL_ENCRYPTION_KEY"]
    env = service_environment("web", dotenv)

    assert "CREDENTIAL_ENCRYPTION_KEY" in variables_read_by_code()
    assert variables_read_by_code()["CREDENTIAL_ENCRYPTION_KEY"] is True
    assert "CREDENTIAL_ENCRYPTION_KEY" not in env


def test_env_example_documents_every_variable_the_code_reads():
    documented = set(env_example(documented_only=True)) | set(service_environment("web", production_dotenv()))

    undocumented = sorted(
        name
        for name in variables_read_by_code()
        if name not in documented and name.removesuffix("_FILE") not in documented and f"{name}_FILE" not in documented
    )

    assert undocumented == []


def test_env_example_names_no_variable_that_nothing_reads(compose):
    read = set(variables_read_by_code())
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    # gunicorn.conf.py reads these.
    gunicorn = {"WEB_CONCURRENCY", "GUNICORN_TIMEOUT_SECONDS"}

    stale = sorted(set(env_example(documented_only=True)) - read - interpolated - gunicorn)

    assert stale == []
