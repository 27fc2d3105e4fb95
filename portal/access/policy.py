"""Who may do what to which request or role: every rule of the workflow, in one place.

Each rule has two faces. `check_<verb>` raises the domain error that says why not (the
services' guards call these, inside their lock); `may_<verb>` answers True or False for
pages, template tags, selectors and the API. Both run the same code, so a page never offers
what the service would refuse, and the reverse.
"""

import math
from collections.abc import Callable

from django.conf import settings
from django.db.models import Q

from portal.access.models import REVOCABLE_STATES, AccessRequest, AccessRole
from portal.accounts.selectors import (
    is_application,
    is_portal_admin,
    memberships_are_fresh,
    user_app_roles,
    user_groups,
)
from portal.core.db import Compiled
from portal.core.errors import DomainError, Gone, InvalidTransition, NotAllowed, NotFound
from portal.reviews.exclusions import excluded_from_role

State = AccessRequest.State


# ----- who someone is, for a role -----


def eligibility(role: AccessRole, user, *, excluded_role_ids: set[int] | None = None) -> list[str]:
    """Return the user's groups and app roles that make them eligible for `role` (empty: not eligible).

    `excluded_role_ids`, when given, are the roles a review removed the user from, read once for a list.
    """
    if is_application(user) and not role.applications_may_request:
        return []
    groups = [role.group_label(group) for group in role.eligible_groups if group in user_groups(user)]
    app_roles = [f"app role {value}" for value in role.eligible_app_roles if value in user_app_roles(user)]
    if not (groups or app_roles):
        return []
    # A person an access review removed from the role stays out, whatever their groups say.
    excluded = role.pk in excluded_role_ids if excluded_role_ids is not None else excluded_from_role(role, user)
    return [] if excluded else groups + app_roles


def is_role_approver(role: AccessRole, user) -> bool:
    """Return whether `user` is in one of the approver groups of `role` (as last read)."""
    return bool(set(role.approver_groups) & user_groups(user))


def check_fresh_memberships(user) -> None:
    """Refuse a decision that rests on groups read too long ago."""
    if not memberships_are_fresh(user):
        minutes = settings.GROUPS_MAX_AGE_SECONDS // 60
        raise NotAllowed(
            f"Your group memberships were read more than {minutes} minutes ago; sign in again to refresh them."
        )


# A role named by its slug, as the API asks for it: compiled once.
_ROLE_BY_SLUG = Compiled(lambda slug: AccessRole.objects.filter(slug=slug)[:1], slug=str)


def offered_role(role: AccessRole | str) -> AccessRole:
    """Return the role (by slug or itself) if people may ask for it at all; else raise NotFound."""
    found = role if isinstance(role, AccessRole) else _ROLE_BY_SLUG.first(slug=role)
    if found is None or not found.offered:
        raise NotFound(f"There is no role {getattr(role, 'slug', role)!r} to request.")
    return found


# ----- the rules -----


def check_request(user, role: AccessRole, *, excluded_role_ids: set[int] | None = None) -> list[str]:
    """Check that `user` may ask for `role` now; return the groups that make them eligible.

    `excluded_role_ids`, when given, are the roles a review removed the user from, read already (`eligibility`).
    """
    # Eligibility rests on memberships read recently
    check_fresh_memberships(user)
    # Applications ask only for roles that admit them
    if is_application(user) and not role.applications_may_request:
        raise NotAllowed(f"Applications may not request {role.name}.")
    # Only members of an eligible group (or app role) may ask
    because = eligibility(role, user, excluded_role_ids=excluded_role_ids)
    if not because:
        raise NotAllowed(f"You are not in a group that may request {role.name}.")
    return because


def check_cancel(user, request: AccessRequest) -> None:
    # Only the requester may cancel
    if request.requester_id != user.pk:
        raise NotAllowed("Only the requester can cancel a request.")
    # Only while nobody has decided yet
    if request.state != State.PENDING:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}; only a pending request can be cancelled.")


def check_decide(user, request: AccessRequest, *, verb: str = "decide") -> None:
    """Check that `user` may approve or deny `request` now (`verb` words the refusals)."""
    # Only a pending request can be decided
    if request.state != State.PENDING:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
    # Nobody decides their own request
    if request.requester_id == user.pk:
        if verb == "deny":
            raise NotAllowed("You cannot deny your own request; cancel it instead.")
        raise NotAllowed(f"You cannot {verb} your own request.")
    # Applications never decide: approval is a person's judgement
    if is_application(user):
        raise NotAllowed(f"Applications cannot {verb} requests.")
    # The approver's groups are re-checked now, so they must be fresh
    check_fresh_memberships(user)
    # Only members of an approver group of the role may decide
    if not is_role_approver(request.role, user):
        raise NotAllowed(f"You are not an approver of {request.role.name}.")
    # Each approver counts once (the approvals as read with the request, or read now)
    if any(approval.approver_id == user.pk for approval in request.approval_list):
        raise InvalidTransition("You have already decided on this request.")


def check_extend(user, grant: AccessRequest) -> list[str]:
    """Check that `user` may ask to extend `grant` now; return the groups that make them eligible."""
    # Only the holder of a grant may extend it
    if grant.requester_id != user.pk:
        raise NotAllowed("Only the holder of a grant can extend it.")
    # Only an active grant has an end to move
    if grant.state != State.ACTIVE or grant.extends_id is not None:
        raise InvalidTransition(f"Request #{grant.pk} is {grant.state}; only an active grant can be extended.")
    # The role must still be offered
    role = offered_role(grant.role)
    # Eligibility rests on memberships read recently
    check_fresh_memberships(user)
    # The holder must still be eligible
    because = eligibility(role, user)
    if not because:
        raise NotAllowed(f"You are no longer in a group that may request {role.name}.")
    # A grant and all its extensions together stay within the role's maximum
    if extension_room_minutes(grant) < 1:
        raise InvalidTransition(
            f"Grant #{grant.pk} already runs for the longest {role.name} allows "
            f"({role.max_duration_minutes} minutes); ask for a new grant when it ends."
        )
    return because


def extension_room_minutes(grant: AccessRequest) -> int:
    """Return how many minutes extensions may still add to `grant`: the role's maximum less its whole window."""
    if grant.starts_at is None or grant.ends_at is None:
        return 0
    held = math.ceil((grant.ends_at - grant.starts_at).total_seconds() / 60)
    return max(grant.role.max_duration_minutes - held, 0)


def check_revoke(user, request: AccessRequest) -> None:
    """Check that `user` may end the grant early now."""
    # Extensions end with their grant
    if request.extends_id is not None:
        raise InvalidTransition(f"Request #{request.pk} is an extension; revoke grant #{request.extends_id}.")
    # Only the holder, an approver of the role or a portal admin may revoke
    if request.requester_id != user.pk:
        if not is_portal_admin(user) and not is_role_approver(request.role, user):
            raise NotAllowed("Only the holder, an approver of the role or a portal admin can revoke a grant.")
        # An approver's or an admin's groups are re-checked now, so they must be fresh
        check_fresh_memberships(user)
    # Only a grant that is approved, being issued or active has something to revoke
    if request.state not in REVOCABLE_STATES:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}; there is nothing to revoke.")


def check_reveal(user, request: AccessRequest) -> None:
    """Check that `user` may see the grant's credentials now (once)."""
    # Only the holder sees the credentials
    if request.requester_id != user.pk:
        raise NotAllowed("Only the holder of a grant can reveal its credentials.")
    # Credentials go only to someone still in the groups as read recently
    check_fresh_memberships(user)
    # Only while the grant runs
    if request.state != State.ACTIVE:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}, not active.")
    # An extension's credentials only while its grant runs (not once the grant is being revoked)
    if request.extends_id is not None and request.extends.state != State.ACTIVE:
        raise InvalidTransition(
            f"Grant #{request.extends_id} is {request.extends.state}; its extensions ended with it."
        )
    # Exactly once
    if request.revealed_at is not None or not request.wrapped_secret:
        raise Gone("The credentials were already revealed; revoke the grant and ask again if they were lost.")


def check_admin(user, *, doing: str = "do this") -> None:
    """Check that `user` holds the portal admin power (`doing` words the refusal)."""
    # Admin power comes from a group or app role named in the settings
    if not is_portal_admin(user):
        raise NotAllowed(f"Only portal admins can {doing}.")
    # ... as read recently: a person removed from the admin group loses the power within the hour
    check_fresh_memberships(user)


def may_see(user, request: AccessRequest) -> bool:
    """Return whether `user` may see `request`: their own, one of a role they approve, or any for admins."""
    return request.requester_id == user.pk or is_portal_admin(user) or is_role_approver(request.role, user)


def visible_filter(user) -> Q | None:
    """Return the filter on requests that `may_see` describes (None: every request)."""
    if is_portal_admin(user):
        return None
    groups = list(user_groups(user))
    approvable = (
        AccessRole.objects.filter(approver_groups__has_any_keys=groups) if groups else AccessRole.objects.none()
    )
    return Q(requester=user) | Q(role__in=approvable)


def may_decide_any(user) -> bool:
    """Return whether `user` may decide requests at all now (the review queue is empty otherwise)."""
    return bool(user_groups(user)) and not is_application(user) and memberships_are_fresh(user)


def _allowed(check: Callable, *args, **kwargs) -> bool:
    try:
        check(*args, **kwargs)
    except DomainError:
        return False
    return True


def may_cancel(user, request: AccessRequest) -> bool:
    return _allowed(check_cancel, user, request)


def may_decide(user, request: AccessRequest) -> bool:
    return _allowed(check_decide, user, request)


def may_extend(user, grant: AccessRequest) -> bool:
    return _allowed(check_extend, user, grant)


def may_revoke(user, request: AccessRequest) -> bool:
    return _allowed(check_revoke, user, request)


def may_reveal(user, request: AccessRequest) -> bool:
    return _allowed(check_reveal, user, request)


def may_admin(user) -> bool:
    return _allowed(check_admin, user)


# The verbs that pages ask about, for the `may` template tag.
VERBS: dict[str, Callable] = {
    "cancel": may_cancel,
    "decide": may_decide,
    "extend": may_extend,
    "revoke": may_revoke,
    "reveal": may_reveal,
}
