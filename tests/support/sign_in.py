"""Sign-in helpers: the full code flow against the real provider, and small local stand-ins (a pytest plugin).

The stand-ins (an OpenID provider that signs whatever token a test asks for with a
test RSA key, and a Microsoft Graph that answers as Graph documents) cover what the
demo provider cannot produce: forged, expired or foreign tokens and group overage.
"""

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings

from portal.accounts import oidc
from portal.devstack import tenant

CALLBACK = "/oidc/callback/"
GRAPH_ACCESS_TOKEN = "access-token-for-graph"


@pytest.fixture(autouse=True)
def _fresh_provider_cache():
    """Start and end every test with no cached discovery document or key set: the tests change providers."""
    oidc.clear_cache()
    yield
    oidc.clear_cache()


def start_sign_in(client, next_url: str | None = None) -> dict:
    """Begin a sign-in in the portal; return the authorization URL and its query parameters."""
    response = client.get("/oidc/authenticate/", {"next": next_url} if next_url else None)
    assert response.status_code == 302, response.content
    location = response["Location"]
    params = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
    return {"url": location, **params}


def authorize_at_provider(authorize_url: str, sub: str) -> dict:
    """Pick user `sub` on the provider's authorization form; return the callback's code and state."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    redirect = urlsplit(response.headers["Location"])
    assert redirect.path == CALLBACK
    return {name: values[0] for name, values in parse_qs(redirect.query).items()}


def sign_in(client, name: str):
    """Sign `name` in through the whole code flow against the real provider; return the callback response."""
    authorization = start_sign_in(client)
    callback = authorize_at_provider(authorization["url"], name)
    return client.get(CALLBACK, callback)


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


@pytest.fixture
def provider_user(stack):
    """Change a demo user's claims in the provider for one test, and put them back afterwards."""
    changed = []

    def change(name: str, **claims):
        """Set `claims` on top of the user's own; a claim set to None is left out."""
        changed.append(name)
        merged = {**tenant.USERS[name].claims(), **claims}
        stack.set_oidc_user(name, {key: value for key, value in merged.items() if value is not None})

    yield change
    for name in changed:
        stack.set_oidc_user(name, tenant.USERS[name].claims())


# ----- small local HTTP servers -----


class _Server:
    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet local HTTP handler that answers JSON (the fakes of the outside systems build on it)."""

    def log_message(self, *args):
        pass

    def send_json(self, status: int, body: dict):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@dataclass
class FakeProvider:
    """An OpenID provider whose token endpoint answers with the ID token the test signed."""

    server: _Server = None
    private_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = "test-key-1"
    answer: dict = field(default_factory=dict)
    answer_status: int = 200
    token_requests: list[dict] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.server.url

    def jwks(self) -> dict:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def claims(self, name: str, *, nonce: str, **overrides) -> dict:
        """Return valid ID token claims for demo user `name`; `overrides` replace (or with None, drop) some."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": django_settings.OIDC_RP_CLIENT_ID,
            "sub": name,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "nonce": nonce,
            **tenant.USERS[name].claims(),
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: dict, *, key=None, algorithm: str = "RS256", headers: dict | None = None) -> str:
        return jwt.encode(
            claims, key or self.private_key, algorithm=algorithm, headers={"kid": self.kid, **(headers or {})}
        )

    def will_answer(self, id_token: str, access_token: str = GRAPH_ACCESS_TOKEN):
        self.answer = {"id_token": id_token, "access_token": access_token, "token_type": "Bearer", "expires_in": 600}


class _ProviderHandler(JsonHandler):
    def do_GET(self):
        provider = self.server.owner.provider
        if self.path == "/.well-known/openid-configuration":
            base = provider.issuer
            self.send_json(
                200,
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks",
                    "end_session_endpoint": f"{base}/logout",
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        elif self.path == "/jwks":
            self.send_json(200, provider.jwks())
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        provider = self.server.owner.provider
        length = int(self.headers.get("Content-Length", 0))
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        provider.token_requests.append(form)
        self.send_json(provider.answer_status, provider.answer)


@pytest.fixture
def fake_provider(settings):
    """Start a local OpenID provider signing with a test RSA key, and point the portal at it."""
    server = _Server(_ProviderHandler)
    provider = FakeProvider(server=server)
    server.provider = provider
    settings.OIDC_ISSUER = provider.issuer
    yield provider
    server.stop()


def sign_in_with_token(client, provider: FakeProvider, make_token):
    """Run the portal's side of a sign-in whose ID token is `make_token(nonce)`; return the callback response."""
    authorization = start_sign_in(client)
    provider.will_answer(make_token(authorization["nonce"]))
    return client.get(CALLBACK, {"code": "test-code", "state": authorization["state"]})


@dataclass
class FakeGraph:
    """Microsoft Graph's `transitiveMemberOf` for one access token, in pages of `page_size` groups."""

    server: _Server = None
    groups: list[dict] = field(default_factory=list)
    # None accepts any bearer token (the real provider's tokens are random).
    access_token: str | None = GRAPH_ACCESS_TOKEN
    page_size: int = 2
    fail_with: int | None = None
    requests: list[str] = field(default_factory=list)
    request_headers: list[dict] = field(default_factory=list)
    # `/groups/{id}/transitiveMembers/microsoft.graph.user`: users (id, userPrincipalName, ...) by group ID.
    group_members: dict[str, list[dict]] = field(default_factory=dict)


def graph_error(code: str, message: str) -> dict:
    """Return an error body the way Graph writes one (code, message, innerError)."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())},
        }
    }


class _GraphHandler(JsonHandler):
    """Answer the two collections the portal reads, with the refusals Graph documents for each."""

    def do_GET(self):
        graph = self.server.owner.graph
        graph.requests.append(self.path)
        graph.request_headers.append(dict(self.headers))
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = url.path.split("/")
        if url.path == "/v1.0/me/transitiveMemberOf/microsoft.graph.group":
            items, context = [{"@odata.type": "#microsoft.graph.group", **g} for g in graph.groups], "groups"
            selected = None
        elif len(parts) == 6 and parts[2] == "groups" and parts[4:] == ["transitiveMembers", "microsoft.graph.user"]:
            items, context = graph.group_members.get(parts[3]), "users"
            selected = query.get("$select", ["id,displayName,userPrincipalName,mail"])[0].split(",")
        else:
            self.send_json(404, graph_error("Request_ResourceNotFound", "Not found."))
            return
        refusal = self._refusal(graph, query)
        if refusal is not None:
            self.send_json(*refusal)
            return
        if items is None:
            self.send_json(404, graph_error("Request_ResourceNotFound", f"Resource '{parts[3]}' does not exist."))
            return
        if selected is not None:
            items = [{name: item.get(name) for name in selected} for item in items]
        self.send_json(200, self._page(items, url=url, query=query, context=context))

    def _refusal(self, graph, query) -> tuple[int, dict] | None:
        authorization = self.headers.get("Authorization", "")
        expected = f"Bearer {graph.access_token}" if graph.access_token else None
        if not authorization.startswith("Bearer ") or (expected and authorization != expected):
            return 401, graph_error("InvalidAuthenticationToken", "Access token invalid.")
        # An OData cast on a directory collection is an advanced query: Graph refuses it
        # without `ConsistencyLevel: eventual` and `$count=true`, on every page.
        if self.headers.get("ConsistencyLevel") != "eventual" or query.get("$count") != ["true"]:
            return 400, graph_error(
                "Request_UnsupportedQuery",
                "Request with OData cast only works through MSGraph with a special request header: "
                "'ConsistencyLevel: eventual' and the query parameter '$count=true'.",
            )
        if graph.fail_with:
            return graph.fail_with, graph_error("serviceNotAvailable", "Service unavailable.")
        return None

    def _page(self, items: list[dict], *, url, query, context: str) -> dict:
        graph = self.server.owner.graph
        skip = int(query.get("$skiptoken", ["0"])[0])
        body = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
            "@odata.count": len(items),
            "value": items[skip : skip + graph.page_size],
        }
        if skip + graph.page_size < len(items):
            select = query.get("$select", [""])[0]
            body["@odata.nextLink"] = (
                f"{self.server.owner.url}{url.path}?$count=true&$select={select}&$skiptoken={skip + graph.page_size}"
            )
        return body


@pytest.fixture
def fake_graph(settings):
    """Start a local Microsoft Graph and point the portal at it."""
    server = _Server(_GraphHandler)
    graph = FakeGraph(server=server)
    server.graph = graph
    settings.GRAPH_BASE_URL = server.url
    yield graph
    server.stop()
