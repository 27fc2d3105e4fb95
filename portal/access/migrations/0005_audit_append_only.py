"""Refuse UPDATE, DELETE and TRUNCATE of the audit table in the database, not only in the ORM.

The table's owner (or a superuser) can still switch the trigger off: what catches such a change is
the keyed chain and its anchor in Vault (`verify_audit`). Django's test databases (named `test_...`)
may be truncated, so that the test runner can empty them between tests.
"""

from django.db import migrations

CREATE = [
    r"""
CREATE FUNCTION latchkey_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_database() LIKE 'test\_%' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % of % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
""",
    """
CREATE TRIGGER access_auditevent_append_only BEFORE UPDATE OR DELETE ON access_auditevent
    FOR EACH ROW EXECUTE FUNCTION latchkey_audit_append_only()
""",
    """
CREATE TRIGGER access_auditevent_no_truncate BEFORE TRUNCATE ON access_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_audit_append_only()
""",
]

DROP = [
    "DROP TRIGGER access_auditevent_no_truncate ON access_auditevent",
    "DROP TRIGGER access_auditevent_append_only ON access_auditevent",
    "DROP FUNCTION latchkey_audit_append_only()",
]


class Migration(migrations.Migration):
    dependencies = [("access", "0004_audit_chain_keyed")]

    operations = [migrations.RunSQL(CREATE, DROP)]
