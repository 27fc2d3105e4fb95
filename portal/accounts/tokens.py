"""Verify Entra ID tokens: every check that mozilla-django-oidc leaves to the application."""

import hmac
import logging

import jwt
from django.conf import settings

from portal.accounts import oidc
from portal.accounts.errors import SignInRefused

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]

_INVALID = "The sign-in token from your identity provider could not be verified. Sign in again."


def _refuse(reason: str, *, detail: str = _INVALID, status: int = 401) -> SignInRefused:
    return SignInRefused(detail, status=status, reason=reason)


def verify_id_token(id_token: str, *, nonce: str | None) -> dict:
    """Return the claims of `id_token` once its signature, issuer, audience, times, nonce and tenant are checked."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as error:
        raise _refuse(f"malformed ID token: {error}") from error
    # Only RS256: this refuses `none` and the HS256 trick that signs with the client secret.
    if header.get("alg") != ALGORITHM:
        raise _refuse(f"ID token algorithm {header.get('alg')!r} is not {ALGORITHM}")
    try:
        key = oidc.signing_key(header.get("kid"))
    except oidc.ProviderUnavailable as error:
        raise _refuse(
            f"signing keys unavailable: {error}",
            detail="The identity provider's signing keys could not be read. Try again in a minute.",
            status=503,
        ) from error
    if key is None:
        raise _refuse(f"no RS256 signing key with kid {header.get('kid')!r}")
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[ALGORITHM],
            audience=settings.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_ISSUER,
            leeway=settings.OIDC_LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as error:
        raise _refuse("ID token expired", detail="The sign-in took too long and expired. Sign in again.") from error
    except jwt.PyJWTError as error:
        raise _refuse(f"ID token rejected: {error.__class__.__name__}: {error}") from error

    token_nonce = claims.get("nonce")
    if not nonce or not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce, nonce):
        raise _refuse("ID token nonce does not match the one sent")
    tid = claims.get("tid")
    if tid not in settings.OIDC_ALLOWED_TENANTS:
        raise _refuse(
            f"tenant {tid!r} is not allowed",
            detail="Your organisation's directory is not allowed to sign in to this portal.",
            status=403,
        )
    if not claims.get("oid"):
        raise _refuse(
            "ID token has no oid claim",
            detail="Your identity provider did not say who you are (no object ID). Ask an administrator "
            "to check the app registration.",
        )
    return claims
