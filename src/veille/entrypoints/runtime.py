"""Process-wide runtime settings of a server process (not of the app: tests share a process)."""

from __future__ import annotations

import gc
import logging
import sys


def tune_garbage_collector(gen0_threshold: int) -> tuple[int, int, int]:
    """Collect the young generation every `gen0_threshold` allocations instead of 700.

    Ingest allocates some twenty container objects per read (the parsed JSON, the read,
    its row, its answer), almost none of them in reference cycles: reference counting
    frees them. With Python's default the cyclic collector ran every few dozen reads and
    took 18 % of the request thread (py-spy); at 50,000 the end-to-end ingest rate rose
    by about a quarter (docs/decisions/0004-a-lean-ingest-writer.md). What start-up
    built (modules, settings, the platform) is frozen out of later collections.
    0 or less leaves the collector as Python sets it. Returns the thresholds in force.
    """
    if gen0_threshold > 0:
        gc.collect()
        gc.freeze()
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    return gc.get_threshold()


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines with time, level and source to stderr (a server log, never secrets).

    Without this, the server's own warnings reached stderr bare through Python's last-resort
    handler and nothing said it had started: `var/server.log` stayed empty.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
