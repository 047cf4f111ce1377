"""Migration 0013 on a store written before it: every ISO text time becomes the same instant
in UTC microseconds, NULL stays NULL, other columns, indexes and triggers stay, and an audit
chain (hashes, seals) written before it still verifies after it."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from veille.adapters.sqlite import database
from veille.adapters.sqlite.database import load_migrations, schema_version
from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import encode
from veille.bootstrap import Platform, bootstrap
from veille.domain.audit import Actor, AuditEntry, AuditRecord, next_record, verify_chain
from veille.entrypoints.cli_audit import audit_app
from veille.settings import Settings

pytestmark = pytest.mark.integration

TIME_ENCODING = 13
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OFFSET_TEXT = "2026-03-01T13:00:00.250000+01:00"  # 12:00:00.25 UTC, as a Belgian clock says
NAIVE_TEXT = "2026-03-01T12:00:00"  # written without an offset: UTC, the store's convention
OFFSET_US = encode(NOON + timedelta(milliseconds=250))
NAIVE_US = encode(NOON)
# Every time column the migration converts (audit_log.at is written by the chain below).
TIME_COLUMNS = {
    "cameras": ("created_at", "retired_at"),
    "camera_credentials": ("created_at", "revoked_at"),
    "dead_letters": ("received_at", "replayed_at"),
    "organisations": ("created_at",),
    "users": ("training_expires", "locked_until", "created_at", "deleted_at"),
    "api_tokens": ("created_at", "expires_at", "revoked_at"),
    "user_grants": ("requested_at", "decided_at"),
    "authorizations": ("requested_at", "period_start", "period_end", "decided_at", "expires_at"),
    "case_holds": ("period_start", "period_end", "created_at", "released_at"),
    "hotlists": ("created_at", "updated_at"),
    "hotlist_entries": ("valid_from", "valid_until", "updated_at"),
    "hotlist_changes": ("changed_at",),
    "alerts": ("opened_at", "last_hit_at", "closed_at"),
    "alert_events": ("at",),
    "webhooks": ("created_at",),
    "webhook_deliveries": ("created_at", "delivered_at"),
    "clone_findings": ("found_at",),
}
JSON_ARRAYS = {"investigators", "plates", "camera_ids", "errors", "approvals", "districts"}
JSON_OBJECTS = {"entry", "params", "changes"}
runner = CliRunner()


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, bool, bool]]:
    """(name, declared type, not null, has a default) of each column."""
    return [
        (r[1], r[2].upper(), bool(r[3]), r[4] is not None)
        for r in conn.execute(f"PRAGMA table_info({table})")
    ]


def legacy_row(conn: sqlite3.Connection, table: str, row: int, **values: Any) -> None:
    """Insert a row as the code before 0013 did: the values given, times as ISO text (all
    of them `OFFSET_TEXT` in row 1; in row 2 the required ones naive, the others NULL), and
    a placeholder of the declared type in every other required column."""
    times = TIME_COLUMNS.get(table, ())
    row_ids = {
        r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[5] and r[2] == "INTEGER"
    }
    for name, kind, not_null, has_default in columns(conn, table):
        if name in values or name in row_ids:
            continue
        if name in times:
            values[name] = OFFSET_TEXT if row == 1 else (NAIVE_TEXT if not_null else None)
        elif not_null and not has_default:
            if name in JSON_ARRAYS:
                values[name] = "[]"
            elif name in JSON_OBJECTS:
                values[name] = "{}"
            elif kind == "BLOB":
                values[name] = uuid.uuid4().bytes
            elif kind in ("INTEGER", "REAL"):
                values[name] = 1
            else:
                values[name] = f"{table}-{name}-{row}"
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))


def legacy_chain(platform: Platform, conn: sqlite3.Connection) -> list[AuditRecord]:
    """Audit records chained and sealed as before 0013: `at` kept as its ISO text."""
    records: list[AuditRecord] = []
    previous = None
    for i in range(1, 8):
        entry = AuditEntry(
            at=NOON + timedelta(minutes=i, microseconds=i * 7),
            actor=Actor(username=f"inv{i % 2}", role="investigator", user_id=i, org_id="5339"),
            action="reads.search",
            params={"plate": f"1ABC{i:03d}"},
            result_count=i,
            case_ref="BR.1",
        )
        record = next_record(previous, entry)
        seal = platform.store.seal(record.hash) if platform.store.seal else None
        conn.execute(
            "INSERT INTO audit_log (seq, at, actor_username, actor_role, actor_user_id,"
            " actor_org_id, action, outcome, params, result_count, case_ref, prev_hash, hash,"
            " seal) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.seq,
                entry.at.isoformat(),
                entry.actor.username,
                entry.actor.role,
                entry.actor.user_id,
                entry.actor.org_id,
                entry.action,
                entry.outcome,
                orjson.dumps(entry.params, option=orjson.OPT_SORT_KEYS).decode(),
                entry.result_count,
                entry.case_ref,
                record.prev_hash,
                record.hash,
                seal,
            ),
        )
        records.append(record)
        previous = record
    return records


def approvals_text() -> str:
    return orjson.dumps(
        [
            {
                "district": "Bruxelles",
                "by": 7,
                "by_name": "proc",
                "at": OFFSET_TEXT,
                "reasons": "reasoned",
                "conditions": None,
                "expires_at": NAIVE_TEXT,
            }
        ]
    ).decode()


@pytest.fixture
def before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory whose store stops just before 0013, full of rows."""
    data_dir = tmp_path / "var"
    older = [m for m in load_migrations() if m.version < TIME_ENCODING]
    with monkeypatch.context() as patch:
        patch.setattr(database, "load_migrations", lambda: older)
        platform = bootstrap(Settings(data_dir=data_dir, image_fsync=False))
        platform.store.initialise()
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    assert schema_version(conn) == max(m.version for m in older)
    # another change's column on a converted table (0012 adds one to cameras): it is kept
    conn.execute("ALTER TABLE cameras ADD COLUMN added_elsewhere TEXT")
    conn.execute("BEGIN")
    for table in TIME_COLUMNS:
        for row in (1, 2):
            extra: dict[str, Any] = {}
            if table == "cameras":
                extra = {
                    "camera_id": f"CAM-{row}",
                    "phase": "live",
                    "added_elsewhere": f"kept {row}",
                }
            if table == "authorizations":
                extra = {"status": "approved", "approvals": approvals_text() if row == 1 else "[]"}
            legacy_row(conn, table, row, **extra)
    platform.chain = legacy_chain(platform, conn)  # type: ignore[attr-defined]
    conn.execute("COMMIT")
    conn.close()
    platform.stop()
    platform.store.close()
    yield data_dir


def database_of(data_dir: Path) -> Path:
    return Settings(data_dir=data_dir).database


def migrated(data_dir: Path) -> Platform:
    platform = bootstrap(Settings(data_dir=data_dir, image_fsync=False))
    platform.store.initialise()
    return platform


def test_every_time_column_holds_the_same_instant_in_utc_microseconds(before: Path):
    platform = migrated(before)
    try:
        conn = platform.store.connection()
        assert schema_version(conn) >= TIME_ENCODING
        for table, times in TIME_COLUMNS.items():
            declared = {name: kind for name, kind, _, _ in columns(conn, table)}
            assert {t: declared[t] for t in times} == dict.fromkeys(times, "INTEGER"), table
            rows = conn.execute(f"SELECT {', '.join(times)} FROM {table} ORDER BY rowid")
            first, second = rows.fetchall()
            assert first == (OFFSET_US,) * len(times), table
            required = {n for n, _, not_null, _ in columns(conn, table) if not_null}
            assert second == tuple(NAIVE_US if t in required else None for t in times), table
        applied = conn.execute("SELECT applied_at FROM schema_migrations").fetchall()
        assert all(isinstance(at, int) for (at,) in applied)
        # the column another change added is still there, with its values
        kept = conn.execute("SELECT added_elsewhere FROM cameras ORDER BY camera_id").fetchall()
        assert kept == [("kept 1",), ("kept 2",)]
        # the repositories read the converted rows back as aware UTC moments
        with platform.read_uow() as uow:
            auth = uow.authorizations.get(1)
            assert auth is not None and auth.requested_at == NOON + timedelta(milliseconds=250)
            (approval,) = auth.approvals
            assert (approval.at, approval.expires_at) == (
                NOON + timedelta(milliseconds=250),
                NOON,
            )
            hold = uow.holds.get(2)
            assert hold is not None and hold.period_start == NOON and hold.released_at is None
            camera = uow.cameras.get("CAM-1")
            assert camera is not None and camera.created_at.tzinfo is UTC
    finally:
        platform.stop()
        platform.store.close()


def test_indexes_and_the_append_only_triggers_are_there_again(before: Path):
    platform = migrated(before)
    try:
        conn = platform.store.connection()
        indexes = {
            name: sql
            for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index'")
        }
        for name in ("audit_log_at", "audit_log_actor", "alerts_opened", "alerts_camera"):
            assert name in indexes
        assert "released_at" in indexes["case_holds_active"]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM audit_log WHERE at >= ?", (NAIVE_US,)
        ).fetchall()
        assert "audit_log_at" in str(plan)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET action = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE seq = 1")
    finally:
        platform.stop()
        platform.store.close()


def test_an_audit_chain_written_before_still_verifies_after(before: Path):
    conn = sqlite3.connect(database_of(before))
    stored_before = conn.execute("SELECT seq, prev_hash, hash, seal FROM audit_log").fetchall()
    conn.close()
    platform = migrated(before)
    try:
        conn = platform.store.connection()
        assert conn.execute("SELECT seq, prev_hash, hash, seal FROM audit_log").fetchall() == (
            stored_before
        )
        with platform.read_uow() as uow:
            records = list(uow.audit.iter_all())
        assert [r.entry.at for r in records] == [
            NOON + timedelta(minutes=i, microseconds=i * 7) for i in range(1, 8)
        ]
        assert verify_chain(records) == []
        with platform.uow() as uow:  # the chain goes on from the migrated head
            uow.audit.append(
                AuditEntry(at=NOON + timedelta(hours=1), actor=Actor("dpo", "auditor"), action="x")
            )
            uow.commit()
        # the checkpoint writer checks every seal before it signs the head
        platform.checkpoints.write()
    finally:
        platform.stop()
        platform.store.close()
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(before)])
    assert result.exit_code == 0, result.output


def test_an_audit_record_dated_outside_utc_stops_the_migration_unchanged(before: Path):
    conn = sqlite3.connect(database_of(before), isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET at = ? WHERE seq = 3", (OFFSET_TEXT,))
    conn.close()
    with pytest.raises(sqlite3.IntegrityError, match="every_audit_time_is_utc"):
        migrated(before)
    conn = sqlite3.connect(database_of(before))
    assert schema_version(conn) < TIME_ENCODING
    assert conn.execute("SELECT typeof(created_at) FROM cameras").fetchall() == [("text",)] * 2
    conn.close()


TIME_NAME = re.compile(r"(^at|_at|_until|_from|^period_start|^period_end|^training_expires)$")


def test_every_time_column_of_a_new_store_is_integer_microseconds(tmp_path: Path):
    """A column another change adds with a time name must be INTEGER and use the codec."""
    store = SqliteStore(tmp_path / "new.sqlite3", synchronous="OFF")
    store.initialise()
    try:
        conn = store.connection()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        text_times = [
            f"{table}.{name} {kind}"
            for table in tables
            for name, kind, _, _ in columns(conn, table)
            if TIME_NAME.search(name) and kind != "INTEGER"
        ]
        assert text_times == []
        # TIME_COLUMNS is complete: with the chain's `at`, the migrations' `applied_at` and
        # the columns that were microseconds from the start, it names every time column
        known = {table: set(times) for table, times in TIME_COLUMNS.items()} | {
            "audit_log": {"at"},
            "schema_migrations": {"applied_at"},
            "reads": {"captured_at", "received_at"},
            "alert_hits": {"captured_at"},
        }
        known["clone_findings"] |= {"first_at", "second_at"}
        for table in tables:
            found = {n for n, _, _, _ in columns(conn, table) if TIME_NAME.search(n)}
            assert found == known.get(table, set()), table
    finally:
        store.close()
