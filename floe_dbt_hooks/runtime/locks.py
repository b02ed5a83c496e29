"""Advisory file locks shared by every runtime and process that uses the same files.

A DuckDB database file takes one writer process at a time: two runtimes (or two processes) that
build into it at once fail with DuckDB's lock error. Runtimes hold :func:`database_lock` while an
invocation may touch the database, so concurrent invocations queue instead of failing.

The lock is an ``flock`` on a small file, so the kernel releases it when its holder dies, even by
``kill -9``. What can outlive the holder is an engine child (Fusion) still writing to the database.
So the holder records itself in the lock file (pid, start time, host) and, once started, the engine
child it runs; whoever takes the lock next and finds a dead owner whose engine is still alive stops
that engine's process group before going on. The start time keeps a reused pid from passing for the
recorded process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs

from floe_dbt_hooks.project import ProfileTarget
from floe_dbt_hooks.runtime.pids import ProcessId, stop_group

ORPHAN_GRACE_SECONDS = 10.0
"""How long a dead owner's engine gets after SIGINT to stop by itself before it is killed."""


@attrs.frozen
class LockRecord:
    """What the lock file says about its holder."""

    owner: ProcessId
    engine: ProcessId | None = None

    def to_json(self) -> bytes:
        return json.dumps(attrs.asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> LockRecord | None:
        """The record in ``data``; None for an empty, torn or foreign file (nothing to act on)."""
        try:
            raw = json.loads(data)
            engine = raw.get("engine")
            return cls(owner=ProcessId(**raw["owner"]),
                       engine=ProcessId(**engine) if engine else None)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class HeldLock:
    """A held lock: :meth:`engine_started` records the child the holder runs under it."""

    def __init__(self, handle: IO[bytes], owner: ProcessId) -> None:
        self._handle = handle
        self._owner = owner

    def engine_started(self, pid: int) -> None:
        self.record(ProcessId.of(pid))

    def record(self, engine: ProcessId | None = None) -> None:
        """Write this holder (and its engine) into the lock file, in place: the file is the lock."""
        self._write(LockRecord(owner=self._owner, engine=engine).to_json())

    def clear(self) -> None:
        """Say nobody holds it (before unlocking)."""
        self._write(b"")

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.write(data)
            self._handle.flush()


def _read(handle: IO[bytes]) -> LockRecord | None:
    handle.seek(0)
    return LockRecord.parse(handle.read())


def stale_engine(record: LockRecord | None) -> ProcessId | None:
    """The engine a dead holder left running, or None when there is nothing to clean up."""
    if record is None or record.engine is None or record.owner.alive():
        return None
    return record.engine if record.engine.alive() else None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[HeldLock]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block, after
    stopping any engine a crashed previous holder left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        held = HeldLock(handle, ProcessId.of(os.getpid()))
        try:
            orphan = stale_engine(_read(handle))
            if orphan is not None:
                stop_group(orphan, ORPHAN_GRACE_SECONDS)
            held.record()
            yield held
        finally:
            held.clear()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def database_lock(profile: ProfileTarget) -> Iterator[HeldLock | None]:
    """Serialise access to the target's database file; a no-op (None) for server databases."""
    if profile.database_file is None:
        yield None
        return
    lock = profile.database_file.with_name(f".{profile.database_file.name}.floe-lock")
    with file_lock(lock) as held:
        yield held
