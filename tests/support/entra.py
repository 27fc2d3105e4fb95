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

API_AUDIENCE = "api://latchkey-portal"
CLI_CLIENT_ID = tenant.CLI_CLIENT_ID
# A CI pipeline's app registration (the demo's): client ID and its service principal's object ID.
DEPLOY_APP_ID = tenant.APPLICATIONS["orders-deploy"].client_id
DEPLOY_APP_OID = tenant.APPLICATIONS["orders-deploy"].oid


@dataclass
class TokenIssuer(FakeProvider):
    """Sign Entra-shaped access tokens for the portal's API and serve the keys that verify them."""

    jwks_reads: int = 0
    # Keys published besides the current one, as (kid, private key).
    other_keys: list = field(default_factory=list)

    def jwks(self) -> dict:
        keys = []
        for kid, private_key in [(self.kid, self.private_key), *self.other_keys]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
            keys.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

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
                "scp": "access_as_user",
                "idtyp": "user",
                "preferred_username": user.upn,
                "name": user.display_name,
                "groups": user.group_ids,
                **overrides,
            }
        )

    def app_claims(self, *, roles=(), app_id: str = DEPLOY_APP_ID, oid: str = DEPLOY_APP_OID, **overrides) -> dict:
        """Return the claims of a client-credentials token of an application with app roles `roles`."""
        return self._base(
            **{
                "sub": oid,
                "oid": oid,
                "azp": app_id,
                "azpacr": "2",
                "idtyp": "app",
                "roles": list(roles),
                **overrides,
            }
        )

    def user_token(self, name: str, **overrides) -> str:
        return self.sign(self.user_claims(name, **overrides))

    def app_token(self, **kwargs) -> str:
        return self.sign(self.app_claims(**kwargs))


class _IssuerHandler(_ProviderHandler):
    def do_GET(self):
        if self.path == "/jwks":
            self.server.owner.provider.jwks_reads += 1
        super().do_GET()


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
    settings.OIDC_API_ISSUERS = []
    oidc.clear_cache()
    yield issuer
    oidc.clear_cache()
    issuer.server.stop()


def bearer(token: str) -> dict:
    """Return the test client's keyword arguments that send `token` as `Authorization: Bearer`."""
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
