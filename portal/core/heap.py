"""A long-running process's heap: what it made while starting is never walked by the garbage collector again.

Django, DRF and the portal's modules leave some 150,000 objects that live as long as the process. A full
collection walks every one of them, 90-200 ms in the benchmark's process, and pauses whichever request is
running; the web tier's calls make enough short-lived cycles to start one every hundred calls or so.
"""

import gc


def settle_heap() -> None:
    """Collect what starting the process left behind, then freeze the rest out of every later collection.

    Called once a process has loaded everything it serves with: a gunicorn worker after loading the
    application, a Celery pool process when it starts. Later full collections walk only what came after.
    """
    gc.collect()
    gc.freeze()
