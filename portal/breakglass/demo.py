"""The demo's break-glass policy: dave (dba) may break the glass of Orders (admin) during an incident."""

from portal.access.models import AccessRole
from portal.breakglass.models import BreakGlassPolicy

DEMO_POLICIES = {
    "orders-admin": {
        "allowed": True,
        "max_minutes": 60,
        "incident_pattern": r"^INC-[0-9]+$",
        "uses_allowed": 2,
        "window_days": 7,
        "review_due_hours": 24,
    },
}


def seed_demo_policies() -> list[str]:
    """Set the demo's break-glass policies (idempotent); return what changed, one line each."""
    lines = []
    for slug, values in DEMO_POLICIES.items():
        role = AccessRole.objects.filter(slug=slug).first()
        if role is None:
            continue
        policy, created = BreakGlassPolicy.objects.get_or_create(role=role, defaults=values)
        changed = {name: value for name, value in values.items() if getattr(policy, name) != value}
        if changed:
            BreakGlassPolicy.objects.filter(pk=policy.pk).update(**changed)
        if created or changed:
            lines.append(f"break-glass {slug}: {'allowed' if created else 'updated'}")
    return lines
