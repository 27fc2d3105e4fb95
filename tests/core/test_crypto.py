"""Sealing small secrets at rest: authenticated encryption with a key from the settings."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from portal.core.crypto import UnsealError, seal, unseal

WRAPPING_TOKEN = "s.hAq3ExampleWrappingToken7Zp"


def test_sealed_text_opens_to_the_original():
    assert unseal(seal(WRAPPING_TOKEN)) == WRAPPING_TOKEN


def test_sealed_text_does_not_contain_the_secret_and_differs_each_time():
    first, second = seal(WRAPPING_TOKEN), seal(WRAPPING_TOKEN)

    assert WRAPPING_TOKEN not in first
    assert first != second
    assert first.isascii()


def test_text_sealed_with_another_key_is_refused():
    with override_settings(CREDENTIAL_ENCRYPTION_KEY="an-older-key-that-was-rotated-away"):
        sealed = seal(WRAPPING_TOKEN)

    with pytest.raises(UnsealError, match="another key"):
        unseal(sealed)


def test_the_key_is_read_when_sealing_not_when_the_module_loads():
    sealed_before = seal(WRAPPING_TOKEN)
    with override_settings(CREDENTIAL_ENCRYPTION_KEY="a-key-set-after-import"):
        sealed = seal(WRAPPING_TOKEN)
        assert unseal(sealed) == WRAPPING_TOKEN
        # Had the module kept the key it loaded with, this would open.
        with pytest.raises(UnsealError):
            unseal(sealed_before)

    # And back under the first key, what the later key sealed does not open.
    with pytest.raises(UnsealError):
        unseal(sealed)


def test_altered_text_is_refused():
    sealed = seal(WRAPPING_TOKEN)
    middle = len(sealed) // 2
    altered = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]

    with pytest.raises(UnsealError):
        unseal(altered)


@pytest.mark.parametrize("garbage", ["", "not sealed at all", "gAAAAA", "é"])
def test_text_that_was_never_sealed_is_refused(garbage):
    with pytest.raises(UnsealError):
        unseal(garbage)


def test_an_empty_key_is_a_configuration_error():
    with override_settings(CREDENTIAL_ENCRYPTION_KEY=""):
        with pytest.raises(ImproperlyConfigured, match="CREDENTIAL_ENCRYPTION_KEY"):
            seal(WRAPPING_TOKEN)
