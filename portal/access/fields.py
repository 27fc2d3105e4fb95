"""A text field sealed at rest with `portal.core.crypto` (key from `CREDENTIAL_ENCRYPTION_KEY`)."""

from django.db import models

from portal.core.crypto import seal, unseal


class EncryptedTextField(models.TextField):
    """Store text sealed; the empty string stays empty so `blank` means "nothing held"."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return seal(value) if value else ""

    def from_db_value(self, value, expression, connection):
        return unseal(value) if value else ""
