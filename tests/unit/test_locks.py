"""The DuckDB writer lock's record: a dead holder's engine is stopped by the next holder, a live
holder's or a reused pid's is not (real processes, no engine needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.runtime import locks
from floe_dbt_hooks.runtime.locks import LockRecord, file_lock
from floe_dbt_hooks.runtime.pids import ProcessId


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in engine: its own session, as EngineProcess starts one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _dead() -> ProcessId:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessId.of(finished.pid)
    finished.wait()
    return identity


def _write(path: Path, record: LockRecord) -> None:
    path.write_bytes(record.to_json())


def test_a_dead_holders_engine_is_stopped(tmp_path: Path, sleeper: subprocess.Popen[bytes],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "ORPHAN_GRACE_SECONDS", 0.5)
    lock = tmp_path / ".db.floe-lock"
    _write(lock, LockRecord(owner=_dead(), engine=ProcessId.of(sleeper.pid)))
    with file_lock(lock) as held:
        assert sleeper.wait(timeout=10) == -9
        record = LockRecord.parse(lock.read_bytes())
        assert record is not None
        assert record.owner == ProcessId.of(os.getpid())
        held.engine_started(sleeper.pid)
    assert lock.read_bytes() == b""


def test_a_reused_pid_or_a_live_holder_is_left_alone(
        tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    lock = tmp_path / ".db.floe-lock"
    engine = ProcessId.of(sleeper.pid)
    assert engine.start is not None
    reused = ProcessId(pid=engine.pid, start=engine.start - 1, host=engine.host)
    for record in (LockRecord(owner=_dead(), engine=reused),
                   LockRecord(owner=ProcessId.of(sleeper.pid), engine=engine)):
        _write(lock, record)
        with file_lock(lock):
            assert sleeper.poll() is None
    assert locks.stale_engine(LockRecord.parse(b"{torn")) is None
