"""Start, watch and stop the child processes of the local stack."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# A restarted process that exits again within `_STEADY_SECONDS` waits twice as long before the next start.
_RESTART_DELAY = 0.25
_RESTART_DELAY_MAX = 30.0
_STEADY_SECONDS = 10.0


class StackError(RuntimeError):
    """A part of the local stack could not be started."""


# Below Linux's ephemeral range (32768-60999): the kernel never hands these out to outgoing
# connections, so a port chosen now is still free when its service starts a moment later.
_PORT_RANGE = (20000, 32000)
_chosen_ports: set[int] = set()


def take_share_of_ports(index: int, count: int) -> None:
    """Choose this process's ports from the `index`-th of `count` equal parts of the range.

    Processes that start stacks side by side (the test suite's workers) then never pick the
    same port in the moment before either binds it.
    """
    global _PORT_RANGE
    low, high = _PORT_RANGE
    size = (high - low) // count
    _PORT_RANGE = (low + index * size, low + (index + 1) * size - 1)


def free_port(count: int = 1) -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now and that this process has not handed out.

    With `count`, the ports after it are free and handed out too: for a service that listens on more than one
    port, such as OpenBao's dev server (its cluster listener is on the next port).
    """
    low, high = _PORT_RANGE
    while True:
        port = random.randint(low, high - count + 1)
        ports = range(port, port + count)
        if not any(each in _chosen_ports or port_in_use(each) for each in ports):
            _chosen_ports.update(ports)
            return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def wait_for(check: Callable[[], bool], *, what: str, timeout: float = 60.0, process: Process | None = None) -> None:
    """Poll `check` until it returns true; fail with the log's tail when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.exited():
            raise StackError(f"{what} exited with code {process.returncode()}:\n{process.log_tail()}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - any failure means "not ready yet"
            pass
        time.sleep(0.1)
    tail = process.log_tail() if process is not None else ""
    raise StackError(f"{what} was not ready after {timeout:.0f} s\n{tail}")


def run_as(user: str | None) -> dict:
    """Return the `subprocess` arguments that run a child as `user` (all its groups dropped)."""
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """One child process with its output in a log file, in a process group of its own."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        restart: bool = False,
    ):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        # Started again when it exits, as compose's `restart: unless-stopped` does (see `revive`).
        self.restart = restart
        self.restarts = 0
        self._popen: subprocess.Popen | None = None
        self._started_at = 0.0
        self._exited_at: float | None = None
        self._quick_exits = 0

    def start(self) -> Process:
        self._started_at = time.monotonic()
        self._exited_at = None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the stack's user only: OpenBao's dev server prints its root token at start.
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)
        with open(descriptor, "ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                **run_as(self.user),
            )
        return self

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def exited(self) -> bool:
        return self._popen is not None and self._popen.poll() is not None

    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def revive(self) -> bool:
        """Start the process again if it exited and may restart; return whether it was started now.

        Like Docker's restart policy, the delay doubles (from 0.25 s, at most 30 s) while the process
        keeps exiting within 10 s of its start, so a process that cannot run does not spin.
        """
        if not (self.restart and self.exited()):
            return False
        now = time.monotonic()
        if self._exited_at is None:
            self._exited_at = now
            ran_for = now - self._started_at
            self._quick_exits = self._quick_exits + 1 if ran_for < _STEADY_SECONDS else 0
        if now - self._exited_at < min(_RESTART_DELAY_MAX, _RESTART_DELAY * 2**self._quick_exits):
            return False
        self.restarts += 1
        # What the exited process left running in its group goes with it, as a container's processes do.
        try:
            os.killpg(self._popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        with open(self.log_path, "ab") as log:
            log.write(f"--- exited with code {self.returncode()}; restart {self.restarts} ---\n".encode())
        self.start()
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        if self._popen is not None and self._popen.poll() is None:
            try:
                os.killpg(self._popen.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the process group to stop, and kill it if it does not within `timeout`."""
        if self._popen is None:
            return
        self.signal(self.stop_signal)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self._popen.wait(5)
        self._popen = None

    def kill(self) -> None:
        """End the process group at once, as a crash would."""
        if self._popen is None:
            return
        self.signal(signal.SIGKILL)
        self._popen.wait(10)
        self._popen = None
