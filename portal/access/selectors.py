"""Reads of the catalog and of requests: who may ask for what, who may decide what, who may see what."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate

from portal.access import policy
from portal.access.models import (
    ENDED_STATES,
    HOLDING_STATES,
    NOT_ENDED_STATES,
    OPEN_STATES,
    AccessRequest,
    AccessRole,
    Approval,
    AuditAction,
    AuditEvent,
    RequestTally,
    load_approvals,
)
from portal.accounts.models import Profile
from portal.accounts.selectors import profiles_with_upn, user_groups
from portal.core import clock
from portal.core.db import Compiled, ids_in
from portal.core.errors import InvalidInput, NotFound
from portal.reviews.exclusions import excluded_by_review, excluded_by_review_of

State = AccessRequest.State
# How many of a requester's newest requests an approver sees next to a request.
RECENT_LIMIT = 5
RECENT_FIELDS = ("id", "requester_id", "state", "created_at", "role__name")  # what the queue shows of each
_RECENT_ATTR = "recent_requests_prefetched"


@dataclass(frozen=True)
class Eligibility:
    role: AccessRole
    # The user's groups and app roles that grant the role, as labels people read.
    because: list[str]


def _enabled_roles(exclusion) -> QuerySet:
    """The roles a person may be eligible for, each annotated with whether `exclusion` removed them from it."""
    return (
        AccessRole.objects.filter(enabled=True, vault_role_missing=False)
        .annotate(excluded_by_review=exclusion)
        # Each role's break-glass policy comes along: the lists show it (`breakglass.selectors.policies_for`).
        .select_related("break_glass_policy")
        .order_by("name")
    )


# The roles' list of every page and of `GET /api/v1/roles`, for a person: compiled once.
_ENABLED_ROLES_FOR = Compiled(
    lambda tid, oid: _enabled_roles(excluded_by_review_of(tid=tid, oid=oid)), tid=str, oid=str
)


def roles_eligible(user) -> list[Eligibility]:
    """Return the roles `user` may request now, each with why."""
    result = []
    profile = getattr(user, "profile", None)
    if profile is not None:
        roles = _ENABLED_ROLES_FOR(tid=profile.tid, oid=profile.oid)
    else:
        roles = list(_enabled_roles(excluded_by_review(user)))
    excluded = {role.pk for role in roles if role.excluded_by_review}
    for role in roles:
        because = policy.eligibility(role, user, excluded_role_ids=excluded)
        if because:
            result.append(Eligibility(role=role, because=because))
    return result


def _open_requests(requester_id, role_id) -> QuerySet:
    """A person's open requests for a role, extensions aside, newest first: at most one (OPEN_REQUEST_CONSTRAINT)."""
    return AccessRequest.objects.filter(
        requester_id=requester_id, role_id=role_id, state__in=OPEN_STATES, extends=None
    ).order_by("-created_at")


# Read again when a second request for the same role raced past the check (`role_asked_for`): compiled once.
_OPEN_REQUEST_FOR = Compiled(
    lambda requester_id, role_id: _open_requests(requester_id, role_id)[:1], requester_id=int, role_id=int
)


def open_request_for(*, user, role: AccessRole) -> AccessRequest | None:
    """Return the user's pending or active request for `role`, if any (extensions aside)."""
    return _OPEN_REQUEST_FOR.first(requester_id=user.pk, role_id=role.pk)


def _role_asked(slug, requester_id, tid, oid) -> QuerySet:
    open_ones = _open_requests(requester_id, OuterRef("pk"))
    return AccessRole.objects.filter(slug=slug).annotate(
        excluded_by_review=excluded_by_review_of(tid=tid, oid=oid),
        open_request_id=Subquery(open_ones.values("pk")[:1]),
        open_request_state=Subquery(open_ones.values("state")[:1]),
    )[:1]


# What a new request reads before anything else, in one query compiled once: the role, whether a review removed
# the person from it, and their open request for it (`open_request_for`), which a second one is refused for.
_ROLE_ASKED = Compiled(_role_asked, slug=str, requester_id=int, tid=str, oid=str)


def role_asked_for(user, slug: str) -> AccessRole | None:
    """Return the role `slug` as `user` asks for it, or None: with `excluded_by_review` (a review removed them from
    it) and `open_request_id` and `open_request_state` (their open request for it, as `open_request_for`; None)."""
    profile = getattr(user, "profile", None)
    tid, oid = (profile.tid, profile.oid) if profile is not None else ("", "")
    return _ROLE_ASKED.first(slug=slug, requester_id=user.pk, tid=tid, oid=oid)


# What every read of a request for showing it joins: the lists, the detail and an action's answer.
_SHOWN_WITH = ("role", "requester__profile", "break_glass_use")


@cache  # the models' fields do not change while the process runs: named once, not on every list
def _listed_columns() -> tuple[str, ...]:
    use = AccessRequest.break_glass_use.related.related_model
    return (
        *(field.name for field in AccessRequest._meta.concrete_fields),
        "role__slug",
        "requester__username",
        "requester__profile__upn",
        *(f"break_glass_use__{field.name}" for field in use._meta.concrete_fields),
    )


def with_listed_columns(queryset: QuerySet) -> QuerySet:
    """Read, of what `_with_related` joins, only the columns an API list shows (RequestSerializer): the role's
    slug and the requester's names, not the role's groups nor the requester's own. A page of fifty costs a
    fifth less CPU to read, and the requester's groups (hundreds in some tenants) are not parsed for each row."""
    return queryset.only(*_listed_columns())


def load_related(requests: list[AccessRequest]) -> list[AccessRequest]:
    """Load onto requests already read (an action's) what `requests_visible_to` reads with each: their role,
    requester and profile unless read already, break-glass use, approvals and approvers; two queries for all."""
    prefetch_related_objects(requests, *(name for name in _SHOWN_WITH if name != "break_glass_use"))
    _load_break_glass_uses(requests)
    return load_approvals(requests)


# The break-glass uses that opened requests, by their IDs: compiled once (an action's answer reads its own).
_USES_OF = Compiled(
    lambda ids: AccessRequest.break_glass_use.related.related_model.objects.filter(request_id__in=ids_in(ids)),
    ids=list,
)


def _load_break_glass_uses(requests: list[AccessRequest]) -> None:
    """Put onto each of `requests` the break-glass use that opened it, or that none did, unless it has it."""
    use_of = AccessRequest.break_glass_use.related
    missing = [request for request in requests if not use_of.is_cached(request)]
    if not missing:
        return
    found = {use.request_id: use for use in _USES_OF(ids=[request.pk for request in missing])}
    for request in missing:
        use = found.get(request.pk)
        use_of.set_cached_value(request, use)
        if use is not None:
            use_of.remote_field.set_cached_value(use, request)


def _with_related(queryset: QuerySet) -> QuerySet:
    return queryset.select_related(*_SHOWN_WITH).with_approvals()


def _visible_to(user) -> QuerySet:
    visible = policy.visible_filter(user)
    return AccessRequest.objects.all() if visible is None else AccessRequest.objects.filter(visible)


def requests_visible_to(user) -> QuerySet:
    """Return the requests `user` may see: their own, those of roles they approve, or all for admins."""
    return _with_related(_visible_to(user))


# One request with what showing it joins, compiled once: read by its ID for a page, a detail or an action.
_SHOWN = Compiled(lambda pk: AccessRequest.objects.filter(pk=pk).select_related(*_SHOWN_WITH), pk=int)


def request_visible_to(user, request_id: int) -> AccessRequest | None:
    """Return request `request_id` with what showing it joins and its approvals if `user` may see it
    (`policy.may_see`, which `requests_visible_to` is as a query), else None.

    One read by ID, its SQL compiled once, and the check on the row read: the filter of `requests_visible_to`
    would be compiled anew at every call (the caller's groups are in it), for one row.
    """
    found = _SHOWN.first(pk=request_id)
    if found is None or not policy.may_see(user, found):
        return None
    return load_approvals([found])[0]


# What `policy.may_see` reads of a request, and the grant it extends, compiled once: an action checks that its
# caller may see the request before it reads the request itself under its lock.
_CHECKED = Compiled(
    lambda pk: (
        AccessRequest.objects.filter(pk=pk)
        .select_related("role")
        .only("requester_id", "extends_id", "role__approver_groups")
    ),
    pk=int,
)


def request_checked_for(user, request_id: int) -> AccessRequest | None:
    """Return request `request_id` with only its requester, its role's approver groups and the grant it extends,
    if `user` may see it (as `request_visible_to`), else None.

    Two tables, not the five a request is shown with: PostgreSQL plans it in a fraction of the time.
    """
    found = _CHECKED.first(pk=request_id)
    return found if found is not None and policy.may_see(user, found) else None


def person_by_oid_or_upn(text: str):
    """Return the person whose Entra object ID (oid) is `text`, or whose UPN it is when exactly one person has it.

    An oid names one person; a UPN may be reused (a person who left, a guest of another tenant), so a UPN that
    names several people is refused rather than guessed.
    """
    text = (text or "").strip()
    if not text or "\x00" in text:
        raise NotFound(f"There is no user {text!r}.")
    by_oid = list(Profile.objects.select_related("user").filter(oid__iexact=text)[:2])
    by_upn = [] if by_oid else profiles_with_upn(text)
    found = by_oid or by_upn
    if not found:
        raise NotFound(f"There is no user {text!r}.")
    if len(found) > 1:
        raise InvalidInput(
            f"{text!r} names more than one person; give the object ID (oid) of the one you mean.",
            fields={"user": ["Give the person's object ID (oid)."]},
        )
    return found[0].user


# How many of a person's ended requests their own page shows.
OWN_HISTORY_ROWS = 10


# A person's own page (My access) in one read, compiled once: the open requests and the newest ended ones,
# newest first, with what a list shows.
def _own(requester_id) -> QuerySet:
    # Each part by its own index, so that neither grows with the person's history: the open ones (a handful,
    # `request_requester_open_idx`) and the newest ended ones (`request_requester_newest_idx`).
    mine = AccessRequest.objects.filter(requester_id=requester_id).order_by().values("pk")
    open_ones = mine.filter(state__in=NOT_ENDED_STATES)
    ended = mine.filter(state__in=ENDED_STATES).order_by("-created_at", "-id")[:OWN_HISTORY_ROWS]
    return (
        AccessRequest.objects.filter(pk__in=open_ones.union(ended, all=True))
        .select_related(*_SHOWN_WITH)
        .order_by("-created_at", "-id")
    )


_OWN = Compiled(_own, requester_id=int)


@dataclass(frozen=True)
class OwnRequests:
    open: list[AccessRequest]  # pending and held, with their approvals
    ended: list[AccessRequest]  # the newest OWN_HISTORY_ROWS, without approvals


def requests_own(user) -> OwnRequests:
    """Return the open requests of `user` (with approvals) and their newest ended ones, each newest first."""
    read = _OWN(requester_id=user.pk)
    ended = [request for request in read if request.state in ENDED_STATES]
    return OwnRequests(
        open=load_approvals([request for request in read if request.state not in ENDED_STATES]), ended=ended
    )


def requests_to_review(user) -> QuerySet:
    """Return the pending requests `user` may decide now (`policy.check_decide` as a query).

    The queue's page reads each requester's recent requests for the items it shows (`with_recent_requests`).
    """
    values = _to_review_values(user)
    return AccessRequest.objects.none() if values is None else _with_related(_to_review(**values))


def _to_review_values(user) -> dict | None:
    """Return the values of `_to_review` for `user`, or None if they may decide nothing now."""
    return {"user_id": user.pk, "groups": sorted(user_groups(user))} if policy.may_decide_any(user) else None


def _to_review(*, user_id: int, groups: list[str]) -> QuerySet:
    # The role is filtered through the join its columns are read by, not in a subquery of its own: one table
    # fewer to join took PostgreSQL's planning of a list (with what a list shows) from 1.6 ms to 0.6 ms.
    return (
        AccessRequest.objects.filter(state=State.PENDING, role__approver_groups__has_any_keys=groups)
        .exclude(requester_id=user_id)
        .exclude(approvals__approver_id=user_id)
    )


# The navigation's count of them, on every page an approver opens: its SQL compiled once.
_TO_REVIEW = Compiled(_to_review, user_id=int, groups=list[str])


def count_to_review_in(request) -> int:
    """Return how many requests the request's user may decide now, counted once per request (as
    `is_approver_in` asks once): the navigation shows it on every page, and the queue's page in its heading."""
    if not hasattr(request, "_latchkey_to_review_count"):
        values = _to_review_values(request.user)
        request._latchkey_to_review_count = 0 if values is None else _TO_REVIEW.count(**values)
    return request._latchkey_to_review_count


def with_recent_requests(items: list[AccessRequest]) -> list[AccessRequest]:
    """Read the newest requests of the requesters of `items` in one query, for `recent_requests_of`; return `items`.

    Each requester's newest are found through the requester's index (a lateral read of a few rows each), so the
    read does not grow with how many requests a requester made before.
    """
    requester_ids = sorted({item.requester_id for item in items})
    by_requester: dict[int, list[AccessRequest]] = {requester_id: [] for requester_id in requester_ids}
    if requester_ids:
        for request in _RECENT_OF(requester_ids=requester_ids):
            by_requester[request.requester_id].append(request)
    for item in items:
        setattr(item.requester, _RECENT_ATTR, by_requester[item.requester_id])
    return items


def _recent_of(requester_ids: list[int]) -> QuerySet:
    newest = RawSQL(
        "SELECT newest.id FROM unnest(%s::bigint[]) AS requester(id) CROSS JOIN LATERAL ("
        "SELECT id FROM access_accessrequest WHERE requester_id = requester.id "
        "ORDER BY created_at DESC, id DESC LIMIT %s) AS newest",
        (requester_ids, RECENT_LIMIT + 1),
    )
    # What the queue shows of each: a hundred and fifty rows for a page, built without the columns it does not.
    return (
        AccessRequest.objects.select_related("role")
        .only(*RECENT_FIELDS)
        .filter(pk__in=newest)
        .order_by("-created_at", "-id")
    )


_RECENT_OF = Compiled(_recent_of, requester_ids=list)


def requests_all() -> QuerySet:
    return _with_related(AccessRequest.objects.all())


# ----- the lists of requests that are paged: the API's, and the approval queue -----


def _listed(queryset: QuerySet) -> QuerySet:
    return with_listed_columns(_with_related(queryset).order_by("-created_at", "-id"))


# Each list's requests in its order, from the values that choose them (the caller's ID, their groups), and those
# values' kinds. The API's lists are newest first, with what a list shows; the queue oldest first, whole.
_LISTS: dict[str, tuple[Callable[..., QuerySet], dict[str, type]]] = {
    "mine": (
        lambda *, requester_id: _listed(AccessRequest.objects.filter(requester_id=requester_id)),
        {"requester_id": int},
    ),
    "to_review": (lambda **values: _listed(_to_review(**values)), {"user_id": int, "groups": list[str]}),
    "all": (lambda: _listed(AccessRequest.objects.all()), {}),
    "queue": (
        lambda **values: _with_related(_to_review(**values)).order_by("created_at", "id"),
        {"user_id": int, "groups": list[str]},
    ),
}


@lru_cache(maxsize=16)  # a few page sizes are common; any other is compiled again, not kept forever
def _first_rows(scope: str, limit: int) -> Compiled:
    """Return the read of the first `limit` rows of the list `scope`: a page size is part of the SQL."""
    build, kinds = _LISTS[scope]
    return Compiled(lambda **values: build(**values)[:limit], **kinds)


@dataclass(frozen=True)
class Listing:
    """A list of requests as it is paged (`portal.core.paging.FirstPageFirst`).

    `queryset` is the whole list, for any page; `first` reads its first rows with SQL compiled once, as most
    calls ask for the first page only (its compilation was a quarter of such a call's CPU).
    """

    scope: str
    values: dict | None  # None: an empty list

    @property
    def queryset(self) -> QuerySet:
        if self.values is None:
            return AccessRequest.objects.none()
        return _LISTS[self.scope][0](**self.values)

    def first(self, limit: int) -> list[AccessRequest]:
        """Return the list's first `limit` requests, with their approvals."""
        if self.values is None:
            return []
        return load_approvals(_first_rows(self.scope, limit)(**self.values))


def requests_listed(user, scope: str) -> Listing:
    """Return the API's list `scope` for `user`: their own ("mine"), those they may decide now ("to_review",
    `requests_to_review`), or every request ("all": the caller checks that `user` may see them all)."""
    if scope == "mine":
        return Listing(scope, {"requester_id": user.pk})
    if scope == "to_review":
        return Listing(scope, _to_review_values(user))
    if scope == "all":
        return Listing(scope, {})
    raise ValueError(f"No list of requests is called {scope!r}.")


def review_queue_of(user) -> Listing:
    """Return the approval queue of `user`: `requests_to_review(user)`, oldest first, with every column."""
    return Listing("queue", _to_review_values(user))


def requests_total() -> int:
    """Return how many requests there are: the database's tally (`RequestTally`), or a count where it has none."""
    total = RequestTally.objects.filter(pk=1).values_list("total", flat=True).first()
    return AccessRequest.objects.count() if total is None else total


def recent_requests_of(user, *, limit: int = RECENT_LIMIT, exclude_id: int | None = None) -> list[AccessRequest]:
    """Return the newest requests of `user`, for an approver's context."""
    prefetched = getattr(user, _RECENT_ATTR, None)
    if prefetched is not None and limit <= RECENT_LIMIT:
        # Read by `with_recent_requests`: the newest RECENT_LIMIT + 1, so one may be left out.
        return [request for request in prefetched if request.pk != exclude_id][:limit]
    queryset = AccessRequest.objects.filter(requester=user).select_related("role")
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return list(queryset.order_by("-created_at", "-id")[:limit])


def approver_emails(role: AccessRole, *, excluding=None) -> list[str]:
    """Return the e-mail addresses of the people in the role's approver groups, as last read at sign-in.

    `excluding` (a user) is left out, by person and by address: nobody is asked to approve their own request.
    """
    if not role.approver_groups:
        return []
    return _emails(Profile.objects.filter(groups__has_any_keys=list(role.approver_groups)), excluding=excluding)


def portal_admin_emails() -> list[str]:
    """Return the e-mail addresses of the portal admins (by group or app role, as last read at sign-in)."""
    wanted = Q(pk__in=[])
    if settings.PORTAL_ADMIN_GROUPS:
        wanted |= Q(groups__has_any_keys=list(settings.PORTAL_ADMIN_GROUPS))
    if settings.PORTAL_ADMIN_APP_ROLES:
        wanted |= Q(app_roles__has_any_keys=list(settings.PORTAL_ADMIN_APP_ROLES))
    return _emails(Profile.objects.filter(wanted, is_application=False))


def _emails(profiles: QuerySet, *, excluding=None) -> list[str]:
    profiles = profiles.filter(user__is_active=True).select_related("user")
    if excluding is not None:
        profiles = profiles.exclude(user=excluding)
    left_out = {address.lower() for address in _addresses_of(excluding)}
    return sorted({profile.email for profile in profiles if profile.email and profile.email.lower() not in left_out})


def _addresses_of(user) -> list[str]:
    if user is None:
        return []
    profile = getattr(user, "profile", None)
    return [address for address in (user.email, profile.email if profile else "") if address]


def stale_pending_request_ids(*, at=None) -> list[int]:
    """Return the IDs of pending requests older than their role's pending lifetime."""
    lifetime = ExpressionWrapper(
        F("role__pending_lifetime_minutes") * timedelta(minutes=1), output_field=DurationField()
    )
    deadline = ExpressionWrapper(F("created_at") + lifetime, output_field=DateTimeField())
    return list(
        AccessRequest.objects.filter(state=State.PENDING)
        .alias(deadline=deadline)
        .filter(deadline__lte=at or clock.now())
        .values_list("pk", flat=True)
    )


def request_compromised(timeline: list[AuditEvent]) -> bool:
    """Return whether the credentials of the grant (or of one of its extensions) were taken before their reveal,
    from its timeline (`request_timeline`), which its page reads anyway."""
    return any(event.action == AuditAction.GRANT_COMPROMISED for event in timeline)


# A request's page, compiled once: its timeline (its events and its extensions', with their requests) and its
# extensions (with their roles).
_TIMELINE = Compiled(
    lambda pk: (
        AuditEvent.objects.filter(Q(request_id=pk) | Q(request__extends_id=pk)).select_related("request").order_by("id")
    ),
    pk=int,
)
_EXTENSIONS = Compiled(
    lambda pk: AccessRequest.objects.filter(extends_id=pk).select_related("role").order_by("created_at", "id"),
    pk=int,
)


def request_timeline(request: AccessRequest) -> list[AuditEvent]:
    """Return the audit events of a request and of its extensions, oldest first, each with its request."""
    return _TIMELINE(pk=request.pk)


def request_extensions(request: AccessRequest) -> list[AccessRequest]:
    """Return the extensions of a grant, oldest first, with their roles.

    Only an active grant is extended (`policy.check_extend`): a request that never started, or an extension,
    has none, and they are not read.
    """
    if request.starts_at is None or request.extends_id is not None:
        return []
    return _EXTENSIONS(pk=request.pk)


def grants_open() -> QuerySet:
    """Return every grant that holds (or may soon hold) a Vault token, soonest end first."""
    return _with_related(AccessRequest.objects.filter(state__in=HOLDING_STATES, extends=None).order_by("ends_at", "id"))


# ----- pages: who may approve, history, dashboard -----


def approver_labels(role: AccessRole) -> list[str]:
    """Return the names of the groups whose members may approve `role`."""
    return [role.group_label(group) for group in role.approver_groups]


def audit_actions() -> list[str]:
    """Return the distinct audit actions, for the history's filter."""
    # A skip scan of the (action, at) index, one probe per distinct action: DISTINCT would read every event
    # (a million take a few hundred milliseconds, at each view of the history).
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE actions(action) AS (
                (SELECT action FROM {table} ORDER BY action LIMIT 1)
                UNION ALL
                SELECT (SELECT action FROM {table} WHERE action > actions.action ORDER BY action LIMIT 1)
                FROM actions WHERE actions.action IS NOT NULL
            )
            SELECT action FROM actions WHERE action IS NOT NULL
            """
        )
        return [row[0] for row in cursor.fetchall()]


def audit_events_filtered(
    *,
    person: str = "",
    role: AccessRole | None = None,
    action: str = "",
    state: str = "",
    since=None,
    until=None,
    q: str = "",
) -> QuerySet:
    """Return audit events, newest first: by who acted or asked, role, action, request state, time, and text."""
    events = AuditEvent.objects.select_related("role", "request")
    if person:
        events = events.filter(Q(actor_label__icontains=person) | Q(request__requester__profile__upn__icontains=person))
    if role is not None:
        events = events.filter(role=role)
    if action:
        events = events.filter(action=action)
    if state:
        events = events.filter(request__state=state)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    if q:
        events = events.filter(Q(request__justification__icontains=q) | Q(request__ticket__icontains=q))
    return events.order_by("-id")


class _Median(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass(frozen=True)
class Dashboard:
    active_now: int
    # (day, number of requests) for each of the last `days` days, oldest first.
    per_day: list[tuple[date, int]]
    median_to_approval: timedelta | None
    # (role name, number of requests) in the same days, most asked first.
    top_roles: list[tuple[str, int]]
    # Credentials taken out of Vault before their holder revealed them, in the same days, newest first.
    compromised: list[AuditEvent]


def dashboard(*, days: int = 30, at=None) -> Dashboard:
    """Return the admins' dashboard: grants active now, requests per day, median wait for approval, top roles."""
    current = at or clock.now()
    first_day = (current - timedelta(days=days - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    recent = AccessRequest.objects.filter(created_at__gte=since)
    per_day = (
        recent.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    counts = dict(per_day)
    # Time to approval counts the requests that people approved; automatic approvals take no time at all.
    waits = (
        recent.filter(decided_at__isnull=False, approvals__decision=Approval.Decision.APPROVE)
        .exclude(state=State.DENIED)
        .values_list("pk", flat=True)
    )
    median = AccessRequest.objects.filter(pk__in=waits).aggregate(
        median=_Median(
            ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField()),
            output_field=DurationField(),
        )
    )["median"]
    top = (
        recent.order_by()
        .values("role__name")
        .annotate(n=Count("id"))
        .order_by("-n", "role__name")
        .values_list("role__name", "n")[:5]
    )
    return Dashboard(
        active_now=AccessRequest.objects.filter(state=State.ACTIVE, extends=None).count(),
        per_day=[(first_day + timedelta(days=n), counts.get(first_day + timedelta(days=n), 0)) for n in range(days)],
        median_to_approval=median,
        top_roles=list(top),
        compromised=list(
            AuditEvent.objects.filter(action=AuditAction.GRANT_COMPROMISED, at__gte=since)
            .select_related("request__role", "request__requester__profile")
            .order_by("-id")[:20]
        ),
    )
