"""The catalog as code: export it to YAML, import it back (all or nothing), check it against Vault."""

from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from portal.access.audit import audit_changes, field_changes
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
# Every field whose change is audited: the file's, and the flag that `catalog check` sets.
AUDITED_FIELDS = [*FIELDS, "vault_role_missing"]


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


def _values(role: AccessRole | None, fields) -> dict:
    return {} if role is None else {name: getattr(role, name) for name in fields}


def catalog_role_save(
    *, role: AccessRole, actor, action: str | None = None, fields=None, details=None, http_request=None
):
    """Save `role` and audit every field it changes, with the value before and after; return the event or None.

    The one way the catalog is written: the Django admin, the YAML import and `catalog check` all
    save through here. `fields` limits what is saved (default: every audited field).
    """
    fields = list(fields or AUDITED_FIELDS)
    with transaction.atomic():
        stored = AccessRole.objects.select_for_update().filter(pk=role.pk).first() if role.pk else None
        if stored is None or fields == AUDITED_FIELDS:
            role.save()
        else:
            role.save(update_fields=fields)
        return audit_changes(
            actor=actor,
            action=action or ("catalog.role_created" if stored is None else "catalog.role_updated"),
            before=_values(stored, fields),
            after=_values(role, fields),
            role=role,
            details=details,
            http_request=http_request,
        )


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
    stored = AccessRole.objects.in_bulk([role.pk for role in roles if role.pk is not None])
    with transaction.atomic():
        for role, (entry, _) in zip(roles, entries, strict=True):
            changes = field_changes(_values(stored.get(role.pk), FIELDS), _values(role, FIELDS))
            if changes:
                created = role.pk is None
                diff.lines.append(f"{'+' if created else '~'} {role.slug}")
                if not created:
                    diff.lines.extend(
                        f"    {name}: {change['before']!r} -> {change['after']!r}" for name, change in changes.items()
                    )
                if not dry_run:
                    catalog_role_save(role=role, actor=actor, fields=FIELDS, details={"source": source})
            diff.lines += break_glass_catalog.policy_apply(
                role, entry.get(break_glass_catalog.KEY), dry_run=dry_run, actor=actor
            )
        for role in AccessRole.objects.filter(enabled=True).exclude(slug__in=listed):
            diff.lines.append(f"- {role.slug} (disabled: not in the file)")
            if dry_run:
                continue
            role.enabled = False
            catalog_role_save(
                role=role,
                actor=actor,
                action="catalog.role_disabled",
                fields=["enabled"],
                details={"reason": "not in file", "source": source},
            )
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
        role.vault_role_missing = missing
        catalog_role_save(
            role=role,
            actor=actor,
            action="catalog.vault_role_missing" if missing else "catalog.vault_role_found",
            fields=["vault_role_missing"],
            details={"mount": role.vault_mount, "vault_role": role.vault_role},
        )
    return result
