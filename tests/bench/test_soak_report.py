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
