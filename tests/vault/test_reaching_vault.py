"""How the portal reaches a real Vault: over TLS with the CA the deployment names, through its proxy if it has one.

A stand-in answers the role read as Vault does (`GET /v1/<mount>/roles/<role>`); the portal's HTTP session
to Vault reads the CA bundle and the proxy from the environment when it is made, as Vault's CLI and requests
name them.
"""

import pytest

from portal.integrations import vault
from tests.support import tls
from tests.support.sign_in import JsonHandler

ROLE_PATH = "/v1/database/roles/orders-readonly"


class _VaultHandler(JsonHandler):
    def do_GET(self):
        # A proxy is sent the whole URL; Vault itself only the path.
        self.server.seen.append((self.path, self.headers.get("X-Vault-Token")))
        if self.path.endswith(ROLE_PATH):
            self.send_json(200, {"data": {"db_name": "shop", "default_ttl": 3600}})
        else:
            self.send_json(404, {"errors": []})


def _serve(*certificate):
    server = tls.serve(_VaultHandler, *certificate)
    server.seen = []
    return server


def _forget_session(monkeypatch):
    """Make the next call open a new session and sign in anew (a client keeps the session it was made with)."""
    monkeypatch.setattr(vault, "_session", None)
    monkeypatch.setattr(vault, "_current_login", None)


@pytest.fixture
def vault_at(settings, monkeypatch):
    """Point the portal at a stand-in Vault (a token, no AppRole) with a clean environment and HTTP session."""
    for name in ("VAULT_CACERT", "VAULT_CAPATH", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    _forget_session(monkeypatch)
    servers = []

    def vault_at(address: str, server=None):
        settings.VAULT_ADDR = address
        settings.VAULT_ROLE_ID = settings.VAULT_SECRET_ID = settings.VAULT_SECRET_ID_FILE = ""
        settings.VAULT_TOKEN = "the-portal-token"
        settings.VAULT_NAMESPACE = ""
        if server is not None:
            servers.append(server)

    yield vault_at
    for server in servers:
        server.shutdown()
        server.server_close()
    _forget_session(monkeypatch)


@pytest.mark.parametrize("variable", ["VAULT_CACERT", "REQUESTS_CA_BUNDLE"])
def test_vault_over_tls_is_trusted_through_the_ca_the_deployment_names(tmp_path, monkeypatch, vault_at, variable):
    cert_path, key_path = tls.certificate(tmp_path)
    server = _serve(cert_path, key_path)
    vault_at(f"https://127.0.0.1:{server.server_address[1]}", server)
    monkeypatch.setenv(variable, str(cert_path))

    vault.check_role(mount="database", role="orders-readonly")

    assert server.seen == [(ROLE_PATH, "the-portal-token")]


def test_vault_over_tls_with_a_certificate_nobody_named_is_not_trusted(tmp_path, vault_at):
    server = _serve(*tls.certificate(tmp_path))
    vault_at(f"https://127.0.0.1:{server.server_address[1]}", server)

    with pytest.raises(vault.VaultNoAnswer, match="did not answer: SSLError"):
        vault.check_role(mount="database", role="orders-readonly")
    assert server.seen == []


def test_vault_is_reached_through_the_proxy_of_the_environment_unless_no_proxy_names_it(monkeypatch, vault_at):
    proxy = _serve()
    address = "http://vault.internal.example:8200"
    vault_at(address, proxy)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")

    vault.check_role(mount="database", role="orders-readonly")

    assert proxy.seen == [(f"{address}{ROLE_PATH}", "the-portal-token")]

    # The same address, listed in NO_PROXY: a session made now goes to Vault directly (and finds nothing there).
    monkeypatch.setenv("NO_PROXY", "vault.internal.example")
    _forget_session(monkeypatch)
    with pytest.raises(vault.VaultNoAnswer):
        vault.check_role(mount="database", role="orders-readonly")
    assert len(proxy.seen) == 1
