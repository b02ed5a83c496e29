"""The server process: dbt-core imported once, manifests kept warm, one invocation at a time.

It listens on its slot's socket in the private folder, answers only peers of its own uid
(``SO_PEERCRED``), runs each request through :func:`floe_dbt_core.invoke.invoke` under the
client's environment, streams every RuntimeEvent as dbt reports it and then the result or the
FLOE-DBT error. A cancel line, or the client going away, cancels the invocation the way
``dbt_cancel`` does (an interrupted result, finished nodes kept). After ``idle_timeout`` seconds
without a client, or on SIGTERM (after cancelling the run in progress), it exits and removes its
socket.

The plugin manager stays in the client: its wrappers (tracing, lineage, policies) run there once;
the server is only the engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import struct
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from floe_dbt_core.server.environ import client_environment
from floe_dbt_core.server.paths import SlotFiles, ensure_private_dir
from floe_dbt_core.server.protocol import Channel, ProtocolError
from floe_dbt_hooks.errors import DBTExecutionError, FloeDBTError
from floe_dbt_hooks.secrets import redact

log = logging.getLogger("floe_dbt_core.server")
_UCRED = struct.Struct("3i")
_CANCEL_RETRY = 0.1
REQUEST_TIMEOUT = 30.0
"""How long a connected client may take to send its request (a silent one would block the slot)."""


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket."""
    _pid, uid, _gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return int(uid)


class _Stop(BaseException):
    """Raised in the main thread by SIGTERM; no handler of engine failures may catch it."""


class Server:
    """One slot's server; :meth:`serve_forever` returns when it is idle, stopped or terminated."""

    def __init__(self, files: SlotFiles, idle_timeout: float) -> None:
        self.files = files
        self.idle_timeout = idle_timeout
        self.listener: socket.socket | None = None
        self._inode: int | None = None
        self.served = 0
        self.current: _Invocation | None = None
        self.terminating = False

    def terminate(self, _signum: int, _frame: FrameType | None) -> None:
        """SIGTERM: idle, stop now; serving, cancel the run (its client gets the interrupted
        result) and stop after it. A second SIGTERM stops at once."""
        current = self.current
        if current is None or self.terminating:
            raise _Stop
        self.terminating = True
        log.info("SIGTERM: cancelling invocation %s, then exiting", current.invocation_id)
        current.cancel()

    def bind(self) -> bool:
        """Listen on the slot's socket; False when another live server already does. A socket
        file nobody answers on is stale: replaced. Bound under a temporary name and renamed, so
        a client never finds a socket that does not accept yet."""
        ensure_private_dir(self.files.folder)
        self.files.check_socket_length()
        if self.files.socket.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.files.socket))
                return False
            except OSError:
                log.info("replacing stale socket %s", self.files.socket)
            finally:
                probe.close()
        temporary = self.files.folder / f".{self.files.stem}.{os.getpid()}.sock"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(temporary))
        os.chmod(temporary, 0o600)
        listener.listen(8)
        os.replace(temporary, self.files.socket)
        self._inode = os.stat(self.files.socket).st_ino
        self.listener = listener
        self.files.pid_file.write_text(str(os.getpid()), encoding="ascii")
        return True

    def close(self) -> None:
        """Stop listening; remove the socket and pid file if they are still ours."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with contextlib.suppress(OSError):
            if os.stat(self.files.socket).st_ino == self._inode:
                self.files.socket.unlink()
        with contextlib.suppress(OSError):
            if self.files.pid_file.read_text(encoding="ascii").strip() == str(os.getpid()):
                self.files.pid_file.unlink()

    def serve_forever(self) -> str:
        """Serve clients one after the other; the reason it stopped."""
        assert self.listener is not None
        self.listener.settimeout(self.idle_timeout)
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                return "idle"
            with conn:
                conn.settimeout(None)
                if peer_uid(conn) != os.getuid():
                    log.warning("refused a connection from another user's process")
                    continue
                if self._handle(Channel(conn)) == "stop":
                    return "stop"
            if self.terminating:
                return "SIGTERM"

    def _handle(self, channel: Channel) -> str | None:
        channel.send({"type": "hello", "pid": os.getpid()})
        channel.sock.settimeout(REQUEST_TIMEOUT)
        try:
            message = channel.receive()
        except (ProtocolError, OSError) as exc:
            log.warning("dropped a client: %s", exc)
            return None
        channel.sock.settimeout(None)
        if message is None:
            return None
        kind = message.get("kind")
        if kind == "status":
            channel.send({"type": "status", "pid": os.getpid(), "served": self.served,
                          "idle_timeout": self.idle_timeout})
            return None
        if kind == "stop":
            channel.send({"type": "stopping", "pid": os.getpid()})
            return "stop"
        if kind not in ("run", "compile"):
            channel.send({"type": "error", "error": DBTExecutionError(
                f"unknown request kind {kind!r}").to_dict()})
            return None
        self.served += 1
        self.current = _Invocation(channel, message)
        try:
            self.current.serve()
        finally:
            self.current = None
        return None


class _Invocation:
    """One run/compile request: the engine in this thread, the client's lines in another."""

    def __init__(self, channel: Channel, message: dict[str, Any]) -> None:
        self.channel = channel
        self.message = message
        self.finished = threading.Event()
        self.cancelled = threading.Event()
        self.client_gone = False
        self.invocation_id: str | None = None

    def serve(self) -> None:
        from floe_dbt_hooks.models import InvocationRequest, from_dict, to_dict

        started = time.perf_counter()
        listener = threading.Thread(target=self._listen, name="floe-dbt-server-client",
                                    daemon=True)
        try:
            request = from_dict(self.message["request"], InvocationRequest)
            env = self.message.get("env") or {}
            if not isinstance(env, dict):
                raise ValueError("env must be an object")
            self.invocation_id = request.invocation_id
            listener.start()
            result = self._run(request, {str(k): str(v) for k, v in env.items()},
                               self.message.get("cwd"))
            reply: dict[str, Any] = {"type": "result", "result": to_dict(result)}
        except FloeDBTError as exc:
            reply = {"type": "error", "error": exc.to_dict()}
        except Exception as exc:
            log.error("invocation failed: %s", redact(traceback.format_exc()))
            reply = {"type": "error", "error": DBTExecutionError(
                redact(f"the dbt-core server failed: {type(exc).__name__}: {exc}")).to_dict()}
        finally:
            self.finished.set()
        log.info("invocation %s ended (%s) in %.2fs", self.invocation_id, reply["type"],
                 time.perf_counter() - started)
        if not self.client_gone:
            with contextlib.suppress(OSError):
                self.channel.send(reply)

    def _run(self, request: Any, env: dict[str, str], cwd: str | None) -> Any:
        from floe_dbt_core import invoke as core
        from floe_dbt_hooks.models import (
            CompileResult,
            DBTRunResult,
            InvocationResult,
            RunRequest,
        )

        log.info("invocation %s: %s", request.invocation_id,
                 request.command if isinstance(request, RunRequest) else "compile")
        before = dict(core._warm)
        result: InvocationResult
        with client_environment(env, cwd):
            if isinstance(request, RunRequest):
                result = core.invoke(request, request.command, emit=self._emit,
                                     result_cls=DBTRunResult)
            else:
                result = core.invoke(request, "compile", emit=self._emit,
                                     result_cls=CompileResult)
        reused = False
        if core._warm:
            slot, entry = next(reversed(core._warm.items()))
            reused = before.get(slot) is entry and result.metadata.get("warm_manifest", False)
        import attrs

        return attrs.evolve(result, metadata={**result.metadata, "server": {
            "pid": os.getpid(), "manifest_reused": reused, "log": str(_log_path())}})

    def _emit(self, event: Any) -> None:
        from floe_dbt_hooks.models import to_dict

        if self.client_gone:
            return
        try:
            self.channel.send({"type": "event", "event": to_dict(event)})
        except OSError:
            self._client_left()

    def _listen(self) -> None:
        """Read the client's lines while the engine runs: a cancel, or the end of the stream."""
        while not self.finished.is_set():
            try:
                message = self.channel.receive()
            except (ProtocolError, OSError):
                message = None
            if message is None:
                self._client_left()
                return
            if message.get("kind") == "cancel":
                self.cancel()

    def _client_left(self) -> None:
        if not self.finished.is_set() and not self.client_gone:
            self.client_gone = True
            log.info("client of invocation %s went away: cancelling", self.invocation_id)
            self.cancel()

    def cancel(self) -> None:
        """Stop the invocation the way ``dbt_cancel`` does (from any thread)."""
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        threading.Thread(target=self._cancel_until_stopped, daemon=True,
                         name="floe-dbt-server-cancel").start()

    def _cancel_until_stopped(self) -> None:
        """A cancel may arrive before dbt is running: keep asking until it stops."""
        from floe_dbt_core import invoke as core

        while not self.finished.is_set():
            if self.invocation_id is not None and core.cancel(self.invocation_id):
                return
            time.sleep(_CANCEL_RETRY)


_LOG_PATH: list[Path] = []


def _log_path() -> Path:
    return _LOG_PATH[0] if _LOG_PATH else Path("-")


def main(files: SlotFiles, idle_timeout: float) -> int:
    """Run the server for ``files`` until idle, stopped or terminated; 0 also when another
    server already serves the slot."""
    _LOG_PATH.append(files.log)
    logging.basicConfig(
        filename=str(files.log), level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(message)s")
    server = Server(files, idle_timeout)
    signal.signal(signal.SIGTERM, server.terminate)
    started = time.perf_counter()
    import dbt.cli.main  # noqa: F401 - the import is what the server exists to pay once

    try:
        if not server.bind():
            log.info("another server already listens on %s", files.socket)
            return 0
        log.info("listening on %s (dbt imported in %.2fs, idle timeout %gs)", files.socket,
                 time.perf_counter() - started, idle_timeout)
        reason = server.serve_forever()
        log.info("exiting: %s after %d invocation(s)", reason, server.served)
    except _Stop:
        log.info("exiting: SIGTERM")
    finally:
        server.close()
    return 0
