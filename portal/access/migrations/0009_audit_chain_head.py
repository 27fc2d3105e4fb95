"""Take the audit chain's lock and read its head in one call to the database: one round trip per writer.

Every writer of an event took the chain's advisory lock, then read the newest event's hash in a query of its
own, both under the lock it holds until its commit. A volatile function takes a fresh snapshot for each query
it runs, so the head it reads after the lock is the one the writer before committed: the same guarantee in
one round trip, and the lock is held that much shorter.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION latchkey_audit_chain_head(chain_lock bigint) RETURNS varchar LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(chain_lock);
    SELECT hash INTO head FROM access_auditevent ORDER BY id DESC LIMIT 1;
    RETURN head;
END
$$
"""

DROP = "DROP FUNCTION latchkey_audit_chain_head(bigint)"


class Migration(migrations.Migration):
    dependencies = [("access", "0008_request_tally")]

    operations = [migrations.RunSQL(CREATE, DROP)]
