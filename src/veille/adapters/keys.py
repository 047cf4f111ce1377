"""Key files kept outside the database: the audit signing key and the TOTP secret key.

Each key is created on first use, readable by its owner only (0600, in a 0700 folder
when Veille creates the folder), and written atomically so that two processes starting
at once agree on one key. Nothing here ever logs key material.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from veille.domain.errors import Busy

log = logging.getLogger(__name__)

SEALED_PREFIX = "aesgcm1:"
_SEAL_INFO = b"veille audit record seal v1"


class KeyFileError(RuntimeError):
    """A key file exists but cannot be used (unreadable, wrong kind, or too open)."""


def _write_new_file(path: Path, data: bytes, mode: int) -> bool:
    """Create `path` with `data` unless it exists; True when this call created it.

    Written to a private temporary file first and linked into place, which fails if
    another process got there first: a reader never sees a half-written key.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # an existing one is kept as is
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink()
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return created


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if mode & 0o077:
        # A secret others can read is no secret; refuse rather than carry on quietly.
        raise KeyFileError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    return data


def fingerprint(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: SHA-256 of its raw bytes, 16 hex digits."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class AuditKeyring:
    """The Ed25519 key that signs checkpoints, and the seal key derived from it.

    Loaded (or created) on first use; the public half is written next to it as
    `<name>.pub` when Veille creates the pair, for the data-protection officer.
    """

    def __init__(
        self,
        private_path: Path,
        public_path: Path,
        *,
        on_create: Callable[[Path, Path], None] | None = None,
    ):
        self.private_path = Path(private_path)
        self.public_path = Path(public_path)
        self._on_create = on_create
        self._key: Ed25519PrivateKey | None = None
        self._seal_key: bytes | None = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        return self.private_path.exists()

    def create(self) -> bool:
        """Create the key pair if there is none; True when this call created it.

        Refuses when a public key exists without its private key: a new pair would
        silently replace the key the data-protection officer checks with.
        """
        if not self.private_path.exists() and self.public_path.exists():
            raise KeyFileError(
                f"the public key {self.public_path} exists but its private key"
                f" {self.private_path} does not: restore the private key (or move the public"
                " key away to start a new key pair)"
            )
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        created = _write_new_file(self.private_path, pem, 0o600)
        if created:
            self._write_public(key.public_key())
            log.warning(
                "created the audit signing key %s (public key %s): give the public key"
                " to the data-protection officer",
                self.private_path,
                self.public_path,
            )
            if self._on_create is not None:
                self._on_create(self.private_path, self.public_path)
        return created

    def _write_public(self, public: Ed25519PublicKey) -> None:
        with contextlib.suppress(FileExistsError):
            self.public_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.public_path.with_name(f".{self.public_path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(public_pem(public))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.public_path)

    def private_key(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                if not self.private_path.exists():
                    self.create()
                loaded = serialization.load_pem_private_key(
                    _read_private(self.private_path), password=None
                )
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise KeyFileError(f"{self.private_path} is not an Ed25519 private key")
                self._key = loaded
            return self._key

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key().public_key()

    @property
    def key_id(self) -> str:
        return fingerprint(self.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key().sign(message)

    def valid(self, message: bytes, signature: bytes) -> bool:
        return CheckpointVerifier(self.public_key()).valid(message, signature)

    def seal_key(self) -> bytes:
        """The HMAC key that seals each audit record, derived from the signing key."""
        if self._seal_key is None:
            raw = self.private_key().private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            self._seal_key = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO
            ).derive(raw)
        return self._seal_key

    def seal(self, record_hash: str) -> str:
        """HMAC-SHA256 of a record's chain hash: only a holder of the key can make it."""
        return hmac.new(self.seal_key(), record_hash.encode("ascii"), hashlib.sha256).hexdigest()

    def seal_ok(self, record_hash: str, seal: str | None) -> bool:
        return seal is not None and hmac.compare_digest(self.seal(record_hash), seal)


class PublicKeyError(Busy, ValueError):
    """The public key file is missing or is not an Ed25519 public key: nothing can be
    verified until it is installed (503 `no_public_key`)."""

    code = "no_public_key"


class CheckpointVerifier:
    """Checks checkpoint signatures with the public key alone."""

    def __init__(self, public: Ed25519PublicKey):
        self.public = public
        self.key_id = fingerprint(public)

    @classmethod
    def from_file(cls, path: Path) -> CheckpointVerifier:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise PublicKeyError(
                f"no audit public key at {path} (export it with `veille audit public-key`)"
            ) from None
        try:
            loaded = serialization.load_pem_public_key(data)
        except ValueError:
            raise PublicKeyError(f"{path} is not a PEM public key") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise PublicKeyError(f"{path} is not an Ed25519 public key")
        return cls(loaded)

    def valid(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class SecretBox:
    """AES-256-GCM encryption of short secrets (TOTP seeds) with a key file of its own.

    Each value is bound to a context (the user id), so a sealed secret copied onto
    another row of the database does not open there.
    """

    def __init__(self, key_path: Path):
        self.key_path = Path(key_path)
        self._aead: AESGCM | None = None
        self._lock = threading.Lock()

    def _cipher(self) -> AESGCM:
        with self._lock:
            if self._aead is None:
                if not self.key_path.exists() and _write_new_file(
                    self.key_path, base64.b64encode(AESGCM.generate_key(bit_length=256)), 0o600
                ):
                    log.warning("created the TOTP secret key %s", self.key_path)
                try:
                    key = base64.b64decode(_read_private(self.key_path).strip(), validate=True)
                except ValueError:
                    raise KeyFileError(f"{self.key_path} is not a base64 AES key") from None
                if len(key) != 32:
                    raise KeyFileError(f"{self.key_path} does not hold a 256-bit key")
                self._aead = AESGCM(key)
            return self._aead

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(SEALED_PREFIX)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(12)
        ciphertext = self._cipher().encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")

    def open(self, value: str, *, context: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(value.removeprefix(SEALED_PREFIX))
            plain = self._cipher().decrypt(raw[:12], raw[12:], context.encode())
        except (InvalidTag, ValueError):
            # Never echo the value: it is a secret, even when it is damaged.
            raise KeyFileError(
                f"a sealed secret ({context}) does not open with {self.key_path}:"
                " wrong key, or the value was altered or moved"
            ) from None
        return plain.decode("utf-8")
