"""Prepare a Vault (or OpenBao) for the portal: one implementation for production and the local stack.

`prepare_vault` makes Vault match what the portal expects and returns what it
changed; run again, it changes nothing. It talks to Vault's HTTP API with a
privileged token that only the operator holds (the portal's own logins could not
write policies), so it does not go through `portal.integrations.vault`, which
works with the portal's least-privilege logins.

The portal has two Vault identities, one AppRole each: the **web** process may
only look up and unwrap wrapping tokens and read role and connection metadata;
the **worker** (and beat) may create grant tokens through the token role, revoke
and look them up by accessor, and keep the audit chain's anchor. Their policies
are the files in `vault_policies/`, next to this module.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from portal.integrations.vault import grant_policy_name

__all__ = [
    "IDENTITIES",
    "Preparation",
    "VaultAdmin",
    "VaultSetupError",
    "grant_policy_name",
    "operator_notes",
    "prepare_vault",
]

POLICY_DIR = Path(__file__).resolve().parent / "vault_policies"
AUDITED_HEADER = "X-Request-Id"
IDENTITIES = ("web", "worker")
# The single AppRole that web and worker shared before they had one each.
FORMER_APPROLE = "latchkey-portal"


class VaultSetupError(RuntimeError):
    """Vault cannot be prepared: a call failed, or something in it conflicts with the portal."""


@dataclass
class VaultAdmin:
    """A minimal client of Vault's HTTP API, signed in with an operator's privileged token.

    With `namespace`, every call goes to that namespace (`X-Vault-Namespace`), as Vault
    Enterprise, HCP Vault and OpenBao namespaces expect.
    """

    addr: str
    token: str = field(repr=False)
    timeout_seconds: float = 10
    namespace: str = ""

    def call(self, method: str, path: str, body: dict | None = None) -> dict | None:
        """Call `path`; return the JSON answer, or None when Vault answers 404 (nothing there)."""
        headers = {"X-Vault-Token": self.token, "Content-Type": "application/json"}
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        request = urllib.request.Request(
            f"{self.addr.rstrip('/')}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            detail = error.read().decode(errors="replace")
            raise VaultSetupError(f"Vault {method} {path}: {error.code} {detail}") from error
        except OSError as error:
            raise VaultSetupError(f"Vault at {self.addr} cannot be reached: {error}") from error
        return json.loads(raw) if raw else {}

    def read(self, path: str) -> dict | None:
        answer = self.call("GET", path)
        return None if answer is None else answer.get("data", answer)

    def list(self, path: str) -> list[str]:
        answer = self.call("LIST", path)
        return [] if answer is None else answer.get("data", {}).get("keys", [])


@dataclass
class Preparation:
    """What the portal's Vault looks like: names of the mounts, policies, roles and AppRoles."""

    mount: str = "database"
    grant_token_role: str = "latchkey-grant"
    approle_mount: str = "approle"
    # Each identity's AppRole, and its policy of the same name.
    web_approle: str = "latchkey-web"
    worker_approle: str = "latchkey-worker"
    # The KV version 2 engine that holds the head of the audit chain.
    audit_mount: str = "latchkey-audit"
    # The database roles that get a grant policy; None means every role of the mount.
    roles: list[str] | None = None
    token_ttl: str = "1h"
    token_max_ttl: str = "4h"
    # How long a secret ID of either AppRole stays valid (rotate before; see the README).
    secret_id_ttl: str = "720h"
    # Networks (CIDR) from which each identity may log in and use its token; empty: anywhere.
    web_bound_cidrs: list[str] = field(default_factory=list)
    worker_bound_cidrs: list[str] = field(default_factory=list)

    def approle(self, identity: str) -> str:
        """Return the AppRole (and policy) name of `identity` ("web" or "worker")."""
        return {"web": self.web_approle, "worker": self.worker_approle}[identity]

    def bound_cidrs(self, identity: str) -> list[str]:
        return {"web": self.web_bound_cidrs, "worker": self.worker_bound_cidrs}[identity]


def policy_text(preparation: Preparation, identity: str) -> str:
    """Return the least-privilege policy of `identity` ("web" or "worker") for the given names."""
    return (
        (POLICY_DIR / f"{identity}.hcl")
        .read_text()
        .replace("{mount}", preparation.mount)
        .replace("{token_role}", preparation.grant_token_role)
        .replace("{audit_mount}", preparation.audit_mount)
    )


def grant_policy_text(mount: str, role: str) -> str:
    """Return the policy of a grant token: read one role's credentials, wrapped, nothing else."""
    return (POLICY_DIR / "grant.hcl").read_text().replace("{mount}", mount).replace("{role}", role)


def prepare_vault(
    admin: VaultAdmin,
    preparation: Preparation,
    *,
    logins: dict[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Make Vault ready for the portal and return a line for each change (none when it already was).

    `logins` maps an identity ("web", "worker") to a role ID and secret ID that its
    AppRole must accept (the local stack chooses its own); otherwise Vault's are kept.
    Inside a namespace the audited request header is left alone: only the root
    namespace may set it (`operator_notes` says what to do there).
    """
    changes: list[str] = []
    _database_mount(admin, preparation, changes)
    _audit_mount(admin, preparation, changes)
    for identity in IDENTITIES:
        _policy(admin, preparation.approle(identity), policy_text(preparation, identity), changes)
    roles = preparation.roles if preparation.roles is not None else admin.list(f"{preparation.mount}/roles")
    for role in roles:
        _policy(admin, grant_policy_name(preparation.mount, role), grant_policy_text(preparation.mount, role), changes)
    _grant_token_role(admin, preparation, changes)
    if not admin.namespace:
        _audited_header(admin, changes)
    _approle_mount(admin, preparation, changes)
    for identity in IDENTITIES:
        _approle(admin, preparation, identity, changes)
    for identity, (role_id, secret_id) in (logins or {}).items():
        _role_id(admin, preparation, identity, role_id, changes)
        _custom_secret_id(admin, preparation, identity, secret_id, changes)
    return changes


def operator_notes(admin: VaultAdmin, preparation: Preparation) -> list[str]:
    """Return what an operator must still do by hand (outside what `prepare_vault` may change)."""
    notes = []
    if admin.namespace:
        notes.append(
            f"Vault audits request headers for the root namespace only: in the root namespace run "
            f"`bao write sys/config/auditing/request-headers/{AUDITED_HEADER} hmac=false` "
            f"(`vault write ...` for Vault), so that the audit log shows each call's {AUDITED_HEADER} in clear."
        )
    if admin.read(f"auth/{preparation.approle_mount}/role/{FORMER_APPROLE}") is not None:
        notes.append(
            f"The AppRole {FORMER_APPROLE}, shared by web and worker in earlier releases, is still there: once "
            f"web, worker and beat use their own, delete it with "
            f"`bao delete auth/{preparation.approle_mount}/role/{FORMER_APPROLE}` and "
            f"`bao policy delete {FORMER_APPROLE}`."
        )
    return notes


def approle_role_id(admin: VaultAdmin, preparation: Preparation, identity: str) -> str:
    """Return the role ID of `identity`'s AppRole (that process's VAULT_ROLE_ID)."""
    return admin.read(f"auth/{preparation.approle_mount}/role/{preparation.approle(identity)}/role-id")["role_id"]


def approle_new_secret_id(admin: VaultAdmin, preparation: Preparation, identity: str) -> tuple[str, str]:
    """Create a secret ID for `identity`'s AppRole; return it with its accessor (to destroy it later)."""
    path = f"auth/{preparation.approle_mount}/role/{preparation.approle(identity)}/secret-id"
    answer = admin.call("POST", path, {})
    return answer["data"]["secret_id"], answer["data"]["secret_id_accessor"]


# ----- one step each: read, compare, write only what differs -----


def _database_mount(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    mounts = admin.read("sys/mounts") or {}
    existing = mounts.get(f"{preparation.mount}/")
    if existing is None:
        admin.call("POST", f"sys/mounts/{preparation.mount}", {"type": "database"})
        changes.append(f"enabled the database secrets engine at {preparation.mount}/")
    elif existing.get("type") != "database":
        raise VaultSetupError(
            f"{preparation.mount}/ is a {existing.get('type')!r} mount, not a database secrets engine: "
            "choose another mount with --mount."
        )


def _audit_mount(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    mounts = admin.read("sys/mounts") or {}
    existing = mounts.get(f"{preparation.audit_mount}/")
    if existing is None:
        admin.call("POST", f"sys/mounts/{preparation.audit_mount}", {"type": "kv", "options": {"version": "2"}})
        changes.append(f"enabled a KV version 2 secrets engine at {preparation.audit_mount}/ (the audit anchor)")
    else:
        version = str((existing.get("options") or {}).get("version", "1"))
        if existing.get("type") not in ("kv", "kv-v2") or (existing.get("type") == "kv" and version != "2"):
            raise VaultSetupError(
                f"{preparation.audit_mount}/ is a {existing.get('type')!r} mount (version {version}), "
                "not KV version 2: choose another mount with AUDIT_ANCHOR_MOUNT."
            )
    # Every write of the anchor must name the version it replaces, so no write overtakes another unseen.
    config = admin.read(f"{preparation.audit_mount}/config") or {}
    if config.get("cas_required") is not True:
        admin.call("POST", f"{preparation.audit_mount}/config", {"cas_required": True})
        changes.append(f"required check-and-set writes on {preparation.audit_mount}/")


def _policy(admin: VaultAdmin, name: str, text: str, changes: list[str]) -> None:
    existing = admin.read(f"sys/policies/acl/{name}")
    if existing is not None and existing.get("policy", "").strip() == text.strip():
        return
    admin.call("PUT", f"sys/policies/acl/{name}", {"policy": text})
    changes.append(f"{'updated' if existing else 'wrote'} policy {name}")


def grant_max_ttl_seconds(admin: VaultAdmin) -> int:
    """Return the longest maximum lease of any database role: a grant token never needs to outlive it.

    Every database secrets engine counts (the catalog may use several, and they share the token role). A
    role without a maximum of its own (0) is bounded by its mount's maximum lease TTL; 0 means no role yet.
    """
    longest = 0
    for path, spec in (admin.read("sys/mounts") or {}).items():
        if not isinstance(spec, dict) or spec.get("type") != "database":
            continue
        mount = path.strip("/")
        roles = admin.list(f"{mount}/roles")
        if not roles:
            continue
        mount_max = int((admin.read(f"sys/mounts/{mount}/tune") or {}).get("max_lease_ttl") or 0)
        for role in roles:
            role_max = int((admin.read(f"{mount}/roles/{role}") or {}).get("max_ttl") or 0)
            longest = max(longest, role_max or mount_max)
    return longest


def _grant_token_role(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    wanted = {
        "allowed_policies_glob": ["latchkey-grant-*"],
        "disallowed_policies": ["root"],
        "orphan": True,
        "renewable": False,
        "token_type": "service",
        "token_explicit_max_ttl": grant_max_ttl_seconds(admin),
    }
    path = f"auth/token/roles/{preparation.grant_token_role}"
    existing = admin.read(path)
    if existing is not None and all(_same(existing.get(key), value) for key, value in wanted.items()):
        return
    admin.call("POST", path, wanted)
    changes.append(f"{'updated' if existing else 'created'} token role {preparation.grant_token_role}")


def _audited_header(admin: VaultAdmin, changes: list[str]) -> None:
    # The list, not the header's own path: Vault answers 400 there for a header it does not audit.
    answer = admin.call("GET", "sys/config/auditing/request-headers") or {}
    headers = answer.get("headers") or answer.get("data", {}).get("headers") or {}
    # Vault keeps the header's name in the case it was written, or in lower case.
    setting = next((value for key, value in headers.items() if key.lower() == AUDITED_HEADER.lower()), None)
    if setting is not None and setting.get("hmac") is False:
        return
    admin.call("POST", f"sys/config/auditing/request-headers/{AUDITED_HEADER}", {"hmac": False})
    changes.append(f"audited the request header {AUDITED_HEADER} (in clear)")


def _approle_mount(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    auth_methods = admin.read("sys/auth") or {}
    existing_mount = auth_methods.get(f"{preparation.approle_mount}/")
    if existing_mount is None:
        admin.call("POST", f"sys/auth/{preparation.approle_mount}", {"type": "approle"})
        changes.append(f"enabled AppRole at auth/{preparation.approle_mount}/")
    elif existing_mount.get("type") != "approle":
        raise VaultSetupError(f"auth/{preparation.approle_mount}/ is a {existing_mount.get('type')!r} auth method.")


def _approle(admin: VaultAdmin, preparation: Preparation, identity: str, changes: list[str]) -> None:
    name = preparation.approle(identity)
    cidrs = preparation.bound_cidrs(identity)
    wanted = {
        "token_policies": [name],
        # Vault's `default` policy would add unwrapping, wrapping and lease lookups to both identities.
        "token_no_default_policy": True,
        "token_ttl": _seconds(preparation.token_ttl),
        "token_max_ttl": _seconds(preparation.token_max_ttl),
        "secret_id_num_uses": 0,
        "secret_id_ttl": _seconds(preparation.secret_id_ttl),
        "secret_id_bound_cidrs": cidrs,
        "token_bound_cidrs": cidrs,
        "bind_secret_id": True,
    }
    path = f"auth/{preparation.approle_mount}/role/{name}"
    existing = admin.read(path)
    if existing is not None and all(_same(existing.get(key), value) for key, value in wanted.items()):
        return
    admin.call("POST", path, wanted)
    changes.append(f"{'updated' if existing else 'created'} AppRole {name} ({identity})")


def _role_id(admin: VaultAdmin, preparation: Preparation, identity: str, role_id: str, changes: list[str]) -> None:
    if approle_role_id(admin, preparation, identity) == role_id:
        return
    name = preparation.approle(identity)
    admin.call("POST", f"auth/{preparation.approle_mount}/role/{name}/role-id", {"role_id": role_id})
    changes.append(f"set the role ID of AppRole {name}")


def _custom_secret_id(
    admin: VaultAdmin, preparation: Preparation, identity: str, secret_id: str, changes: list[str]
) -> None:
    name = preparation.approle(identity)
    base = f"auth/{preparation.approle_mount}/role/{name}"
    # Vault answers an unknown secret ID with 204 (no body) or 404, a known one with its data.
    known = admin.call("POST", f"{base}/secret-id/lookup", {"secret_id": secret_id})
    if known and known.get("data"):
        return
    admin.call("POST", f"{base}/custom-secret-id", {"secret_id": secret_id})
    changes.append(f"added a secret ID to AppRole {name}")


def _same(actual: object, wanted: object) -> bool:
    if isinstance(wanted, list):
        return sorted(actual or []) == sorted(wanted)
    return actual == wanted


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if duration[-1:] in units:
        return int(duration[:-1]) * units[duration[-1]]
    return int(duration)
