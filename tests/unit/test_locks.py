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
    yield from _sleeper("import time; time.sleep(60)")


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[bytes]]:
    """An engine that ignores SIGINT."""
    yield from _sleeper("import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                        "print('ready', flush=True); time.sleep(60)")


def _sleeper(code: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                               stdout=subprocess.PIPE)
    if "ready" in code:
        assert process.stdout is not None
        process.stdout.readline()
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
        assert sleeper.poll() in (1, -2), "it was not stopped with SIGINT first"
        record = LockRecord.parse(lock.read_bytes())
        assert record is not None
        assert record.owner == ProcessId.of(os.getpid())
        held.engine_started(sleeper.pid)
    assert lock.read_bytes() == b""


def test_an_engine_ignoring_sigint_is_killed_after_the_grace(
        tmp_path: Path, stubborn: subprocess.Popen[bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "ORPHAN_GRACE_SECONDS", 0.5)
    lock = tmp_path / ".db.floe-lock"
    _write(lock, LockRecord(owner=_dead(), engine=ProcessId.of(stubborn.pid)))
    with file_lock(lock):
        assert stubborn.poll() == -9


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
