"""Advisory file locks shared by every runtime and process that uses the same files.

A DuckDB database file takes one writer process at a time: two runtimes (or two processes) that
build into it at once fail with DuckDB's lock error. Runtimes hold :func:`database_lock` while an
invocation may touch the database, so concurrent invocations queue instead of failing.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from floe_dbt_hooks.project import ProfileTarget


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def database_lock(profile: ProfileTarget) -> Iterator[None]:
    """Serialise access to the target's database file; a no-op for server databases."""
    if profile.database_file is None:
        yield
        return
    lock = profile.database_file.with_name(f".{profile.database_file.name}.floe-lock")
    with file_lock(lock):
        yield
