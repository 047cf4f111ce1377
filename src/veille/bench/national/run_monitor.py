"""What the national bench samples once a second while it runs: the CPU and memory of
each process it started (by their exact PIDs, from /proc), and the server's ingest stats."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcSample:
    at: float  # epoch seconds
    role: str  # "server", "loadgen", "orchestrator", "profiler"
    pid: int
    cpu_s: float  # user + system CPU seconds since the process started
    rss_kb: int


def read_proc(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS kB) of a live process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: count the fields after its ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime (14, 15)
    rss_kb = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
            break
    return cpu_s, rss_kb


def children(pid: int) -> list[int]:
    """The direct children of a process (every thread's), from /proc: exact, no pgrep."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(p) for p in text]
    except OSError:
        pass
    return found


class Sampler:
    """One thread: every `period_s`, each role's PIDs (asked anew, so that worker processes
    that start late are seen) and, with `stats`, the server's /api/v1/ingest/stats."""

    def __init__(
        self,
        *,
        roles: dict[str, Callable[[], list[int]]],
        stats: Callable[[], dict[str, Any]] | None = None,
        period_s: float = 1.0,
    ):
        self.roles = roles
        self.stats = stats
        self.period_s = period_s
        self.samples: list[ProcSample] = []
        self.stats_samples: list[tuple[float, dict[str, Any]]] = []
        self.stats_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def sample_once(self) -> None:
        at = time.time()
        for role, pids in self.roles.items():
            for pid in pids():
                got = read_proc(pid)
                if got is not None:
                    self.samples.append(ProcSample(at, role, pid, got[0], got[1]))
        if self.stats is not None:
            try:
                self.stats_samples.append((time.time(), self.stats()))
            except (httpx.HTTPError, ValueError):
                self.stats_errors += 1

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.period_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def stats_reader(base_url: str, token: str) -> Callable[[], dict[str, Any]]:
    client = httpx.Client(
        base_url=base_url, timeout=5, headers={"Authorization": f"Bearer {token}"}
    )

    def read() -> dict[str, Any]:
        answer = client.get("/api/v1/ingest/stats")
        answer.raise_for_status()
        stats: dict[str, Any] = answer.json()
        return stats

    return read
