"""Encrypt small secrets at rest (the wrapping token until the reveal) with a key from the environment.

The Fernet key (AES-128-CBC with HMAC-SHA256, authenticated) is derived with HKDF
from `settings.CREDENTIAL_ENCRYPTION_KEY`, read at every call so that
`override_settings` and a restarted process with a new key take effect.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Binds derived keys to this use: the same setting used elsewhere yields an unrelated key.
_HKDF_INFO = b"latchkey:seal:v1"


class UnsealError(Exception):
    """The sealed text cannot be opened: it was sealed with another key, or it was altered."""


def seal(text: str) -> str:
    """Return `text` encrypted and authenticated, as URL-safe ASCII."""
    return _fernet(_key_material()).encrypt(text.encode()).decode("ascii")


def unseal(text: str) -> str:
    """Return the text that `seal` encrypted; raise `UnsealError` on a wrong key or altered text."""
    try:
        return _fernet(_key_material()).decrypt(text.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UnsealError(UnsealError.__doc__) from None


def _key_material() -> str:
    material = settings.CREDENTIAL_ENCRYPTION_KEY
    if not material:
        raise ImproperlyConfigured("Set CREDENTIAL_ENCRYPTION_KEY: it encrypts wrapping tokens at rest.")
    return material


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))
