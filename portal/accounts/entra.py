"""What the settings must know about Entra ID: which issuers are Entra's, and what a sign-in there needs.

Plain functions without Django imports beyond the exception, so that `settings.py` can
call them while it is being read.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# The sign-in hosts of Entra ID in the global and national clouds.
ENTRA_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
    }
)
BASE_SCOPES = "openid profile email"
# Delegated Graph permission with which the portal reads the memberships of a person
# in more groups than a token lists (`/me/transitiveMemberOf`).
GRAPH_SCOPE = "User.Read"
# Authorities that stand for many tenants; the portal signs in one tenant's people.
MULTI_TENANT_AUTHORITIES = frozenset({"common", "organizations", "consumers"})


def is_entra_issuer(issuer: str) -> bool:
    """Return whether `issuer` is an Entra ID authority."""
    return (urlsplit(issuer).hostname or "") in ENTRA_HOSTS


def sign_in_scopes(*, issuer: str, configured: str | None) -> str:
    """Return the scopes of the sign-in: `configured`, or the default for `issuer`.

    With Entra ID the scopes must include `User.Read`: without it the sign-in's access
    token cannot read Microsoft Graph, and a person in more than 200 groups could not
    sign in at all. A configuration that leaves it out is refused at start.
    """
    entra = is_entra_issuer(issuer)
    if configured is None or not configured.strip():
        return f"{BASE_SCOPES} {GRAPH_SCOPE}" if entra else BASE_SCOPES
    scopes = configured.split()
    if entra and GRAPH_SCOPE.lower() not in {scope.lower() for scope in scopes}:
        raise ImproperlyConfigured(
            f"OIDC_SCOPES is {configured!r}, without {GRAPH_SCOPE}: with Entra ID the portal reads the groups of a "
            f"person in more than 200 groups from Microsoft Graph, which needs {GRAPH_SCOPE}. Add it (and its "
            "delegated permission in the app registration), or leave OIDC_SCOPES unset for the default."
        )
    return " ".join(scopes)


def allowed_tenant(*, issuer: str, tenants: list[str]) -> list[str]:
    """Return `tenants` once it names exactly one tenant, the one of an Entra `issuer`.

    The portal signs in the people of one tenant: the issuer, the keys and the `tid`
    of every token are that tenant's. `common`, `organizations` and several tenants are
    refused at start rather than half supported.
    """
    if len(tenants) != 1:
        raise ImproperlyConfigured(
            f"OIDC_ALLOWED_TENANTS names {len(tenants)} tenants ({', '.join(tenants) or 'none'}); the portal "
            "signs in the people of exactly one tenant. Set it to your tenant ID."
        )
    if is_entra_issuer(issuer):
        authority = urlsplit(issuer).path.strip("/").split("/")[0]
        if authority.lower() in MULTI_TENANT_AUTHORITIES:
            raise ImproperlyConfigured(
                f"OIDC_ISSUER uses the {authority!r} authority; the portal signs in one tenant. Use "
                f"https://login.microsoftonline.com/{tenants[0]}/v2.0."
            )
        if authority.lower() != tenants[0].lower():
            raise ImproperlyConfigured(
                f"OIDC_ISSUER names the tenant {authority!r}, OIDC_ALLOWED_TENANTS {tenants[0]!r}: "
                "they must be the same."
            )
    return tenants
