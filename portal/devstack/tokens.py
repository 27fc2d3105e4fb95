"""Access tokens for the demo's API, shaped as Entra ID v2.0 access tokens and signed with the demo's API key.

The demo's Entra stand-in publishes the key's public half in its key set (`jwks_uri`), so the
portal verifies these tokens as it verifies Entra's: `python -m portal.devstack token alice`
prints one for a demo person (delegated, `scp`), `... token --app orders-deploy` one for the
demo CI application (client credentials, `roles`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import tenant

KEY_FILE = "api-signing-key.pem"
JWKS_FILE = "api-jwks.json"
DEFAULT_MINUTES = 60


class NoSigningKey(RuntimeError):
    """The demo's API key does not exist yet: the stack has not been started in that state folder."""


def _key_path(state_dir: Path) -> Path:
    return state_dir / "secrets" / KEY_FILE


def ensure_signing_key(state_dir: Path) -> Path:
    """Create the demo's API signing key (RSA 2048, readable by its owner only) if missing; write its key set."""
    path = _key_path(state_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    jwks = state_dir / JWKS_FILE
    jwks.write_text(json.dumps(public_key_set(state_dir)))
    return jwks


def _private_key(state_dir: Path) -> rsa.RSAPrivateKey:
    path = _key_path(state_dir)
    if not path.exists():
        raise NoSigningKey(f"No API signing key in {path.parent}: start the demo first (make demo).")
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _public_jwk(private_key: rsa.RSAPrivateKey) -> dict:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    # RFC 7638 thumbprint as the key ID, as Entra's key IDs are thumbprints too.
    canonical = json.dumps({"e": public["e"], "kty": "RSA", "n": public["n"]}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def public_key_set(state_dir: Path) -> dict:
    """Return the JWKS that verifies the demo's API tokens."""
    return {"keys": [_public_jwk(_private_key(state_dir))]}


def base_claims(*, issuer: str, audience: str, minutes: int) -> dict:
    """Return the claims every demo access token carries: issuer, audience, times, tenant, version."""
    now = int(time.time())
    return {
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + minutes * 60,
        "tid": tenant.TENANT_ID,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }


def person_claims(name: str, *, issuer: str, audience: str, minutes: int = DEFAULT_MINUTES) -> dict:
    """Return the claims of a delegated access token of demo person `name`, asked for by the `latchkey` client."""
    user = tenant.USERS[name]
    return {
        **base_claims(issuer=issuer, audience=audience, minutes=minutes),
        "azp": tenant.CLI_CLIENT_ID,
        # 0: a public client (no secret), as the device-code sign-in of the `latchkey` command is.
        "azpacr": "0",
        "groups": user.group_ids,
        "idtyp": "user",
        "name": user.display_name,
        "oid": user.oid,
        "preferred_username": user.upn,
        "scp": tenant.API_SCOPE,
        "sub": hashlib.sha256(f"{tenant.CLI_CLIENT_ID}/{user.oid}".encode()).hexdigest()[:43],
        "upn": user.upn,
    }


def application_claims(name: str, *, issuer: str, audience: str, minutes: int = DEFAULT_MINUTES) -> dict:
    """Return the claims of a client-credentials access token of demo application `name`, with its app roles."""
    app = tenant.APPLICATIONS[name]
    return {
        **base_claims(issuer=issuer, audience=audience, minutes=minutes),
        "azp": app.client_id,
        # 2: the application proved itself with a certificate or a federated credential.
        "azpacr": "2",
        "idtyp": "app",
        "oid": app.oid,
        "roles": list(app.app_roles),
        "sub": app.oid,
    }


def sign(claims: dict, state_dir: Path) -> str:
    """Return `claims` signed with the demo's API key (RS256, its `kid` in the header)."""
    key = _private_key(state_dir)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": _public_jwk(key)["kid"], "typ": "JWT"})
