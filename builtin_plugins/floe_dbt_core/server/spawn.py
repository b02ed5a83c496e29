"""Connecting to a slot's server, and starting it when nobody listens.

The server is started detached (its own session, so the client's Ctrl-C or its task runner's
process-group kill leaves it alone), its output appended to the slot's log. A start lock makes
sure two clients never start two servers for one slot; a server that does not listen within the
start timeout is killed with its process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from floe_dbt_core.server.paths import SlotFiles
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.runtime.locks import file_lock

_POLL = 0.02


class ServerStartError(DBTExecutionError):
    """The slot's server could not be started (nothing was sent to it)."""


def connect(files: SlotFiles) -> socket.socket | None:
    """A connection to the slot's server; None when nobody listens (no socket, or a stale one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(files.socket))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError:
        sock.close()
        raise
    return sock


def start(files: SlotFiles, *, idle_timeout: float, start_timeout: float) -> socket.socket:
    """Connect to the slot's server, starting it first if nobody listens."""
    with file_lock(files.start_lock):
        sock = connect(files)
        if sock is not None:
            return sock
        with contextlib.suppress(FileNotFoundError):
            files.socket.unlink()
        argv = [sys.executable, "-m", "floe_dbt_core.server", "--dir", str(files.folder),
                "--digest", files.digest, "--slot", str(files.slot),
                "--idle-timeout", f"{idle_timeout:g}"]
        fd = os.open(files.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                       cwd=files.folder, start_new_session=True, close_fds=True)
        finally:
            os.close(fd)
        threading.Thread(target=process.wait, daemon=True, name="floe-dbt-server-reaper").start()
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            sock = connect(files)
            if sock is not None:
                return sock
            if process.poll() is not None:
                raise ServerStartError(
                    f"the dbt-core server exited with code {process.returncode} while starting",
                    file_path=files.log, hint=f"see its log {files.log}")
            time.sleep(_POLL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        raise ServerStartError(
            f"the dbt-core server did not listen within {start_timeout:g}s and was stopped",
            file_path=files.log,
            hint=f"see its log {files.log}; raise plugins.core.server_start_timeout")
