from pathlib import Path

from django.core.management.base import BaseCommand

from portal.access.catalog import catalog_import
from portal.breakglass.demo import seed_demo_policies

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "demo_catalog.yaml"


class Command(BaseCommand):
    help = "Load the demo catalog (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        diff = catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))
        for line in diff.lines:
            self.stdout.write(line)
        for line in seed_demo_policies():
            self.stdout.write(line)
        self.stdout.write("The demo catalog is loaded.")
