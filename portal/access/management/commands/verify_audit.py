from django.core.management.base import BaseCommand, CommandError

from portal.access.audit import audit_verify
from portal.access.models import AuditEvent
from portal.integrations import vault


class Command(BaseCommand):
    help = (
        "Verify the audit trail's keyed chain and compare its head with the anchor in Vault; "
        "exit non-zero naming the first bad event."
    )

    def handle(self, *args, **options):
        try:
            anchor = vault.audit_anchor_read()
        except vault.VaultError as error:
            raise CommandError(f"Cannot read the audit anchor from Vault: {error.detail}") from error
        broken = audit_verify(anchor=anchor)
        if broken is not None:
            raise CommandError(f"The audit chain is broken at event #{broken.event_id}: {broken.reason}.")
        if anchor is None:
            self.stderr.write("The chain's head has never been anchored in Vault: is beat running?")
        else:
            at = f"{anchor.at:%Y-%m-%d %H:%M:%S}"
            self.stdout.write(f"The head anchored in Vault at {at} is event #{anchor.event_id}, as in the table.")
        self.stdout.write(f"The audit chain is intact ({AuditEvent.objects.count()} events).")
