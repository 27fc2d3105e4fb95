"""Break-glass as code: the catalog file carries each role's `break_glass:` policy, all or nothing."""

import pytest
import yaml

from portal.access.catalog import CatalogInvalid, catalog_export, catalog_import
from portal.access.models import AuditEvent
from portal.breakglass.models import BreakGlassPolicy


def _with_break_glass(text: str, slug: str, policy) -> str:
    data = yaml.safe_load(text)
    for role in data["roles"]:
        if role["slug"] == slug:
            role["break_glass"] = policy
    return yaml.safe_dump(data, sort_keys=False)


def test_export_carries_the_policy_and_importing_it_back_changes_nothing(policy):
    text = catalog_export()
    events = AuditEvent.objects.count()

    assert "break_glass:" in text and "^INC-[0-9]+$" in text
    assert catalog_import(text).lines == []
    assert AuditEvent.objects.count() == events


def test_import_allows_break_glass_and_records_it(catalog):
    text = _with_break_glass(catalog_export(), "orders-admin", {"max_minutes": 30, "uses_allowed": 1})

    diff = catalog_import(text)

    policy = BreakGlassPolicy.objects.get(role__slug="orders-admin")
    assert (policy.allowed, policy.max_minutes, policy.uses_allowed, policy.window_days) == (True, 30, 1, 7)
    assert "~ orders-admin break_glass: max_minutes: None -> 30" in diff.lines
    assert AuditEvent.objects.filter(action="catalog.break_glass_updated", role=policy.role).count() == 1


def test_allowed_false_turns_break_glass_off_and_a_file_without_the_key_leaves_it_be(policy):
    roles = yaml.safe_load(catalog_export())["roles"]
    without = yaml.safe_dump({"roles": [{k: v for k, v in role.items() if k != "break_glass"} for role in roles]})
    assert catalog_import(without).lines == []
    assert BreakGlassPolicy.objects.get(pk=policy.pk).allowed is True

    catalog_import(_with_break_glass(catalog_export(), "orders-admin", {"allowed": False}))

    policy.refresh_from_db()
    assert (policy.allowed, policy.incident_pattern) == (False, "^INC-[0-9]+$")


def test_a_dry_run_reports_and_changes_nothing(catalog):
    text = _with_break_glass(catalog_export(), "orders-admin", {"max_minutes": 30})

    diff = catalog_import(text, dry_run=True)

    assert any("break_glass" in line for line in diff.lines)
    assert not BreakGlassPolicy.objects.exists()


@pytest.mark.parametrize(
    ("slug", "policy", "problem"),
    [
        ("orders-admin", {"max_minutes": 0}, "max_minutes"),
        ("orders-admin", {"incident_pattern": "(["}, "regular expression"),
        ("orders-admin", {"sirens": True}, "unknown field `sirens`"),
        ("orders-admin", "yes", "is a mapping"),
        ("analytics-readonly", {"max_minutes": 30}, "approver groups"),
    ],
)
def test_a_bad_policy_is_reported_with_its_line_and_nothing_changes(catalog, slug, policy, problem):
    text = _with_break_glass(catalog_export(), slug, policy)
    line = next(number for number, row in enumerate(text.splitlines(), 1) if row.strip().startswith("break_glass"))

    with pytest.raises(CatalogInvalid) as refused:
        catalog_import(text, source="catalog.yaml")

    assert any(problem in text_ and text_.startswith(f"catalog.yaml:{line}:") for text_ in refused.value.problems)
    assert not BreakGlassPolicy.objects.exists()
