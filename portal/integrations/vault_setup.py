"""Prepare a Vault (or OpenBao) for the portal: one implementation for production and the local stack.

`prepare_vault` makes Vault match what the portal expects and returns what it
changed; run again, it changes nothing. It talks to Vault's HTTP API with a
privileged token that only the operator holds (the portal's own login could not
write policies), so it does not go through `portal.integrations.vault`, which
works with the portal's least-privilege login.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from portal.integrations.vault import grant_policy_name

__all__ = ["VaultAdmin", "VaultSetupError", "Preparation", "prepare_vault", "grant_policy_name"]

POLICY_DIR = Path(__file__).resolve().parent.parent / "devstack" / "vault"
AUDITED_HEADER = "X-Request-Id"


class VaultSetupError(RuntimeError):
    """Vault cannot be prepared: a call failed, or something in it conflicts with the portal."""


@dataclass
class VaultAdmin:
    """A minimal client of Vault's HTTP API, signed in with an operator's privileged token."""

    addr: str
    token: str = field(repr=False)
    timeout_seconds: float = 10

    def call(self, method: str, path: str, body: dict | None = None) -> dict | None:
        """Call `path`; return the JSON answer, or None when Vault answers 404 (nothing there)."""
        request = urllib.request.Request(
            f"{self.addr.rstrip('/')}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
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
    """What the portal's Vault looks like: names of the mount, policies, roles and AppRole."""

    mount: str = "database"
    portal_policy: str = "latchkey-portal"
    grant_token_role: str = "latchkey-grant"
    approle_mount: str = "approle"
    approle_role: str = "latchkey-portal"
    # The database roles that get a grant policy; None means every role of the mount.
    roles: list[str] | None = None
    token_ttl: str = "1h"
    token_max_ttl: str = "4h"
    # The KV version 2 engine where beat anchors the audit chain's head (settings.AUDIT_ANCHOR_MOUNT).
    audit_mount: str = "latchkey-audit"


def portal_policy_text(preparation: Preparation) -> str:
    """Return the portal's least-privilege policy for the given mount and grant token role."""
    text = (POLICY_DIR / "portal.hcl").read_text()
    return (
        text.replace('path "database/', f'path "{preparation.mount}/')
        .replace('path "latchkey-audit/', f'path "{preparation.audit_mount}/')
        .replace("auth/token/create/latchkey-grant", f"auth/token/create/{preparation.grant_token_role}")
    )


def grant_policy_text(mount: str, role: str) -> str:
    """Return the policy of a grant token: read one role's credentials, nothing else."""
    return (POLICY_DIR / "grant.hcl.tmpl").read_text().replace("{mount}", mount).replace("{role}", role)


def prepare_vault(
    admin: VaultAdmin,
    preparation: Preparation,
    *,
    role_id: str | None = None,
    secret_id: str | None = None,
) -> list[str]:
    """Make Vault ready for the portal and return a line for each change (none when it already was).

    With `role_id` or `secret_id`, the AppRole gets that role ID or accepts that
    secret ID (the local stack chooses its own); otherwise Vault's are kept.
    """
    changes: list[str] = []
    _database_mount(admin, preparation, changes)
    _audit_anchor_mount(admin, preparation, changes)
    _policy(admin, preparation.portal_policy, portal_policy_text(preparation), changes)
    roles = preparation.roles if preparation.roles is not None else admin.list(f"{preparation.mount}/roles")
    for role in roles:
        _policy(admin, grant_policy_name(preparation.mount, role), grant_policy_text(preparation.mount, role), changes)
    _grant_token_role(admin, preparation, changes)
    _audited_header(admin, changes)
    _approle(admin, preparation, changes)
    if role_id is not None:
        _role_id(admin, preparation, role_id, changes)
    if secret_id is not None:
        _custom_secret_id(admin, preparation, secret_id, changes)
    return changes


def approle_role_id(admin: VaultAdmin, preparation: Preparation) -> str:
    """Return the AppRole's role ID (the portal's VAULT_ROLE_ID)."""
    return admin.read(f"auth/{preparation.approle_mount}/role/{preparation.approle_role}/role-id")["role_id"]


def approle_new_secret_id(admin: VaultAdmin, preparation: Preparation) -> tuple[str, str]:
    """Create a secret ID for the portal's AppRole; return it with its accessor (to destroy it later)."""
    answer = admin.call("POST", f"auth/{preparation.approle_mount}/role/{preparation.approle_role}/secret-id", {})
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


def _audit_anchor_mount(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    mounts = admin.read("sys/mounts") or {}
    existing = mounts.get(f"{preparation.audit_mount}/")
    if existing is None:
        admin.call("POST", f"sys/mounts/{preparation.audit_mount}", {"type": "kv", "options": {"version": "2"}})
        changes.append(f"enabled a KV version 2 engine at {preparation.audit_mount}/ for the audit anchor")
    elif existing.get("type") != "kv" or (existing.get("options") or {}).get("version") != "2":
        raise VaultSetupError(f"{preparation.audit_mount}/ is not a KV version 2 engine: set AUDIT_ANCHOR_MOUNT.")
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


def _grant_token_role(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    wanted = {
        "allowed_policies_glob": ["latchkey-grant-*"],
        "disallowed_policies": ["root"],
        "orphan": True,
        "renewable": False,
        "token_type": "service",
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


def _approle(admin: VaultAdmin, preparation: Preparation, changes: list[str]) -> None:
    auth_methods = admin.read("sys/auth") or {}
    existing_mount = auth_methods.get(f"{preparation.approle_mount}/")
    if existing_mount is None:
        admin.call("POST", f"sys/auth/{preparation.approle_mount}", {"type": "approle"})
        changes.append(f"enabled AppRole at auth/{preparation.approle_mount}/")
    elif existing_mount.get("type") != "approle":
        raise VaultSetupError(f"auth/{preparation.approle_mount}/ is a {existing_mount.get('type')!r} auth method.")
    wanted = {
        "token_policies": [preparation.portal_policy],
        "token_ttl": _seconds(preparation.token_ttl),
        "token_max_ttl": _seconds(preparation.token_max_ttl),
        "secret_id_num_uses": 0,
        "bind_secret_id": True,
    }
    path = f"auth/{preparation.approle_mount}/role/{preparation.approle_role}"
    existing = admin.read(path)
    if existing is not None and all(_same(existing.get(key), value) for key, value in wanted.items()):
        return
    admin.call("POST", path, wanted)
    changes.append(f"{'updated' if existing else 'created'} AppRole {preparation.approle_role}")


def _role_id(admin: VaultAdmin, preparation: Preparation, role_id: str, changes: list[str]) -> None:
    if approle_role_id(admin, preparation) == role_id:
        return
    admin.call(
        "POST", f"auth/{preparation.approle_mount}/role/{preparation.approle_role}/role-id", {"role_id": role_id}
    )
    changes.append(f"set the role ID of AppRole {preparation.approle_role}")


def _custom_secret_id(admin: VaultAdmin, preparation: Preparation, secret_id: str, changes: list[str]) -> None:
    base = f"auth/{preparation.approle_mount}/role/{preparation.approle_role}"
    # Vault answers an unknown secret ID with 204 (no body) or 404, a known one with its data.
    known = admin.call("POST", f"{base}/secret-id/lookup", {"secret_id": secret_id})
    if known and known.get("data"):
        return
    admin.call("POST", f"{base}/custom-secret-id", {"secret_id": secret_id})
    changes.append(f"added a secret ID to AppRole {preparation.approle_role}")


def _same(actual: object, wanted: object) -> bool:
    if isinstance(wanted, list):
        return sorted(actual or []) == sorted(wanted)
    return actual == wanted


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if duration[-1:] in units:
        return int(duration[:-1]) * units[duration[-1]]
    return int(duration)
