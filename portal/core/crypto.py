"""Encrypt small secrets at rest (the wrapping token until the reveal) with keys from the environment.

Fernet keys (AES-128-CBC with HMAC-SHA256, authenticated) are derived with HKDF from the key
material in `settings.CREDENTIAL_ENCRYPTION_KEYS`: the first seals, every one unseals, so a key
is rotated by putting the new one first and dropping the old one once nothing sealed with it is
left (a wrapping token lives at most as long as its grant). `CREDENTIAL_ENCRYPTION_KEY`, the older
single-key setting, is used as a list of one when the list is not set. The settings are read at
every call, so that `override_settings` and a restarted process with new keys take effect.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Binds derived keys to this use: the same setting used elsewhere yields an unrelated key.
_HKDF_INFO = b"latchkey:seal:v1"


class UnsealError(Exception):
    """The sealed text cannot be opened: it was sealed with another key, or it was altered."""


def seal(text: str) -> str:
    """Return `text` encrypted and authenticated with the first key, as URL-safe ASCII."""
    return _sealer(*_key_materials()).encrypt(text.encode()).decode("ascii")


def unseal(text: str) -> str:
    """Return the text that `seal` encrypted under any configured key; raise `UnsealError` if none opens it."""
    try:
        return _sealer(*_key_materials()).decrypt(text.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UnsealError(UnsealError.__doc__) from None


def _key_materials() -> tuple[str, ...]:
    keys = tuple(key for key in getattr(settings, "CREDENTIAL_ENCRYPTION_KEYS", None) or () if key)
    if not keys and settings.CREDENTIAL_ENCRYPTION_KEY:
        keys = (settings.CREDENTIAL_ENCRYPTION_KEY,)
    if not keys:
        raise ImproperlyConfigured(
            "Set CREDENTIAL_ENCRYPTION_KEYS (or CREDENTIAL_ENCRYPTION_KEY): they encrypt wrapping tokens at rest."
        )
    return keys


@lru_cache(maxsize=8)
def _sealer(*materials: str) -> MultiFernet:
    return MultiFernet([_fernet(material) for material in materials])


@lru_cache(maxsize=16)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))
