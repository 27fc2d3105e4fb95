"""The portal's WSGI application as the benchmark serves it: debugging extras (the query log) off.

The environment keeps `DJANGO_DEBUG=1` only so that static files need no `collectstatic` manifest.

With `BENCH_CALL_TIMES` set to a folder, each worker also writes there, for every call that sent an
`X-Request-Id`, what its thread did from the call's start until its answer was written: its time on a core (the
thread's CPU clock), and by its scheduler counters (`/proc/thread-self/schedstat`) its time runnable but waiting
for a core and its turns on one. The rest of the call's time the thread slept: waiting for PostgreSQL, Redis or Vault to
answer (`python -m bench.soak` reads it: `call_times`).
"""

import os
import time
from pathlib import Path

from django.conf import settings

from portal.wsgi import application as portal_application

settings.DEBUG = False

SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _schedstat() -> tuple[int, int, int] | None:
    """Return the calling thread's nanoseconds on a core, nanoseconds waiting for one, and turns; None if unknown.

    The time on a core is the thread's CPU clock: the scheduler's own sum in `schedstat` leaves out the slice that is
    running (it is brought up to date at the next tick), which is a few milliseconds of error on a call of ten. The
    wait is brought up to date each time the thread gets a core, as it has when it reads it.
    """
    try:
        _, waiting, turns = SCHEDSTAT.read_text().split()[:3]
    except (OSError, ValueError):
        return None
    return time.thread_time_ns(), int(waiting), int(turns)


class CallTimes:
    """Wrap a WSGI application: note each call's wall time and its thread's scheduler counters in `folder`."""

    def __init__(self, app, folder: Path):
        self.app = app
        self.folder = folder
        self.log = None

    def __call__(self, environ, start_response):
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        started = time.monotonic()
        before = _schedstat()
        answer = self.app(environ, start_response)
        if not request_id or before is None:
            return answer
        return _Noted(answer, lambda: self._note(request_id, before, started))

    def _note(self, request_id: str, before: tuple[int, int, int], started: float) -> None:
        after = _schedstat()
        wall = time.monotonic() - started
        if after is None:
            return
        on_core, waiting, turns = (later - earlier for later, earlier in zip(after, before, strict=True))
        if self.log is None:
            self.log = (self.folder / f"calls-{os.getpid()}.log").open("a", buffering=1)
        self.log.write(f"{request_id} {wall * 1000:.3f} {on_core / 1e6:.3f} {waiting / 1e6:.3f} {turns}\n")


class _Noted:
    """An answer that calls `note` once all of it was written, and is closed as the answer it wraps."""

    def __init__(self, answer, note):
        self.answer = answer
        self.note = note

    def __iter__(self):
        # gunicorn writes each part as it is given: asking for the next after the last is when all was written.
        yield from self.answer
        self.note()

    def close(self) -> None:
        if hasattr(self.answer, "close"):
            self.answer.close()


application = portal_application
if os.environ.get("BENCH_CALL_TIMES"):
    application = CallTimes(portal_application, Path(os.environ["BENCH_CALL_TIMES"]))

__all__ = ["application"]
