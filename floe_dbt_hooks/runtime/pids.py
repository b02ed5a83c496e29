"""Who a process is: its pid plus its start time, so a pid the kernel has handed to a new process is
never mistaken for the one recorded earlier (a lock owner, an engine child)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

import attrs


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); None where unknown.

    A zombie counts as gone: it holds no files and runs nothing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[19])


@attrs.frozen
class ProcessId:
    """A process as the kernel knows it now: ``start`` is None off Linux (pid alone then)."""

    pid: int
    start: int | None
    host: str

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        return cls(pid=pid, start=start_ticks(pid), host=socket.gethostname())

    def alive(self) -> bool:
        """True while the very process recorded runs on this host; other hosts' are unknowable
        from here and count as alive."""
        if self.host != socket.gethostname():
            return True
        if self.start is not None:
            return start_ticks(self.pid) == self.start
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def stop_group(leader: ProcessId, grace: float) -> bool:
    """Stop the process group ``leader`` leads (an engine started in its own session) as floe
    stops engines: SIGINT (it cancels its queries and writes its results), then SIGKILL after
    ``grace`` seconds. False when ``leader`` is not that process or leads no group of its own."""
    if not leader.alive() or leader.host != socket.gethostname():
        return False
    try:
        if os.getpgid(leader.pid) != leader.pid:
            return False
        os.killpg(leader.pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + grace
    while leader.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if leader.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, signal.SIGKILL)
        deadline = time.monotonic() + grace
        while leader.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    return True
