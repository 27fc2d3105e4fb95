"""What each call's worker thread did in the soak: noted by the bench's WSGI entry, read and reported by the soak."""

import time

import pytest

from bench import soak
from bench.wsgi import SCHEDSTAT, CallTimes

pytestmark = pytest.mark.skipif(not SCHEDSTAT.exists(), reason="no scheduler counters on this system")


class _Answer:
    def __init__(self, parts):
        self.parts = parts
        self.closed = False

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        self.closed = True


def _app(answer):
    def app(environ, start_response):
        # Some work on a core, then a sleep (as for an answer from PostgreSQL), so that the thread's counters move.
        sum(number * number for number in range(200_000))
        time.sleep(0.005)
        return answer

    return app


def _lines(folder):
    return [line for path in folder.glob("calls-*.log") for line in path.read_text().splitlines()]


def test_a_call_is_noted_once_its_whole_answer_was_written_and_closed_as_the_answer_it_wraps(tmp_path):
    answer = _Answer([b"first ", b"last"])
    wrapped = CallTimes(_app(answer), tmp_path)({"HTTP_X_REQUEST_ID": "soak-00000001"}, None)

    parts = iter(wrapped)
    assert next(parts) == b"first "
    assert _lines(tmp_path) == []  # not before the last part was written
    assert list(parts) == [b"last"]
    [line] = _lines(tmp_path)
    request_id, wall, on_core, waiting, turns = line.split()
    assert request_id == "soak-00000001"
    assert float(on_core) > 0 and float(waiting) >= 0 and int(turns) >= 1  # woken from its sleep at least
    assert float(wall) - float(on_core) - float(waiting) >= 4  # asleep for the rest
    assert not answer.closed
    wrapped.close()
    assert answer.closed


def test_a_call_without_a_request_id_is_served_as_it_is_and_not_noted(tmp_path):
    answer = _Answer([b"ok"])
    assert CallTimes(_app(answer), tmp_path)({}, None) is answer
    assert _lines(tmp_path) == []


def test_the_soak_reads_the_notes_by_label_and_reports_where_the_time_went(tmp_path, capsys):
    (tmp_path / "calls-1.log").write_text(
        "soak-00000001 12.000 4.000 6.000 10\nsoak-00000002 8.000 2.000 1.000 6\nnot-a-call 1 2\n"
    )
    (tmp_path / "calls-2.log").write_text("soak-00000003 1.000 0.500 0.100 3\nsoak-99999999 5.0 1.0 1.0 2\n")
    labels = {"soak-00000001": "page /", "soak-00000002": "page /", "soak-00000003": "/healthz"}

    found = soak.call_times(labels, tmp_path)

    assert [call.wall_ms for call in found["page /"]] == [12.0, 8.0]
    assert found["page /"][0].asleep_ms == 2.0 and found["/healthz"][0].turns == 3
    soak._report_call_times(found)
    page = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("page /"))

    def p95(*values):
        return f"{soak._p95(list(values)):.1f}"

    # Two calls, their median; on a core, waiting for one, asleep (mean, p95); turns; the p95 without the waits.
    assert page.split()[2:] == [
        "2", "10.0", p95(12, 8), "3.0", p95(4, 2), "3.5", p95(6, 1), "3.5", p95(2, 5), "8.0", p95(6, 7)
    ]  # fmt: skip
