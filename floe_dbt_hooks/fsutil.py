"""File-system helpers: atomic writes, and the one walker over a project's input folders."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

SKIP_DIRS = frozenset({".git", "__pycache__"})
"""Folders no walk descends into: never dbt input, often large. Hidden folders are walked (dbt
reads ``models/.x/a.sql``), and so are ``target``, ``logs`` and ``dbt_packages`` when they lie under
a root: whether they are walked is the caller's choice of roots, not a name rule."""


def walk_tree(root: Path | str) -> Iterator[os.DirEntry[str]]:
    """Every file and folder below ``root`` (not ``root`` itself), depth first, sorted by name.

    A folder comes before its contents. Symlinked folders are followed (dbt installs local packages
    as links), each real folder at most once, so a link cycle ends. Folders named in
    :data:`SKIP_DIRS` are neither yielded nor entered. Unreadable folders and a missing ``root``
    yield nothing; entries keep their cached ``stat`` for callers that want sizes or times.
    """
    seen: set[tuple[int, int]] = set()
    stack = [_listing(str(root), seen)]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif not _is_dir(entry):
            yield entry
        elif entry.name not in SKIP_DIRS:
            yield entry
            stack.append(_listing(entry.path, seen))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _listing(folder: str, seen: set[tuple[int, int]]) -> Iterator[os.DirEntry[str]]:
    try:
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            return iter(())
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as entries:
            return iter(sorted(entries, key=lambda e: e.name))
    except OSError:
        return iter(())


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new contents into: a temporary sibling that, when the block ends
    cleanly, is fsynced and renamed over ``path``. If the block raises (or the process dies) the old
    file is untouched; ``mode`` is ``"wb"`` or ``"w"`` (then ``open_kwargs`` go to the text layer)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            permissions = path.stat().st_mode & 0o777
        except FileNotFoundError:
            permissions = 0o666 & ~_umask()
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def first_free_lock(paths: Sequence[Path]) -> Iterator[int | None]:
    """Hold, for the block, an exclusive ``flock`` on the first of ``paths`` nobody holds, without
    waiting: its index, or None when every one is held. The kernel releases a lock whose holder
    dies, so a killed process never keeps a slot. Lock files are created 0600."""
    import fcntl

    for index, path in enumerate(paths):
        handle = open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield index
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    yield None


def is_atomic_temporary(name: str) -> bool:
    """Whether ``name`` is one of :func:`atomic_writer`'s temporaries (``.<target>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def sweep_atomic_temporaries(folder: Path, older_than: float) -> int:
    """Remove :func:`atomic_writer` temporaries in ``folder`` (not below it) last modified more than
    ``older_than`` seconds ago: only a writer killed mid-write leaves one, and no live write takes
    that long. Returns how many went; unreadable folders and vanished files are skipped."""
    import time

    cutoff = time.time() - older_than
    removed = 0
    try:
        with os.scandir(folder) as entries:
            stale = [entry.path for entry in entries
                     if is_atomic_temporary(entry.name) and entry.is_file(follow_symlinks=False)
                     and entry.stat(follow_symlinks=False).st_mtime < cutoff]
    except OSError:
        return 0
    for path in stale:
        try:
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; on any failure the old file is untouched."""
    with atomic_writer(path) as handle:
        handle.write(data)


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: Path, destination: Path) -> None:
    """Copy ``source`` over ``destination`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(destination, source.read_bytes())
