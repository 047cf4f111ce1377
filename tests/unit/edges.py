"""In-memory stand-ins for the platform's edges that are not stores (image bytes are
`veille.adapters.memory.images`): the anchor store of signed checkpoints, and the audit key. Each keeps its port's contract."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from veille.adapters.keys import CheckpointVerifier
from veille.domain.checkpoints import Checkpoint
from veille.service.ports import AnchorStoreMissing, StoredCheckpoints


class MemoryAnchorStore:
    """Signed checkpoints in a list; missing (as a folder never written) until the first."""

    def __init__(self, name: str = "memory://anchors") -> None:
        self.name = name
        self.checkpoints: list[Checkpoint] | None = None

    @property
    def location(self) -> str:
        return self.name

    def append(self, checkpoint: Checkpoint) -> None:
        self.checkpoints = [*(self.checkpoints or []), checkpoint]

    def read(self) -> StoredCheckpoints:
        if self.checkpoints is None:
            raise AnchorStoreMissing(f"no anchor store at {self.name}")
        return StoredCheckpoints(tuple(self.checkpoints))


class MemoryKeys:
    """The audit key held in memory: signs checkpoints, seals records (as AuditKeyring)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self._seal_key = secrets.token_bytes(32)
        self.verifier = CheckpointVerifier(self._key.public_key())  # the public half
        self.key_id = self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def valid(self, message: bytes, signature: bytes) -> bool:
        return self.verifier.valid(message, signature)

    def seal(self, record_hash: str) -> str:
        return hmac.new(self._seal_key, record_hash.encode("ascii"), hashlib.sha256).hexdigest()

    def seal_ok(self, record_hash: str, seal: str | None) -> bool:
        return seal is not None and hmac.compare_digest(self.seal(record_hash), seal)
