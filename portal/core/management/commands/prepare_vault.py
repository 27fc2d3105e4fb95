"""Prepare a real Vault (or OpenBao) for the portal; idempotent, prints what it changed."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.integrations.vault_setup import (
    IDENTITIES,
    Preparation,
    VaultAdmin,
    VaultSetupError,
    approle_new_secret_id,
    approle_role_id,
    operator_notes,
    prepare_vault,
)


class Command(BaseCommand):
    help = (
        "Enable or validate the database secrets engine and the audit anchor's KV engine, write the web and "
        "worker policies and AppRoles, the grant policies and token role, and the audited X-Request-Id header. "
        "Needs a privileged token in VAULT_ADMIN_TOKEN (or --token); works inside VAULT_NAMESPACE."
    )

    def add_arguments(self, parser):
        parser.add_argument("--vault-addr", default=None, help="Vault's address (default: VAULT_ADDR)")
        parser.add_argument(
            "--token", default=None, help="a privileged token; prefer VAULT_ADMIN_TOKEN, which `ps` does not show"
        )
        parser.add_argument(
            "--namespace", default=None, help="the Vault namespace of the portal (default: VAULT_NAMESPACE)"
        )
        parser.add_argument("--mount", default="database", help="the database secrets engine's mount")
        parser.add_argument(
            "--role",
            action="append",
            dest="roles",
            help="a database role to write a grant policy for (repeat it; default: every role of the mount)",
        )
        parser.add_argument("--web-approle", default="latchkey-web", help="the web process's AppRole and policy")
        parser.add_argument(
            "--worker-approle", default="latchkey-worker", help="the worker's and beat's AppRole and policy"
        )
        parser.add_argument(
            "--new-secret-id",
            choices=["web", "worker", "both"],
            default=None,
            help="also create a new secret ID for that identity and print it once (to rotate it, see the README)",
        )

    def handle(self, *args, **options):
        token = options["token"] or os.environ.get("VAULT_ADMIN_TOKEN", "")
        if not token:
            raise CommandError("Give a privileged Vault token in VAULT_ADMIN_TOKEN (or --token).")
        namespace = options["namespace"] if options["namespace"] is not None else settings.VAULT_NAMESPACE
        admin = VaultAdmin(
            options["vault_addr"] or settings.VAULT_ADDR,
            token,
            timeout_seconds=settings.VAULT_TIMEOUT_SECONDS,
            namespace=namespace.strip("/"),
        )
        preparation = Preparation(
            mount=options["mount"].strip("/"),
            grant_token_role=settings.VAULT_GRANT_TOKEN_ROLE,
            web_approle=options["web_approle"],
            worker_approle=options["worker_approle"],
            audit_mount=settings.AUDIT_ANCHOR_MOUNT,
            roles=options["roles"],
            secret_id_ttl=settings.VAULT_SECRET_ID_TTL,
            web_bound_cidrs=settings.VAULT_WEB_BOUND_CIDRS,
            worker_bound_cidrs=settings.VAULT_WORKER_BOUND_CIDRS,
        )
        new_secret_ids = {"web": ["web"], "worker": ["worker"], "both": list(IDENTITIES)}.get(
            options["new_secret_id"], []
        )
        try:
            changes = prepare_vault(admin, preparation)
            for change in changes:
                self.stdout.write(f"changed: {change}")
            if not changes:
                self.stdout.write("Vault is ready for the portal: nothing to change.")
            for note in operator_notes(admin, preparation):
                self.stdout.write(f"to do: {note}")
            for identity in IDENTITIES:
                processes = "web" if identity == "web" else "worker and beat"
                self.stdout.write(f"# {processes}:")
                self.stdout.write(f"{identity}: VAULT_ROLE_ID={approle_role_id(admin, preparation, identity)}")
                if identity in new_secret_ids:
                    secret_id, accessor = approle_new_secret_id(admin, preparation, identity)
                    self.stdout.write(f"{identity}: VAULT_SECRET_ID={secret_id}")
                    self.stdout.write(
                        f"(its accessor, to destroy it after the next rotation: {accessor}; it expires after "
                        f"{preparation.secret_id_ttl})"
                    )
        except VaultSetupError as error:
            raise CommandError(str(error)) from error
