"""An insider with the database file: what signed checkpoints and record seals catch.

Each test plays one attack from issue 9 on the SQLite file itself (no triggers, any SQL),
then asks `veille audit verify` — with the public key only — what it sees.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from veille.adapters.sqlite.times import encode
from veille.bootstrap import Platform, bootstrap
from veille.domain.audit import Actor, AuditEntry, chain_hash, system_actor
from veille.entrypoints.audit_check import check_audit_log
from veille.entrypoints.cli_audit import audit_app
from veille.service import audit as audit_service
from veille.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DPO = Actor(username="dpo", role="auditor", user_id=9, org_id="federal")
runner = CliRunner()


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=i),
        actor=Actor(username=f"inv{i % 3}", role="investigator", user_id=100 + i % 3),
        action="reads.search",
        params={"plate": f"1ABC{i:03d}"},
        result_count=i,
        purpose="vehicle theft",
        case_ref="BR.1",
    )


def append(platform: Platform, first: int, last: int) -> None:
    with platform.uow() as uow:
        for i in range(first, last + 1):
            uow.audit.append(entry(i))
        uow.commit()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def platform(data_dir: Path) -> Iterator[Platform]:
    platform = bootstrap(Settings(data_dir=data_dir, image_fsync=False, run_jobs=False))
    platform.store.initialise()
    append(platform, 1, 30)
    assert platform.checkpoints.write().seq == 30
    yield platform
    platform.stop()
    platform.store.close()


def raw(platform: Platform) -> sqlite3.Connection:
    """The insider's view: the database file, without the append-only triggers."""
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    return conn


def forge_append(conn: sqlite3.Connection, *, seal: str | None = None) -> int:
    """A record after the head whose chain hash is perfectly valid (the hash has no key)."""
    seq, prev = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq += 1
    forged = AuditEntry(at=T0, actor=system_actor("cleaner"), action="auth.sign_out")
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor_username, actor_role, action, outcome, params,"
        " prev_hash, hash, seal) VALUES (?, ?, 'cleaner', 'system', 'auth.sign_out', 'ok', '{}',"
        " ?, ?, ?)",
        (seq, encode(T0), prev, chain_hash(seq, forged, prev), seal),
    )
    return seq


def verify(platform: Platform, *, now: datetime | None = None) -> audit_service.VerifyReport:
    return audit_service.verify(
        read_uow=platform.read_uow(),
        anchors=platform.anchors,
        verifier=platform.audit_verifier(),
        now=now or platform.clock(),
        max_wait=platform.settings.checkpoint_max_wait(),
    )


def kinds(report: audit_service.VerifyReport) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in report.problems]


def cli_verify(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, ["verify", "--data-dir", str(data_dir), *extra])
    return result.exit_code, result.output


# ---- a forged record appended with a valid hash --------------------------------------


@pytest.mark.parametrize("seal", [None, "0" * 64], ids=["no seal", "made-up seal"])
def test_a_forged_append_with_a_valid_hash_is_refused_and_fails_verify(platform, data_dir, seal):
    with raw(platform) as conn:
        forged = forge_append(conn, seal=seal)
    # Until the next checkpoint, the forgery is one record that nothing vouches for yet.
    before = verify(platform)
    assert before.ok and before.uncovered == 1 and before.newest_checkpoint.seq == 30

    # The checkpoint writer (every minute in the server) will not sign a head over it...
    refusal = platform.checkpoints.write(force=True)
    assert refusal.kind == "refusal" and refusal.seq == forged
    assert "no valid seal" in refusal.reason
    assert platform.checkpoints.last.seq == 30  # ...and no checkpoint covers it

    report = verify(platform)
    assert not report.ok
    assert (forged, "forged") in kinds(report)
    code, out = cli_verify(data_dir)
    assert code == 1 and f"record {forged}: forged:" in out and "NOT intact" in out
    anchor = runner.invoke(audit_app, ["anchor", "--data-dir", str(data_dir)])
    assert anchor.exit_code == 1 and "refused" in anchor.output


def test_a_forgery_nothing_checkpoints_fails_once_the_interval_has_passed(platform):
    """Without a running checkpoint writer, records waiting too long for one fail verify."""
    with raw(platform) as conn:
        forged = forge_append(conn)
    newest = platform.checkpoints.last.at
    allowed = platform.settings.checkpoint_max_wait()
    assert verify(platform, now=newest + allowed - timedelta(seconds=1)).ok
    late = verify(platform, now=newest + allowed + timedelta(seconds=1))
    assert kinds(late) == [(forged, "uncovered")]
    assert late.uncovered == 1 and late.checkpoint_age_s > allowed.total_seconds()


def test_records_written_by_veille_are_sealed_and_checkpointed(platform):
    append(platform, 31, 33)
    checkpoint = platform.checkpoints.write(force=True)
    assert (checkpoint.kind, checkpoint.seq) == ("checkpoint", 33)
    with platform.read_uow() as uow:
        records = list(uow.audit.iter_all())
    assert all(platform.audit_keys.seal_ok(r.hash, r.seal) for r in records)
    report = verify(platform)
    assert report.ok and report.uncovered == 0 and report.anchors_checked == 2


# ---- truncation ----------------------------------------------------------------------


def test_truncation_after_the_last_anchor_note_is_caught_by_the_next_checkpoint(platform, data_dir):
    assert runner.invoke(audit_app, ["anchor", "--data-dir", str(data_dir)]).exit_code == 0
    append(platform, 32, 36)  # after the hourly note, covered by the frequent checkpoints
    interval = timedelta(seconds=platform.settings.audit_checkpoint_interval_s)
    assert platform.checkpoints.write() is None  # not due yet: neither 1,000 records nor a minute
    later = platform.checkpoints.last.at + interval
    assert platform.checkpoints.write(later).seq == 36  # due once the interval has passed

    with raw(platform) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 31")
    report = verify(platform, now=later)
    assert (36, "truncated") in kinds(report)
    refusal = platform.checkpoints.write(later + interval)
    assert refusal.kind == "refusal" and "records were removed" in refusal.reason


def test_only_records_after_the_newest_checkpoint_can_be_removed_unseen(platform):
    """The documented limit: what no checkpoint covers yet, a checkpoint cannot miss."""
    append(platform, 31, 35)
    assert verify(platform).uncovered == 5
    with raw(platform) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 30")
    report = verify(platform)
    assert report.ok and report.uncovered == 0


def test_every_n_records_trigger_a_checkpoint(data_dir):
    settings = Settings(data_dir=data_dir, run_jobs=False, audit_checkpoint_every_records=10)
    platform = bootstrap(settings)
    platform.store.initialise()
    try:
        append(platform, 1, 9)
        assert platform.checkpoints.write().seq == 9  # the first one is always due
        append(platform, 10, 18)
        assert platform.checkpoints.write() is None
        append(platform, 19, 19)
        assert platform.checkpoints.write().seq == 19
    finally:
        platform.store.close()


# ---- the anchor store deleted with the records ---------------------------------------


def test_deleting_the_anchor_store_with_the_records_fails(platform, data_dir):
    with raw(platform) as conn:
        conn.execute("DELETE FROM audit_log")
    shutil.rmtree(platform.anchors.folder)
    code, out = cli_verify(data_dir)
    assert code == 1, out
    assert "no anchor store at" in out and "intact" not in out.replace("NOT intact", "")
    assert "0 records" in out


def test_an_emptied_anchor_store_fails(platform, data_dir):
    platform.anchors.path.write_bytes(b"")
    report = verify(platform)
    assert kinds(report) == [(0, "anchors")]
    assert "holds no signed checkpoint" in report.problems[0].detail


def test_a_log_naming_checkpoints_the_store_lacks_fails(platform, data_dir, tmp_path):
    assert runner.invoke(audit_app, ["anchor", "--data-dir", str(data_dir)]).exit_code == 0
    shutil.rmtree(platform.anchors.folder)  # the store is lost or swapped for a fresh one
    fresh = bootstrap(platform.settings)  # a restarted server, with a new checkpoint writer
    try:
        refusal = fresh.checkpoints.write()
        assert refusal.kind == "refusal" and "restore the anchor store" in refusal.reason
        report = verify(fresh)
        assert (31, "anchors") in kinds(report)  # the note names a checkpoint now gone
        assert (31, "forged") in kinds(report)
    finally:
        fresh.store.close()


def test_a_checkpoint_line_edited_in_the_store_fails(platform):
    line = orjson.loads(platform.anchors.path.read_bytes())
    line["seq"] = 12
    platform.anchors.path.write_bytes(orjson.dumps(line) + b"\n")
    report = verify(platform)
    assert (12, "anchors") in kinds(report)
    assert "does not verify with public key" in report.problems[-1].detail


def test_verify_needs_only_the_public_key(platform, data_dir, tmp_path):
    public = tmp_path / "dpo.pem"
    result = runner.invoke(
        audit_app, ["public-key", "--data-dir", str(data_dir), "--output", str(public)]
    )
    assert result.exit_code == 0 and public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    platform.settings.audit_key.unlink()  # the private key is not needed to verify
    code, out = cli_verify(data_dir, "--public-key", str(public))
    assert code == 0, out
    assert f"public key {platform.audit_keys.key_id}" in out
    other = tmp_path / "other"
    assert runner.invoke(audit_app, ["keygen", "--data-dir", str(other)]).exit_code == 0
    code, out = cli_verify(data_dir, "--public-key", str(other / "keys/audit-signing.key.pub"))
    assert code == 1 and "does not verify with public key" in out


def test_key_files_are_private_and_keygen_keeps_an_existing_key(platform, data_dir):
    key = platform.settings.audit_key
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    before = key.read_bytes()
    result = runner.invoke(audit_app, ["keygen", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and "already exists, kept" in result.output
    assert key.read_bytes() == before
    key.chmod(0o644)
    again = bootstrap(platform.settings)
    with pytest.raises(RuntimeError, match="readable by others"):
        again.audit_keys.sign(b"anything")


# ---- verify answers before it appends ------------------------------------------------


def test_verify_writes_nothing_and_answers_even_when_it_cannot_record(
    platform, data_dir, monkeypatch
):
    with platform.read_uow() as uow:
        before = uow.audit.count()
    report = verify(platform)
    with platform.read_uow() as uow:
        assert uow.audit.count() == before  # the check itself appends nothing
    assert report.ok and report.head[0] == before

    def cannot_record(**_: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(audit_service, "record_verification", cannot_record)
    code, out = cli_verify(data_dir)
    assert code == 0
    assert out.startswith("audit log intact: 30 records")
    assert "could not be recorded in the log: database is locked" in out


def test_the_checkpoint_writer_does_not_wait_for_the_write_lock(platform):
    append(platform, 31, 31)
    holder = sqlite3.connect(platform.settings.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as the ingest writer does for each group commit
    try:
        done = threading.Event()
        result: list[object] = []

        def write() -> None:
            result.append(platform.checkpoints.write(force=True))
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        # A writer that needed the lock would sit in SQLite's busy wait (10 s) here.
        assert done.wait(5), "the checkpoint writer waited for the write lock"
        thread.join()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result[0].seq == 31


# ---- the server warns at start -------------------------------------------------------


def test_the_start_up_check_warns_when_the_chain_fails(platform):
    out = io.StringIO()
    assert check_audit_log(platform, out=out).ok and out.getvalue() == ""
    with raw(platform) as conn:
        conn.execute("UPDATE audit_log SET result_count = 0 WHERE seq = 12")
    check_audit_log(platform, out=out)
    assert out.getvalue().startswith("WARNING: the audit log FAILS verification")
    assert "record 12: edited:" in out.getvalue()
