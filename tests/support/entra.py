"""A local Entra ID token issuer for API tests: it signs access tokens with test RSA keys and serves their JWKS.

Built on the test provider of the sign-in tests; it adds what bearer tokens need:
access-token claims for people and applications, several keys, rotation, and a count
of how often the portal read the key set.
"""

import time
import uuid
from dataclasses import dataclass, field

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.accounts import oidc
from portal.devstack import tenant
from tests.support.sign_in import FakeProvider, _ProviderHandler, _Server

# The application ID URI `api://<client-id>` of the portal (client ID `latchkey-portal` in the tests).
API_AUDIENCE = "api://latchkey-portal"
CLI_CLIENT_ID = tenant.CLI_CLIENT_ID
# A CI pipeline's app registration (the demo's): client ID and its service principal's object ID.
DEPLOY_APP_ID = tenant.APPLICATIONS["orders-deploy"].client_id
DEPLOY_APP_OID = tenant.APPLICATIONS["orders-deploy"].oid
# What the portal's API asks of a token: a person's scope, an application's app role, an allowed client.
API_SCOPE = tenant.API_SCOPE
API_APP_ROLE = tenant.API_APP_ROLE
ALLOWED_CLIENTS = [CLI_CLIENT_ID, DEPLOY_APP_ID]


@dataclass
class TokenIssuer(FakeProvider):
    """Sign Entra-shaped access tokens for the portal's API and serve the keys that verify them."""

    jwks_reads: int = 0
    # Keys published besides the current one, as (kid, private key).
    other_keys: list = field(default_factory=list)
    # Keys published in the v1.0 metadata's key set only, as (kid, private key).
    v1_only_keys: list = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """Return the v2.0 issuer, shaped as Entra's `https://login.microsoftonline.com/{tenant}/v2.0`."""
        return f"{self.server.url}/{tenant.TENANT_ID}/v2.0"

    @property
    def v1_issuer(self) -> str:
        """Return the issuer of v1.0 access tokens, as Entra's v1.0 metadata names it."""
        return f"https://sts.windows.net/{tenant.TENANT_ID}/"

    def jwks(self, *, v1: bool = False) -> dict:
        keys = []
        for kid, private_key in [(self.kid, self.private_key), *self.other_keys, *(self.v1_only_keys if v1 else [])]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
            keys.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def v1_user_token(self, name: str, **overrides) -> str:
        """Return a v1.0 access token of demo user `name`: issuer sts.windows.net, `appid`, `upn`."""
        user = tenant.USERS[name]
        claims = self.user_claims(
            name, iss=self.v1_issuer, ver="1.0", azp=None, appid=CLI_CLIENT_ID, upn=user.upn, preferred_username=None
        )
        return self.sign({**claims, **overrides})

    def rotate(self, kid: str) -> None:
        """Sign with a new key from now on and publish only that one, as Entra does after a rollover."""
        self.private_key = rsa.generate_private_key(65537, 2048)
        self.kid = kid
        self.other_keys = []

    def _base(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": API_AUDIENCE,
            "tid": tenant.TENANT_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def user_claims(self, name: str, **overrides) -> dict:
        """Return the claims of a delegated access token of demo user `name` (from the `latchkey` client)."""
        user = tenant.USERS[name]
        return self._base(
            **{
                "sub": f"sub-{name}",
                "oid": user.oid,
                "azp": CLI_CLIENT_ID,
                "scp": API_SCOPE,
                "idtyp": "user",
                "preferred_username": user.upn,
                "name": user.display_name,
                "groups": user.group_ids,
                **overrides,
            }
        )

    def app_claims(
        self, *, roles=(), app_id: str = DEPLOY_APP_ID, oid: str = DEPLOY_APP_OID, api_role: bool = True, **overrides
    ) -> dict:
        """Return the claims of a client-credentials token of an application with app roles `roles`.

        The token carries the portal's own app role too, unless `api_role` is false.
        """
        return self._base(
            **{
                "sub": oid,
                "oid": oid,
                "azp": app_id,
                "azpacr": "2",
                "idtyp": "app",
                "roles": [API_APP_ROLE, *roles] if api_role else list(roles),
                **overrides,
            }
        )

    def user_token(self, name: str, **overrides) -> str:
        return self.sign(self.user_claims(name, **overrides))

    def app_token(self, **kwargs) -> str:
        return self.sign(self.app_claims(**kwargs))


class _IssuerHandler(_ProviderHandler):
    """Serve Entra's two discovery documents of one tenant: v2.0 (`/{tenant}/v2.0/…`) and v1.0 (`/{tenant}/…`)."""

    def do_GET(self):
        issuer = self.server.owner.provider
        base = f"{issuer.server.url}/{tenant.TENANT_ID}"
        if self.path == f"/{tenant.TENANT_ID}/v2.0/.well-known/openid-configuration":
            self.send_json(200, self._discovery(issuer.issuer, base, jwks_uri=f"{base}/discovery/v2.0/keys"))
        elif self.path == f"/{tenant.TENANT_ID}/.well-known/openid-configuration":
            self.send_json(200, self._discovery(issuer.v1_issuer, base, jwks_uri=f"{base}/discovery/keys"))
        elif self.path in (f"/{tenant.TENANT_ID}/discovery/v2.0/keys", f"/{tenant.TENANT_ID}/discovery/keys"):
            issuer.jwks_reads += 1
            self.send_json(200, issuer.jwks(v1=not self.path.endswith("/v2.0/keys")))
        else:
            self.send_json(404, {"error": "not_found"})

    @staticmethod
    def _discovery(issuer: str, base: str, *, jwks_uri: str) -> dict:
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": jwks_uri,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "id_token_signing_alg_values_supported": ["RS256"],
        }


def start_token_issuer() -> TokenIssuer:
    server = _Server(_IssuerHandler)
    issuer = TokenIssuer(server=server)
    server.provider = issuer
    return issuer


@pytest.fixture
def token_issuer(settings):
    """Start a local token issuer and point the portal's sign-in and API at it."""
    issuer = start_token_issuer()
    settings.OIDC_ISSUER = issuer.issuer
    settings.OIDC_API_AUDIENCE = [API_AUDIENCE]
    settings.OIDC_API_SCOPE = API_SCOPE
    settings.OIDC_API_APP_ROLE = API_APP_ROLE
    settings.OIDC_API_ALLOWED_CLIENTS = ALLOWED_CLIENTS
    oidc.clear_cache()
    yield issuer
    oidc.clear_cache()
    issuer.server.stop()


def bearer(token: str) -> dict:
    """Return the test client's keyword arguments that send `token` as `Authorization: Bearer`."""
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
