"""The core runtime's side: forward one invocation to a warm server, or say why it could not.

:func:`forward` takes a free slot (an ``flock`` on ``slot-<digest>-<n>.lock``, never waiting:
with every slot busy the invocation runs in-process), connects to that slot's server (starting it if
nobody listens), sends the request with this process's environment and working directory, and
re-emits each streamed event through ``emit`` so the caller's ``dbt_event`` observers see nodes
live. Anything that fails before the request is sent is a :class:`ServerUnavailable` (the caller
runs in-process); once it is sent nodes may have run, so a failure is an error, never a fallback.
Imports no dbt.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import attrs

from floe_dbt_core.server.paths import (
    ServerDirError,
    SlotFiles,
    current_digest,
    ensure_private_dir,
    server_dir,
)
from floe_dbt_core.server.protocol import Channel, ProtocolError
from floe_dbt_core.server.settings import ServerSettings
from floe_dbt_core.server.spawn import ServerStartError, connect, start
from floe_dbt_hooks.errors import DBTExecutionError, FloeDBTError, error_for_code
from floe_dbt_hooks.fsutil import first_free_lock
from floe_dbt_hooks.models import (
    InvocationRequest,
    InvocationResult,
    RuntimeEvent,
    converter,
    from_dict,
)
from floe_dbt_hooks.runtime.events import Emit
from floe_dbt_hooks.runtime.running import RunningInvocations

_Result = TypeVar("_Result", bound=InvocationResult)
HELLO_TIMEOUT = 10.0
"""How long a server that accepted may take to greet (it greets at once when idle)."""
CANCEL_GRACE = 30.0
"""After a timeout's cancel, how long the server gets to send the interrupted result."""
_SLICE = 0.5


@attrs.frozen
class ServerUnavailable:
    """Why an invocation was not sent to a server (it then runs in-process)."""

    reason_code: str
    message: str

    def as_metadata(self) -> dict[str, Any]:
        return {"used": False, "reason_code": self.reason_code, "message": self.message}


class _Call:
    """A request in flight on a server: what ``dbt_cancel`` reaches."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.cancel_sent = False

    def cancel(self) -> bool:
        if self.cancel_sent:
            return True
        self.cancel_sent = True
        with contextlib.suppress(OSError):
            self.channel.send({"kind": "cancel"})
        return True


_calls: RunningInvocations[_Call] = RunningInvocations()


def cancel(invocation_id: str) -> bool:
    """Ask the server running ``invocation_id`` to cancel it; False if none runs it for us."""
    call = _calls.get(invocation_id)
    return call is not None and call.cancel()


@contextlib.contextmanager
def _free_slot(folder: Any, digest: str, pool: int) -> Iterator[SlotFiles | None]:
    """Hold the first slot nobody holds for the block; None when all ``pool`` are held."""
    slots = [SlotFiles(folder, digest, number) for number in range(pool)]
    with first_free_lock([files.slot_lock for files in slots]) as held:
        yield None if held is None else slots[held]


def _greeted(sock: socket.socket) -> tuple[Channel, int] | None:
    channel = Channel(sock)
    sock.settimeout(HELLO_TIMEOUT)
    try:
        hello = channel.receive()
    except (OSError, ProtocolError):
        hello = None
    if hello is None or hello.get("type") != "hello" or not isinstance(hello.get("pid"), int):
        channel.close()
        return None
    return channel, int(hello["pid"])


def _open(files: SlotFiles, settings: ServerSettings) -> tuple[Channel, int] | ServerUnavailable:
    """A greeted connection to the slot's server. A server can exit (idle) just as we connect:
    then one new server is started and tried."""
    for _attempt in range(2):
        try:
            files.check_socket_length()
            sock = connect(files) or start(files, idle_timeout=settings.idle_timeout,
                                           start_timeout=settings.start_timeout)
        except ServerDirError as exc:
            return ServerUnavailable("server-dir-not-private", str(exc))
        except (ServerStartError, OSError) as exc:
            return ServerUnavailable("server-start-failed", str(exc))
        greeted = _greeted(sock)
        if greeted is not None:
            return greeted
    return ServerUnavailable("server-unresponsive",
                             f"the dbt-core server of slot {files.slot} did not answer; see "
                             f"{files.log}")


def forward(request: InvocationRequest, command: str, settings: ServerSettings, *, emit: Emit,
            result_cls: type[_Result]) -> _Result | ServerUnavailable:
    """Run ``command`` for ``request`` on a warm server, or say why it was not sent."""
    try:
        folder = ensure_private_dir(server_dir())
    except ServerDirError as exc:
        return ServerUnavailable("server-dir-not-private", str(exc))
    except OSError as exc:
        return ServerUnavailable("server-dir-not-private", f"the server folder: {exc}")
    with _free_slot(folder, current_digest(), settings.pool) as files:
        if files is None:
            return ServerUnavailable("server-busy",
                                     f"all {settings.pool} dbt-core server slot(s) are busy")
        opened = _open(files, settings)
        if isinstance(opened, ServerUnavailable):
            return opened
        channel, pid = opened
        try:
            message = {
                "kind": "compile" if command == "compile" else "run",
                "request": converter().unstructure(request, unstructure_as=InvocationRequest),
                "env": dict(os.environ),
                "cwd": os.getcwd(),
            }
            try:
                channel.send(message)
            except OSError as exc:
                return ServerUnavailable("server-unresponsive",
                                         f"could not send to the dbt-core server: {exc}")
            call = _Call(channel)
            with _calls.serving(request.invocation_id, call):
                result = _receive(channel, call, request, files, pid, emit, result_cls)
        finally:
            channel.close()
        return attrs.evolve(result, metadata={
            **result.metadata,
            "server": {**result.metadata.get("server", {}), "used": True, "slot": files.slot}})


def _receive(channel: Channel, call: _Call, request: InvocationRequest, files: SlotFiles,
             pid: int, emit: Emit, result_cls: type[_Result]) -> _Result:
    """Events until the result; a dead server or an exceeded timeout is an execution error."""
    timeout = request.timeout
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    timed_out = False
    channel.sock.settimeout(_SLICE)
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            if not timed_out:
                timed_out = True
                call.cancel()
                deadline = now + CANCEL_GRACE
            else:
                _kill(pid)
                raise _timeout_error(timeout, files)
        try:
            message = channel.receive()
        except TimeoutError:
            continue
        except (OSError, ProtocolError):
            message = None
        if message is None:
            raise DBTExecutionError(
                f"the dbt-core server (pid {pid}) went away during invocation "
                f"{request.invocation_id}; nodes may have run, so it was not retried",
                file_path=files.log, hint=f"see the server's log {files.log}")
        kind = message.get("type")
        if kind == "event":
            emit(from_dict(message["event"], RuntimeEvent))
        elif kind == "result":
            if timed_out:
                raise _timeout_error(timeout, files)
            return from_dict(message["result"], result_cls)
        elif kind == "error":
            raise _error(message.get("error") or {})


def _timeout_error(timeout: float | None, files: SlotFiles) -> DBTExecutionError:
    return DBTExecutionError(
        f"the dbt-core invocation timed out after {timeout or 0:g}s and was cancelled",
        file_path=files.log, hint="raise the request's timeout")


def _error(data: dict[str, Any]) -> FloeDBTError:
    cls = error_for_code(str(data.get("code", "")))
    engine_codes = data.get("engine_codes") or ()
    line = data.get("line")
    return cls(str(data.get("message", "the dbt-core server failed")),
               file_path=data.get("file_path"), line=line if isinstance(line, int) else None,
               original_message=data.get("original_message"), hint=data.get("hint"),
               engine_codes=tuple(str(c) for c in engine_codes))


def _kill(pid: int) -> None:
    """Stop a server that did not answer a cancel: its process group leads a session of its own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
