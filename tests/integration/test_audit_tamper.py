"""Tampering with the audit log in the SQLite file itself is caught by `veille audit verify`."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from veille.adapters.sqlite.times import encode
from veille.bootstrap import Platform, bootstrap
from veille.domain.audit import Actor, AuditEntry, chain_hash, system_actor
from veille.entrypoints.cli_audit import audit_app
from veille.service import audit as audit_service
from veille.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DPO = Actor(username="dpo", role="auditor", user_id=9, org_id="federal", ip="10.0.0.9")
runner = CliRunner()


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=i),
        actor=Actor(
            username=f"inv{i % 3}",
            role="investigator",
            user_id=100 + i % 3,
            org_id="5339",
            ip=f"10.1.0.{i}",
            user_agent="Mozilla/5.0",
        ),
        action="reads.search" if i % 2 else "auth.sign_in",
        outcome="ok" if i % 5 else "refused",
        target=f"plate:1ABC{i:03d}",
        params={"plate": f"1ABC{i:03d}", "radius_m": i * 10},
        result_count=i,
        purpose="vehicle theft",
        case_ref=f"BR.{i % 2}",
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def platform(data_dir: Path) -> Iterator[Platform]:
    platform = bootstrap(Settings(data_dir=data_dir, image_fsync=False))
    platform.store.initialise()
    with platform.uow() as uow:
        for i in range(1, 31):
            uow.audit.append(entry(i))
        uow.commit()
    platform.checkpoints.write()  # what the server's checkpoint writer does within a minute
    yield platform
    platform.stop()
    platform.store.close()


def raw(platform: Platform) -> sqlite3.Connection:
    """The attacker's view: the database file, without the append-only triggers."""
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


def cli_verify(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(data_dir), *extra])
    return result.exit_code, result.output


def service_verify(platform: Platform, *, record: bool = True) -> audit_service.VerifyReport:
    now = platform.clock()
    report = audit_service.verify(
        read_uow=platform.read_uow(),
        anchors=platform.anchors,
        verifier=platform.audit_verifier(),
        now=now,
        max_wait=platform.settings.checkpoint_max_wait(),
    )
    if record:
        audit_service.record_verification(uow=platform.uow(), actor=DPO, now=now, report=report)
    return report


def edit_params(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit_log SET params = '{"plate":"9ZZZ999"}' WHERE seq = 12""")


def edit_actor(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_log SET actor_username = 'someone.else' WHERE seq = 12")


def edit_result_count(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE audit_log SET result_count = 0 WHERE seq = 12")


def delete_middle(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_log WHERE seq = 12")


def insert_forged(conn: sqlite3.Connection) -> None:
    """Make room at 12 and slip in a record with a valid own hash, linked to record 11."""
    conn.execute("UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 12")
    conn.execute("UPDATE audit_log SET seq = -seq WHERE seq < 0")
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 11").fetchone()[0]
    forged = AuditEntry(at=T0, actor=system_actor("cleaner"), action="auth.sign_out")
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor_username, actor_role, action, outcome, params,"
        " prev_hash, hash) VALUES (12, ?, 'cleaner', 'system', 'auth.sign_out', 'ok', '{}', ?, ?)",
        (encode(T0), prev, chain_hash(12, forged, prev)),
    )


def swap_contents(conn: sqlite3.Connection) -> None:
    """Records 12 and 13 exchange everything but their sequence numbers."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(audit_log)") if r[1] != "seq"]
    rows = {
        seq: conn.execute(
            f"SELECT {', '.join(columns)} FROM audit_log WHERE seq = ?", (seq,)
        ).fetchone()
        for seq in (12, 13)
    }
    assignments = ", ".join(f"{c} = ?" for c in columns)
    for seq, other in ((12, 13), (13, 12)):
        conn.execute(f"UPDATE audit_log SET {assignments} WHERE seq = ?", (*rows[other], seq))


TAMPERINGS: dict[str, tuple[Callable[[sqlite3.Connection], None], int, str]] = {
    "edit params": (edit_params, 12, "edited"),
    "edit actor": (edit_actor, 12, "edited"),
    "edit result count": (edit_result_count, 12, "edited"),
    "delete a middle record": (delete_middle, 13, "deleted"),
    "insert a forged record": (insert_forged, 13, "edited"),
    "swap two records": (swap_contents, 12, "reordered"),
}


def test_untouched_log_verifies(platform, data_dir):
    code, out = cli_verify(data_dir)
    assert code == 0, out
    head = service_verify(platform)  # the CLI run added its own record (31)
    assert head.ok and head.records == 31 and head.uncovered == 0  # the CLI vouched for it
    assert out.startswith("audit log intact: 30 records, head seq 30 hash ")
    assert "checked against 1 signed checkpoints" in out
    with platform.read_uow() as uow:
        cli_record, service_record = uow.audit.search(action="audit.verify")
    assert cli_record.seq == 31 and cli_record.entry.actor.username.startswith("cli:")
    assert cli_record.entry.actor.role == "system"
    assert cli_record.entry.params == {
        "intact": True,
        "problems": 0,
        "anchors": 1,
        "head_seq": 30,
        "checkpoint_seq": 30,
        "uncovered": 0,
    }
    assert cli_record.entry.result_count == 30
    assert service_record.seq == 32 and service_record.entry.actor == DPO


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampering_is_detected(platform, data_dir, name):
    tamper, seq, kind = TAMPERINGS[name]
    with raw(platform) as conn:
        tamper(conn)

    report = service_verify(platform)
    assert not report.ok
    assert (seq, kind) in [(p.seq, p.kind) for p in report.problems], report.problems

    code, out = cli_verify(data_dir)
    assert code == 1, out
    assert f"record {seq}: {kind}:" in out
    assert "NOT intact" in out


def test_tail_truncation_below_a_checkpoint_is_detected(platform, data_dir):
    result = runner.invoke(audit_app, ["anchor", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and result.output.startswith("checkpoint: seq 31 hash "), (
        result.output
    )
    with platform.read_uow() as uow:
        note = uow.audit.get(31)
    # checkpoint of 30, the note of it as record 31, then a checkpoint of the note
    assert note.entry.action == "audit.anchor" and note.entry.params["checkpoint_seq"] == 30
    assert cli_verify(data_dir)[0] == 0

    with raw(platform) as conn:  # the last 3: record 30, the note 31, the verify's 32
        conn.execute("DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)")
        assert conn.execute("SELECT max(seq) FROM audit_log").fetchone() == (29,)

    code, out = cli_verify(data_dir)
    assert code == 1, out
    assert "record 31: truncated: the log ends at record 29" in out
    report = service_verify(platform)  # head is now the CLI's verify record, 30
    assert (31, "truncated") in [(p.seq, p.kind) for p in report.problems]
    # Once new records reuse the numbers, the checkpointed ones no longer match.
    report = service_verify(platform)
    assert (31, "edited") in [(p.seq, p.kind) for p in report.problems]


def test_checkpoints_are_signed_json_lines_and_a_damaged_line_fails(platform, data_dir, tmp_path):
    path = platform.anchors.path
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(d["kind"], d["seq"]) for d in lines] == [("checkpoint", 30)]
    assert set(lines[0]) == {"kind", "seq", "hash", "at", "key_id", "signature"}
    elsewhere = tmp_path / "elsewhere"
    code, out = cli_verify(data_dir, "--anchors", str(elsewhere))
    assert code == 1 and "no anchor store at" in out
    elsewhere.mkdir()
    (elsewhere / path.name).write_bytes(path.read_bytes())
    assert cli_verify(data_dir, "--anchors", str(elsewhere))[0] == 0
    path.write_text(path.read_text() + "not json\n")
    code, out = cli_verify(data_dir)
    assert code == 1 and "line 4: not a checkpoint" in out, out  # after 2 CLI checkpoints


def test_swapping_two_records_is_one_reordering(platform):
    with raw(platform) as conn:
        swap_contents(conn)
    report = service_verify(platform, record=False)
    assert [(p.seq, p.kind) for p in report.problems] == [(12, "reordered")]
    assert "record 13 is stored as 12, record 12 is stored as 13" in report.problems[0].detail


def test_triggers_forbid_update_and_delete(platform):
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET result_count = 0 WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 30")
    assert conn.execute("SELECT count(*), min(result_count) FROM audit_log").fetchone() == (30, 1)
    conn.close()


def test_record_needs_an_open_transaction_and_audit_action_opens_its_own(platform):
    uow = platform.uow()
    with pytest.raises(RuntimeError):
        audit_service.record(uow=uow, entry=entry(99))
    with uow:
        rec = audit_service.record(uow=uow, entry=entry(99))
        uow.rollback()
    assert rec.seq == 31
    appended = audit_service.audit_action(uow_factory=platform.uow, entry=entry(98))
    assert appended.seq == 31  # the rolled-back one left no trace
    with platform.read_uow() as ro:
        assert ro.audit.last() == appended


def _exported_rows(data_dir: Path, fmt: str, *args: str) -> tuple[list[dict], str]:
    result = runner.invoke(
        audit_app, ["export", "--format", fmt, "--data-dir", str(data_dir), *args]
    )
    assert result.exit_code == 0, result.output
    if fmt == "json":
        return orjson.loads(result.stdout), result.stdout
    return list(csv.DictReader(io.StringIO(result.stdout))), result.stdout


def test_json_export_holds_every_record_and_field_and_the_hashes_recompute(platform, data_dir):
    rows, _ = _exported_rows(data_dir, "json")
    assert [r["seq"] for r in rows] == list(range(1, 31))
    assert list(rows[0]) == list(audit_service.EXPORT_COLUMNS)
    twelve = rows[11]
    assert twelve == {
        "seq": 12,
        "at": (T0 + timedelta(minutes=12)).isoformat(),
        "actor_username": "inv0",
        "actor_role": "investigator",
        "actor_user_id": 100,
        "actor_org_id": "5339",
        "actor_ip": "10.1.0.12",
        "actor_user_agent": "Mozilla/5.0",
        "action": "auth.sign_in",
        "outcome": "ok",
        "target": "plate:1ABC012",
        "params": {"plate": "1ABC012", "radius_m": 120},
        "result_count": 12,
        "purpose": "vehicle theft",
        "case_ref": "BR.0",
        "prev_hash": rows[10]["hash"],
        "hash": twelve["hash"],
    }
    # An outside reader can recompute every hash from the export alone.
    for row in rows:
        rebuilt = AuditEntry(
            at=datetime.fromisoformat(row["at"]),
            actor=Actor(
                username=row["actor_username"],
                role=row["actor_role"],
                user_id=row["actor_user_id"],
                org_id=row["actor_org_id"],
                ip=row["actor_ip"],
                user_agent=row["actor_user_agent"],
            ),
            action=row["action"],
            outcome=row["outcome"],
            target=row["target"],
            params=row["params"],
            result_count=row["result_count"],
            purpose=row["purpose"],
            case_ref=row["case_ref"],
        )
        assert chain_hash(row["seq"], rebuilt, row["prev_hash"]) == row["hash"]
    with platform.read_uow() as uow:
        last = uow.audit.last()
    assert (last.seq, last.entry.action, last.entry.result_count) == (31, "audit.export", 30)
    assert last.entry.params == {"format": "json"}


def test_csv_export_has_a_header_and_a_row_per_record(platform, data_dir):
    rows, text = _exported_rows(data_dir, "csv")
    assert text.splitlines()[0] == ",".join(audit_service.EXPORT_COLUMNS)
    assert len(rows) == 30
    assert rows[4]["seq"] == "5" and rows[4]["outcome"] == "refused"
    assert orjson.loads(rows[4]["params"]) == {"plate": "1ABC005", "radius_m": 50}
    assert rows[4]["actor_user_agent"] == "Mozilla/5.0" and rows[4]["actor_org_id"] == "5339"
    assert rows[0]["prev_hash"] == "0" * 64 and rows[1]["prev_hash"] == rows[0]["hash"]


def test_export_filters_and_is_itself_audited(platform, data_dir, tmp_path):
    out = tmp_path / "export.csv"
    args = ["--user", "inv1", "--action", "reads.search", "--since", "2026-03-01T08:05:00+00:00"]
    result = runner.invoke(
        audit_app,
        ["export", "--format", "csv", "--data-dir", str(data_dir), "--output", str(out), *args],
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # inv1 is i % 3 == 1; reads.search is odd i; since 08:05 is i >= 5
    assert [int(r["seq"]) for r in rows] == [i for i in range(5, 31) if i % 3 == 1 and i % 2]
    with platform.read_uow() as uow:
        last = uow.audit.last()
    assert last.entry.action == "audit.export"
    assert last.entry.result_count == len(rows)
    assert last.entry.params == {
        "format": "csv",
        "user": "inv1",
        "action": "reads.search",
        "since": "2026-03-01T08:05:00+00:00",
    }
    bad = runner.invoke(
        audit_app, ["export", "--format", "csv", "--data-dir", str(data_dir), "--until", "soon"]
    )
    assert bad.exit_code == 2


def test_csv_cells_cannot_become_spreadsheet_formulas(platform):
    hostile = Actor(username="=HYPERLINK(1)", role="unknown", user_agent="@SUM(A1)")
    audit_service.audit_action(
        uow_factory=platform.uow,
        entry=AuditEntry(at=T0, actor=hostile, action="auth.sign_in", outcome="refused"),
    )
    text = audit_service.export(
        uow=platform.uow(), actor=DPO, now=T0, fmt="csv", action="auth.sign_in", username=None
    )
    row = list(csv.DictReader(io.StringIO(text)))[-1]
    assert row["actor_username"] == "'=HYPERLINK(1)" and row["actor_user_agent"] == "'@SUM(A1)"
    as_json = orjson.loads(audit_service.export(uow=platform.uow(), actor=DPO, now=T0, fmt="json"))
    assert as_json[30]["actor_username"] == "=HYPERLINK(1)"  # JSON keeps the exact value
