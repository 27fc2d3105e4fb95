from django.core.management.base import BaseCommand, CommandError

from portal.access.audit import audit_verify
from portal.access.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exit non-zero naming the first broken link."

    def handle(self, *args, **options):
        broken = audit_verify()
        if broken is not None:
            raise CommandError(f"The audit chain is broken at event #{broken.event_id}: {broken.reason}.")
        self.stdout.write(f"The audit chain is intact ({AuditEvent.objects.count()} events).")
