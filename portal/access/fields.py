"""A text field encrypted at rest with the key from `CREDENTIAL_ENCRYPTION_KEY`."""

import base64
import hashlib

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import models


def _fernet() -> Fernet:
    # Any string works as the setting: it is stretched to the 32 bytes Fernet needs.
    digest = hashlib.sha256(settings.CREDENTIAL_ENCRYPTION_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class EncryptedTextField(models.TextField):
    """Store text encrypted (Fernet); the empty string stays empty so `blank` means "nothing held"."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return _fernet().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return _fernet().decrypt(value.encode()).decode()
