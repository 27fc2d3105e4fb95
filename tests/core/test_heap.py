"""Long-running processes leave what they made while starting out of later garbage collections."""

import gc
import runpy
import weakref

import pytest

from portal.core.heap import settle_heap
from tests.prod.compose import REPO_ROOT


class _Node:
    pass


@pytest.fixture
def unfrozen():
    """Give the frozen objects back to the collector afterwards: the test process goes on as before."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settling_frees_startup_garbage_and_freezes_the_rest(unfrozen):
    kept = _Node()
    cycle = _Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle

    settle_heap()

    assert gone() is None
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())


def test_a_gunicorn_worker_settles_its_heap_once_it_has_loaded_the_portal(unfrozen):
    config = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))

    config["post_worker_init"](None)

    assert gc.get_freeze_count() > 0


def test_the_gunicorn_master_settles_its_heap_before_it_forks_the_workers(unfrozen):
    config = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))

    config["when_ready"](None)

    assert gc.get_freeze_count() > 0


def test_a_celery_pool_process_settles_its_heap_when_it_starts(unfrozen):
    from celery.signals import worker_process_init

    import portal.celery  # noqa: F401 - connects the receiver

    worker_process_init.send(sender=None)

    assert gc.get_freeze_count() > 0
