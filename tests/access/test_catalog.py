"""The catalog as YAML: export, all-or-nothing import with line numbers, dry run, the demo seed, the Vault check."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.access.catalog import CatalogInvalid, catalog_check, catalog_export, catalog_import
from portal.access.models import AccessRole, AuditEvent
from portal.access.selectors import roles_eligible

BROKEN = """\
roles:
  - slug: orders-readwrite
    name: Orders
    vault_role: orders-readwrite
    max_duration_minutes: 0
  - slug: new-role
    name: New
    vault_role: new-role
    colour: blue
    ticket_pattern: "[unclosed"
"""


def test_export_then_import_changes_nothing(catalog):
    text = catalog_export()

    assert "slug: orders-admin" in text
    assert not catalog_import(text)


def test_import_reports_every_problem_with_its_line_and_changes_nothing(catalog):
    before = catalog_export()

    with pytest.raises(CatalogInvalid) as error:
        catalog_import(BROKEN, source="broken.yaml")

    problems = "\n".join(error.value.problems)
    assert "broken.yaml:5: `max_duration_minutes`" in problems
    assert "broken.yaml:9: unknown field `colour`" in problems
    assert "broken.yaml:10: `ticket_pattern`" in problems
    assert catalog_export() == before
    assert not AccessRole.objects.filter(slug="new-role").exists()


def test_dry_run_prints_the_diff_without_changing_anything(catalog, tmp_path):
    text = catalog_export().replace("max_duration_minutes: 240", "max_duration_minutes: 120")
    out = io.StringIO()
    path = tmp_path / "catalog.yaml"
    path.write_text(text)

    call_command("catalog", "import", str(path), "--dry-run", stdout=out)

    assert "~ orders-readwrite" in out.getvalue()
    assert "max_duration_minutes: 240 -> 120" in out.getvalue()
    assert AccessRole.objects.get(slug="orders-readwrite").max_duration_minutes == 240


def test_a_role_missing_from_the_file_is_disabled_and_audited(catalog):
    text = catalog_export()
    # The export is sorted by slug: keep analytics-readonly only.
    kept = text.split("- slug: orders-admin")[0]

    diff = catalog_import(kept)

    assert "- orders-admin (disabled: not in the file)" in diff.lines
    assert not AccessRole.objects.get(slug="orders-admin").enabled
    assert AccessRole.objects.get(slug="analytics-readonly").enabled
    assert AuditEvent.objects.filter(action="catalog.role_disabled").count() == 2


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo", stdout=io.StringIO())
    events = AuditEvent.objects.count()
    call_command("seed_demo", stdout=io.StringIO())

    assert AccessRole.objects.count() == 3
    assert AuditEvent.objects.count() == events


def test_eligible_roles_say_which_group_grants_them(alice, catalog):
    eligible = {item.role.slug: item.because for item in roles_eligible(alice)}

    assert eligible == {"analytics-readonly": ["analytics-readers"], "orders-readwrite": ["orders-engineers"]}


@pytest.mark.integration
def test_catalog_check_flags_a_role_missing_in_vault_and_it_is_no_longer_offered(stack, alice, catalog):
    role = catalog["orders-readwrite"]
    role.vault_role = "no-such-vault-role"
    role.save()

    result = catalog_check()

    assert result.missing == ["orders-readwrite"]
    assert AccessRole.objects.get(slug="orders-readwrite").vault_role_missing
    assert [item.role.slug for item in roles_eligible(alice)] == ["analytics-readonly"]
    with pytest.raises(CommandError, match="1 role"):
        call_command("catalog", "check", stdout=io.StringIO())


# ----- every change of the catalog is audited, with each field before and after -----


def _changed_demo(**fields) -> str:
    """Return the demo catalog as YAML with `fields` changed on orders-readwrite."""
    import yaml

    data = yaml.safe_load(catalog_export())
    for role in data["roles"]:
        if role["slug"] == "orders-readwrite":
            role.update(fields)
    return yaml.safe_dump(data, sort_keys=False)


def test_an_import_records_each_changed_field_before_and_after(catalog):
    catalog_import(_changed_demo(max_duration_minutes=120, approvals_required=2), source="ops.yaml")

    event = AuditEvent.objects.get(action="catalog.role_updated")
    assert event.role.slug == "orders-readwrite" and event.actor_label == "system"
    assert event.details == {
        "source": "ops.yaml",
        "changes": {
            "max_duration_minutes": {"before": 240, "after": 120},
            "approvals_required": {"before": 1, "after": 2},
        },
    }


def test_a_new_role_records_its_values_and_a_disabled_one_its_flag(catalog):
    import yaml

    data = yaml.safe_load(catalog_export())
    data["roles"] = [role for role in data["roles"] if role["slug"] != "orders-admin"]
    data["roles"].append({"slug": "billing-ro", "name": "Billing", "vault_role": "billing", "approvals_required": 0})
    catalog_import(yaml.safe_dump(data))

    created = AuditEvent.objects.get(action="catalog.role_created", role__slug="billing-ro").details["changes"]
    disabled = AuditEvent.objects.get(action="catalog.role_disabled", role__slug="orders-admin")
    assert created["slug"] == {"before": None, "after": "billing-ro"}
    assert created["approvals_required"] == {"before": None, "after": 0}
    assert disabled.details["changes"] == {"enabled": {"before": True, "after": False}}


def test_the_catalog_command_records_before_and_after(catalog, tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(_changed_demo(ticket_required=True, ticket_pattern="^OPS-[0-9]+$"))

    call_command("catalog", "import", str(path), stdout=io.StringIO())

    event = AuditEvent.objects.get(action="catalog.role_updated")
    assert event.details["source"] == str(path)
    assert event.details["changes"] == {
        "ticket_required": {"before": False, "after": True},
        "ticket_pattern": {"before": "", "after": "^OPS-[0-9]+$"},
    }


def test_a_dry_run_records_nothing(catalog):
    events = AuditEvent.objects.count()

    diff = catalog_import(_changed_demo(max_duration_minutes=120), dry_run=True)

    assert "    max_duration_minutes: 240 -> 120" in diff.lines
    assert AuditEvent.objects.count() == events


@pytest.mark.integration
def test_the_vault_check_records_its_flag_before_and_after(stack, catalog):
    AccessRole.objects.filter(slug="orders-readwrite").update(vault_role="no-such-vault-role")

    catalog_check()

    event = AuditEvent.objects.get(action="catalog.vault_role_missing")
    assert event.details["changes"] == {"vault_role_missing": {"before": False, "after": True}}
