"""Camera-send to operator-screen alert latency: operators' alert arrivals joined to acks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertLatency:
    p50_ms: float | None
    p99_ms: float | None
    alerts: int  # alerts joined to an acknowledged read
    unmatched: int  # alerts whose read is not in acks.jsonl (not sent by this run's cameras)


def nearest_rank(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..1) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def alert_latency(
    *, first_sent_at: Mapping[str, float], arrivals: Iterable[tuple[str, float]]
) -> AlertLatency:
    """`first_sent_at`: read id -> epoch s of the camera's first attempt (acks.jsonl);
    `arrivals`: (read id, epoch s an operator's stream delivered it). Each read counts once,
    at its earliest arrival on any operator's screen."""
    earliest: dict[str, float] = {}
    unmatched = 0
    for read_id, at in arrivals:
        if read_id not in first_sent_at:
            unmatched += 1
            continue
        if read_id not in earliest or at < earliest[read_id]:
            earliest[read_id] = at
    waits = sorted((at - first_sent_at[r]) * 1000.0 for r, at in earliest.items())
    return AlertLatency(nearest_rank(waits, 0.5), nearest_rank(waits, 0.99), len(waits), unmatched)
