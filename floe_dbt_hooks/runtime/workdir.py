"""Run a function with a working directory of its own, without changing the process's.

dbt resolves some relative paths against the working directory (a DuckDB file in a profile, files
read by SQL), so an in-process engine must run "from the project folder", as its users do on the
command line. ``os.chdir`` would change the directory of every thread in the process; on Linux a
thread can instead unshare its filesystem context (``unshare(CLONE_FS)``) and change only its own
directory, which the threads it starts (dbt's node workers) inherit. Elsewhere the process-wide
``os.chdir`` is the fallback, and callers must hold a lock that serialises such calls.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")
_CLONE_FS = 0x00000200


def _unshare_filesystem_context() -> bool:
    """Give the calling thread its own working directory; False where the OS cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.unshare(_CLONE_FS) == 0)
    except (OSError, AttributeError):
        return False


def run_in_directory(path: Path, function: Callable[[], _T]) -> _T:
    """``function()`` on a thread whose working directory is ``path``; its result or exception.

    The caller's context variables (the current trace span, bound log fields) go along."""
    outcome: dict[str, object] = {}
    context = contextvars.copy_context()

    def target() -> None:
        private = _unshare_filesystem_context()
        previous = os.getcwd()
        try:
            os.chdir(path)
            outcome["value"] = context.run(function)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            if not private:
                os.chdir(previous)

    worker = threading.Thread(target=target, name=f"floe-dbt-in-{path.name}", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
