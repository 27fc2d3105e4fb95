"""Key the audit chain from here on (HMAC with AUDIT_CHAIN_KEY).

Events written by earlier releases carry an unkeyed SHA-256 chain. They stay as they are; one
keyed `audit.chain_keyed` event is appended that names the last of them and is chained to its
hash, so `verify_audit` checks them unkeyed up to there and every later event with the key, and
changing any of them breaks the keyed event. A database without events needs nothing.
Stop every web, worker and beat process of the earlier release before migrating: an unkeyed event
written after this one would be reported as broken.
"""

from django.db import migrations


def take_over(apps, schema_editor):
    from portal.access.audit import audit_chain_take_over

    audit_chain_take_over(apps.get_model("access", "AuditEvent"))


class Migration(migrations.Migration):
    dependencies = [("access", "0003_role_applications")]

    operations = [migrations.RunPython(take_over, migrations.RunPython.noop)]
