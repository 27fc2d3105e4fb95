"""The benchmarks create their people with the tests' helper, and import nothing from the tests."""

import ast
from pathlib import Path

import pytest

from portal.devstack import personas, tenant
from tests.support import personas as test_personas

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_tests_and_the_benchmarks_share_one_persona_helper():
    assert test_personas.make_person is personas.make_person
    assert test_personas.make_user is personas.make_user


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda path: path.name)
def test_no_benchmark_module_imports_the_tests(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)

    assert not [name for name in imported if name == "tests" or name.startswith("tests.")]


@pytest.mark.django_db
def test_people_made_in_bulk_are_as_sign_in_leaves_them():
    from portal.accounts.models import Profile

    made = personas.make_people(
        [
            personas.Person(
                upn=f"bulk-{n}@{tenant.EMAIL_DOMAIN}",
                oid=f"b0110000-0000-4000-8000-{n:012d}",
                display_name=f"Bulk {n}",
                group_ids=(tenant.GROUPS["dba"],),
            )
            for n in range(3)
        ]
    )
    alice = personas.demo_user("alice")

    assert [user.username for user in made] == [f"bulk-{n}@contoso.example" for n in range(3)]
    profile = Profile.objects.get(user=made[2])
    assert (profile.tid, profile.oid, profile.upn) == (
        tenant.TENANT_ID,
        "b0110000-0000-4000-8000-000000000002",
        made[2].username,
    )
    assert profile.groups == [tenant.GROUPS["dba"]] and profile.groups_read_at is not None
    assert personas.demo_user("alice") == alice
    assert Profile.objects.get(user=alice).groups == tenant.USERS["alice"].group_ids
