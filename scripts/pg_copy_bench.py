"""COPY rows/s into the day-partitioned reads table, next to the stores' ingest paths.

Three sides, each committing one batch a transaction, taking turns round after round on
the same reads (fresh ids each round):
- `pg-copy`: raw binary COPY of the encoded rows into `reads` (the partitioned table),
  the yardstick of issue 12;
- `pg-add_new`: `PostgresReadRepository.add_new`, what the ingest writer calls on
  PostgreSQL (the ids into `read_ids` ON CONFLICT DO NOTHING, then COPY);
- `sqlite-add_new`: `SqliteReadRepository.add_new` on a SQLite file (synchronous=FULL),
  what the ingest writer calls on the embedded store.

Usage: PYTHONPATH=src python scripts/pg_copy_bench.py [--reads 100000] [--batch 2000]
       [--rounds 2] [--server postgresql://postgres@127.0.0.1:5432/postgres]
A database `veille_bench_<random>` is made on the server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from psycopg.conninfo import make_conninfo

from veille.adapters.postgresql.reads import copy_read_rows
from veille.adapters.postgresql.store import PostgresStore
from veille.adapters.sqlite.repositories import read_row
from veille.adapters.sqlite.store import SqliteStore
from veille.domain.plates import canonical
from veille.domain.reads import Read

LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"


def make_reads(count: int, rng: random.Random, now: datetime) -> list[Read]:
    reads = []
    for _ in range(count):
        plate = f"{rng.randint(1, 9)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03}"
        captured = now - timedelta(seconds=rng.uniform(0, 36 * 3600))  # today and yesterday
        reads.append(
            Read(
                read_id=uuid.uuid4(),
                camera_id=f"CAM-{rng.randint(1, 200):04}",
                captured_at=captured,
                received_at=now,
                plate_raw=plate,
                plate=plate,
                plate_canonical=canonical(plate),
                country="BE",
                confidence=round(rng.uniform(0.6, 1.0), 3),
            )
        )
    return reads


def fresh_ids(reads: list[Read]) -> list[Read]:
    return [
        Read(**{f: getattr(r, f) for f in Read.__slots__ if f != "read_id"}, read_id=uuid.uuid4())
        for r in reads
    ]


def timed(batches: list[list[Read]], store_batch: Callable[[list[Read]], None]) -> float:
    """Rows per second over every batch, each stored and committed."""
    rows = sum(len(b) for b in batches)
    began = time.perf_counter()
    for batch in batches:
        store_batch(batch)
    return rows / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--server",
        default=os.environ.get(
            "VEILLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    rng = random.Random(7)
    now = datetime.now(UTC)
    base = make_reads(args.reads, rng, now)
    name = f"veille_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    pg = PostgresStore(make_conninfo(args.server, dbname=name), pool_size=2)
    folder = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    lite = SqliteStore(folder / "bench.sqlite3", synchronous="FULL")
    try:
        pg.initialise()
        lite.initialise()

        def pg_copy(batch: list[Read]) -> None:
            rows = [read_row(r) for r in batch]
            with pg.uow() as uow:
                copy_read_rows(uow.conn, rows)
                uow.commit()

        def add_new_on(store: PostgresStore | SqliteStore) -> Callable[[list[Read]], None]:
            def store_batch(batch: list[Read]) -> None:
                rows = [read_row(r) for r in batch]  # request threads encode (ReadEncoder)
                with store.uow() as uow:
                    uow.reads.add_new(batch, rows)
                    uow.commit()

            return store_batch

        sides: dict[str, Callable[[list[Read]], None]] = {
            "pg-copy": pg_copy,
            "pg-add_new": add_new_on(pg),
            "sqlite-add_new": add_new_on(lite),
        }
        results: dict[str, list[float]] = {side: [] for side in sides}
        load_before = os.getloadavg()
        for _ in range(args.rounds):
            for side, store_batch in sides.items():
                reads = fresh_ids(base)
                batches = [reads[i : i + args.batch] for i in range(0, len(reads), args.batch)]
                results[side].append(timed(batches, store_batch))
        load_after = os.getloadavg()
        report = {
            "reads": args.reads,
            "batch": args.batch,
            "rounds": args.rounds,
            "rows_per_s_median": {s: round(statistics.median(v)) for s, v in results.items()},
            "rows_per_s_each_round": {s: [round(x) for x in v] for s, v in results.items()},
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "cores": os.cpu_count(),
        }
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    finally:
        pg.close()
        lite.close()
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
