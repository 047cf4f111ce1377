"""The checkpoint writer: signs the audit chain head into the anchor store, often.

It reads the head from a snapshot (never the write lock ingest needs), checks every
record since its last checkpoint — the chain links and each record's seal — and only
then signs, outside any transaction. A record it cannot vouch for (no valid seal, a
broken link, a checkpointed record gone or changed) gets a signed refusal instead, once,
and no checkpoint covers it: `veille audit verify` then fails.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from veille.domain.audit import GENESIS_HASH, Actor, AuditEntry, AuditRecord, chain_hash
from veille.domain.checkpoints import Checkpoint
from veille.service.audit import ANCHOR_ACTION, audit_action
from veille.service.errors import Conflict
from veille.service.ports import AnchorStore, AnchorStoreMissing, UnitOfWork

log = logging.getLogger(__name__)


class AuditSigner(Protocol):
    """The private half of the audit key (adapters.keys.AuditKeyring)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def valid(self, message: bytes, signature: bytes) -> bool: ...

    def seal_ok(self, record_hash: str, seal: str | None) -> bool: ...


class CheckpointRefused(Conflict, RuntimeError):
    """The writer will not sign the current chain head; the reason says which record."""

    code = "checkpoint_refused"


class CheckpointWriter:
    """Writes a signed checkpoint every `every_records` records or `interval`, whichever first.

    One instance per process; its `lock` keeps two of its own writes from racing, and
    the anchor store's append-only lines let several processes write side by side.
    """

    def __init__(
        self,
        *,
        read_uow: Callable[[], UnitOfWork],
        signer: AuditSigner,
        store: AnchorStore,
        clock: Callable[[], datetime],
        every_records: int,
        interval: timedelta,
        poll_s: float = 1.0,
    ):
        self.read_uow = read_uow
        self.signer = signer
        self.store = store
        self.clock = clock
        self.every_records = max(1, every_records)
        self.interval = interval
        self.poll_s = poll_s
        self.last: Checkpoint | None = None  # the newest checkpoint this key signed
        self.blocked: str | None = None  # why the head cannot be vouched for, while it cannot
        self._loaded = False
        self._refused: set[tuple[int, str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- one write ---------------------------------------------------------------

    def write(self, now: datetime | None = None, *, force: bool = False) -> Checkpoint | None:
        """Checkpoint the head if due (or `force`); return what was written, if anything."""
        with self._lock:
            if not self._loaded:
                self._load()
            now = now or self.clock()
            with self.read_uow() as uow:  # a snapshot: the ingest writer goes on
                head = uow.audit.last()
                if not force and not self._due(head, now):
                    return None
                if self.last is not None and head is not None and self._same(head, self.last):
                    return None
                problem = self._problem(uow, head)
            if problem is not None:
                return self._refuse(*problem, now=now)
            seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
            checkpoint = self._signed(
                Checkpoint(seq=seq, hash=head_hash, at=now, key_id=self.signer.key_id)
            )
            self.store.append(checkpoint)
            self.last, self.blocked = checkpoint, None
            return checkpoint

    def _load(self) -> None:
        try:
            stored = self.store.read().checkpoints
        except AnchorStoreMissing:
            stored = ()
        own = [
            cp
            for cp in stored
            if cp.kind == "checkpoint" and cp.key_id == self.signer.key_id and self._genuine(cp)
        ]
        self.last = max(own, key=lambda cp: (cp.seq, cp.at), default=None)
        self._loaded = True

    def _genuine(self, cp: Checkpoint) -> bool:
        try:
            return self.signer.valid(cp.statement(), bytes.fromhex(cp.signature))
        except ValueError:  # not even hexadecimal
            return False

    @staticmethod
    def _same(head: AuditRecord, cp: Checkpoint) -> bool:
        return head.seq == cp.seq and head.hash == cp.hash

    def _due(self, head: AuditRecord | None, now: datetime) -> bool:
        last = self.last
        if last is None:
            return True
        if head is None or head.seq < last.seq:
            return True  # records were removed: say so now
        if head.seq == last.seq:
            return head.hash != last.hash
        return head.seq - last.seq >= self.every_records or now - last.at >= self.interval

    def _problem(self, uow: UnitOfWork, head: AuditRecord | None) -> tuple[int, str, str] | None:
        """(seq, hash, reason) of the first record that cannot be vouched for, or None."""
        last = self.last
        if last is None:
            note = uow.audit.last_of(ANCHOR_ACTION)
            if note is not None and "checkpoint_seq" in note.entry.params:
                return (
                    note.seq,
                    note.hash,
                    f"the log notes a checkpoint of record {note.entry.params['checkpoint_seq']}"
                    f" but the anchor store {self.store.location} holds no checkpoint signed by"
                    f" key {self.signer.key_id}: restore the anchor store",
                )
            # The first checkpoint vouches for records written before seals existed
            # (migration 0011); once one sealed record is seen, every later one needs its seal.
            return _first_unsound(uow.audit.iter_all(), 0, GENESIS_HASH, self.signer, legacy=True)
        if head is None or head.seq < last.seq:
            ends = head.seq if head else 0
            return (
                last.seq,
                last.hash,
                f"the log ends at record {ends} but the checkpoint of {last.at.isoformat()}"
                f" vouches for record {last.seq}: records were removed",
            )
        anchored = uow.audit.get(last.seq)
        if anchored is None or anchored.hash != last.hash:
            return (
                last.seq,
                anchored.hash if anchored else last.hash,
                f"record {last.seq} no longer matches the checkpoint of {last.at.isoformat()}:"
                " it or a record before it was rewritten",
            )
        return _first_unsound(
            uow.audit.iter_all(after=last.seq), last.seq, last.hash, self.signer, legacy=False
        )

    def _signed(self, statement: Checkpoint) -> Checkpoint:
        return replace(statement, signature=self.signer.sign(statement.statement()).hex())

    def _refuse(
        self, seq: int, record_hash: str, reason: str, *, now: datetime
    ) -> Checkpoint | None:
        self.blocked = reason
        key = (seq, record_hash, reason)
        if key in self._refused:
            return None  # said once is enough; the log stays uncovered until it is resolved
        refusal = self._signed(
            Checkpoint(
                seq=seq,
                hash=record_hash,
                at=now,
                key_id=self.signer.key_id,
                kind="refusal",
                reason=reason,
            )
        )
        self.store.append(refusal)
        self._refused.add(key)
        log.error("audit checkpoint refused at record %s: %s", seq, reason)
        return refusal

    # ---- the thread --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="veille-audit-checkpoints", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None
            self._final()

    def _final(self) -> None:
        """One last checkpoint on a clean stop, so nothing waits for the next start."""
        try:
            self.write(force=True)
        except Exception:
            log.exception("last audit checkpoint failed")

    def _loop(self) -> None:
        while True:
            try:
                self.write()
            except Exception:
                log.exception("audit checkpoint failed")
            if self._stop.wait(self.poll_s):
                return


def _first_unsound(
    records: Iterable[AuditRecord], seq: int, prev: str, signer: AuditSigner, *, legacy: bool
) -> tuple[int, str, str] | None:
    """The first record after (seq, prev) that breaks the chain or lacks its seal."""
    sealing_began = not legacy
    for rec in records:
        if (
            rec.seq != seq + 1
            or rec.prev_hash != prev
            or chain_hash(rec.seq, rec.entry, rec.prev_hash) != rec.hash
        ):
            return (
                rec.seq,
                rec.hash,
                f"record {rec.seq} breaks the chain after record {seq}: edited, inserted or"
                " out of order",
            )
        if rec.seal is not None or sealing_began:
            sealing_began = True
            if not signer.seal_ok(rec.hash, rec.seal):
                return (
                    rec.seq,
                    rec.hash,
                    f"record {rec.seq} carries no valid seal of key {signer.key_id}: it was"
                    " written into the database by something other than Veille",
                )
        seq, prev = rec.seq, rec.hash
    return None


def anchor(
    *,
    writer: CheckpointWriter,
    uow_factory: Callable[[], UnitOfWork],
    now: datetime,
    actor: Actor,
) -> Checkpoint:
    """Checkpoint the head, note that checkpoint in the log, then checkpoint the note.

    The note lets verify tell a lost or replaced anchor store from an empty one: a log
    that names a checkpoint the store does not hold fails.
    """
    writer.write(now, force=True)
    if writer.blocked or writer.last is None:
        raise CheckpointRefused(writer.blocked or "no checkpoint could be written")
    noted = writer.last
    audit_action(
        uow_factory=uow_factory,
        entry=AuditEntry(
            at=now,
            actor=actor,
            action=ANCHOR_ACTION,
            target=writer.store.location,
            params={
                "checkpoint_seq": noted.seq,
                "checkpoint_hash": noted.hash,
                "key_id": noted.key_id,
            },
        ),
    )
    writer.write(now, force=True)
    if writer.blocked or writer.last is None:
        raise CheckpointRefused(writer.blocked or "no checkpoint could be written")
    return writer.last
