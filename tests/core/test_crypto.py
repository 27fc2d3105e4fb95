"""Sealing small secrets at rest: authenticated encryption with a key from the settings."""

import os
import subprocess
import sys

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
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[], CREDENTIAL_ENCRYPTION_KEY=""):
        with pytest.raises(ImproperlyConfigured, match="CREDENTIAL_ENCRYPTION_KEY"):
            seal(WRAPPING_TOKEN)


def test_several_keys_the_first_seals_and_every_one_unseals():
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["the-old-key"]):
        sealed_old = seal(WRAPPING_TOKEN)

    # Rotation: the new key goes first, the old one stays while values sealed with it live.
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["the-new-key", "the-old-key"]):
        assert unseal(sealed_old) == WRAPPING_TOKEN
        sealed_new = seal(WRAPPING_TOKEN)

    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["the-new-key"]):
        assert unseal(sealed_new) == WRAPPING_TOKEN
        # Once the old key is dropped, what it sealed no longer opens.
        with pytest.raises(UnsealError):
            unseal(sealed_old)
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["the-old-key"]):
        with pytest.raises(UnsealError):
            unseal(sealed_new)


def test_the_single_key_setting_is_a_list_of_one():
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[], CREDENTIAL_ENCRYPTION_KEY="a-single-key"):
        sealed = seal(WRAPPING_TOKEN)
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["a-single-key"], CREDENTIAL_ENCRYPTION_KEY=""):
        assert unseal(sealed) == WRAPPING_TOKEN
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=["another-key", "a-single-key"], CREDENTIAL_ENCRYPTION_KEY=""):
        assert unseal(sealed) == WRAPPING_TOKEN


def test_the_settings_read_several_keys_or_the_single_one(tmp_path):
    script = (
        "from django.conf import settings; "
        "print(repr((settings.CREDENTIAL_ENCRYPTION_KEYS, settings.CREDENTIAL_ENCRYPTION_KEY)))"
    )

    def read(**env) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CREDENTIAL_ENCRYPTION_KEY")}
        environment.update(DJANGO_SETTINGS_MODULE="portal.settings", **env)
        done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert read(CREDENTIAL_ENCRYPTION_KEYS="new-key, old-key") == "(['new-key', 'old-key'], '')"
    keys_file = tmp_path / "keys"
    keys_file.write_text("new-key,old-key\n")
    assert read(CREDENTIAL_ENCRYPTION_KEYS_FILE=str(keys_file)) == "(['new-key', 'old-key'], '')"
    assert read(CREDENTIAL_ENCRYPTION_KEY="only-key") == "([], 'only-key')"
