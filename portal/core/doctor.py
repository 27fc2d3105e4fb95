"""Check a running configuration end to end and say what is wrong and how to fix it (`manage.py doctor`).

Each check talks to the outside system through the portal's own module for it
(`accounts.oidc`, `integrations.graph`, `integrations.vault`), with this process's
settings: run it in the environment of the process it is to check (web, or worker
and beat), since each signs in to Vault as its own identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal.access.models import AccessRole
from portal.accounts import oidc
from portal.integrations import graph, vault

PROCESSES = ("web", "worker", "beat")
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com"


@dataclass(frozen=True)
class Finding:
    """The result of one check: `ok` None means skipped (not configured or cannot be told here)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


def run(*, process: str) -> list[Finding]:
    """Run every check for `process` ("web", "worker" or "beat") and return their findings, in order."""
    findings = [*check_oidc(), check_graph()]
    vault_state = check_vault()
    findings.append(vault_state)
    if vault_state.ok:
        findings += [check_capabilities(process=process), *check_catalog_roles()]
    return findings


# ----- the OpenID provider (Entra ID) -----


def check_oidc() -> list[Finding]:
    """Check discovery, the signing keys and that the token endpoint accepts the client secret."""
    fix_issuer = (
        "Set OIDC_ISSUER to the issuer exactly as its discovery document names it (Entra ID: "
        "https://login.microsoftonline.com/<tenant-id>/v2.0) and let the portal reach it over HTTPS."
    )
    try:
        metadata = oidc.provider_metadata()
    except oidc.ProviderUnavailable as error:
        return [Finding("oidc discovery", False, f"cannot read the discovery document: {error}", fix_issuer)]
    findings = [Finding("oidc discovery", True, f"{settings.OIDC_ISSUER} answers")]
    try:
        key = oidc.signing_key(None)
    except oidc.ProviderUnavailable as error:
        key, problem = None, str(error)
    else:
        problem = "the key set has no RS256 signing key"
    if key is None:
        findings.append(Finding("oidc keys", False, problem, f"Check {metadata.get('jwks_uri')} and OIDC_ISSUER."))
    else:
        findings.append(Finding("oidc keys", True, f"{metadata.get('jwks_uri')} has RS256 signing keys"))
    findings.append(_check_client_secret())
    return findings


def _check_client_secret() -> Finding:
    scope = f"{settings.OIDC_RP_CLIENT_ID}/.default"
    try:
        oidc.request_client_credentials(scope=scope)
    except oidc.ProviderUnavailable as error:
        return Finding("oidc client secret", False, f"the token endpoint failed: {error}", "Try again later.")
    except oidc.TokenRequestRejected as refusal:
        error = refusal.error
        if error in ("invalid_client", "unauthorized_client") and refusal.status == 401:
            return Finding(
                "oidc client secret",
                False,
                f"the token endpoint refused the client ({error}): OIDC_CLIENT_SECRET is wrong or expired",
                "In Entra ID (App registrations → the portal → Certificates & secrets) create a new client secret, "
                "set it as OIDC_CLIENT_SECRET (or in OIDC_CLIENT_SECRET_FILE) and restart web.",
            )
        if error == "unsupported_grant_type":
            return Finding(
                "oidc client secret",
                None,
                "the provider offers no client-credentials grant, so the secret cannot be checked here",
            )
        # Any other refusal (a scope Entra will not issue, for one) came after the client was authenticated.
        return Finding(
            "oidc client secret",
            True,
            f"the token endpoint authenticated the client (and answered {error} for {scope})",
        )
    return Finding("oidc client secret", True, "the token endpoint accepts OIDC_CLIENT_ID and OIDC_CLIENT_SECRET")


# ----- Microsoft Graph -----


def check_graph() -> Finding:
    """Check that Microsoft Graph answers, when the portal would read it (Entra ID, or GRAPH_BASE_URL set)."""
    entra = "login.microsoftonline" in settings.OIDC_ISSUER
    if not entra and settings.GRAPH_BASE_URL == DEFAULT_GRAPH_BASE_URL:
        return Finding("graph", None, "not configured (the issuer is not Entra ID and GRAPH_BASE_URL is the default)")
    try:
        graph.reachable()
    except graph.GraphUnavailable as error:
        return Finding(
            "graph",
            False,
            str(error),
            "Let the portal reach GRAPH_BASE_URL over HTTPS (https://graph.microsoft.com, or your cloud's Graph).",
        )
    return Finding("graph", True, f"{settings.GRAPH_BASE_URL} answers")


# ----- Vault -----


def check_vault() -> Finding:
    """Check that Vault is reachable and unsealed and that this process's identity signs in (in its namespace)."""
    where = f"{settings.VAULT_ADDR}" + (f" (namespace {settings.VAULT_NAMESPACE})" if settings.VAULT_NAMESPACE else "")
    try:
        state = vault.health(timeout_seconds=settings.VAULT_TIMEOUT_SECONDS)
    except ImproperlyConfigured as error:
        return Finding("vault", False, f"{where}: {error}", "Set VAULT_ROLE_ID and VAULT_SECRET_ID (see the README).")
    if not state["reachable"]:
        return Finding(
            "vault", False, f"{where} is unreachable: {state.get('detail')}", "Check VAULT_ADDR and that Vault runs."
        )
    if state["sealed"]:
        return Finding("vault", False, f"{where} is sealed", "Unseal Vault (`bao operator unseal`).")
    if not state["token_valid"]:
        return Finding(
            "vault",
            False,
            f"{where}: this process cannot sign in: {state.get('detail')}",
            "Check VAULT_ROLE_ID and VAULT_SECRET_ID (or the file of VAULT_SECRET_ID_FILE) of this process and "
            "VAULT_NAMESPACE; a secret ID expires after VAULT_SECRET_ID_TTL: `prepare_vault --new-secret-id "
            "web|worker` makes a new one.",
        )
    return Finding("vault", True, f"{where} reachable, unsealed, this process signs in")


def needed_capabilities(*, process: str, mounts: list[str], roles: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Return the capabilities `process` needs on each path (exactly these), and `["deny"]` where it needs none."""
    token_role = settings.VAULT_GRANT_TOKEN_ROLE
    audit = settings.AUDIT_ANCHOR_MOUNT
    some_mount, some_role = roles[0] if roles else (mounts[0], "any-role")
    web = {
        "sys/wrapping/lookup": ["update"],
        "sys/wrapping/unwrap": ["update"],
        **{f"{mount}/roles": ["list"] for mount in mounts},
        **{f"{mount}/roles/{role}": ["read"] for mount, role in roles},
        **{f"{mount}/config/any-connection": ["read"] for mount in mounts},
        "auth/token/lookup-self": ["read"],
    }
    worker = {
        f"auth/token/create/{token_role}": ["update"],
        "auth/token/revoke-accessor": ["update"],
        "auth/token/lookup-accessor": ["update"],
        **{f"{mount}/roles/{role}": ["read"] for mount, role in roles},
        f"{audit}/data/head": ["create", "read", "update"],
        f"{audit}/metadata/head": ["read"],
        "auth/token/lookup-self": ["read"],
    }
    needed = web if process == "web" else worker
    # What neither may do, and what belongs to the other identity only.
    never = [
        f"{some_mount}/creds/{some_role}",
        "auth/token/create",
        "auth/token/create-orphan",
        "sys/policies/acl/latchkey-web",
        "sys/mounts/anything",
        "sys/auth/anything",
        "auth/approle/role/latchkey-web",
        "sys/leases/lookup",
        "sys/wrapping/wrap",
        f"{audit}/data/other",
        f"{audit}/delete/head",
        f"{audit}/destroy/head",
        "anything/at/all",
    ]
    other = worker if process == "web" else web
    never += [path for path in other if path not in needed]
    return {**needed, **{path: ["deny"] for path in never if path not in needed}}


def check_capabilities(*, process: str) -> Finding:
    """Check that this process's Vault identity may do exactly what its process needs: no more, no less."""
    roles = _catalog_roles()
    mounts = sorted({mount for mount, _ in roles}) or ["database"]
    wanted = needed_capabilities(process=process, mounts=mounts, roles=roles)
    try:
        actual = vault.capabilities_self(paths=list(wanted))
    except vault.VaultError as error:
        return Finding(
            "vault capabilities",
            False,
            f"cannot ask Vault what this identity may do: {error.detail}",
            "The policy must allow `update` on sys/capabilities-self: run `manage.py prepare_vault`.",
        )
    identity = "web" if process == "web" else "worker"
    wrong = [
        f"{path}: has {','.join(actual[path])}, needs {','.join(sorted(caps))}"
        for path, caps in wanted.items()
        if actual[path] != sorted(caps)
    ]
    if wrong:
        return Finding(
            "vault capabilities",
            False,
            f"the {identity} identity's policy is not what {process} needs: " + "; ".join(wrong),
            f"Run `manage.py prepare_vault` (it puts the shipped policy latchkey-{identity} back), check that this "
            f"process uses the {identity} AppRole's VAULT_ROLE_ID, and that no other policy is attached to it.",
        )
    return Finding("vault capabilities", True, f"exactly what {process} needs, on {len(wanted)} paths")


def check_catalog_roles() -> list[Finding]:
    """Check that every enabled catalog role exists in Vault."""
    roles = _catalog_roles()
    if not roles:
        return [Finding("catalog roles", None, "the catalog has no enabled role yet")]
    missing = []
    try:
        for mount, role in roles:
            if not vault.role_exists(mount=mount, role=role):
                missing.append(f"{mount}/roles/{role}")
    except vault.VaultError as error:
        return [Finding("catalog roles", False, f"cannot read the roles: {error.detail}", "See the checks above.")]
    if missing:
        return [
            Finding(
                "catalog roles",
                False,
                "missing in Vault: " + ", ".join(missing),
                "Create each role in Vault (`bao write <mount>/roles/<role> ...`) and run `prepare_vault` for its "
                "grant policy, or correct the catalog's vault_mount/vault_role.",
            )
        ]
    return [Finding("catalog roles", True, f"all {len(roles)} present in Vault")]


def _catalog_roles() -> list[tuple[str, str]]:
    rows = AccessRole.objects.filter(enabled=True).values_list("vault_mount", "vault_role").order_by("vault_role")
    return [(mount.strip("/"), role) for mount, role in rows]
