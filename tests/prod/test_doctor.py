"""`manage.py doctor` passes on a correct stack, for web and for worker, and names each fault of a broken one:
a wrong secret (Vault's or the client's), a role missing in Vault, an over-broad or too narrow policy, Vault down."""

import io
import subprocess
import sys
import threading
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command
from django.test import override_settings

from portal.accounts import oidc
from portal.devstack.processes import free_port
from portal.integrations import vault
from tests.support.sign_in import JsonHandler

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_provider_cache():
    oidc.clear_cache()
    yield
    oidc.clear_cache()


@pytest.fixture
def catalog(db):
    from portal.access.catalog import catalog_import

    demo = REPO_ROOT / "portal" / "access" / "demo_catalog.yaml"
    catalog_import(demo.read_text(), source=str(demo))


def as_identity(stack, identity, **more):
    return override_settings(**{"VAULT_TOKEN": "", **stack.vault_identity_env(identity), **more})


def doctor(*argv) -> tuple[bool, str]:
    """Run the doctor; return whether it passed and what it printed."""
    out = io.StringIO()
    try:
        call_command("doctor", *argv, stdout=out)
    except CommandError as error:
        assert error.returncode == 1
        return False, out.getvalue()
    return True, out.getvalue()


@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_the_doctor_passes_on_a_correct_stack(stack, catalog, process):
    identity = "web" if process == "web" else "worker"

    with as_identity(stack, identity):
        passed, printed = doctor("--process", process)

    assert passed, printed
    assert "ok   oidc discovery" in printed
    assert "ok   oidc keys" in printed
    assert "ok   vault: " in printed
    assert f"ok   vault capabilities: exactly what {process} needs" in printed
    assert "ok   catalog roles: all 3 present in Vault" in printed
    assert "FAIL" not in printed


def test_a_wrong_vault_secret_id_is_named(stack, catalog):
    with as_identity(stack, "web", VAULT_SECRET_ID="not-the-secret-id"):
        passed, printed = doctor()

    assert not passed
    assert "FAIL vault: " in printed and "cannot sign in" in printed
    assert "fix: Check VAULT_ROLE_ID and VAULT_SECRET_ID" in printed


def test_vault_down_is_named_and_nothing_after_it_is_tried(stack, catalog):
    with as_identity(stack, "worker", VAULT_ADDR=f"http://127.0.0.1:{free_port()}"):
        passed, printed = doctor("--process", "worker")

    assert not passed
    assert "FAIL vault: " in printed and "unreachable" in printed
    assert "vault capabilities" not in printed


def test_a_catalog_role_missing_in_vault_is_named(stack, catalog):
    from portal.access.models import AccessRole

    AccessRole.objects.create(slug="ghost", name="Ghost", vault_mount="database", vault_role="no-such-role")

    with as_identity(stack, "web"):
        passed, printed = doctor()

    assert not passed
    assert "FAIL catalog roles: missing in Vault: database/roles/no-such-role" in printed


def _approle_with_policies(stack, policies: list[str]) -> dict[str, str]:
    name = f"doctor-{uuid.uuid4().hex[:8]}"
    stack._vault("POST", f"auth/approle/role/{name}", {"token_policies": policies, "token_no_default_policy": True})
    role_id = stack._vault("GET", f"auth/approle/role/{name}/role-id")["data"]["role_id"]
    secret_id = stack._vault("POST", f"auth/approle/role/{name}/secret-id", {})["data"]["secret_id"]
    return {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id}


def test_an_over_broad_policy_is_named_path_by_path(stack, catalog):
    broad = f"broad-{uuid.uuid4().hex[:8]}"
    stack._vault(
        "PUT",
        f"sys/policies/acl/{broad}",
        {
            "policy": 'path "database/creds/*" { capabilities = ["read"] }\n'
            + 'path "sys/mounts/*" { capabilities = ["read"] }'
        },
    )
    login = _approle_with_policies(stack, ["latchkey-web", broad])

    with override_settings(VAULT_TOKEN="", **login):
        passed, printed = doctor()

    assert not passed
    assert "FAIL vault capabilities: the web identity's policy is not what web needs" in printed
    assert "database/creds/" in printed and "has read, needs deny" in printed
    assert "sys/mounts/anything: has read, needs deny" in printed


def test_the_worker_identity_in_the_web_process_is_named(stack, catalog):
    with as_identity(stack, "worker"):
        passed, printed = doctor("--process", "web")

    assert not passed
    assert "sys/wrapping/unwrap: has deny, needs update" in printed
    assert "auth/token/create/latchkey-grant: has update, needs deny" in printed


def test_a_policy_that_lacks_a_capability_is_named(stack, catalog):
    narrow = f"narrow-{uuid.uuid4().hex[:8]}"
    policy = (
        'path "sys/capabilities-self" { capabilities = ["update"] }\n'
        'path "auth/token/lookup-self" { capabilities = ["read"] }'
    )
    stack._vault("PUT", f"sys/policies/acl/{narrow}", {"policy": policy})
    login = _approle_with_policies(stack, [narrow])

    with override_settings(VAULT_TOKEN="", **login):
        passed, printed = doctor("--process", "worker")

    assert not passed
    assert "auth/token/revoke-accessor: has deny, needs update" in printed


def test_an_unreachable_sign_in_provider_is_named(stack, catalog):
    with as_identity(stack, "web", OIDC_ISSUER=f"http://127.0.0.1:{free_port()}"):
        passed, printed = doctor()

    assert not passed
    assert "FAIL oidc discovery: cannot read the discovery document" in printed
    assert "fix: Set OIDC_ISSUER" in printed


class _EntraHandler(JsonHandler):
    """Discovery, keys and a token endpoint that answers client credentials as Entra ID documents it."""

    def do_GET(self):
        entra = self.server.entra
        if self.path == "/.well-known/openid-configuration":
            self.send_json(
                200, {"issuer": entra.url, "jwks_uri": f"{entra.url}/keys", "token_endpoint": f"{entra.url}/token"}
            )
        elif self.path == "/keys":
            public = jwt.algorithms.RSAAlgorithm.to_jwk(entra.key.public_key(), as_dict=True)
            self.send_json(200, {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        else:
            self.send_json(404, {})

    def do_POST(self):
        entra = self.server.entra
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if form.get("grant_type") != ["client_credentials"]:
            self.send_json(400, {"error": "unsupported_grant_type"})
        elif form.get("client_secret") != [entra.secret]:
            # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response
            self.send_json(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        else:
            self.send_json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ.app.token"})


class _Entra:
    def __init__(self):
        self.secret = "the-right-client-secret"
        self.key = rsa.generate_private_key(65537, 2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _EntraHandler)
        self.server.entra = self
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def entra():
    provider = _Entra()
    yield provider
    provider.server.shutdown()


def test_a_client_secret_the_token_endpoint_accepts_passes(stack, catalog, entra):
    with as_identity(stack, "web", OIDC_ISSUER=entra.url, OIDC_RP_CLIENT_SECRET=entra.secret):
        passed, printed = doctor()

    assert passed, printed
    assert "ok   oidc client secret: the token endpoint accepts OIDC_CLIENT_ID and OIDC_CLIENT_SECRET" in printed


def test_a_wrong_client_secret_is_named(stack, catalog, entra):
    with as_identity(stack, "web", OIDC_ISSUER=entra.url, OIDC_RP_CLIENT_SECRET="an-expired-secret"):
        passed, printed = doctor()

    assert not passed
    assert "FAIL oidc client secret: the token endpoint refused the client (invalid_client)" in printed
    assert "Certificates & secrets" in printed


def test_an_unreachable_graph_is_named_when_the_portal_would_read_it(stack, catalog):
    with as_identity(stack, "web", GRAPH_BASE_URL=f"http://127.0.0.1:{free_port()}"):
        passed, printed = doctor()

    assert not passed
    assert "FAIL graph: Microsoft Graph could not be reached" in printed


def test_the_command_exits_non_zero_on_a_fault_and_zero_on_a_correct_stack(stack, portal_env):
    base = {**portal_env, **stack.vault_identity_env("worker")}

    good = _run(["--process", "worker"], base)
    bad = _run(["--process", "worker"], {**base, "VAULT_ADDR": f"http://127.0.0.1:{free_port()}"})

    assert good.returncode == 0, good.stdout + good.stderr
    assert bad.returncode == 1
    assert "FAIL vault" in bad.stdout


def _run(argv, env):
    import os

    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", "doctor", *argv],
        cwd=REPO_ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_capabilities_self_reports_deny_for_a_path_without_any(stack):
    with as_identity(stack, "web"):
        answer = vault.capabilities_self(paths=["sys/wrapping/unwrap", "no/such/path"])

    assert answer == {"sys/wrapping/unwrap": ["update"], "no/such/path": ["deny"]}
