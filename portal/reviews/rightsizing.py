"""Right-sizing, a read of the history: per role, the access people asked for against what they used.

Figures cover the grants issued in the last `days` days: the duration asked for, the time
until the credentials were revealed, the time held before an early revoke, the grants never
revealed, and the eligible people who asked for nothing. Each role gets one plain suggestion.
"""

import math
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from portal.access.models import AccessRequest, AccessRole, AuditAction, AuditEvent
from portal.core.clock import now
from portal.reviews.models import RoleExclusion
from portal.reviews.selectors import signed_in_people

State = AccessRequest.State
WINDOW_DAYS = 90
# "Most" grants: the share of grants a suggested default covers.
MOST = 0.8
# Fewer grants than this say too little to suggest a duration.
MIN_GRANTS = 5
# Defaults people pick from: 15 min to 1 day.
STEPS = (15, 30, 60, 120, 240, 480, 720, 1440)
NEVER_REVEALED_SHARE = 0.25
IDLE_SHARE = 0.5
MIN_ELIGIBLE_FOR_IDLE = 4


@dataclass(frozen=True)
class RoleSizing:
    slug: str
    name: str
    default_duration_minutes: int
    max_duration_minutes: int
    grants: int
    requested_median_minutes: float | None
    used_most_minutes: float | None
    reveal_median_minutes: float | None
    revoked_early: int
    held_before_revoke_median_minutes: float | None
    ended: int
    never_revealed: int
    eligible: int
    idle_eligible: int
    suggested_default_minutes: int | None
    suggestion: str

    def as_dict(self) -> dict:
        return asdict(self)


FIELDS = list(RoleSizing.__dataclass_fields__)


def spoken(minutes_value: float | None) -> str:
    """Return minutes as people say them: 45 min, 1 h, 1 h 30 min, 2 days."""
    if minutes_value is None:
        return "—"
    total = round(minutes_value)
    if total < 1:
        return "under 1 min"
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins else []
    return " ".join(parts)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _most(values: list[float]) -> float | None:
    """Return the value that `MOST` of `values` stay within (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(MOST * len(ordered)) - 1)]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _step_at_least(value: float) -> int:
    return next((step for step in STEPS if step >= value), STEPS[-1])


def _suggest(role: AccessRole, figures: dict) -> tuple[int | None, str]:
    """Return a suggested default duration (or None) and one short sentence about the role."""
    grants, used, requested = figures["grants"], figures["used_most_minutes"], figures["requested_median_minutes"]
    if grants == 0:
        if figures["eligible"] and figures["idle_eligible"] == figures["eligible"]:
            return None, (
                f"No grant in {WINDOW_DAYS} days, and none of the eligible people ({figures['eligible']}) asked: "
                "check whether the role is still needed."
            )
        return None, f"No grant in {WINDOW_DAYS} days: nothing to size yet."
    if grants >= MIN_GRANTS and used is not None and requested is not None and used <= requested / 2:
        # Twice what most grants use leaves room; rounded up to a default people recognise.
        suggested = min(_step_at_least(2 * used), role.max_duration_minutes)
        if suggested < role.default_duration_minutes:
            return suggested, (
                f"Most grants end within {spoken(used)} of a {spoken(requested)} request: "
                f"lower the default to {spoken(suggested)}."
            )
    ended, never = figures["ended"], figures["never_revealed"]
    if ended >= MIN_GRANTS and never / ended >= NEVER_REVEALED_SHARE:
        return None, (
            f"{never} of {ended} grants ended without their credentials being revealed: "
            "people ask before they need access; remind them to request when they are ready."
        )
    eligible, idle = figures["eligible"], figures["idle_eligible"]
    if eligible >= MIN_ELIGIBLE_FOR_IDLE and idle / eligible >= IDLE_SHARE:
        return None, (
            f"{idle} of {eligible} eligible people asked for nothing in {WINDOW_DAYS} days: "
            "review who is in the eligible groups."
        )
    return None, "Requests match use: no change suggested."


def role_sizing(role: AccessRole, *, at: datetime | None = None) -> RoleSizing:
    """Return the right-sizing figures and the suggestion for one role."""
    current = at or now()
    since = current - timedelta(days=WINDOW_DAYS)
    grants = list(
        AccessRequest.objects.filter(
            role=role, extends=None, starts_at__isnull=False, starts_at__gte=since, starts_at__lte=current
        ).values("pk", "state", "duration_minutes", "starts_at", "ends_at", "revealed_at")
    )
    revoke_at: dict[int, datetime] = {}
    events = AuditEvent.objects.filter(
        action=AuditAction.GRANT_REVOKE_REQUESTED, request_id__in=[g["pk"] for g in grants]
    )
    for request_id, at_ in events.order_by("id").values_list("request_id", "at"):
        revoke_at.setdefault(request_id, at_)
    ended = [g for g in grants if g["state"] in (State.EXPIRED, State.REVOKED)]
    early = [g for g in ended if g["state"] == State.REVOKED and g["pk"] in revoke_at]
    held = {g["pk"]: _minutes(revoke_at[g["pk"]] - g["starts_at"]) for g in early}
    used = [held.get(g["pk"], _minutes((g["ends_at"] or g["starts_at"]) - g["starts_at"])) for g in ended]
    eligible = _eligible_keys(role)
    asked = set(
        AccessRequest.objects.filter(role=role, created_at__gte=since, requester__profile__isnull=False).values_list(
            "requester__profile__tid", "requester__profile__oid"
        )
    )
    figures = {
        "grants": len(grants),
        "requested_median_minutes": _median([g["duration_minutes"] for g in grants]),
        "used_most_minutes": _most(used),
        "reveal_median_minutes": _median(
            [_minutes(g["revealed_at"] - g["starts_at"]) for g in grants if g["revealed_at"]]
        ),
        "revoked_early": len(early),
        "held_before_revoke_median_minutes": _median(list(held.values())),
        "ended": len(ended),
        "never_revealed": sum(1 for g in ended if g["revealed_at"] is None),
        "eligible": len(eligible),
        "idle_eligible": len(eligible - asked),
    }
    suggested, suggestion = _suggest(role, figures)
    return RoleSizing(
        slug=role.slug,
        name=role.name,
        default_duration_minutes=role.default_duration_minutes,
        max_duration_minutes=role.max_duration_minutes,
        suggested_default_minutes=suggested,
        suggestion=suggestion,
        **figures,
    )


def _eligible_keys(role: AccessRole) -> set[tuple[str, str]]:
    excluded = set(RoleExclusion.objects.filter(role=role).values_list("tid", "oid"))
    return set(signed_in_people(role)) - excluded


def rightsizing(*, at: datetime | None = None) -> list[RoleSizing]:
    """Return the right-sizing of every role in the catalog, by name."""
    return [role_sizing(role, at=at) for role in AccessRole.objects.order_by("name")]


CHART_WIDTH = 900
CHART_LABEL_WIDTH = 190
CHART_ROW_HEIGHT = 46
CHART_BAR_HEIGHT = 14
# The longest bar leaves room for its label on the right.
CHART_BAR_SPAN = CHART_WIDTH - CHART_LABEL_WIDTH - 140


def chart(rows: list[RoleSizing]) -> dict:
    """Return the geometry of the page's chart: per role, a bar for the duration asked and one for the use."""
    sized = [row for row in rows if row.requested_median_minutes is not None]
    longest = max(
        [row.requested_median_minutes for row in sized] + [row.used_most_minutes or 0 for row in sized], default=0
    )
    span = CHART_BAR_SPAN
    bars = []
    for index, row in enumerate(sized):
        top = 8 + index * CHART_ROW_HEIGHT
        asked = row.requested_median_minutes
        used = row.used_most_minutes or 0
        bars.append(
            {
                "name": row.name,
                "label_y": top + CHART_BAR_HEIGHT,
                "asked_y": top,
                "used_y": top + CHART_BAR_HEIGHT + 4,
                "asked_width": max(1, round(span * asked / longest)) if longest else 1,
                "used_width": max(1, round(span * used / longest)) if longest else 1,
                "asked": spoken(asked),
                "used": spoken(used) if row.used_most_minutes is not None else "—",
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": 16 + len(bars) * CHART_ROW_HEIGHT,
        "label_width": CHART_LABEL_WIDTH,
        "bar_height": CHART_BAR_HEIGHT,
        "bars": bars,
    }
