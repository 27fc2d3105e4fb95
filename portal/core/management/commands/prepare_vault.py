"""Prepare a real Vault (or OpenBao) for the portal; idempotent, prints what it changed."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.integrations.vault_setup import (
    Preparation,
    VaultAdmin,
    VaultSetupError,
    approle_new_secret_id,
    approle_role_id,
    prepare_vault,
)


class Command(BaseCommand):
    help = (
        "Enable or validate the database secrets engine, write the portal's least-privilege policy, the grant "
        "policies and token role, the portal's AppRole and the audited X-Request-Id header. Needs a privileged "
        "token in VAULT_ADMIN_TOKEN (or --token)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--vault-addr", default=None, help="Vault's address (default: VAULT_ADDR)")
        parser.add_argument(
            "--token", default=None, help="a privileged token; prefer VAULT_ADMIN_TOKEN, which `ps` does not show"
        )
        parser.add_argument("--mount", default="database", help="the database secrets engine's mount")
        parser.add_argument(
            "--role",
            action="append",
            dest="roles",
            help="a database role to write a grant policy for (repeat it; default: every role of the mount)",
        )
        parser.add_argument("--approle", default="latchkey-portal", help="the name of the portal's AppRole")
        parser.add_argument(
            "--new-secret-id",
            action="store_true",
            help="also create a new secret ID for the portal and print it once (to rotate it, see the README)",
        )

    def handle(self, *args, **options):
        token = options["token"] or os.environ.get("VAULT_ADMIN_TOKEN", "")
        if not token:
            raise CommandError("Give a privileged Vault token in VAULT_ADMIN_TOKEN (or --token).")
        admin = VaultAdmin(
            options["vault_addr"] or settings.VAULT_ADDR, token, timeout_seconds=settings.VAULT_TIMEOUT_SECONDS
        )
        preparation = Preparation(
            mount=options["mount"].strip("/"),
            grant_token_role=settings.VAULT_GRANT_TOKEN_ROLE,
            approle_role=options["approle"],
            portal_policy=options["approle"],
            roles=options["roles"],
            audit_mount=settings.AUDIT_ANCHOR_MOUNT,
        )
        try:
            changes = prepare_vault(admin, preparation)
            for change in changes:
                self.stdout.write(f"changed: {change}")
            if not changes:
                self.stdout.write("Vault is ready for the portal: nothing to change.")
            self.stdout.write(f"VAULT_ROLE_ID={approle_role_id(admin, preparation)}")
            if options["new_secret_id"]:
                secret_id, accessor = approle_new_secret_id(admin, preparation)
                self.stdout.write(f"VAULT_SECRET_ID={secret_id}")
                self.stdout.write(f"(its accessor, to destroy it after the next rotation: {accessor})")
        except VaultSetupError as error:
            raise CommandError(str(error)) from error
