"""The one-time reveal: the holder unwraps the grant's credentials, and the portal forgets the wrapping token."""

import hashlib
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from portal.access import policy
from portal.access.models import REVOCABLE_STATES, AccessRequest, AccessRole, AuditAction, NotificationEvent
from portal.access.services.kernel import UNREAD, correlation, locked_with_grant, notify, queue, record, short
from portal.access.services.revocation import revocation_start
from portal.core import clock
from portal.core.crypto import UnsealError
from portal.core.errors import Gone
from portal.integrations import vault

State = AccessRequest.State
CONNECTION_REMEMBERED_SECONDS = 60


class CredentialsCompromised(Gone):
    """Someone else used the grant's wrapping token before its holder: the grant was revoked."""

    code = "credentials_compromised"


@dataclass(frozen=True)
class RevealedCredentials:
    """Database credentials shown once, and the ready-made ways to connect with them."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str
    expires_at: datetime

    @property
    def connection_uri(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{quote(self.database, safe='')}"

    @property
    def psql_command(self) -> str:
        return f"psql {shlex.quote(self.connection_uri)}"

    @property
    def pgpass_line(self) -> str:
        def escape(value) -> str:
            return str(value).replace("\\", "\\\\").replace(":", "\\:")

        return ":".join(escape(part) for part in (self.host, self.port, self.database, self.username, self.password))

    @property
    def jdbc_url(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}?user={user}&password={password}"


def _connection(role: AccessRole) -> vault.ConnectionInfo:
    """Return where the role's credentials connect: the catalog's overrides, else Vault's connection.

    What Vault says is remembered for a minute: two Vault calls fewer for most reveals. It is no secret (a
    host, a port, a database name), and a connection moved in Vault shows its new place within a minute.
    """
    if role.db_host and role.db_port and role.db_name:
        return vault.ConnectionInfo(host=role.db_host, port=role.db_port, database=role.db_name)
    where = f"{settings.VAULT_ADDR}|{settings.VAULT_NAMESPACE}|{role.vault_mount}|{role.vault_role}"
    key = "reveal:connection:" + hashlib.sha256(where.encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = vault.connection_info(mount=role.vault_mount, role=role.vault_role)
        cache.set(key, found, timeout=CONNECTION_REMEMBERED_SECONDS)
    return vault.ConnectionInfo(
        host=role.db_host or found.host, port=role.db_port or found.port, database=role.db_name or found.database
    )


def grant_reveal(*, actor, request_id: int, extends_id=UNREAD, http_request=None) -> RevealedCredentials:
    """Unwrap the grant's credentials for its holder, exactly once, and forget the wrapping token.

    A wrapping token that Vault no longer knows, while the portal never revealed it, was used by
    someone else (or its credentials are otherwise out of the portal's hands): the grant is revoked
    at once, and the holder and the portal admins are told. A caller that has just read which grant
    the request extends passes it (`extends_id`, as `locked_with_grant`).
    """
    try:
        return _reveal(actor=actor, request_id=request_id, extends_id=extends_id, http_request=http_request)
    except vault.VaultAlreadyGone as error:
        grant_compromised(request_id=request_id, error=error)
        raise CredentialsCompromised(
            "These credentials were taken out of Vault before you revealed them, so the grant was revoked "
            "and the portal admins were told. Ask again for a new grant."
        ) from None
    except UnsealError:
        _revoke_unrevealed(
            request_id,
            action=AuditAction.GRANT_SEALED_VALUE_DROPPED,
            details={"reason": "no_configured_key_opens_it"},
            reason="The wrapping token was sealed with a key the portal no longer has.",
        )
        raise Gone(
            "These credentials were sealed with a key the portal no longer has, so the grant was revoked. "
            "Ask again for a new grant."
        ) from None


def _reveal(*, actor, request_id: int, extends_id, http_request) -> RevealedCredentials:
    with transaction.atomic():
        # An extension's grant too: its state decides whether the extension's credentials may be seen.
        request, _ = locked_with_grant(request_id, extends_id=extends_id)
        # Exactly once: a concurrent reveal waits for the lock above, then finds the credentials gone
        policy.check_reveal(actor, request)
        role = request.role
        # The one place the wrapping token is opened.
        wrapping_token = request.wrapped_secret.unseal()
        with vault.correlate(correlation(request)):
            connection = _connection(role)
            # A failure here rolls everything back: the wrapping token stays for another try.
            credentials = vault.unwrap_credentials(
                wrapping_token=wrapping_token,
                expected_path=vault.creds_path(mount=role.vault_mount, role=role.vault_role),
            )
        revealed = AccessRequest.objects.filter(pk=request.pk, state=State.ACTIVE, revealed_at=None).update(
            revealed_at=clock.now(), wrapped_secret="", updated_at=clock.now()
        )
        if not revealed:
            raise Gone("The credentials were already revealed.")
        record(
            actor=actor,
            action=AuditAction.GRANT_REVEALED,
            request=request,
            details={"username": credentials.username, "lease_id": credentials.lease_id},
            http_request=http_request,
        )
        if request.extends_id is not None:
            # The holder has the extension's credentials now: the earlier tokens of the grant can go.
            queue("retire_tokens", request.pk)
        # When this row's own token ends: a grant's first window, or the end an extension was issued for.
        expires_at = request.ends_at
        if request.extends_id is None:
            expires_at = request.starts_at + timedelta(minutes=request.duration_minutes)
    return RevealedCredentials(
        username=credentials.username,
        password=credentials.password,
        host=connection.host,
        port=connection.port,
        database=connection.database,
        expires_at=expires_at,
    )


def grant_compromised(*, request_id: int, error: Exception) -> AccessRequest:
    """Record that the request's wrapping token was used or gone unrevealed, and revoke its grant at once."""
    return _revoke_unrevealed(
        request_id,
        action=AuditAction.GRANT_COMPROMISED,
        details={"reason": "wrapping_token_used_or_gone", "vault": short(error)},
        reason="The wrapping token was used or gone before the holder revealed the credentials.",
        event=NotificationEvent.COMPROMISED,
    )


def _revoke_unrevealed(
    request_id: int, *, action: AuditAction, details: dict, reason: str, event: NotificationEvent | None = None
) -> AccessRequest:
    """Drop the request's wrapping token, record why, and revoke its grant: the credentials are out of reach."""
    with transaction.atomic():
        request, grant = locked_with_grant(request_id)
        grant = grant or request
        # Only a wrapping token the portal still holds and never revealed is news
        if request.revealed_at is not None or not request.wrapped_secret:
            return request
        AccessRequest.objects.filter(pk=request.pk).update(wrapped_secret="", updated_at=clock.now())
        record(actor=None, action=action, request=request, details=details)
        if grant.state in REVOCABLE_STATES:
            revocation_start(grant, by=None, reason=reason)
        if event is not None:
            notify(request, event)
    return request
