"""The request's state machine: one function per transition, guards first, audit in the same transaction.

pending ─approve (enough approvals)─> approved ─issue─> active ─end─> expired
   │ └─deny─> denied                                    └─revoke─> revoked
   │ └─cancel (requester)─> cancelled
   └─not reviewed in time─> expired

One module per stage, each read in one sitting:
- `requests`: asking (a request, an extension), cancelling, expiring unreviewed requests;
- `decisions`: approving and denying, and applying an approved extension to its grant;
- `issuing`: approved → issuing → active in Vault, and recovering a dead worker's claim;
- `reveal`: the holder's one-time reveal of the credentials;
- `revocation`: revoking (one grant or in bulk), ending at the window's end, then Vault's side;
- `batch_ending`, `batch_issuing`: many grants ended, revoked or issued in one task, Vault called for several at once;
- `sweeper`: what is due by the clock, and re-driving work that stalled;
- `kernel`: what every transition shares: the lock, the conditional state change, the audit
  record, and queueing tasks and notifications after commit (the only caller of Celery);
- `cleaning`: the free-text inputs every stage (and break-glass and reviews) checks alike: references, notes.
The rules of who may do what are in `portal.access.policy`.
"""

from portal.access.services.batch_ending import grants_expire_many, grants_revoke_finish_many
from portal.access.services.batch_issuing import grant_issue_with_waiting, grants_issue_many
from portal.access.services.decisions import request_approve, request_deny
from portal.access.services.issuing import (
    ISSUE_BACKOFF_MAX,
    ISSUE_REDRIVE_AFTER,
    grant_issue,
    grant_recover,
    issue_backoff,
    issuing_stuck_after,
)
from portal.access.services.requests import (
    JUSTIFICATION_MAX_CHARS,
    JUSTIFICATION_MIN_CHARS,
    MAX_START_AHEAD,
    TICKET_MAX_CHARS,
    request_cancel,
    request_create,
    request_expire_pending,
    request_extend,
    requests_expire_stale,
)
from portal.access.services.reveal import CredentialsCompromised, RevealedCredentials, grant_compromised, grant_reveal
from portal.access.services.revocation import (
    grant_expire,
    grant_retire_earlier_tokens,
    grant_revoke,
    grant_revoke_finish,
    grants_revoke_bulk,
)
from portal.access.services.sweeper import REVOKE_REDRIVE_AFTER, grants_sweep, grants_warn_ending_soon

__all__ = [
    "ISSUE_BACKOFF_MAX",
    "ISSUE_REDRIVE_AFTER",
    "JUSTIFICATION_MAX_CHARS",
    "JUSTIFICATION_MIN_CHARS",
    "MAX_START_AHEAD",
    "REVOKE_REDRIVE_AFTER",
    "TICKET_MAX_CHARS",
    "CredentialsCompromised",
    "RevealedCredentials",
    "grant_compromised",
    "grant_expire",
    "grant_issue",
    "grant_issue_with_waiting",
    "grant_recover",
    "grant_retire_earlier_tokens",
    "grant_reveal",
    "grant_revoke",
    "grant_revoke_finish",
    "grants_expire_many",
    "grants_issue_many",
    "grants_revoke_bulk",
    "grants_revoke_finish_many",
    "grants_sweep",
    "grants_warn_ending_soon",
    "issue_backoff",
    "issuing_stuck_after",
    "request_approve",
    "request_cancel",
    "request_create",
    "request_deny",
    "request_expire_pending",
    "request_extend",
    "requests_expire_stale",
]
