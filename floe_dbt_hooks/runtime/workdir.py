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
from typing import Generic, TypeVar

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


class DirectoryRun(Generic[_T]):
    """``function()`` on a thread whose working directory is ``path``; :meth:`interrupt` raises
    KeyboardInterrupt inside it (how dbt-core expects to be stopped: it then writes the results
    so far, cancels its open queries and returns), from any thread."""

    def __init__(self, path: Path, function: Callable[[], _T]) -> None:
        self._path = path
        self._function = function
        self._context = contextvars.copy_context()
        self._outcome: dict[str, object] = {}
        self._worker = threading.Thread(target=self._target, name=f"floe-dbt-in-{path.name}",
                                        daemon=True)

    def _target(self) -> None:
        private = _unshare_filesystem_context()
        previous = os.getcwd()
        try:
            os.chdir(self._path)
            self._outcome["value"] = self._context.run(self._function)
        except BaseException as exc:
            self._outcome["error"] = exc
        finally:
            if not private:
                os.chdir(previous)

    @property
    def running(self) -> bool:
        return self._worker.is_alive()

    def interrupt(self) -> bool:
        """Raise KeyboardInterrupt in the running function; False when it is not running."""
        ident = self._worker.ident
        if ident is None or not self._worker.is_alive():
            return False
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                   ctypes.py_object(KeyboardInterrupt))
        return True

    def run(self) -> _T:
        """Start, wait (a signal handler may run meanwhile), and return or raise its outcome."""
        self._worker.start()
        self._worker.join()
        if "error" in self._outcome:
            raise self._outcome["error"]  # type: ignore[misc]
        return self._outcome["value"]  # type: ignore[return-value]


def run_in_directory(path: Path, function: Callable[[], _T]) -> _T:
    """``function()`` on a thread whose working directory is ``path``; its result or exception.

    The caller's context variables (the current trace span, bound log fields) go along."""
    return DirectoryRun(path, function).run()
