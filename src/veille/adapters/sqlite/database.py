"""SQLite connections in WAL mode and versioned migrations."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from veille.adapters.sqlite import times

_MIGRATION_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str = "veille.adapters.sqlite") -> list[Migration]:
    """Every migration shipped in the `migrations` folder of a backend's package, in
    version order."""
    found: list[Migration] = []
    folder = resources.files(package) / "migrations"
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    # Numbers are reserved per change, so a branch may ship 0009 before 0008 lands; each
    # is applied once whatever the order (see migrate), but a number must be unique.
    if len(set(versions)) != len(versions) or (versions and versions[0] != 1):
        raise RuntimeError(f"migrations must have unique numbers from 1, found {versions}")
    return found


def connect(
    path: Path | str, *, synchronous: str = "FULL", readonly: bool = False
) -> sqlite3.Connection:
    """Open a connection with the pragmas every Veille connection uses.

    WAL lets readers run beside the single writer; `synchronous=FULL` makes every commit
    durable against power loss before a camera is acknowledged (NORMAL only against a
    crash of the process).
    """
    if synchronous.upper() not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}")
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
    # Checkpoint every ~40 MB of WAL instead of ~4 MB: a read-heavy index set rewrites
    # the same pages often, and fewer checkpoints nearly double the insert rate (measured,
    # docs/decisions/0002-sqlite-ingest-tuning.md).
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet applied, each in its own transaction; return them."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    # Migration 0013 converts the ISO text times of older stores with the codec itself.
    conn.create_function("veille_micros", 1, times.from_iso_text, deterministic=True)
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    done: list[int] = []
    for migration in load_migrations():
        if migration.version in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, times.encode(datetime.now(UTC))),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(migration.version)
    return done


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements.

    Statements end with ';' at the end of a line; a trigger body (BEGIN … END;) is kept
    whole. Our migrations hold no ';' at a line end inside string literals.
    """
    statements: list[str] = []
    current: list[str] = []
    in_trigger = False
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        upper = stripped.upper()
        if upper.startswith("CREATE TRIGGER"):
            in_trigger = True
        if stripped.endswith(";") and (not in_trigger or upper == "END;"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current, in_trigger = [], False
    if current:
        statements.append("\n".join(current).strip().rstrip(";"))
    return statements


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)
