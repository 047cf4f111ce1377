"""How to make a group commit's images durable: BLOBs in the transaction, or an image log
synced once before the commit (decision 0010). Raw SQLite and files, one thread.

Each group commits `--group` reads, each with a 3 KB and a 25 KB image, `synchronous=FULL`
in WAL mode with the store's `wal_autocheckpoint=10000`:

- `rows`: the read and image rows only, no bytes (the floor);
- `log`: the rows plus the bytes appended to one file, `fdatasync` before the commit;
- `blob`: the rows with the bytes as BLOBs in the same transaction (one fsync, but the
  WAL carries the bytes and its checkpoints copy them again into the database).

Rounds alternate the methods. It reports reads/s and the slowest group (a WAL checkpoint
runs inside the commit that crosses the threshold).

    python scripts/image_durability_ab.py --group 16 --reads 3000 --rounds 2 [--json]

Not covered: the server around it (HTTP, decoding, the request's wait), a prefilled
store, reading images back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

PLATE, OVERVIEW = os.urandom(3 * 1024), os.urandom(25 * 1024)


def _store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute("CREATE TABLE reads (id INTEGER PRIMARY KEY, read_id BLOB UNIQUE, rest TEXT)")
    conn.execute(
        "CREATE TABLE read_images (read_id BLOB, position INT, sha256 TEXT, segment INT,"
        " byte_offset INT, size INT, data BLOB, PRIMARY KEY (read_id, position))"
    )
    return conn


def run(method: str, folder: Path, *, reads: int, group: int) -> dict[str, Any]:
    conn = _store(folder / f"{method}.db")
    log = open(folder / f"{method}.seg", "ab")  # noqa: SIM115
    worst = 0.0
    started = time.perf_counter()
    offset = 0
    for _ in range(reads // group):
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        rows, images = [], []
        for _ in range(group):
            read_id = os.urandom(16)
            rows.append((read_id, "x" * 150))
            for position, data in enumerate((PLATE, OVERVIEW)):
                blob = data if method == "blob" else None
                where = (1, offset) if method == "log" else (None, None)
                images.append((read_id, position, "s" * 64, *where, len(data), blob))
                offset += len(data)
        conn.executemany("INSERT INTO reads (read_id, rest) VALUES (?, ?)", rows)
        if method == "log":
            log.write(b"".join([PLATE, OVERVIEW] * group))
            log.flush()
            os.fdatasync(log.fileno())
        conn.executemany("INSERT INTO read_images VALUES (?, ?, ?, ?, ?, ?, ?)", images)
        conn.execute("COMMIT")
        worst = max(worst, time.perf_counter() - began)
    seconds = time.perf_counter() - started
    log.close()
    conn.close()
    done = reads // group * group
    return {
        "method": method,
        "group": group,
        "reads_per_s": round(done / seconds),
        "worst_group_ms": round(worst * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", type=int, default=16, help="reads per commit")
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for round_no in range(args.rounds):
        for method in ("rows", "log", "blob"):
            folder = Path(tempfile.mkdtemp(prefix="veille-imgdur-"))
            try:
                result = run(method, folder, reads=args.reads, group=args.group)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            results.append({**result, "round": round_no, "load1": round(os.getloadavg()[0], 2)})
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'method':8} {'round':>5} {'group':>5} {'reads/s':>8} {'worst group ms':>15} {'load1':>6}"
    )
    for r in results:
        print(
            f"{r['method']:8} {r['round']:>5} {r['group']:>5} {r['reads_per_s']:>8}"
            f" {r['worst_group_ms']:>15} {r['load1']:>6}"
        )


if __name__ == "__main__":
    main()
