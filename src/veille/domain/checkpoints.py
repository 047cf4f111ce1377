"""Signed checkpoints of the audit chain head, and what the log must show against them.

A checkpoint says "record `seq` had hash `hash` at time `at`", signed with a key the
database never holds. A refusal says "the checkpoint writer would not vouch for record
`seq`", signed the same way. Both are kept in an anchor store outside the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

CheckpointKind = Literal["checkpoint", "refusal"]
# Domain separation: these bytes are never a valid signature over anything else.
_STATEMENT_PREFIX = b"veille audit checkpoint v1\n"


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement about the chain, as the anchor store keeps it."""

    seq: int
    hash: str
    at: datetime  # when it was signed (the signer's clock)
    key_id: str
    signature: str = ""  # hex; empty until signed
    kind: CheckpointKind = "checkpoint"
    reason: str | None = None  # why a refusal was written

    def statement(self) -> bytes:
        """The exact bytes the signature covers."""
        doc = {
            "kind": self.kind,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
            "reason": self.reason,
        }
        return _STATEMENT_PREFIX + orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": self.kind,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
            "signature": self.signature,
        }
        if self.reason is not None:
            doc["reason"] = self.reason
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Checkpoint:
        """Raises KeyError, TypeError or ValueError when `doc` is not a checkpoint."""
        kind = doc.get("kind", "checkpoint")
        if kind not in ("checkpoint", "refusal"):
            raise ValueError(f"unknown kind {kind!r}")
        at = datetime.fromisoformat(str(doc["at"]))
        if at.tzinfo is None:
            raise ValueError("time without a zone")
        reason = doc.get("reason")
        return cls(
            seq=int(doc["seq"]),
            hash=str(doc["hash"]),
            at=at,
            key_id=str(doc["key_id"]),
            signature=str(doc["signature"]),
            kind=kind,
            reason=None if reason is None else str(reason),
        )
