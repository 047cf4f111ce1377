"""Cold-cache runs: evict a store's files from the OS page cache, and count what stays.

Eviction is per file (`posix_fadvise(DONTNEED)` after an `fsync`, since only clean pages
can be dropped), so it needs no root and leaves the rest of the machine's cache alone:
`/proc/sys/vm/drop_caches` would empty every process's cache, other benchmarks' included.
Residency is read back with `mincore(2)` on a read-only mapping of the file, which says
which pages are in memory without touching (and so without loading) any of them.

A process that holds SQLite connections must not do either itself: closing any
descriptor of a file releases every POSIX lock the process holds on it, SQLite's read
locks on `-shm` included, and another process may then checkpoint or reset the WAL under
a live connection (a bench died of SIGBUS that way). `PageCacheProbe` does both in a
helper process of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_PROT_READ = 0x1
_MAP_SHARED = 0x01
_MAP_FAILED = ctypes.c_void_p(-1).value


@dataclass(frozen=True)
class Residency:
    """How much of a file is in the page cache."""

    pages: int
    resident: int

    @property
    def share(self) -> float:
        return self.resident / self.pages if self.pages else 0.0


@functools.cache  # find_library runs ldconfig in a subprocess: once per process
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    )
    libc.munmap.restype = ctypes.c_int
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.restype = ctypes.c_int
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    return libc


def store_files(path: Path) -> list[Path]:
    """An SQLite store's files that exist: the database, its WAL and its shared memory."""
    candidates = (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
    return [p for p in candidates if p.exists()]


def residency(path: Path) -> Residency:
    """Pages of `path` and how many of them are in the page cache (via mincore)."""
    size = path.stat().st_size
    page = mmap.PAGESIZE
    pages = (size + page - 1) // page
    if size == 0:
        return Residency(pages=0, resident=0)
    libc = _libc()
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, _PROT_READ, _MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, f"mmap of {path}: {os.strerror(err)}")
        try:
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(addr, size, vec) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"mincore of {path}: {os.strerror(err)}")
            # Linux sets only the low bit of each byte (the others are reserved)
            resident = pages - bytes(vec).count(0)
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return Residency(pages=pages, resident=resident)


def evict(path: Path) -> None:
    """Drop `path`'s pages from the page cache: written back first, then let go."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped; the WAL's usually are dirty
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def evict_store(path: Path) -> None:
    """Evict every file of an SQLite store (database, -wal, -shm)."""
    for file in store_files(path):
        evict(file)


_SERVE = """
import sys
from pathlib import Path
from veille.bench.page_cache import evict_store, residency
for line in sys.stdin:
    verb, path = line.rstrip("\\n").split(" ", 1)
    if verb == "evict":
        evict_store(Path(path))
        print("ok", flush=True)
    else:
        print(residency(Path(path)).share, flush=True)
"""


class PageCacheProbe:
    """Evicts files and reads their residency from a helper process, so the caller's own
    SQLite locks stay held (see the module's docstring). Use it as a context manager."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[str] | None = None

    def __enter__(self) -> PageCacheProbe:
        self._child = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        child, self._child = self._child, None
        if child is not None and child.stdin is not None:
            child.stdin.close()
            child.wait(timeout=30)

    def _ask(self, verb: str, path: Path) -> str:
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            raise RuntimeError("PageCacheProbe is used outside its with block")
        child.stdin.write(f"{verb} {path}\n")
        child.stdin.flush()
        answer = child.stdout.readline()
        if not answer:
            raise RuntimeError(f"the page-cache helper died (exit {child.poll()})")
        return answer.strip()

    def evict_store(self, path: Path) -> None:
        """`evict_store(path)`, done by the helper."""
        self._ask("evict", path)

    def residency(self, path: Path) -> float:
        """The resident share of `path` (0 to 1), read by the helper."""
        return float(self._ask("resident", path))
