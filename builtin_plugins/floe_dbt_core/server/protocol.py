"""The wire format between a client and a server: one JSON object per line, UTF-8.

Client to server: ``{"kind": "run"|"compile", "request": ..., "env": {...}, "cwd": ...}``, later
possibly ``{"kind": "cancel"}``; or ``{"kind": "status"}`` / ``{"kind": "stop"}``. Server to
client: ``{"type": "hello", "pid": ...}`` on accepting, then ``{"type": "event", ...}`` per
RuntimeEvent, then one ``{"type": "result", ...}`` or ``{"type": "error", "error": {...}}``.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

MAX_LINE = 64 * 1024 * 1024
"""A line longer than this is a broken peer, not a message (a result with every node is far less)."""


class ProtocolError(Exception):
    """The peer sent something that is not a protocol line."""


class Channel:
    """A connected socket spoken in lines; ``send`` is safe from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._send_lock:
            self.sock.sendall(data)

    def receive(self) -> dict[str, Any] | None:
        """The next message; None at end of stream. ``socket.timeout`` passes through and keeps
        what was read so far for the next call."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError("line too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise ProtocolError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ProtocolError("not a JSON object")
        return message

    def close(self) -> None:
        self.sock.close()
