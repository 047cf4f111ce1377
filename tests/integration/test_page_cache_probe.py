"""Evicting a store and reading its residency must not release the SQLite locks of the
process that measures: closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's included, and another process may then reset the WAL
index under a live connection (a bench crashed with SIGBUS that way)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from veille.bench.page_cache import PageCacheProbe

pytestmark = pytest.mark.integration

CHECKPOINT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA busy_timeout=0")
conn.execute("INSERT INTO t VALUES (2)")
print(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
"""


def _store(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("BEGIN")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1  # a live snapshot
    return path, conn


def _checkpoint_blocked(path: Path) -> bool:
    """Whether another process's TRUNCATE checkpoint is held off by our reader."""
    out = subprocess.run(
        [sys.executable, "-c", CHECKPOINT, str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip() == "1"


def test_the_probe_keeps_the_readers_locks(tmp_path: Path) -> None:
    path, conn = _store(tmp_path)
    assert _checkpoint_blocked(path)  # the reader's snapshot holds the checkpoint off
    with PageCacheProbe() as probe:
        probe.evict_store(path)
        assert 0.0 <= probe.residency(path) <= 1.0
    assert _checkpoint_blocked(path)  # and still does: no lock was lost
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    conn.execute("COMMIT")
    conn.close()


def test_the_probe_evicts_and_measures(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x01" * (4 << 20))
    data.read_bytes()
    with PageCacheProbe() as probe:
        assert probe.residency(data) > 0.99
        probe.evict_store(data)
        assert probe.residency(data) < 0.01
