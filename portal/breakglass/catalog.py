"""Break-glass in the catalog file: an optional `break_glass:` mapping per role, exported and imported with it."""

from django.core.exceptions import ValidationError

from portal.access.audit import audit_record
from portal.access.models import AccessRole, AuditAction
from portal.breakglass.models import BreakGlassPolicy

KEY = "break_glass"
FIELDS = ["allowed", "max_minutes", "incident_pattern", "uses_allowed", "window_days", "review_due_hours"]


def policy_export(role: AccessRole) -> dict:
    """Return `{"break_glass": {...}}` for a role with a break-glass policy, else nothing."""
    policy = BreakGlassPolicy.objects.filter(role=role).first()
    if policy is None:
        return {}
    return {KEY: {name: getattr(policy, name) for name in FIELDS}}


def _desired(value: dict, current: BreakGlassPolicy | None = None) -> BreakGlassPolicy:
    """Return the policy the file asks for: its fields over the current policy (or the defaults)."""
    policy = BreakGlassPolicy(**{name: getattr(current, name) for name in FIELDS}) if current else BreakGlassPolicy()
    for name in FIELDS:
        if name in value and value[name] is not None:
            setattr(policy, name, value[name])
    return policy


def policy_problems(value, *, role: AccessRole, where: str) -> list[str]:
    """Return what is wrong with a role's `break_glass:` mapping (nothing when absent)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: `{KEY}` is a mapping of {', '.join(FIELDS)}"]
    problems = [f"{where}: `{KEY}`: unknown field `{name}`" for name in value if name not in FIELDS]
    policy = _desired({name: item for name, item in value.items() if name in FIELDS})
    try:
        policy.full_clean(exclude=["role"], validate_unique=False, validate_constraints=False)
    except (ValidationError, TypeError, ValueError) as error:
        for name, texts in getattr(error, "message_dict", {"__all__": [str(error)]}).items():
            label = "" if name == "__all__" else f"{name}: "
            problems.extend(f"{where}: `{KEY}`: {label}{text}" for text in texts)
    # Somebody must be able to review each use.
    if policy.allowed and not role.approver_groups:
        problems.append(f"{where}: `{KEY}`: a role allows break-glass only if it has approver groups")
    return problems


def policy_apply(role: AccessRole, value, *, dry_run: bool, actor=None) -> list[str]:
    """Make the role's break-glass policy what the file says; return the diff lines.

    A role without `break_glass:` keeps the policy it has (set in the admin, or none): a file turns
    break-glass off with `allowed: false`.
    """
    if value is None:
        return []
    current = BreakGlassPolicy.objects.filter(role=role).first() if role.pk else None
    desired = _desired(value, current)
    wanted = {name: getattr(desired, name) for name in FIELDS}
    before = {name: getattr(current, name) for name in FIELDS} if current else {}
    changes = {name: new for name, new in wanted.items() if before.get(name) != new}
    if not changes:
        return []
    lines = [f"~ {role.slug} {KEY}: {name}: {before.get(name)!r} -> {new!r}" for name, new in changes.items()]
    if dry_run:
        return lines
    BreakGlassPolicy.objects.update_or_create(role=role, defaults=wanted)
    audit_record(actor=actor, action=AuditAction.CATALOG_BREAK_GLASS_UPDATED, role=role, details={"changes": changes})
    return lines
