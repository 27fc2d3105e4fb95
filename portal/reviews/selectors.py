"""Reads of access reviews: who is eligible for a role, the evidence a reviewer weighs, progress, exports."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet

from portal.access.models import AccessRequest, AccessRole
from portal.access.policy import is_role_approver
from portal.access.selectors import approver_emails, portal_admin_emails
from portal.accounts import oidc
from portal.accounts.models import Profile
from portal.accounts.selectors import is_application, is_portal_admin
from portal.core.clock import now
from portal.core.db import Compiled, ids_in
from portal.core.errors import ServiceUnavailable
from portal.integrations import graph
from portal.reviews.models import HOLDING_STATES, Campaign, ReviewItem, RoleExclusion

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# "How often": requests counted over this many days.
EVIDENCE_DAYS = 90


@dataclass
class Person:
    """Someone eligible for a role, from a sign-in, from Microsoft Graph, or both."""

    tid: str
    oid: str
    upn: str = ""
    display_name: str = ""
    user_id: int | None = None
    eligible_through: list[str] = field(default_factory=list)
    seen_at_sign_in: bool = False
    seen_in_graph: bool = False


def _home_tenant() -> str:
    return settings.OIDC_ALLOWED_TENANTS[0] if settings.OIDC_ALLOWED_TENANTS else ""


def signed_in_people(role: AccessRole) -> dict[tuple[str, str], Person]:
    """Return the people whose last sign-in carried a group (or app role) eligible for `role`."""
    wanted = Q()
    for group in role.eligible_groups:
        wanted |= Q(groups__contains=[group])
    for value in role.eligible_app_roles:
        wanted |= Q(app_roles__contains=[value])
    if not wanted:
        return {}
    found = {}
    for profile in Profile.objects.filter(wanted, is_application=False).order_by("upn", "oid"):
        through = [group for group in role.eligible_groups if group in profile.groups]
        through += [f"app role {value}" for value in role.eligible_app_roles if value in profile.app_roles]
        found[(profile.tid, profile.oid)] = Person(
            tid=profile.tid,
            oid=profile.oid,
            upn=profile.upn,
            display_name=profile.display_name,
            user_id=profile.user_id,
            eligible_through=through,
            seen_at_sign_in=True,
        )
    return found


def graph_configured() -> bool:
    """Return whether campaigns read the members of eligible groups from Microsoft Graph."""
    return settings.REVIEWS_READ_GROUP_MEMBERS


def _graph_token() -> str:
    try:
        return oidc.request_client_credentials(scope=GRAPH_SCOPE)
    except (oidc.ProviderUnavailable, oidc.TokenRequestRejected) as error:
        raise ServiceUnavailable(f"No token for Microsoft Graph from the identity provider: {error}.") from error


def _add_graph_members(role: AccessRole, people: dict, token: str) -> None:
    """Add the members of the eligible groups, read from Microsoft Graph, to `people`."""
    tenant = _home_tenant()
    known = {profile.oid: profile for profile in Profile.objects.filter(tid=tenant, is_application=False)}
    for group in role.eligible_groups:
        try:
            members = graph.group_member_users(group_id=group, access_token=token)
        except graph.GraphUnavailable as error:
            raise ServiceUnavailable(f"The members of {role.group_label(group)} could not be read: {error}") from error
        for member in members:
            key = (tenant, member["id"])
            person = people.get(key)
            if person is None:
                profile = known.get(member["id"])
                person = people[key] = Person(
                    tid=tenant,
                    oid=member["id"],
                    upn=member["userPrincipalName"] or member["mail"],
                    display_name=member["displayName"],
                    user_id=profile.user_id if profile else None,
                )
            person.seen_in_graph = True
            if group not in person.eligible_through:
                person.eligible_through.append(group)


def eligible_people(role: AccessRole, *, graph_token: str | None = None) -> list[Person]:
    """Return everyone eligible for `role` and not already removed from it, ordered by UPN.

    People come from their last sign-in and, given a Graph token, from the transitive members
    of the role's eligible groups.
    """
    people = signed_in_people(role)
    if graph_token is not None:
        _add_graph_members(role, people, graph_token)
    excluded = set(RoleExclusion.objects.filter(role=role).values_list("tid", "oid"))
    return sorted((p for key, p in people.items() if key not in excluded), key=lambda p: (p.upn, p.oid))


def graph_token_if_configured() -> str | None:
    """Return an app-only token for Microsoft Graph when campaigns read group members, else None."""
    return _graph_token() if graph_configured() else None


# ----- campaigns: lists, progress, evidence -----


@dataclass(frozen=True)
class Progress:
    total: int
    kept: int
    removed: int

    @property
    def decided(self) -> int:
        return self.kept + self.removed

    @property
    def pending(self) -> int:
        return self.total - self.decided

    @property
    def percent(self) -> int:
        return round(100 * self.decided / self.total) if self.total else 100


def progress_of(campaign: Campaign) -> Progress:
    counts = dict(campaign.items.order_by().values_list("decision").annotate(n=Count("id")))
    return Progress(
        total=sum(counts.values()),
        kept=counts.get(ReviewItem.Decision.KEEP, 0),
        removed=counts.get(ReviewItem.Decision.REMOVE, 0),
    )


def campaigns_all() -> QuerySet:
    return Campaign.objects.select_related("role", "started_by__profile", "owner__profile")


def campaigns_open() -> QuerySet:
    return campaigns_all().filter(state=Campaign.State.OPEN).order_by("due_at", "id")


def is_reviewer(role: AccessRole, user) -> bool:
    """Return whether `user` reviews `role`: its approvers, or the portal admins for a role without approvers."""
    if is_application(user):
        return False
    if role.approver_groups:
        return is_role_approver(role, user)
    return is_portal_admin(user)


# Every role, for whom reviews which (a handful, read on every page an approver opens): compiled once.
_ROLES = Compiled(lambda: AccessRole.objects.all())


def _reviewable_roles(user) -> list[int]:
    return [role.pk for role in _ROLES() if is_reviewer(role, user)]


def may_see_campaign(user, campaign: Campaign) -> bool:
    """Return whether `user` may read the campaign: a portal admin, or an approver of one of its roles."""
    if is_portal_admin(user):
        return True
    if is_application(user):
        return False
    return campaign.items.filter(role_id__in=_reviewable_roles(user)).exists()


def campaigns_visible_to(user) -> QuerySet:
    """Return the campaigns `user` may read, newest first."""
    if is_portal_admin(user):
        return campaigns_all()
    if is_application(user):
        return Campaign.objects.none()
    roles = _reviewable_roles(user)
    return campaigns_all().filter(items__role_id__in=roles).distinct()


def is_subject(item: ReviewItem, user) -> bool:
    """Return whether `user` is the person the item is about (nobody reviews themselves)."""
    profile = getattr(user, "profile", None)
    if item.user_id is not None and item.user_id == user.pk:
        return True
    return bool(profile and profile.tid == item.tid and profile.oid == item.oid)


def may_decide(item: ReviewItem, user) -> bool:
    """Return whether `user` may decide the item now: an approver of its role, not its subject, campaign open."""
    return (
        item.campaign.state == Campaign.State.OPEN
        and item.decision == ReviewItem.Decision.PENDING
        and not is_application(user)
        and not is_subject(item, user)
        and is_reviewer(item.role, user)
    )


def pending_for_reviewer(user) -> int:
    """Return how many open items `user` may decide (for the navigation)."""
    roles = _reviewable_roles(user)
    if not roles:
        return 0
    profile = getattr(user, "profile", None)
    if profile is None:
        return _pending_items(role_ids=roles, user_id=user.pk).count()
    return _PENDING_ITEMS.count(role_ids=roles, user_id=user.pk, tid=profile.tid, oid=profile.oid)


def _pending_items(*, role_ids: list[int], user_id: int, tid: str | None = None, oid: str | None = None) -> QuerySet:
    """Return the open items of `role_ids` that are not about the person `user_id` (nor their `tid`/`oid`)."""
    items = ReviewItem.objects.filter(
        campaign__state=Campaign.State.OPEN,
        decision=ReviewItem.Decision.PENDING,
        role_id__in=ids_in(role_ids),
    ).exclude(user_id=user_id)
    return items if tid is None else items.exclude(tid=tid, oid=oid)


# Their count in the navigation of every page an approver opens, compiled once.
_PENDING_ITEMS = Compiled(_pending_items, role_ids=list, user_id=int, tid=str, oid=str)


@dataclass(frozen=True)
class Evidence:
    last_request_at: datetime | None = None
    requests_recent: int = 0
    requests_total: int = 0
    last_reveal_at: datetime | None = None
    open_grants: int = 0


def evidence_for(items) -> dict[int, Evidence]:
    """Return, per item ID, what the person did with the role: last request, how often, last reveal, open grants."""
    items = list(items)
    users = {item.user_id for item in items if item.user_id}
    roles = {item.role_id for item in items}
    since = now() - timedelta(days=EVIDENCE_DAYS)
    rows = (
        AccessRequest.objects.filter(requester_id__in=users, role_id__in=roles, extends=None)
        .order_by()
        .values("requester_id", "role_id")
        .annotate(
            last_request_at=Max("created_at"),
            requests_recent=Count("id", filter=Q(created_at__gte=since)),
            requests_total=Count("id"),
            last_reveal_at=Max("revealed_at"),
            open_grants=Count("id", filter=Q(state__in=HOLDING_STATES)),
        )
    )
    found = {(row.pop("requester_id"), row.pop("role_id")): Evidence(**row) for row in rows}
    return {item.pk: found.get((item.user_id, item.role_id), Evidence()) for item in items}


def items_of(campaign: Campaign) -> QuerySet:
    return campaign.items.select_related("role", "user__profile", "decided_by__profile", "campaign").order_by(
        "role__name", "upn", "oid"
    )


def group_label(role: AccessRole, through: str) -> str:
    return through if through.startswith("app role ") else role.group_label(through)


def reviewer_emails(campaign: Campaign) -> list[str]:
    """Return the e-mail addresses of the reviewers of every role in the campaign."""
    roles = AccessRole.objects.filter(pk__in=campaign.items.values("role_id").distinct())
    emails: list[str] = []
    for role in roles:
        found = approver_emails(role) if role.approver_groups else portal_admin_emails()
        emails += [email for email in found if email not in emails]
    return emails


@dataclass(frozen=True)
class RemovalRow:
    campaign_id: int
    role_slug: str
    role_name: str
    upn: str
    oid: str
    membership: str
    group_id: str
    reason: str
    decided_by: str
    decided_at: datetime | None
    overdue: bool


def removals(*, campaign: Campaign | None = None) -> list[RemovalRow]:
    """Return one row per group membership (or app role assignment) that Entra admins should remove."""
    items = ReviewItem.objects.filter(decision=ReviewItem.Decision.REMOVE).select_related("role", "decided_by__profile")
    if campaign is not None:
        items = items.filter(campaign=campaign)
    rows = []
    for item in items.order_by("campaign_id", "role__name", "upn", "id"):
        decider = item.decided_by
        decided_by = "system (due date)" if decider is None else user_label(decider)
        for through in item.eligible_through:
            is_group = not through.startswith("app role ")
            rows.append(
                RemovalRow(
                    campaign_id=item.campaign_id,
                    role_slug=item.role.slug,
                    role_name=item.role.name,
                    upn=item.upn,
                    oid=item.oid,
                    membership=group_label(item.role, through),
                    group_id=through if is_group else "",
                    reason=item.reason,
                    decided_by=decided_by,
                    decided_at=item.decided_at,
                    overdue=item.decided_when_overdue,
                )
            )
    return rows


def user_label(user) -> str:
    profile = getattr(user, "profile", None)
    return (profile.upn if profile and profile.upn else "") or user.get_username()


def open_campaigns_summary() -> list[tuple[Campaign, Progress]]:
    """Return each open campaign with its progress, soonest due first (for the dashboard)."""
    return [(campaign, progress_of(campaign)) for campaign in campaigns_open()]
