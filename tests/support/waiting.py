"""Wait for what happens in other processes (workers, Vault, PostgreSQL) without fixed sleeps."""

import time


def wait_until(condition, *, timeout_seconds: float, interval: float = 0.25) -> bool:
    """Poll `condition` until it holds or the deadline passes; return whether it held."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
