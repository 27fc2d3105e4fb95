"""Check the running configuration end to end; print what is wrong and how to fix it; exit 1 on a fault."""

from django.core.management.base import BaseCommand, CommandError

from portal.core import doctor


class Command(BaseCommand):
    help = (
        "Check OIDC discovery and keys, the client secret, Microsoft Graph, Vault in its namespace, this "
        "process's Vault capabilities (exactly what it needs) and that every catalog role exists in Vault. Run it "
        "in the environment of the process to check: `--process web` with web's, `--process worker` with the "
        "worker's (and beat's)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--process",
            choices=doctor.PROCESSES,
            default="web",
            help="the process whose environment this is (its Vault identity is checked), default web",
        )

    def handle(self, *args, **options):
        findings = doctor.run(process=options["process"])
        for finding in findings:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[finding.ok]
            self.stdout.write(f"{mark} {finding.name}: {finding.detail}")
            if finding.ok is False and finding.fix:
                self.stdout.write(f"     fix: {finding.fix}")
        failed = [finding.name for finding in findings if finding.ok is False]
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}.", returncode=1)
        self.stdout.write("Everything the portal needs works.")
