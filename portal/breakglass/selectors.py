"""Reads of break-glass: who may activate what, how many uses are left, which uses await whose review."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet

from portal.access.models import AccessRole
from portal.access.policy import is_role_approver
from portal.access.selectors import Eligibility, roles_eligible
from portal.accounts.selectors import is_application, is_portal_admin, memberships_are_fresh, user_groups
from portal.breakglass.models import BreakGlassPolicy, BreakGlassUse
from portal.core.clock import now
from portal.core.db import Compiled

Review = BreakGlassUse.Review


def policy_for(role: AccessRole) -> BreakGlassPolicy | None:
    """Return the role's break-glass policy if it allows break-glass now, else None."""
    return policies_for([role]).get(role.pk)


def policies_for(roles: list[AccessRole]) -> dict[int, BreakGlassPolicy]:
    """Return the break-glass policy of each role that allows break-glass now, by the role's ID.

    Roles read with their policies (`select_related("break_glass_policy")`) need no query; others one in all.
    """
    offered = [role for role in roles if role.offered]
    if not offered:
        return {}
    if all(AccessRole.break_glass_policy.is_cached(role) for role in offered):
        policies = [getattr(role, "break_glass_policy", None) for role in offered]
    else:
        policies = BreakGlassPolicy.objects.filter(role__in=offered).select_related("role")
    return {policy.role_id: policy for policy in policies if policy is not None and policy.allowed}


@dataclass(frozen=True)
class BreakGlassOption:
    policy: BreakGlassPolicy
    because: list[str]
    uses_left: int

    @property
    def role(self) -> AccessRole:
        return self.policy.role

    @property
    def max_minutes(self) -> int:
        return window_minutes(self.policy)


def window_minutes(policy: BreakGlassPolicy) -> int:
    """Return the longest break-glass window: the policy's, never beyond the role's maximum."""
    return min(policy.max_minutes, policy.role.max_duration_minutes)


def uses_in_window(*, user, policy: BreakGlassPolicy, at=None) -> int:
    """Return how many times `user` broke the glass of the policy's role within its window."""
    since = (at or now()) - timedelta(days=policy.window_days)
    return BreakGlassUse.objects.filter(requester=user, role_id=policy.role_id, activated_at__gt=since).count()


def break_glass_options(user, *, eligible: list[Eligibility] | None = None) -> list[BreakGlassOption]:
    """Return the roles `user` may break the glass of (people only), each with why and the uses left.

    `eligible` is what `roles_eligible` returned for `user`, when the caller has read it already (a page that
    lists the roles too): the roles come with their policies, so only the uses left take a query each.
    """
    if is_application(user):
        return []
    if eligible is None:
        eligible = roles_eligible(user)
    policies = policies_for([item.role for item in eligible])
    options = []
    for item in eligible:
        policy = policies.get(item.role.pk)
        if policy is not None:
            left = max(policy.uses_allowed - uses_in_window(user=user, policy=policy), 0)
            options.append(BreakGlassOption(policy=policy, because=item.because, uses_left=left))
    return options


def may_review(user, use: BreakGlassUse) -> bool:
    """Return whether `user` may review the use: an approver of its role or a portal admin, never its user."""
    if use.requester_id == user.pk or is_application(user):
        return False
    return is_role_approver(use.role, user) or is_portal_admin(user)


def uses_to_review(user) -> QuerySet:
    """Return the uses awaiting the review of `user`, soonest due first."""
    values = _to_review_values(user)
    if values is None:
        return BreakGlassUse.objects.none()
    return _with_related(_pending_uses(**values)).order_by("review_due_at", "id")


def count_uses_to_review(user) -> int:
    """Return how many uses await the review of `user` (`uses_to_review`), for the navigation of every page."""
    values = _to_review_values(user)
    if values is None:
        return 0
    return (_PENDING_USES_OF_GROUPS if "groups" in values else _PENDING_USES).count(**values)


def _to_review_values(user) -> dict | None:
    """Return the values of `_pending_uses` for `user`: every use for a portal admin, those of the roles they
    approve for an approver; None if they review none now."""
    if not memberships_are_fresh(user) or is_application(user):
        return None
    if is_portal_admin(user):
        return {"user_id": user.pk}
    groups = sorted(user_groups(user))
    return {"user_id": user.pk, "groups": groups} if groups else None


def _pending_uses(*, user_id: int, groups: list[str] | None = None) -> QuerySet:
    pending = BreakGlassUse.objects.filter(review_state=Review.PENDING).exclude(requester_id=user_id)
    return pending if groups is None else pending.filter(role__approver_groups__has_any_keys=groups)


# Their count in the navigation, compiled once: for a portal admin, and for an approver.
_PENDING_USES = Compiled(_pending_uses, user_id=int)
_PENDING_USES_OF_GROUPS = Compiled(_pending_uses, user_id=int, groups=list[str])


def uses_visible_to(user) -> QuerySet:
    """Return the uses `user` may see: their own, those of roles they approve, or all for portal admins."""
    uses = BreakGlassUse.objects.all()
    if not is_portal_admin(user):
        groups = list(user_groups(user))
        visible = Q(requester=user)
        if groups:
            visible |= Q(role__approver_groups__has_any_keys=groups)
        uses = uses.filter(visible)
    return _with_related(uses)


def uses_due_for_escalation(*, at=None) -> QuerySet:
    """Return the uses whose review is overdue and not yet escalated."""
    return BreakGlassUse.objects.filter(
        review_state=Review.PENDING, escalated_at__isnull=True, review_due_at__lte=at or now()
    )


def _with_related(uses: QuerySet) -> QuerySet:
    return uses.select_related("request", "role", "requester__profile", "reviewer__profile")


@dataclass(frozen=True)
class Summary:
    uses_30_days: int
    awaiting_review: int
    overdue: int
    misuse_30_days: int
    active_now: int


def summary(*, at=None) -> Summary:
    """Return the break-glass figures of the admins' dashboard."""
    current = at or now()
    recent = BreakGlassUse.objects.filter(activated_at__gte=current - timedelta(days=30))
    pending = BreakGlassUse.objects.filter(review_state=Review.PENDING)
    return Summary(
        uses_30_days=recent.count(),
        awaiting_review=pending.count(),
        overdue=pending.filter(review_due_at__lte=current).count(),
        misuse_30_days=recent.filter(review_state=Review.MISUSE).count(),
        active_now=BreakGlassUse.objects.filter(request__state="active").count(),
    )
