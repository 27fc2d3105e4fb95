"""Run `latchkey` as a subprocess against a live portal on the real stack, with tokens from the test issuer."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LATCHKEY = Path(sys.executable).parent / "latchkey"


@pytest.fixture
def latchkey(live_server, token_issuer):
    """Return a function that runs `latchkey ARGS...` as `name` (or with `token`) and returns the finished process."""

    def run(*args: str, name: str | None = None, token: str | None = None, timeout: float = 120, **popen):
        env = {key: value for key, value in os.environ.items() if not key.startswith("LATCHKEY_")}
        env["LATCHKEY_URL"] = live_server.url
        if token is None and name is not None:
            token = token_issuer.user_token(name)
        if token is not None:
            env["LATCHKEY_TOKEN"] = token
        command = [str(LATCHKEY), *args]
        if popen.pop("background", False):
            return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    return run
