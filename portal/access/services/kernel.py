"""The kernel every transition shares: lock a request, move its state, record it, queue work after commit.

This is the only module of the workflow that hands work to Celery (through `portal.core.queue`), and
only once the transaction commits: a task never runs for a state the database has not recorded.
Tasks are queued by name, so the services never import `portal.access.tasks`, which imports them.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Case, Q, When

from portal.access.audit import audit_record, audit_record_many
from portal.access.models import AccessRequest, AuditAction, NotificationEvent
from portal.core import clock
from portal.core.db import RowLock
from portal.core.errors import InvalidTransition
from portal.core.queue import notify_on_commit
from portal.core.queue import on_commit as queue_after_commit

_TASKS = "portal.access.tasks."
# The longest text of an error kept on a request's row (never a secret).
ERROR_MAX_CHARS = 500


# Every transition locks its request, and reads its role and the requester's profile with it (most transitions
# check their groups: eligibility, token metadata), and the break-glass use that opened it, if one did (an
# action's answer shows it; only the request's row is locked).
_LOCK = RowLock(lambda: AccessRequest.objects.select_related("role", "requester__profile", "break_glass_use"))


def locked(request_id: int) -> AccessRequest:
    """Return the request, locked for the rest of the transaction."""
    return _LOCK(request_id, missing=f"There is no request #{request_id}.")


def locked_many(
    *conditions: Q,
    skip_locked: bool = False,
    first: int | None = None,
    limit: int | None = None,
    annotations: dict | None = None,
    **filters,
) -> list[AccessRequest]:
    """Return the requests matching `conditions` and `filters`, locked in the order of their IDs (the order
    every batch takes), each read with `annotations`.

    With `skip_locked`, rows another transaction holds are left out rather than waited for; only then may
    request `first` come before the others (a wait in another order could deadlock), and at most `limit` are
    returned.
    """
    if (first is not None or limit is not None) and not skip_locked:
        raise ValueError("Only a lock that skips held rows may take them in another order or stop part way.")
    requests = AccessRequest.objects.select_for_update(of=("self",), skip_locked=skip_locked)
    requests = requests.select_related("role", "requester__profile").filter(*conditions, **filters)
    requests = requests.annotate(**(annotations or {}))
    order = ("pk",) if first is None else (Case(When(pk=first, then=0), default=1), "pk")
    requests = requests.order_by(*order)
    return list(requests if limit is None else requests[:limit])


# `locked_with_grant` reads whether the request extends a grant unless its caller knows.
UNREAD = object()


def locked_with_grant(request_id: int, *, extends_id=UNREAD) -> tuple[AccessRequest, AccessRequest | None]:
    """Return the request and, for an extension, its grant: both locked, the grant first (the order every
    transition that touches both takes, so that two of them never wait for each other).

    A caller that has just read the request's `extends_id` (it never changes) passes it: one query fewer.
    """
    if extends_id is UNREAD:
        extends_id = AccessRequest.objects.filter(pk=request_id).values_list("extends_id", flat=True).first()
    grant = locked(extends_id) if extends_id else None
    request = locked(request_id)
    if request.extends_id != extends_id:
        raise InvalidTransition(f"Request #{request_id} does not extend the grant its caller said it does.")
    if grant is not None:
        request.extends = grant
    return request, grant


def transition(request: AccessRequest, *, source: str, target: str, **fields) -> AccessRequest:
    """Move `request` from `source` to `target` with a conditional update; another actor may have been first."""
    fields = {"state": target, "updated_at": clock.now(), **fields}
    if AccessRequest.objects.filter(pk=request.pk, state=source).update(**fields) == 0:
        raise InvalidTransition(f"Request #{request.pk} is no longer {source}.")
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def transition_many(
    requests: list[AccessRequest],
    *,
    sources,
    target: str,
    conflict: str = "Requests changed while they were being moved; none was moved.",
    **fields,
) -> list[AccessRequest]:
    """Move locked `requests`, each in one of `sources`, to `target` with one conditional update; all or none."""
    fields = {"state": target, "updated_at": clock.now(), **fields}
    moved = AccessRequest.objects.filter(pk__in=[request.pk for request in requests], state__in=sources)
    if moved.update(**fields) != len(requests):
        raise InvalidTransition(conflict)
    for request in requests:
        for name, value in fields.items():
            setattr(request, name, value)
    return requests


def record(*, actor, action: AuditAction, request: AccessRequest, details: dict | None = None, http_request=None):
    """Write the audit event of a transition, in the caller's transaction."""
    return audit_record(
        actor=actor, action=AuditAction(action), request=request, details=details, http_request=http_request
    )


def record_many(*entries: dict) -> None:
    """Write several audit events of the caller's transaction (each given as `record`'s arguments), in order.

    One turn of the audit chain's lock: one read of the head and one INSERT, not one of each per event.
    """
    audit_record_many([{**entry, "action": AuditAction(entry["action"])} for entry in entries])


def queue(task: str, request_id: int, *, eta: datetime | None = None) -> None:
    """Queue the Celery task `task` for the request once the transaction commits (IDs only)."""
    queue_after_commit(_TASKS + task, request_id, eta=eta)


def queue_batches(task: str, request_ids: list[int], *, size: int) -> None:
    """Queue `task` once the transaction commits for `request_ids`, cut into lists of at most `size` IDs."""
    for start in range(0, len(request_ids), size):
        queue_after_commit(_TASKS + task, request_ids[start : start + size])


def queue_now(task: str, request_id: int) -> None:
    """Queue `task` outside any transaction of the caller's (it commits at once)."""
    with transaction.atomic():
        queue(task, request_id)


def notify(request: AccessRequest, event: NotificationEvent) -> None:
    """Tell the people concerned about `event` once the transaction commits: e-mail and each webhook."""
    notify_on_commit(
        email_task=_TASKS + "notify_email",
        webhook_task=_TASKS + "notify_webhook",
        args=(request.pk, NotificationEvent(event).value),
    )


def correlation(request: AccessRequest) -> str:
    """Return the ID that ties the Vault calls made for a request together in Vault's own audit log."""
    return f"access-request-{request.pk}"


def short(error: Exception) -> str:
    """Return an error's text, cut to what a request's row keeps."""
    return str(getattr(error, "detail", error))[:ERROR_MAX_CHARS]
