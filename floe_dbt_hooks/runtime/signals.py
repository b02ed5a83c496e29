"""SIGINT and SIGTERM stop a running invocation cleanly; a second signal stops everything now.

Orchestrators (Kubernetes, Airflow, Dagster) stop work with SIGTERM, people with Ctrl-C. The first
signal asks the runtime serving the invocation to stop (``dbt_cancel``: Fusion's process group gets
SIGINT, dbt-core is interrupted the way it expects and cancels its queries); the invocation then
returns an interrupted result with the nodes finished so far, and its database lock is released on
the way out. Before any engine runs there is nothing to cancel, so the signal interrupts the
caller. A second signal kills every engine process group this process started and exits at once
with ``128 + signal``.

The CLI uses :func:`cancel_on_signals` around every invocation; a long-lived host (a worker
process) can do the same around a facade call, passing the request's ``invocation_id``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import attrs

from floe_dbt_hooks.runtime.process import kill_all

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@attrs.define
class Interruption:
    """Which signal (if any) asked the invocation to stop."""

    signum: int | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal, as shells report it: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def cancel_on_signals(hook: Any, invocation_id: str, *,
                      restore: bool = True) -> Iterator[Interruption]:
    """While the block runs, SIGINT/SIGTERM cancel ``invocation_id`` through ``hook.dbt_cancel``.

    Only the main thread can own signal handlers; elsewhere this does nothing. The previous
    handlers are restored afterwards, unless ``restore`` is False (a command line that is about to
    exit keeps them, so a second signal while it reports still stops it at once)."""
    state = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handle(signum: int, frame: object) -> None:
        if state.signum is not None:
            kill_all()
            os._exit(128 + state.signum)
        state.signum = signum
        if not hook.dbt_cancel(invocation_id=invocation_id):
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield state
    finally:
        if restore:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
