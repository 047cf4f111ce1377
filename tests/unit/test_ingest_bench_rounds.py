"""`bench ingest` rounds: end to end and raw take turns, raw at its round's commit size."""

from __future__ import annotations

import pytest

from veille.bench.ingest import EndToEndRun, RawRun, Round, run_rounds

pytestmark = pytest.mark.unit


def _e2e(writer_stored: int, writer_commits: int, stored_rows: int) -> EndToEndRun:
    return EndToEndRun(
        reads_sent=stored_rows + 10,
        requests=5,
        seconds=2.0,
        store_rows_before=0,
        stored_rows=stored_rows,
        answered={"stored": stored_rows, "duplicate": 10, "rejected": 0, "busy_resent": 0},
        latencies=[0.1],
        writer_commits=writer_commits,
        writer_stored=writer_stored,
        commit_reads_le={},
    )


def test_rounds_alternate_and_raw_commits_at_the_size_its_end_to_end_run_measured():
    events: list[str] = []
    measured = {1: (9000, 3), 2: (9000, 4)}  # 3,000 then 2,250 reads a commit
    asked: list[tuple[int, int]] = []

    def e2e(number: int) -> EndToEndRun:
        events.append(f"ran end_to_end {number}")
        stored, commits = measured[number]
        return _e2e(stored, commits, stored)

    def raw(number: int, commit_rows: int) -> dict[str, RawRun]:
        events.append(f"ran raw {number}")
        asked.append((number, commit_rows))
        return {"multi-row": RawRun("multi-row", commit_rows, 3, 0, 9000, 1.0)}

    rounds = run_rounds(2, e2e, raw, lambda e: events.append(f"start {e}"))
    assert events == [
        "start end_to_end 1",
        "ran end_to_end 1",
        "start raw 1",
        "ran raw 1",
        "start end_to_end 2",
        "ran end_to_end 2",
        "start raw 2",
        "ran raw 2",
    ]
    assert asked == [(1, 3000), (2, 2250)]
    assert [r.number for r in rounds] == [1, 2]


def test_the_ratio_counts_reads_in_the_store_against_the_faster_raw_method():
    e2e = _e2e(writer_stored=4000, writer_commits=2, stored_rows=4000)  # 2,000 reads/s
    raw = {
        "executemany": RawRun("executemany", 2000, 2, 0, 4000, 1.0),  # 4,000 rows/s
        "multi-row": RawRun("multi-row", 2000, 2, 0, 4000, 0.5),  # 8,000 rows/s
    }
    one = Round(1, e2e, raw)
    assert one.end_to_end.reads_per_s == 2000  # stored rows, not the 4,010 sent
    assert one.raw_rate == 8000 and one.ratio == 0.25
