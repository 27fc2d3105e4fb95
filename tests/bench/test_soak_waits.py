"""The soak's account of where time goes: on a core, or runnable and waiting for one."""

import time

from bench import soak


def test_time_on_a_core_is_summed_by_part_across_samples():
    with soak.CoreWaits() as waits:
        assert waits.available  # Linux keeps each thread's scheduler counters
        started = time.process_time()
        while time.process_time() - started < soak.CoreWaits.INTERVAL * 1.5:
            pass  # busy across at least one sample

    on_core = waits.on_core[soak.LOAD_GENERATOR]
    assert 1.2 <= on_core <= 10
    assert waits.waiting[soak.LOAD_GENERATOR] >= 0


def test_each_wake_up_is_a_turn_on_a_core():
    with soak.CoreWaits() as waits:
        for _ in range(50):
            time.sleep(0.002)  # asleep, then woken: put on a core again

    assert waits.slices[soak.LOAD_GENERATOR] >= 50


def test_a_session_waiting_for_the_chains_lock_is_counted_as_such(stack):
    import threading

    import psycopg

    url = stack.database_url("postgres")
    lock = "SELECT pg_advisory_lock(4242)"
    with psycopg.connect(url, autocommit=True) as holder, psycopg.connect(url, autocommit=True) as waiter:
        holder.execute(lock)
        blocked = threading.Thread(target=lambda: waiter.execute(lock))
        with soak.LockWaits(url) as locks:
            blocked.start()
            time.sleep(soak.LockWaits.INTERVAL * 8)
            holder.execute("SELECT pg_advisory_unlock(4242)")
            blocked.join()
        waiter.execute("SELECT pg_advisory_unlock(4242)")

    assert 0.3 <= locks.chain <= 2.0
    assert locks.other == 0
