"""Audit log use cases: record, search, export and verify the chain, and anchor its head."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

import orjson

from veille.domain.audit import (
    GENESIS_HASH,
    Actor,
    AuditEntry,
    AuditRecord,
    ChainProblem,
    verify_chain,
)
from veille.domain.checkpoints import Checkpoint
from veille.service.ports import AnchorStore, AnchorStoreMissing, UnitOfWork

EXPORT_ACTION = "audit.export"
SEARCH_ACTION = "audit.search"
VERIFY_ACTION = "audit.verify"
ANCHOR_ACTION = "audit.anchor"  # a checkpoint noted in the log itself
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


@dataclass(frozen=True)
class VerifyReport:
    """What `veille audit verify` found; `ok` only when the chain is intact and vouched for."""

    records: int
    head: tuple[int, str]  # (0, GENESIS_HASH) for an empty log
    problems: tuple[ChainProblem, ...]
    anchors_checked: int = 0  # signed checkpoints read from the anchor store
    newest_checkpoint: Checkpoint | None = None
    uncovered: int = 0  # records after the newest checkpoint: vouched for by nothing yet
    checkpoint_age_s: float | None = None  # how old the newest checkpoint is
    anchor_store: str | None = None
    key_id: str | None = None  # the public key the checkpoints were checked with

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        newest = self.newest_checkpoint
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head[0], "hash": self.head[1]},
            "anchors_checked": self.anchors_checked,
            "anchor_store": self.anchor_store,
            "key_id": self.key_id,
            "newest_checkpoint": None
            if newest is None
            else {
                "seq": newest.seq,
                "hash": newest.hash,
                "at": newest.at.isoformat(),  # as signed in the anchor store (+00:00)
                "age_s": self.checkpoint_age_s,
            },
            "uncovered": self.uncovered,
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


def read_then_record(
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
    return read_then_record(
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


def search_page(
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
    after_seq: int | None = None,
    read_uow: UnitOfWork | None = None,
) -> tuple[list[AuditRecord], int | None]:
    """One page of `search`: up to `limit` records after record `after_seq`, and the seq
    to continue after (None on the last page). The store is asked for one record more,
    which says whether another page exists; the look-up is audited as a search."""
    since, until = _utc(since), _utc(until)
    params: dict[str, Any] = {
        **_filters(None, since, until, username, action, case_ref),
        "limit": limit,
    }
    if after_seq is not None:
        params["after_seq"] = after_seq
    found = read_then_record(
        uow=uow,
        read_uow=read_uow,
        read=lambda u: u.audit.search(
            since=since,
            until=until,
            username=username,
            action=action,
            case_ref=case_ref,
            limit=limit + 1,
            after_seq=after_seq,
        ),
        entry_for=lambda found: AuditEntry(
            at=now,
            actor=actor,
            action=SEARCH_ACTION,
            params=params,
            result_count=min(len(found), limit),
        ),
    )
    page = found[:limit]
    return page, page[-1].seq if len(found) > limit else None


def record_to_json(rec: AuditRecord) -> dict[str, Any]:
    """Every field of a record, flat, with `params` as a JSON object."""
    e, a = rec.entry, rec.entry.actor
    return {
        "seq": rec.seq,
        # the text the record's hash covers (+00:00), not domain.times.iso: an outside
        # reader recomputes each hash from the export as it stands (docs/audit.md)
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
    text, _ = read_then_record(
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


class SignatureCheck(Protocol):
    """The public half of the audit key: enough to check checkpoints, never to make them."""

    key_id: str

    def valid(self, message: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True)
class CheckpointReading:
    checkpoints: tuple[Checkpoint, ...]  # signed by the key, in store order
    refusals: tuple[Checkpoint, ...]  # signed statements that a record was not vouched for
    problems: tuple[ChainProblem, ...]  # a missing store, unreadable lines, bad signatures


def read_checkpoints(store: AnchorStore, verifier: SignatureCheck) -> CheckpointReading:
    """Everything in the anchor store whose signature verifies; the rest as problems."""
    try:
        stored = store.read()
    except AnchorStoreMissing as exc:
        return CheckpointReading(
            (),
            (),
            (
                ChainProblem(
                    0,
                    "anchors",
                    f"{exc}: signed checkpoints are required, and without them nothing"
                    " shows that records were not removed or rewritten",
                ),
            ),
        )
    good: list[Checkpoint] = []
    refusals: list[Checkpoint] = []
    problems = [ChainProblem(0, "anchors", line) for line in stored.damaged]
    for cp in stored.checkpoints:
        try:
            signature = bytes.fromhex(cp.signature)
        except ValueError:
            signature = b""
        if cp.key_id != verifier.key_id or not verifier.valid(cp.statement(), signature):
            problems.append(
                ChainProblem(
                    cp.seq,
                    "anchors",
                    f"the {cp.kind} of record {cp.seq} dated {cp.at.isoformat()} does not verify"
                    f" with public key {verifier.key_id} (it names key {cp.key_id}): it was"
                    " forged or altered in the anchor store",
                )
            )
        elif cp.kind == "refusal":
            refusals.append(cp)
        else:
            good.append(cp)
    return CheckpointReading(tuple(good), tuple(refusals), tuple(problems))


def check(
    records: Iterable[AuditRecord],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    now: datetime | None = None,
    max_wait: timedelta | None = None,
    refusals: Sequence[Checkpoint] = (),
    store_problems: Sequence[ChainProblem] = (),
) -> VerifyReport:
    """Verify the chain against signed checkpoints, in storage order (no I/O).

    Fails when the chain breaks, when a checkpoint no longer matches its record, when
    there is no checkpoint at all, when the log notes a checkpoint the store lacks, when
    the checkpoint writer refused a record, and when records have waited for a
    checkpoint longer than `max_wait` (measured by the signed time of the newest one).
    """
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_seq.setdefault(cp.seq, []).append(cp)
    seen: dict[int, str] = {0: GENESIS_HASH}
    notes: list[tuple[int, int, str]] = []  # (record, checkpoint seq, checkpoint hash)
    count = 0
    head = (0, GENESIS_HASH)

    def tap() -> Iterator[AuditRecord]:
        nonlocal count, head
        for rec in records:
            count += 1
            head = (rec.seq, rec.hash)
            if rec.seq in by_seq:
                seen.setdefault(rec.seq, rec.hash)
            if rec.entry.action == ANCHOR_ACTION and "checkpoint_seq" in rec.entry.params:
                params = rec.entry.params
                try:
                    noted = int(params["checkpoint_seq"])
                except (TypeError, ValueError):
                    noted = -1  # names no checkpoint that can exist: reported below
                notes.append((rec.seq, noted, str(params.get("checkpoint_hash"))))
            yield rec

    problems = verify_chain(tap())
    problems.extend(store_problems)
    for seq in sorted(by_seq):
        for cp in by_seq[seq]:
            problems.extend(_anchor_problem(cp, seen.get(seq), head[0]))
    held = {(cp.seq, cp.hash) for cp in checkpoints}
    for rec_seq, cp_seq, cp_hash in notes:
        if (cp_seq, cp_hash) not in held:
            problems.append(
                ChainProblem(
                    rec_seq,
                    "anchors",
                    f"notes a checkpoint of record {cp_seq} that the anchor store does not"
                    " hold: the store was replaced, pruned or lost",
                )
            )
    for refusal in refusals:
        problems.append(
            ChainProblem(
                refusal.seq,
                "forged",
                f"the checkpoint writer refused to vouch for this record on"
                f" {refusal.at.isoformat()}: {refusal.reason}",
            )
        )
    newest = max(checkpoints, key=lambda cp: (cp.seq, cp.at), default=None)
    uncovered, age = 0, None
    if newest is None:
        if not store_problems:
            problems.append(
                ChainProblem(
                    0,
                    "anchors",
                    "the anchor store holds no signed checkpoint: nothing vouches for the log",
                )
            )
    else:
        uncovered = max(0, head[0] - newest.seq)
        if now is not None:
            age = (now - newest.at).total_seconds()
            if uncovered and max_wait is not None and age > max_wait.total_seconds():
                problems.append(
                    ChainProblem(
                        newest.seq + 1,
                        "uncovered",
                        f"records {newest.seq + 1}–{head[0]} are covered by no signed checkpoint"
                        f" and the newest checkpoint is {_duration(age)} old (at most"
                        f" {_duration(max_wait.total_seconds())} allowed): the checkpoint writer"
                        " is not running (start `veille serve` or run `veille audit anchor`),"
                        " or it refused these records",
                    )
                )
    return VerifyReport(
        records=count,
        head=head,
        problems=tuple(sorted(problems, key=lambda p: p.seq)),
        anchors_checked=len(checkpoints),
        newest_checkpoint=newest,
        uncovered=uncovered,
        checkpoint_age_s=age,
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _anchor_problem(anchor: Checkpoint, stored: str | None, head_seq: int) -> list[ChainProblem]:
    when = anchor.at.isoformat()
    if stored is None and anchor.seq > head_seq:
        return [
            ChainProblem(
                anchor.seq,
                "truncated",
                f"the log ends at record {head_seq} but a checkpoint of {when} vouches for"
                f" record {anchor.seq}: the records after {head_seq} were removed",
            )
        ]
    if stored is None:
        return [
            ChainProblem(anchor.seq, "deleted", f"the record checkpointed on {when} is missing")
        ]
    if stored != anchor.hash:
        return [
            ChainProblem(
                anchor.seq,
                "edited",
                f"hash differs from the checkpoint of {when}: this record or one before it"
                " was rewritten",
            )
        ]
    return []


def verify(
    *,
    read_uow: UnitOfWork,
    anchors: AnchorStore,
    verifier: SignatureCheck,
    now: datetime,
    max_wait: timedelta | None,
) -> VerifyReport:
    """Check the whole chain against the signed checkpoints, with the public key only.

    Writes nothing: the caller answers first and may then record the verification
    (`record_verification`). The store is read before the log's snapshot, so every
    checkpoint read covers records the snapshot holds.
    """
    reading = read_checkpoints(anchors, verifier)
    with read_uow:
        report = check(
            read_uow.audit.iter_all(),
            reading.checkpoints,
            now=now,
            max_wait=max_wait,
            refusals=reading.refusals,
            store_problems=reading.problems,
        )
    return replace(report, anchor_store=anchors.location, key_id=verifier.key_id)


def record_verification(
    *, uow: UnitOfWork, actor: Actor, now: datetime, report: VerifyReport
) -> AuditRecord:
    """Append the `audit.verify` record of a verification already answered."""
    newest = report.newest_checkpoint
    with uow:
        appended = uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action=VERIFY_ACTION,
                params={
                    "intact": report.ok,
                    "problems": len(report.problems),
                    "anchors": report.anchors_checked,
                    "head_seq": report.head[0],
                    "checkpoint_seq": None if newest is None else newest.seq,
                    "uncovered": report.uncovered,
                },
                result_count=report.records,
            )
        )
        uow.commit()
    return appended
