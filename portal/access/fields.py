"""A text field sealed at rest with `portal.core.crypto` (keys from `CREDENTIAL_ENCRYPTION_KEYS`).

Loading a row never opens the value: the field gives a `Sealed` that only `unseal()` opens, so the
one code path that needs the secret (the reveal) is the only one that can fail on it, and a value
sealed with a key that is gone never stops a revocation.
"""

from django.db import models

from portal.core.crypto import seal, unseal


class Sealed:
    """A value as it is stored: sealed. Truthy when something is held; `unseal()` returns the secret."""

    __slots__ = ("sealed",)

    def __init__(self, sealed: str):
        self.sealed = sealed

    def unseal(self) -> str:
        """Return the secret; raise `portal.core.crypto.UnsealError` if no configured key opens it."""
        return unseal(self.sealed)

    def __bool__(self) -> bool:
        return bool(self.sealed)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sealed) and other.sealed == self.sealed

    def __hash__(self) -> int:
        return hash(self.sealed)

    def __repr__(self) -> str:
        return "<Sealed>" if self.sealed else "<Sealed: empty>"


class EncryptedTextField(models.TextField):
    """Store text sealed; the empty string stays empty so `blank` means "nothing held"."""

    def get_prep_value(self, value):
        if isinstance(value, Sealed):
            # Loaded sealed, saved as it was: never sealed twice.
            return value.sealed
        value = super().get_prep_value(value)
        return seal(value) if value else ""

    def from_db_value(self, value, expression, connection):
        return Sealed(value) if value else ""

    def to_python(self, value):
        return value
