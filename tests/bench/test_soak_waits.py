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
