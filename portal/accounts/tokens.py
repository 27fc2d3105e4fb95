"""Verify Entra ID tokens: every check that mozilla-django-oidc leaves to the application.

ID tokens come from the browser sign-in; access tokens come from scripts and CI jobs
as `Authorization: Bearer`. Both are checked the same way (RS256 signature from the
tenant's key set, issuer, audience, times, tenant); each kind then has checks of its own.
"""

import base64
import hmac
import json
import logging

import jwt
from django.conf import settings

from portal.accounts import oidc
from portal.accounts.errors import SignInRefused, TokenRefused

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
ACCESS_TOKEN_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "tid"]

_INVALID = "The sign-in token from your identity provider could not be verified. Sign in again."
_INVALID_ACCESS = "The access token could not be verified. Get a new token for the portal's API and try again."


def _refuse(reason: str, *, detail: str = _INVALID, status: int = 401) -> SignInRefused:
    return SignInRefused(detail, status=status, reason=reason)


def _refuse_access(
    reason: str, *, detail: str = _INVALID_ACCESS, status: int = 401, code: str | None = None
) -> TokenRefused:
    return TokenRefused(detail, status=status, reason=reason, code=code)


def _keys_unavailable(refuse, what: str, error: Exception) -> Exception:
    """Return the refusal of a token whose keys the identity provider could not give now (503: try again)."""
    return refuse(
        f"{what} unavailable: {error}",
        detail="The identity provider's signing keys could not be read. Try again in a minute.",
        status=503,
    )


def _unverified(token: str, segment: int) -> dict:
    """Return the header (`segment` 0) or the claims (1) of compact JWT `token`, read without any check.

    Only to choose what verifies the token (its signing key, its issuer's metadata): `jwt.decode` reads it
    again and refuses it if anything is off, so nothing read here is trusted. PyJWT's own unverified read
    decodes all three segments and checks each of their characters in Python; the bearer check read every
    token that way twice before verifying it, on each API call, at more than the cost of the verification itself.
    Raises ValueError for anything but three segments of which this one is a base64url JSON object.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"{len(parts)} segments, not 3")
    part = parts[segment]
    try:
        value = json.loads(base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True))
    except (ValueError, RecursionError) as error:  # binascii.Error and JSON's and UTF-8's errors are ValueErrors
        raise ValueError(f"segment {segment} is not base64url JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"segment {segment} is not a JSON object")
    return value


def _decode(
    token: str, *, audience, issuer, required: list[str], refuse, expired_detail: str, metadata: dict | None = None
) -> dict:
    """Return the claims of `token` once its algorithm, signature, issuer, audience and times are checked.

    The signing key comes from the key set of `metadata` (default: the issuer's discovery document).
    """
    try:
        header = _unverified(token, 0)
    except ValueError as error:
        raise refuse(f"malformed token: {error}") from error
    # Only RS256: this refuses `none` and the HS256 trick that signs with a known secret or the public key.
    if header.get("alg") != ALGORITHM:
        raise refuse(f"token algorithm {header.get('alg')!r} is not {ALGORITHM}")
    try:
        key = oidc.signing_key(header.get("kid"), metadata=metadata)
    except oidc.ProviderUnavailable as error:
        raise _keys_unavailable(refuse, "signing keys", error) from error
    if key is None:
        raise refuse(f"no RS256 signing key with kid {header.get('kid')!r}")
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=settings.OIDC_LEEWAY_SECONDS,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as error:
        raise refuse("token expired", detail=expired_detail) from error
    except jwt.PyJWTError as error:
        raise refuse(f"token rejected: {error.__class__.__name__}: {error}") from error


def verify_id_token(id_token: str, *, nonce: str | None) -> dict:
    """Return the claims of `id_token` once its signature, issuer, audience, times, nonce and tenant are checked."""
    claims = _decode(
        id_token,
        audience=settings.OIDC_RP_CLIENT_ID,
        issuer=settings.OIDC_ISSUER,
        required=REQUIRED_CLAIMS,
        refuse=_refuse,
        expired_detail="The sign-in took too long and expired. Sign in again.",
    )
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


def is_application_token(claims: dict) -> bool:
    """Return whether verified access token `claims` belong to an application (client credentials), not a person.

    As Microsoft documents it: the optional `idtyp` claim says `app` or `user`; without
    it, a token with delegated scopes (`scp`) is a person's, and one without is an
    application's. A missing object ID says nothing about which: a person's token
    without `oid` is refused, never taken for an application's.
    """
    idtyp = claims.get("idtyp")
    if idtyp in ("app", "user"):
        return idtyp == "app"
    return not claims.get("scp")


def application_id(claims: dict) -> str:
    """Return the client (application) ID that obtained the access token: `azp` in v2 tokens, `appid` in v1."""
    value = claims.get("azp") or claims.get("appid")
    return value if isinstance(value, str) else ""


def _access_token_version(access_token: str) -> str:
    """Return the `ver` of an access token before it is verified (only to pick the metadata that verifies it)."""
    try:
        version = _unverified(access_token, 1).get("ver")
    except ValueError:
        return "2.0"
    return "1.0" if version == "1.0" else "2.0"


def _access_token_metadata(version: str) -> dict | None:
    """Return the discovery document that verifies access tokens of `version` (None: the issuer's own)."""
    if version != "1.0":
        return None
    try:
        return oidc.v1_metadata()
    except oidc.ProviderUnavailable as error:
        raise _keys_unavailable(_refuse_access, "v1.0 metadata", error) from error


def verify_access_token(access_token: str) -> dict:
    """Return the claims of a bearer `access_token` issued for the portal's API, once every check passed.

    A v1.0 token (`ver` 1.0) is checked against Entra's v1.0 metadata of the tenant
    (issuer `https://sts.windows.net/{tenant}/` and that document's keys), every other
    token against `OIDC_ISSUER`'s own.
    """
    metadata = _access_token_metadata(_access_token_version(access_token))
    claims = _decode(
        access_token,
        # v2.0 tokens name the client ID, v1.0 tokens the application ID URI `api://<client-id>`.
        audience=settings.OIDC_API_AUDIENCE or [settings.OIDC_RP_CLIENT_ID, f"api://{settings.OIDC_RP_CLIENT_ID}"],
        issuer=metadata["issuer"] if metadata else settings.OIDC_ISSUER,
        required=ACCESS_TOKEN_REQUIRED_CLAIMS,
        refuse=_refuse_access,
        expired_detail="The access token has expired. Get a new one and try again.",
        metadata=metadata,
    )
    # An ID token is proof of a sign-in to the browser, not a grant to call the API: it
    # carries a nonce and no client ID, where every Entra access token names its client.
    if "nonce" in claims or not application_id(claims):
        raise _refuse_access("an ID token (or a token without azp/appid) was sent as an access token")
    tid = claims.get("tid")
    if tid not in settings.OIDC_ALLOWED_TENANTS:
        raise _refuse_access(
            f"tenant {tid!r} is not allowed",
            detail="The access token comes from a directory that is not allowed to use this portal.",
        )
    if not is_application_token(claims) and not (isinstance(claims.get("oid"), str) and claims["oid"]):
        raise _refuse_access(
            "person's access token has no oid claim",
            detail="The access token is a person's but does not say who they are (no `oid` claim). Ask for a "
            "token that includes the `profile` scope.",
        )
    _check_client_and_permission(claims)
    return claims


def _check_client_and_permission(claims: dict) -> None:
    """Refuse a token of a client not on OIDC_API_ALLOWED_CLIENTS, or without the portal's scope or app role.

    Entra issues a token for the portal's API to any client of the tenant that asks: the
    allow-list says which clients may call, and the scope (people) or app role
    (applications) says that the person consented, or an admin granted the application.
    """
    client = application_id(claims)
    if client not in settings.OIDC_API_ALLOWED_CLIENTS:
        raise _refuse_access(
            f"client {client!r} is not in OIDC_API_ALLOWED_CLIENTS",
            detail=f"The client application {client} may not call the portal's API. Ask an administrator to add "
            "it to the allowed clients.",
            status=403,
            code="client_not_allowed",
        )
    if is_application_token(claims):
        roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
        if settings.OIDC_API_APP_ROLE not in roles:
            raise _refuse_access(
                f"application token without the app role {settings.OIDC_API_APP_ROLE!r}",
                detail=f"The application's token does not carry the portal's app role {settings.OIDC_API_APP_ROLE}. "
                "Ask an administrator to grant it (API permissions, then admin consent).",
                status=403,
                code="insufficient_scope",
            )
        return
    scopes = claims.get("scp").split() if isinstance(claims.get("scp"), str) else []
    if settings.OIDC_API_SCOPE not in scopes:
        raise _refuse_access(
            f"person's token without the scope {settings.OIDC_API_SCOPE!r}",
            detail=f"The access token does not carry the portal's scope {settings.OIDC_API_SCOPE}. Ask for a token "
            f"with the scope api://<portal client ID>/{settings.OIDC_API_SCOPE}.",
            status=403,
            code="insufficient_scope",
        )
