"""``floe-dbt server status`` / ``stop``: what servers this user has, and stopping them.

Both only look in the private folder (its socket files): a server is asked through its own
socket, so only servers of this user and this build's interpreter answer; a socket nobody answers
on is reported stale (and removed by ``stop``); a server busy with an invocation is reported
busy (stop it after its run, or with ``kill`` on the pid in its ``.pid`` file).
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

from floe_dbt_core.server.paths import ensure_private_dir, server_dir
from floe_dbt_core.server.protocol import Channel, ProtocolError

ASK_TIMEOUT = 5.0


def _ask(path: Path, kind: str) -> dict[str, Any] | str:
    """Send ``kind`` to the server on ``path``: its answer, or ``stale`` (nobody listens) or
    ``busy`` (it listens but is serving an invocation and did not greet in time)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ASK_TIMEOUT)
    channel = Channel(sock)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return "stale"
        hello = channel.receive()
        if hello is None:
            return "stale"
        channel.send({"kind": kind})
        answer = channel.receive()
        return "busy" if answer is None else {**answer, "pid": hello.get("pid")}
    except (OSError, ProtocolError):
        return "busy"
    finally:
        channel.close()


def servers(kind: str = "status") -> list[dict[str, Any]]:
    """One entry per socket in the folder: its path and the server's answer to ``kind``
    (``status`` or ``stop``), or ``stale`` / ``busy``."""
    folder = ensure_private_dir(server_dir())
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("core-*.sock")):
        answer = _ask(path, kind)
        if isinstance(answer, str):
            if kind == "stop" and answer == "stale":
                with contextlib.suppress(OSError):
                    path.unlink()
            found.append({"socket": str(path), "state": answer})
        else:
            found.append({"socket": str(path), "state": "stopping" if kind == "stop" else "idle",
                          "pid": answer.get("pid"), "served": answer.get("served"),
                          "log": str(path.with_suffix(".log"))})
    return found
