"""The client sends its access token only over HTTPS, or over plain HTTP to this machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.cli.api import Portal, portal_url
from portal.cli.errors import EXIT_USAGE, CliError

LATCHKEY = Path(sys.executable).parent / "latchkey"


@pytest.mark.parametrize(
    "url",
    [
        "https://latchkey.example.com",
        "https://latchkey.example.com:8443/",
        "http://localhost:8000",
        "http://127.0.0.1:8000",
        "http://127.8.9.10",
        "http://[::1]:8000",
    ],
)
def test_https_and_loopback_http_are_accepted(url):
    assert portal_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://latchkey.example.com",
        "http://10.0.0.5:8000",
        "http://localhost.example.com",
        "http://[2001:db8::1]/",
        "ftp://latchkey.example.com",
        "latchkey.example.com",
        "https://",
    ],
)
def test_plain_http_elsewhere_and_other_schemes_are_refused(url):
    with pytest.raises(CliError) as refused:
        portal_url(url)

    assert refused.value.exit_code == EXIT_USAGE


def test_the_portal_client_refuses_a_plain_http_address_itself():
    with pytest.raises(CliError, match="unencrypted"):
        Portal("http://latchkey.example.com", "a-token")


def test_the_command_refuses_a_plain_http_address_before_sending_anything():
    env = {key: value for key, value in os.environ.items() if not key.startswith("LATCHKEY_")}
    env |= {"LATCHKEY_URL": "http://latchkey.example.com", "LATCHKEY_TOKEN": "a-token-that-must-stay-home"}

    result = subprocess.run([str(LATCHKEY), "roles"], env=env, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == EXIT_USAGE
    assert "plain http:// would send your access token unencrypted" in result.stderr
    assert "a-token-that-must-stay-home" not in result.stderr
