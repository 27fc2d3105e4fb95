"""Run one call for each of several items on a few threads at once: for calls that wait on another service.

Each call runs in a copy of the caller's context, so the log context (the task, the request) goes along.
The calls must not use the database: a thread would open a connection of its own.
"""

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each_at_once(items: Iterable[T], call: Callable[[T], R], *, at_most: int) -> list[R]:
    """Return `call(item)` for each item, in order, with at most `at_most` calls running at once."""
    items = list(items)
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(at_most, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, call, item) for item in items]
    return [future.result() for future in futures]
