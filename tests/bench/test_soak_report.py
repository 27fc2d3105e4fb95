"""The soak's report: each call's p95 against /healthz alone (the target) and against /healthz during the soak."""

from bench import soak


def _results(latencies_ms: dict[str, list[float]]) -> soak.Results:
    results = soak.Results()
    for label, values in latencies_ms.items():
        for value in values:
            results.record(label, value / 1000)
    return results


def test_the_report_gives_each_call_against_healthz_alone_and_during_the_soak(capsys):
    results = _results({"GET /api/v1/roles": [10.0] * 19 + [40.0]})
    alone = [0.004] * 19 + [0.010]
    during = [0.008] * 19 + [0.020]

    soak._report(results, [], 300, alone, {soak.PROBE_LABEL: [0.001] * 20}, during)

    out = capsys.readouterr().out
    assert "/healthz during the soak (5 callers at the same pace): 20 calls, p50 8 ms" in out
    assert "2.0x /healthz alone: the soak's load by itself" in out
    roles = next(line for line in out.splitlines() if line.startswith("GET /api/v1/roles"))
    # p95 of the call, then of /healthz alone and during the soak: each ratio from its own baseline.
    p95 = soak._p95([value / 1000 for value in [10.0] * 19 + [40.0]]) * 1000
    assert f"{p95 / (soak._p95(alone) * 1000):.1f}x" in roles
    assert f"{p95 / (soak._p95(during) * 1000):.1f}x" in roles
    assert roles.endswith("NOT MET")


def test_the_report_without_probes_says_so_and_still_judges_each_call_against_healthz_alone(capsys):
    results = _results({"GET /api/v1/roles": [2.0] * 20})

    soak._report(results, [], 300, [0.004] * 20, {}, [])

    out = capsys.readouterr().out
    assert "1 of 1 pages and endpoints met their targets" in out


def test_the_report_says_how_late_the_load_generator_read_answers_in_both_runs(capsys):
    results = _results({"GET /api/v1/roles": [10.0] * 20})
    during = [0.002] * 19 + [0.012]
    alone = [0.0005] * 20

    soak._report(results, [], 300, [0.004] * 20, {}, [0.008] * 20, (during, alone))

    out = capsys.readouterr().out
    assert "a 5 ms timer fired late by p50 2.0 ms, p95 11.5 ms during the soak, p50 0.5 ms, p95 0.5 ms" in out


def test_a_late_timer_is_recorded_as_late_and_an_early_one_never_below_zero():
    import asyncio
    import threading
    import time

    lags: list[float] = []

    async def busy_loop_then_stop():
        task = asyncio.ensure_future(soak._loop_lag(lags, time.monotonic() + 0.2))
        await asyncio.sleep(0)
        blocked_until = time.monotonic() + 0.05
        while time.monotonic() < blocked_until:  # the loop is held: the timer cannot fire on time
            pass
        await task

    # A loop of its own, in a thread of its own: the browser tests may leave one running in this thread.
    thread = threading.Thread(target=lambda: asyncio.run(busy_loop_then_stop()))
    thread.start()
    thread.join(timeout=10)

    assert lags and min(lags) >= 0
    assert max(lags) >= 0.04
