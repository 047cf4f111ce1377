"""The audit log as a hash chain: each record's hash covers its content and its predecessor."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from veille.domain.times import utc

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who acted, as the audit log remembers them even after their account is gone."""

    username: str
    role: str
    user_id: int | None = None
    org_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None


def system_actor(name: str) -> Actor:
    """An actor for the command line or a scheduled job (no user account)."""
    return Actor(username=name, role="system")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: Actor
    action: str  # e.g. "auth.sign_in", "reads.search", "camera.retire"
    outcome: str = "ok"  # ok | refused | failed
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result_count: int | None = None
    purpose: str | None = None
    case_ref: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str
    # HMAC of `hash` under a key outside the database (see adapters/keys.py); not part
    # of the chain, so anyone can still recompute every hash from an export.
    seal: str | None = None


def entry_document(seq: int, entry: AuditEntry, prev_hash: str) -> dict[str, Any]:
    """Everything the hash covers, as plain JSON values."""
    a = entry.actor
    return {
        "seq": seq,
        "at": entry.at.isoformat(),
        "actor": {
            "username": a.username,
            "role": a.role,
            "user_id": a.user_id,
            "org_id": a.org_id,
            "ip": a.ip,
            "user_agent": a.user_agent,
        },
        "action": entry.action,
        "outcome": entry.outcome,
        "target": entry.target,
        "params": entry.params,
        "result_count": entry.result_count,
        "purpose": entry.purpose,
        "case_ref": entry.case_ref,
        "prev_hash": prev_hash,
    }


def chain_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON (sorted keys) of the record and its predecessor."""
    canonical = orjson.dumps(
        entry_document(seq, entry, prev_hash), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def next_record(previous: AuditRecord | None, entry: AuditEntry) -> AuditRecord:
    """The record that follows `previous`. Its moment is kept, and hashed, in UTC: the
    ISO text the hash covers is then the same whichever store gives the record back
    (stores keep moments as UTC microseconds); a naive moment is refused."""
    entry = replace(entry, at=utc(entry.at))
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS_HASH
    return AuditRecord(seq, entry, prev_hash, chain_hash(seq, entry, prev_hash))


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # edited | deleted | inserted | reordered | truncated | anchors | forged | uncovered
    detail: str  # seq 0: about the anchor store as a whole, not one record

    def __str__(self) -> str:
        where = f"record {self.seq}" if self.seq else "anchor store"
        return f"{where}: {self.kind}: {self.detail}"


def verify_chain(records: Iterable[AuditRecord]) -> list[ChainProblem]:
    """Every break in the chain, in storage order; an empty list means intact.

    An edited record no longer matches its own hash; a deleted one leaves a gap in the
    sequence and a successor whose `prev_hash` names a record that is not there; an
    inserted one repeats or skips a number or does not link to its predecessor; swapped
    records come out of sequence order.
    """
    problems: list[ChainProblem] = []
    hashes: dict[int, str] = {0: GENESIS_HASH}  # seq -> hash of the records seen so far
    mismatched: dict[int, AuditRecord] = {}  # records that fail their own hash, by seq
    linked_to: dict[int, str] = {}  # prev_hash of records that do not link, by seq
    highest = 0
    for record in records:
        if chain_hash(record.seq, record.entry, record.prev_hash) != record.hash:
            problems.append(
                ChainProblem(record.seq, "edited", "content does not match its stored hash")
            )
            mismatched.setdefault(record.seq, record)
        if record.seq in hashes:
            problems.append(ChainProblem(record.seq, "inserted", "repeats a sequence number"))
        elif record.seq < highest:
            problems.append(ChainProblem(record.seq, "reordered", f"comes after record {highest}"))
        elif record.seq > highest + 1:
            problems.append(
                ChainProblem(
                    record.seq, "deleted", f"records {highest + 1}–{record.seq - 1} are missing"
                )
            )
        elif record.prev_hash != hashes[record.seq - 1]:
            problems.append(
                ChainProblem(
                    record.seq,
                    "inserted",
                    "does not link to the record before it (a record was replaced or inserted)",
                )
            )
            linked_to[record.seq] = record.prev_hash
        hashes.setdefault(record.seq, record.hash)
        highest = max(highest, record.seq)
    if mismatched:
        problems = _as_reordering(problems, hashes, mismatched, linked_to)
    return problems


def _as_reordering(
    problems: list[ChainProblem],
    hashes: dict[int, str],
    mismatched: dict[int, AuditRecord],
    linked_to: dict[int, str],
) -> list[ChainProblem]:
    """Name records that only exchanged places as one reordering, not a trail of edits.

    A record moved to another number fails its own hash there, yet hashes correctly at
    the number its unchanged `prev_hash` implies. When the moved records exactly fill
    each other's numbers, nothing was added or removed: one `reordered` problem replaces
    the edits and broken links the move caused.
    """
    at_hash = {h: seq for seq, h in hashes.items()}
    true_seq: dict[int, int | None] = {}

    def original(seq: int, depth: int = 0) -> int | None:
        if seq in true_seq:
            return true_seq[seq]
        record = mismatched[seq]
        before = at_hash.get(record.prev_hash)
        if before is None or depth > 16:
            found = None
        elif before in mismatched:
            prior = original(before, depth + 1)
            found = None if prior is None else prior + 1
        else:
            found = before + 1
        if found is not None and chain_hash(found, record.entry, record.prev_hash) != record.hash:
            found = None
        true_seq[seq] = found
        return found

    moved = {seq: original(seq) for seq in mismatched}
    if any(k is None or k == seq for seq, k in moved.items()):
        return problems
    if set(moved) != set(moved.values()):
        return problems  # not a permutation among themselves: something else happened
    hash_of_true = {k: hashes[seq] for seq, k in moved.items() if k is not None}
    explained = set(moved)
    for seq, prev in linked_to.items():
        if seq not in moved and seq - 1 in moved and prev == hash_of_true.get(seq - 1):
            explained.add(seq)  # links to its true predecessor, which now sits elsewhere
    kept = [p for p in problems if p.seq not in explained or p.kind not in ("edited", "inserted")]
    places = ", ".join(f"record {k} is stored as {seq}" for seq, k in sorted(moved.items()))
    kept.append(ChainProblem(min(moved), "reordered", f"records exchanged places: {places}"))
    return sorted(kept, key=lambda p: p.seq)
