"""Audit log use cases: record, search, export and verify the chain, and anchor its head."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from veille.domain.audit import (
    GENESIS_HASH,
    Actor,
    AuditEntry,
    AuditRecord,
    ChainProblem,
    system_actor,
    verify_chain,
)
from veille.service.ports import UnitOfWork

ANCHOR_FILE_NAME = "audit-anchors.jsonl"
EXPORT_ACTION = "audit.export"
SEARCH_ACTION = "audit.search"
VERIFY_ACTION = "audit.verify"
ANCHOR_ACTION = "audit.anchor"
ExportFormat = Literal["csv", "json"]
EXPORT_COLUMNS = (
    "seq",
    "at",
    "actor_username",
    "actor_role",
    "actor_user_id",
    "actor_org_id",
    "actor_ip",
    "actor_user_agent",
    "action",
    "outcome",
    "target",
    "params",
    "result_count",
    "purpose",
    "case_ref",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula; user agents and
# failed sign-in names are chosen by whoever sends the request.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
T = TypeVar("T")


class AnchorFileError(ValueError):
    """The anchor file cannot be read as one JSON anchor per line."""


@dataclass(frozen=True)
class Anchor:
    """The chain head (seq and hash) at a moment, written outside the database."""

    seq: int
    hash: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at.isoformat()}


@dataclass(frozen=True)
class VerifyReport:
    records: int
    head: tuple[int, str]  # (0, GENESIS_HASH) for an empty log
    problems: tuple[ChainProblem, ...]
    anchors_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head[0], "hash": self.head[1]},
            "anchors_checked": self.anchors_checked,
            "problems": [
                {"seq": p.seq, "kind": p.kind, "detail": p.detail, "message": str(p)}
                for p in self.problems
            ],
        }


# ---- recording ---------------------------------------------------------------------


def record(*, uow: UnitOfWork, entry: AuditEntry) -> AuditRecord:
    """Append inside the caller's open transaction, so the record commits with the action."""
    return uow.audit.append(entry)


def audit_action(*, uow_factory: Callable[[], UnitOfWork], entry: AuditEntry) -> AuditRecord:
    """Append in a short transaction of its own, for events that write nothing else."""
    with uow_factory() as uow:
        appended = uow.audit.append(entry)
        uow.commit()
    return appended


def _read_then_record(
    *,
    uow: UnitOfWork,
    read_uow: UnitOfWork | None,
    read: Callable[[UnitOfWork], T],
    entry_for: Callable[[T], AuditEntry],
) -> T:
    """Run `read`, then append its audit record; nothing is returned unless it committed.

    With `read_uow` the read runs in a snapshot, so a long scan of the log never holds
    the write lock that ingest needs; the write transaction then only appends.
    """
    if read_uow is None:
        with uow:
            result = read(uow)
            uow.audit.append(entry_for(result))
            uow.commit()
        return result
    with read_uow:
        result = read(read_uow)
    with uow:
        uow.audit.append(entry_for(result))
        uow.commit()
    return result


# ---- search and export -------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _filters(
    fmt: str | None,
    since: datetime | None,
    until: datetime | None,
    username: str | None,
    action: str | None,
    case_ref: str | None,
) -> dict[str, Any]:
    given = {
        "format": fmt,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "user": username,
        "action": action,
        "case": case_ref,
    }
    return {k: v for k, v in given.items() if v is not None}


def search(
    *,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    username: str | None = None,
    action: str | None = None,
    case_ref: str | None = None,
    limit: int = 100,
    read_uow: UnitOfWork | None = None,
) -> list[AuditRecord]:
    """Records matching every given filter, oldest first; the look-up is itself audited."""
    since, until = _utc(since), _utc(until)
    params = {**_filters(None, since, until, username, action, case_ref), "limit": limit}
    return _read_then_record(
        uow=uow,
        read_uow=read_uow,
        read=lambda u: u.audit.search(
            since=since,
            until=until,
            username=username,
            action=action,
            case_ref=case_ref,
            limit=limit,
        ),
        entry_for=lambda found: AuditEntry(
            at=now, actor=actor, action=SEARCH_ACTION, params=params, result_count=len(found)
        ),
    )


def record_to_json(rec: AuditRecord) -> dict[str, Any]:
    """Every field of a record, flat, with `params` as a JSON object."""
    e, a = rec.entry, rec.entry.actor
    return {
        "seq": rec.seq,
        "at": e.at.isoformat(),
        "actor_username": a.username,
        "actor_role": a.role,
        "actor_user_id": a.user_id,
        "actor_org_id": a.org_id,
        "actor_ip": a.ip,
        "actor_user_agent": a.user_agent,
        "action": e.action,
        "outcome": e.outcome,
        "target": e.target,
        "params": e.params,
        "result_count": e.result_count,
        "purpose": e.purpose,
        "case_ref": e.case_ref,
        "prev_hash": rec.prev_hash,
        "hash": rec.hash,
    }


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _render(records: Iterable[AuditRecord], fmt: ExportFormat) -> tuple[str, int]:
    rows = [record_to_json(r) for r in records]
    if fmt == "json":
        return orjson.dumps(rows).decode(), len(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
    return out.getvalue(), len(rows)


def _matching(
    records: Iterator[AuditRecord],
    since: datetime | None,
    until: datetime | None,
    username: str | None,
    action: str | None,
    case_ref: str | None,
) -> Iterator[AuditRecord]:
    for rec in records:
        e = rec.entry
        at = _utc(e.at)
        assert at is not None
        if (
            (since is None or at >= since)
            and (until is None or at < until)
            and (username is None or e.actor.username == username)
            and (action is None or e.action == action)
            and (case_ref is None or e.case_ref == case_ref)
        ):
            yield rec


def export(
    *,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    fmt: ExportFormat,
    since: datetime | None = None,
    until: datetime | None = None,
    username: str | None = None,
    action: str | None = None,
    case_ref: str | None = None,
    read_uow: UnitOfWork | None = None,
) -> str:
    """Every matching record with every field, as CSV (header + rows) or a JSON list.

    No limit: the whole log is scanned in sequence order. The export is audited with
    its filters and the number of records it holds.
    """
    if fmt not in ("csv", "json"):
        raise ValueError(f"format must be csv or json, not {fmt!r}")
    since, until = _utc(since), _utc(until)
    params = _filters(fmt, since, until, username, action, case_ref)
    text, _ = _read_then_record(
        uow=uow,
        read_uow=read_uow,
        read=lambda u: _render(
            _matching(u.audit.iter_all(), since, until, username, action, case_ref), fmt
        ),
        entry_for=lambda done: AuditEntry(
            at=now, actor=actor, action=EXPORT_ACTION, params=params, result_count=done[1]
        ),
    )
    return text


# ---- verification ------------------------------------------------------------------


def check(records: Iterable[AuditRecord], anchors: Sequence[Anchor] = ()) -> VerifyReport:
    """Verify the chain and every anchor against records in storage order (no I/O)."""
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_seq.setdefault(anchor.seq, []).append(anchor)
    seen: dict[int, str] = {0: GENESIS_HASH}
    count = 0
    head = (0, GENESIS_HASH)

    def tap() -> Iterator[AuditRecord]:
        nonlocal count, head
        for rec in records:
            count += 1
            head = (rec.seq, rec.hash)
            if rec.seq in by_seq:
                seen.setdefault(rec.seq, rec.hash)
            yield rec

    problems = verify_chain(tap())
    for seq in sorted(by_seq):
        for anchor in by_seq[seq]:
            problems.extend(_anchor_problem(anchor, seen.get(seq), head[0]))
    return VerifyReport(
        records=count,
        head=head,
        problems=tuple(sorted(problems, key=lambda p: p.seq)),
        anchors_checked=len(anchors),
    )


def _anchor_problem(anchor: Anchor, stored: str | None, head_seq: int) -> list[ChainProblem]:
    when = anchor.at.isoformat()
    if stored is None and anchor.seq > head_seq:
        return [
            ChainProblem(
                anchor.seq,
                "truncated",
                f"the log ends at record {head_seq} but an anchor of {when} vouches for"
                f" record {anchor.seq}: the records after {head_seq} were removed",
            )
        ]
    if stored is None:
        return [ChainProblem(anchor.seq, "deleted", f"the record anchored on {when} is missing")]
    if stored != anchor.hash:
        return [
            ChainProblem(
                anchor.seq,
                "edited",
                f"hash differs from the anchor of {when}: this record or one before it"
                " was rewritten",
            )
        ]
    return []


def verify(
    *,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    anchors: Sequence[Anchor] | None = None,
    read_uow: UnitOfWork | None = None,
) -> VerifyReport:
    """Check the whole chain and the anchors, then audit the check itself.

    The report describes the log as it was before the `audit.verify` record was added.
    """
    anchors = list(anchors or ())
    return _read_then_record(
        uow=uow,
        read_uow=read_uow,
        read=lambda u: check(u.audit.iter_all(), anchors),
        entry_for=lambda report: AuditEntry(
            at=now,
            actor=actor,
            action=VERIFY_ACTION,
            params={
                "intact": report.ok,
                "problems": len(report.problems),
                "anchors": report.anchors_checked,
                "head_seq": report.head[0],
            },
            result_count=report.records,
        ),
    )


# ---- anchors -----------------------------------------------------------------------


def default_anchor_path(data_dir: Path) -> Path:
    return Path(data_dir) / ANCHOR_FILE_NAME


def write_anchor(
    *, uow: UnitOfWork, path: Path, now: datetime, actor: Actor | None = None
) -> Anchor:
    """Record the anchoring in the log, then append that new head to `path`, fsynced.

    The anchor thus vouches for every record up to and including the note of its own
    writing. Keep a copy of the file outside this machine: an anchor is only as safe
    as the place it is kept.
    """
    with uow:
        head = uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor or system_actor("audit-anchor"),
                action=ANCHOR_ACTION,
                target=str(path),
            )
        )
        uow.commit()
    anchor = Anchor(seq=head.seq, hash=head.hash, at=now)
    _append_line(Path(path), orjson.dumps(anchor.as_dict()) + b"\n")
    return anchor


def _append_line(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one short write with O_APPEND: concurrent writers never interleave
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # make the new directory entry durable too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file, in file order (FileNotFoundError if there is none)."""
    anchors: list[Anchor] = []
    with Path(path).open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                anchors.append(
                    Anchor(
                        seq=int(doc["seq"]),
                        hash=str(doc["hash"]),
                        at=datetime.fromisoformat(doc["at"]),
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise AnchorFileError(f"{path}, line {number}: not an anchor ({exc})") from None
    return anchors
