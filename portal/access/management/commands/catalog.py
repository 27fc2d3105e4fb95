import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.access.catalog import CatalogInvalid, catalog_check, catalog_export, catalog_import
from portal.integrations.vault import VaultUnavailable


class Command(BaseCommand):
    help = "Export the catalog as YAML, import it from YAML (all or nothing), or check it against Vault."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("export", help="print the catalog as YAML")
        load = sub.add_parser("import", help="make the catalog what a YAML file says")
        load.add_argument("path", type=Path)
        load.add_argument("--dry-run", action="store_true", help="print the changes without making them")
        sub.add_parser("check", help="flag roles whose Vault role does not exist")

    def handle(self, *args, action, **options):
        if action == "export":
            self.stdout.write(catalog_export(), ending="")
        elif action == "import":
            self._import(options["path"], dry_run=options["dry_run"])
        else:
            self._check()

    def _import(self, path: Path, *, dry_run: bool):
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        try:
            diff = catalog_import(text, source=str(path), dry_run=dry_run)
        except CatalogInvalid as error:
            for problem in error.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(error.problems)} problem(s); nothing was changed.") from error
        for line in diff.lines:
            self.stdout.write(line)
        verb = "Would change" if dry_run else "Changed"
        self.stdout.write(f"{verb} {sum(1 for line in diff.lines if line[:1] in '+~-')} role(s).")

    def _check(self):
        try:
            result = catalog_check()
        except VaultUnavailable as error:
            raise CommandError(f"Vault is unavailable: {error}") from error
        for slug in result.missing:
            self.stdout.write(f"missing in Vault: {slug} (flagged, not offered)")
        for slug in result.restored:
            self.stdout.write(f"found again in Vault: {slug}")
        if result.missing:
            raise CommandError(f"{len(result.missing)} role(s) have no Vault role.")
        self.stdout.write("Every catalog role exists in Vault.")
