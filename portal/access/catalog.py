"""The catalog as code: export it to YAML, import it back (all or nothing), check it against Vault."""

from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from portal.access.audit import audit_record
from portal.access.models import AccessRole
from portal.breakglass import catalog as break_glass_catalog
from portal.integrations import vault

# The fields a catalog file holds, in the order an export writes them.
FIELDS = [
    "slug",
    "name",
    "description",
    "vault_mount",
    "vault_role",
    "eligible_groups",
    "eligible_app_roles",
    "applications_may_request",
    "applications_auto_approve",
    "approver_groups",
    "group_names",
    "approvals_required",
    "default_duration_minutes",
    "max_duration_minutes",
    "ticket_required",
    "ticket_pattern",
    "pending_lifetime_minutes",
    "enabled",
    "db_host",
    "db_port",
    "db_name",
]
REQUIRED = ("slug", "name", "vault_role")


class CatalogInvalid(Exception):
    """The catalog file has problems; nothing was changed."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class CatalogDiff:
    lines: list[str] = field(default_factory=list)

    def __bool__(self):
        return bool(self.lines)


def catalog_export() -> str:
    """Return the whole catalog as YAML."""
    roles = [
        {name: getattr(role, name) for name in FIELDS} | break_glass_catalog.policy_export(role)
        for role in AccessRole.objects.order_by("slug")
    ]
    return yaml.safe_dump({"roles": roles}, sort_keys=False, allow_unicode=True)


def _line(node) -> int:
    return node.start_mark.line + 1


def _parse(text: str, source: str) -> list[tuple[dict, object]]:
    """Return each role entry with its YAML node, or raise CatalogInvalid for a malformed file."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise CatalogInvalid([f"{where}: not valid YAML: {getattr(error, 'problem', error)}"]) from error
    if not isinstance(data, dict) or not isinstance(data.get("roles"), list):
        raise CatalogInvalid([f"{source}:1: the file must be a mapping with a list under `roles:`"])
    roles_node = next(value for key, value in root.value if key.value == "roles")
    return list(zip(data["roles"], roles_node.value, strict=True))


def _key_lines(node) -> dict[str, int]:
    return {key.value: _line(key) for key, _ in node.value} if isinstance(node, yaml.MappingNode) else {}


def _validate(entries: list[tuple[dict, object]], source: str) -> tuple[list[AccessRole], list[str]]:
    existing = {role.slug: role for role in AccessRole.objects.all()}
    roles, problems, seen = [], [], {}
    for entry, node in entries:
        where = f"{source}:{_line(node)}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: each role is a mapping of fields")
            continue
        lines = _key_lines(node)
        for key in entry:
            if key not in FIELDS and key != break_glass_catalog.KEY:
                problems.append(f"{source}:{lines.get(key, _line(node))}: unknown field `{key}`")
        for key in REQUIRED:
            if not entry.get(key):
                problems.append(f"{where}: the field `{key}` is required")
        slug = entry.get("slug")
        if isinstance(slug, str) and slug in seen:
            problems.append(f"{where}: the slug `{slug}` is already used at line {seen[slug]}")
        elif isinstance(slug, str):
            seen[slug] = _line(node)
        role = existing.get(slug) if isinstance(slug, str) else None
        role = AccessRole.objects.get(pk=role.pk) if role else AccessRole()
        for key in FIELDS:
            if key in entry:
                setattr(role, key, _default_for(key) if entry[key] is None else entry[key])
        try:
            role.full_clean(validate_unique=False)
        except (ValidationError, TypeError, ValueError) as error:
            messages = getattr(error, "message_dict", {"__all__": [str(error)]})
            for key, texts in messages.items():
                line = lines.get(key, _line(node))
                label = "" if key == "__all__" else f"`{key}`: "
                problems.extend(f"{source}:{line}: {label}{text}" for text in texts)
        problems += break_glass_catalog.policy_problems(
            entry.get(break_glass_catalog.KEY),
            role=role,
            where=f"{source}:{lines.get(break_glass_catalog.KEY, _line(node))}",
        )
        roles.append(role)
    return roles, problems


def _default_for(name: str):
    model_field = AccessRole._meta.get_field(name)
    return model_field.get_default() if model_field.has_default() or not model_field.null else None


def _changes(role: AccessRole) -> dict[str, list]:
    if role.pk is None:
        return {name: [None, getattr(role, name)] for name in FIELDS}
    before = AccessRole.objects.get(pk=role.pk)
    return {
        name: [getattr(before, name), getattr(role, name)]
        for name in FIELDS
        if getattr(before, name) != getattr(role, name)
    }


def catalog_import(text: str, *, source: str = "catalog.yaml", dry_run: bool = False, actor=None) -> CatalogDiff:
    """Make the catalog what `text` says: validate every entry first, change nothing on any problem.

    Roles missing from the file are disabled, not deleted: their requests stay in the history.
    """
    entries = _parse(text, source)
    roles, problems = _validate(entries, source)
    if problems:
        raise CatalogInvalid(problems)
    diff = CatalogDiff()
    listed = {role.slug for role in roles}
    with transaction.atomic():
        for role, (entry, _) in zip(roles, entries, strict=True):
            changes = _changes(role)
            if changes:
                created = role.pk is None
                diff.lines.append(f"{'+' if created else '~'} {role.slug}")
                if not created:
                    diff.lines.extend(f"    {name}: {old!r} -> {new!r}" for name, (old, new) in changes.items())
                if not dry_run:
                    role.save()
                    audit_record(
                        actor=actor,
                        action="catalog.role_created" if created else "catalog.role_updated",
                        role=role,
                        details={"changes": {name: new for name, (_, new) in changes.items()}},
                    )
            diff.lines += break_glass_catalog.policy_apply(
                role, entry.get(break_glass_catalog.KEY), dry_run=dry_run, actor=actor
            )
        for role in AccessRole.objects.filter(enabled=True).exclude(slug__in=listed):
            diff.lines.append(f"- {role.slug} (disabled: not in the file)")
            if dry_run:
                continue
            role.enabled = False
            role.save(update_fields=["enabled"])
            audit_record(actor=actor, action="catalog.role_disabled", role=role, details={"reason": "not in file"})
    return diff


@dataclass
class CheckResult:
    missing: list[str]
    restored: list[str]


def catalog_check(*, actor=None) -> CheckResult:
    """Flag the roles whose Vault role does not exist (never offered), and clear the flag of those back.

    Raises `VaultUnavailable` when Vault cannot be reached; then nothing changes.
    """
    known: dict[str, set[str]] = {}
    result = CheckResult(missing=[], restored=[])
    for role in AccessRole.objects.order_by("slug"):
        if role.vault_mount not in known:
            known[role.vault_mount] = vault.list_roles(mount=role.vault_mount)
        missing = role.vault_role not in known[role.vault_mount]
        if missing:
            result.missing.append(role.slug)
        if missing == role.vault_role_missing:
            continue
        if not missing:
            result.restored.append(role.slug)
        with transaction.atomic():
            AccessRole.objects.filter(pk=role.pk).update(vault_role_missing=missing)
            audit_record(
                actor=actor,
                action="catalog.vault_role_missing" if missing else "catalog.vault_role_found",
                role=role,
                details={"mount": role.vault_mount, "vault_role": role.vault_role},
            )
    return result
