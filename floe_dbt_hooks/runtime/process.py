"""Run an engine (the Fusion binary, a dbt CLI) as a child process that can always be stopped.

The child gets its own process group (``start_new_session``), its stdout is read line by line as it
arrives and handed to a callback, and the call ends in one of four ways: the process exits; the
timeout passes; :meth:`EngineProcess.cancel` is called (from any thread); or the calling thread is
interrupted. In the last three cases the group is sent SIGINT first (dbt and Fusion then cancel
running queries and write their artifacts), and SIGKILL after a short grace period, so nothing is left
behind.

If the caller dies without a chance to stop the child (``kill -9``, a crash), the child must not go
on writing to the database: on Linux it is started with a parent-death signal (SIGINT, the same
polite stop), and a database lock taken next stops whatever is still running after a grace period
(floe_dbt_hooks.runtime.locks).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError

GRACE_SECONDS = 5.0
PARENT_DEATH_SIGNAL = signal.SIGINT
_POLL_SECONDS = 0.05
_live_groups: set[int] = set()
_live_lock = threading.Lock()


def kill_all() -> None:
    """SIGKILL every engine process group still running in this process (a second signal's hard
    stop: nothing may outlive the caller)."""
    with _live_lock:
        groups = list(_live_groups)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to send the child :data:`PARENT_DEATH_SIGNAL` when the
    thread that started it dies; None where ``prctl`` is unavailable. Everything it calls is looked
    up before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    signum = int(PARENT_DEATH_SIGNAL)
    getppid, kill, own = os.getppid, os.kill, os.getpid

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if getppid() != parent:
            kill(own(), signum)

    return arm


_PR_SET_PDEATHSIG = 1


EndedBy = Literal["exit", "timeout", "cancel"]
"""Why :meth:`EngineProcess.run` returned; an interrupted caller gets the exception instead."""


@attrs.frozen
class Completed:
    """How the child ended: ``returncode`` is negative when a signal killed it."""

    returncode: int
    stderr: str
    ended_by: EndedBy
    elapsed: float


class CommandLineTooLong(DBTConfigurationError):
    """The OS would not start the engine with this many or this long arguments (E2BIG); nothing
    ran, so a runtime may decline and let one that takes the selection in-process serve."""


class EngineProcess:
    """One child process; create, then :meth:`run` once; :meth:`cancel` from anywhere."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
        on_line: Callable[[str], None],
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        self._argv = list(argv)
        self._cwd = cwd
        self._env = dict(env)
        self._timeout = timeout
        self._on_line = on_line
        self._on_cancel = on_cancel
        self._cancelled = threading.Event()
        self._wake = threading.Event()
        """Set when the child's stdout closes (it is exiting) or on cancel: the wait loop wakes at
        once instead of at its next poll, up to tens of milliseconds later."""
        self.pid: int | None = None

    def cancel(self) -> None:
        """Ask the running child to stop; :meth:`run` returns with ``ended_by == "cancel"``."""
        if self._on_cancel is not None and not self._cancelled.is_set():
            self._on_cancel()
        self._cancelled.set()
        self._wake.set()

    def _pump(self, stream: object) -> None:
        try:
            for line in stream:  # type: ignore[attr-defined]
                try:
                    self._on_line(line)
                except Exception:
                    continue
        finally:
            self._wake.set()

    def _stop(self, process: subprocess.Popen[str]) -> None:
        """SIGINT to the group, then SIGKILL after the grace period; always reaps the child."""
        for sig, wait in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def _too_long(self) -> CommandLineTooLong:
        """The OS refused the command line (E2BIG): say how large it was, never what it held
        (``--vars`` may carry secrets)."""
        size = sum(len(arg.encode()) + 1 for arg in self._argv)
        environment = sum(len(f"{k}={v}".encode()) + 1 for k, v in self._env.items())
        return CommandLineTooLong(
            f"the {Path(self._argv[0]).name} command line is too long for this system "
            f"({len(self._argv):,} arguments, {size:,} bytes, plus {environment:,} bytes of "
            f"environment)",
            hint="select by tag, path or directory, or name a selector from selectors.yml "
                 "(--selector), instead of listing every node in --select/--exclude")

    def run(self, on_start: Callable[[int], None] | None = None) -> Completed:
        """Start the child, tell ``on_start`` its pid (a lock records it), and wait for it."""
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                self._argv, cwd=self._cwd, env=self._env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                errors="replace", start_new_session=True, bufsize=1,
                preexec_fn=_parent_death_signal(),
            )
        except OSError as exc:
            import errno

            if exc.errno == errno.E2BIG:
                raise self._too_long() from None
            raise
        self.pid = process.pid
        if on_start is not None:
            on_start(process.pid)
        with _live_lock:
            _live_groups.add(process.pid)
        stderr_chunks: list[str] = []
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout,), daemon=True),
            threading.Thread(target=lambda: stderr_chunks.extend(process.stderr or ()),
                             daemon=True),
        ]
        for reader in readers:
            reader.start()
        deadline = started + self._timeout
        ended_by: EndedBy = "exit"
        try:
            while process.poll() is None:
                if self._cancelled.is_set():
                    ended_by = "cancel"
                    break
                now = time.perf_counter()
                if now >= deadline:
                    ended_by = "timeout"
                    break
                if not self._wake.is_set():
                    self._wake.wait(min(_POLL_SECONDS, deadline - now))
                    continue
                try:
                    process.wait(timeout=_POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    continue
            if ended_by != "exit":
                self._stop(process)
        except BaseException:
            self._stop(process)
            raise
        finally:
            with _live_lock:
                _live_groups.discard(process.pid)
        for reader in readers:
            reader.join(timeout=GRACE_SECONDS)
        return Completed(
            returncode=process.returncode, stderr="".join(stderr_chunks), ended_by=ended_by,
            elapsed=time.perf_counter() - started,
        )
