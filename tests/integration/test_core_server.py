"""The warm dbt-core server on real dbt-core and real DuckDB files: fresh client processes share
one server and its parsed manifest, see their own environment and the files as they are now,
stream events live, cancel, survive a killed server with a clear error, spread over slots, replace
a stale socket, and the server goes away when idle; a folder others can enter is never used."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from floe_dbt_core.server.paths import ServerDirError, current_digest, ensure_private_dir
from floe_dbt_core.server.serve import peer_uid

from floe_dbt_hooks import RunRequest, create_plugin_manager
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.models import DBTRunResult
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, EventRecorder, write_project

pytestmark = pytest.mark.integration

SLOW_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select count(*) as n from range(3000000) a, range(3000000) b\n"
    "where (a.range * 31 + b.range) % 1000003 = 7\n"
)
GREETING_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select '{{ env_var(\"FLOE_TEST_GREETING\", \"none\") }}' as greeting\n"
)
CLIENT = r"""
import json, sys, time
from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.models import to_dict
from floe_dbt_hooks.plugin.markers import hookimpl

class Seen:
    def __init__(self):
        self.events = []
    @hookimpl
    def dbt_event(self, event):
        if event.node is not None:
            self.events.append([event.kind, event.node.unique_id, time.monotonic()])

seen = Seen()
command, project, select = sys.argv[1:4]
try:
    result = DBTFacade(plugins=[seen]).invoke(command, project, select=select or None)
    out = {"result": to_dict(result)}
except FloeDBTError as exc:
    out = {"error": exc.to_dict()}
out["returned"] = time.monotonic()
out["events"] = seen.events
print(json.dumps(out))
"""


@pytest.fixture
def server_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short private folder of the test's own (socket paths are limited to 107 bytes), the
    server switched on; every server started in it is stopped afterwards and checked gone."""
    root = Path(tempfile.mkdtemp(prefix="floe-srv-"))
    folder = root / "s"
    monkeypatch.setenv("FLOE_DBT_SERVER_DIR", str(folder))
    monkeypatch.setenv("FLOE_DBT_CORE_SERVER", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    try:
        yield folder
    finally:
        for pid in _servers(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _servers(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in _servers(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        leftovers = _servers(folder)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)
        subprocess.run(["rm", "-rf", str(root)], check=False, timeout=30)
        assert leftovers == [], f"servers left running: {leftovers}"


def _servers(folder: Path) -> list[int]:
    """Pids of live server processes for ``folder`` (from /proc: no pid file is trusted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_bytes()
        except OSError:
            continue
        if b"floe_dbt_core.server" in cmdline and os.fsencode(folder) in cmdline \
                and b") Z" not in state:
            found.append(int(entry.name))
    return found


def _wait_refused(sock_path: Path) -> None:
    """Until nobody accepts on ``sock_path``: a killed server's descriptors close when its last
    thread has exited, a moment after SIGKILL (its process is a zombie by then already)."""
    deadline = time.monotonic() + 30
    while True:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(sock_path))
            except (ConnectionRefusedError, FileNotFoundError):
                return
        assert time.monotonic() < deadline, f"{sock_path} still accepts"
        time.sleep(0.05)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "contract", {
        **CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES, "models/slow.sql": SLOW_MODEL,
        "models/greeting.sql": GREETING_MODEL})


def _client(project: Path, command: str = "build", select: str = "",
            env: dict[str, str] | None = None) -> dict[str, Any]:
    """One invocation in a fresh Python process, the way a task executor starts one."""
    completed = subprocess.run(
        [sys.executable, "-c", CLIENT, command, str(project), select],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
        check=False)
    assert completed.returncode == 0, completed.stderr
    out: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return out


def _query(project: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(project / "contract.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def _outcome(result: dict[str, Any]) -> dict[str, str]:
    return {n["unique_id"]: n["status"] for n in result["nodes"]}


def test_fresh_processes_share_one_warm_server(server_dir: Path, project: Path) -> None:
    first = _client(project, select="people base_people adults")
    second = _client(project, select="people base_people adults")
    assert "error" not in first, first
    assert "error" not in second, second
    one, two = first["result"]["metadata"]["server"], second["result"]["metadata"]["server"]
    assert one["used"]
    assert two["used"]
    assert one["pid"] == two["pid"], "the second process was served by the same server"
    assert (one["manifest_reused"], two["manifest_reused"]) == (False, True)
    assert second["result"]["runtime"] == "core"
    in_process = _client(project, select="people base_people adults",
                         env={"FLOE_DBT_CORE_SERVER": "0"})
    assert "server" not in in_process["result"]["metadata"]
    assert _outcome(second["result"]) == _outcome(in_process["result"])
    assert len(_outcome(second["result"])) == 6
    run_results = json.loads(Path(second["result"]["run_results_path"]).read_text())
    assert {r["unique_id"] for r in run_results["results"]} == set(_outcome(second["result"]))
    finished = {uid for kind, uid, at in second["events"] if kind == "node_finish"
                and at < second["returned"]}
    assert finished == set(_outcome(second["result"])), "every node's event came before the result"
    log = Path(one["log"])
    assert log.parent == server_dir
    assert log.is_file()
    os.kill(one["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _servers(server_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _servers(server_dir) == []
    assert not log.with_suffix(".sock").exists(), "SIGTERM removes the socket"
    assert "exiting: SIGTERM" in log.read_text()


def test_each_client_gets_its_own_environment(server_dir: Path, project: Path) -> None:
    hello = _client(project, select="greeting", env={"FLOE_TEST_GREETING": "hello"})
    assert _query(project, "select greeting from greeting") == [("hello",)]
    bonjour = _client(project, select="greeting", env={"FLOE_TEST_GREETING": "bonjour"})
    assert _query(project, "select greeting from greeting") == [("bonjour",)]
    assert hello["result"]["metadata"]["server"]["pid"] == \
        bonjour["result"]["metadata"]["server"]["pid"]
    assert not bonjour["result"]["metadata"]["server"]["manifest_reused"], \
        "a manifest rendered with another env_var value is parsed again"
    assert "FLOE_TEST_GREETING" not in Path(
        hello["result"]["metadata"]["server"]["log"]).read_text()


def test_a_file_edited_between_calls_is_seen(server_dir: Path, project: Path) -> None:
    _client(project, select="people base_people adults")
    assert _query(project, "select count(*) from adults") == [(2,)]
    adults = project / "models" / "adults.sql"
    adults.write_text(adults.read_text().replace(">= {{ var('min_age', 18) }}", ">= 40"))
    again = _client(project, select="adults")
    assert _query(project, "select count(*) from adults") == [(1,)]
    assert again["result"]["metadata"]["server"]["manifest_reused"] is False


def _slow_build(project: Path, recorder: EventRecorder, **options: Any
                ) -> tuple[threading.Thread, list[BaseException], list[DBTRunResult], RunRequest]:
    pm = create_plugin_manager(project, plugins=[recorder], fallback=False)
    request = RunRequest(project_dir=project, command="build", select="people slow", **options)
    errors: list[BaseException] = []
    results: list[DBTRunResult] = []

    def run() -> None:
        try:
            results.append(pm.hook.dbt_run(request=request))
        except BaseException as exc:  # the test asserts on it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not ("seed.contract.people" in recorder.node_ids("node_finish", request.invocation_id)
               and "model.contract.slow" in recorder.node_ids("node_start", request.invocation_id)):
        assert time.monotonic() < deadline, f"the slow model never started: {errors}"
        time.sleep(0.05)
    return thread, errors, results, request


def test_cancel_gives_an_interrupted_result(server_dir: Path, project: Path) -> None:
    recorder = EventRecorder()
    thread, errors, results, request = _slow_build(project, recorder)
    pm = create_plugin_manager(project)
    assert pm.hook.dbt_cancel(invocation_id=request.invocation_id) is True
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    [result] = results
    assert (result.interrupted, result.success) == (True, False)
    statuses = {n.unique_id: n.status for n in result.nodes}
    assert statuses["seed.contract.people"] == "success"
    assert statuses.get("model.contract.slow", "error") == "error"
    assert result.metadata["server"]["used"] is True
    after = _client(project, command="seed")
    assert after["result"]["success"], "the server and the database lock are free again"
    assert after["result"]["metadata"]["server"]["pid"] == result.metadata["server"]["pid"]
    assert pm.hook.dbt_cancel(invocation_id=request.invocation_id) is None


def test_a_timeout_cancels_on_the_server(server_dir: Path, project: Path) -> None:
    recorder = EventRecorder()
    thread, errors, results, _ = _slow_build(project, recorder, timeout=8.0)
    thread.join(timeout=90)
    assert not thread.is_alive()
    assert results == []
    [error] = errors
    assert isinstance(error, DBTExecutionError)
    assert "timed out after 8s" in error.message
    assert _client(project, command="seed")["result"]["success"]


def test_a_killed_server_is_a_clear_error_without_fallback(server_dir: Path,
                                                           project: Path) -> None:
    recorder = EventRecorder()
    thread, errors, results, _ = _slow_build(project, recorder)
    [pid] = _servers(server_dir)
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert results == []
    [error] = errors
    assert isinstance(error, DBTExecutionError)
    assert f"pid {pid}" in error.message
    assert "went away" in error.message
    assert error.file_path is not None
    assert error.file_path.endswith(".log")
    assert Path(error.file_path).parent == server_dir
    assert recorder.fallbacks == []
    _wait_refused(Path(error.file_path).with_suffix(".sock"))
    replaced = _client(project, command="seed")
    assert replaced["result"]["metadata"]["server"]["pid"] != pid, "a new server took the slot"


@contextlib.contextmanager
def _holding(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def test_a_busy_slot_sends_the_next_client_to_another(server_dir: Path, project: Path) -> None:
    digest = current_digest()
    with _holding(server_dir / f"slot-{digest}-0.lock"):
        second = _client(project, command="seed")
        assert second["result"]["metadata"]["server"]["slot"] == 1
        with _holding(server_dir / f"slot-{digest}-1.lock"):
            busy = _client(project, command="seed")
    assert busy["result"]["success"]
    assert busy["result"]["metadata"]["server"] == {
        "used": False, "reason_code": "server-busy",
        "message": "all 2 dbt-core server slot(s) are busy"}
    first = _client(project, command="seed")
    assert first["result"]["metadata"]["server"]["slot"] == 0
    assert first["result"]["metadata"]["server"]["pid"] != \
        second["result"]["metadata"]["server"]["pid"]


def test_a_stale_socket_is_replaced(server_dir: Path, project: Path) -> None:
    first = _client(project, command="seed")
    sock_path = Path(first["result"]["metadata"]["server"]["log"]).with_suffix(".sock")
    pid = first["result"]["metadata"]["server"]["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_refused(sock_path)
    assert sock_path.exists(), "a killed server leaves its socket behind"
    again = _client(project, command="seed")
    assert again["result"]["metadata"]["server"]["used"] is True
    assert again["result"]["metadata"]["server"]["pid"] != pid


def test_an_idle_server_exits_and_removes_its_socket(server_dir: Path, project: Path) -> None:
    (project / "floe.yml").write_text("plugins:\n  core:\n    server: true\n"
                                      "    server_idle_timeout: 2\n")
    served = _client(project, command="seed", env={"FLOE_DBT_CORE_SERVER": ""})
    server = served["result"]["metadata"]["server"]
    assert server["used"] is True
    deadline = time.monotonic() + 30
    while _servers(server_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers(server_dir) == []
    assert not Path(server["log"]).with_suffix(".sock").exists()
    assert "exiting: idle" in Path(server["log"]).read_text()


def test_a_folder_others_can_enter_is_never_used(server_dir: Path, project: Path) -> None:
    server_dir.mkdir(mode=0o700)
    os.chmod(server_dir, 0o755)
    served = _client(project, command="seed")
    assert served["result"]["success"]
    assert served["result"]["metadata"]["server"]["used"] is False
    assert served["result"]["metadata"]["server"]["reason_code"] == "server-dir-not-private"
    assert "mode 755" in served["result"]["metadata"]["server"]["message"]
    assert _servers(server_dir) == []
    assert list(server_dir.iterdir()) == []


def test_a_linked_folder_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(ServerDirError, match="not a folder"):
        ensure_private_dir(link)


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a folder to another user")
def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, -1)
    with pytest.raises(ServerDirError) as raised:
        ensure_private_dir(folder)
    assert "belongs to uid 65534" in raised.value.message
    assert raised.value.file_path == str(folder)


def test_the_server_knows_its_peer_uid() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert peer_uid(left) == os.getuid()


def test_the_cli_shows_and_stops_the_servers(server_dir: Path, project: Path) -> None:
    served = _client(project, command="seed")["result"]["metadata"]["server"]

    def cli(action: str) -> str:
        done = subprocess.run([sys.executable, "-m", "floe_dbt_hooks.cli.main", "server", action],
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    status = cli("status")
    assert f"idle    pid {served['pid']}  served 1" in status
    assert "stopping" in cli("stop")
    deadline = time.monotonic() + 20
    while _servers(server_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _servers(server_dir) == []
    assert cli("status") == "no dbt-core server\n"


def test_a_client_that_dies_cancels_its_run(server_dir: Path, project: Path) -> None:
    """A task process killed mid-run closes its socket: the server cancels that run and is free
    for the next client (it would otherwise run the slow model to its end)."""
    child = subprocess.Popen([sys.executable, "-c", CLIENT, "build", str(project), "people slow"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        logs: list[Path] = []
        while not any("invocation" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, "the server never took the invocation"
            time.sleep(0.1)
            logs = list(server_dir.glob("*.log")) if server_dir.is_dir() else []
        time.sleep(3)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    [log] = logs
    started = time.monotonic()
    after = _client(project, command="seed")
    assert after["result"]["success"]
    assert time.monotonic() - started < 60
    assert after["result"]["metadata"]["server"]["used"] is True
    assert "went away: cancelling" in log.read_text()


@pytest.mark.skipif(os.getuid() != 0, reason="only root can connect as another user")
def test_another_users_connection_is_closed(server_dir: Path, project: Path) -> None:
    """Even with the socket opened up by mistake (and reached past the private folder through an
    inherited descriptor), a process of another uid gets no greeting: the server closes it."""
    served = _client(project, command="seed")["result"]["metadata"]["server"]
    sock_path = Path(served["log"]).with_suffix(".sock")
    os.chmod(sock_path, 0o666)
    handle = os.open(sock_path, os.O_PATH)
    try:
        code = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(20); "
                "s.connect(f'/proc/self/fd/{sys.argv[1]}'); print(repr(s.recv(100)))")
        done = subprocess.run([sys.executable, "-c", code, str(handle)], pass_fds=(handle,),
                              user=65534, group=65534, capture_output=True, text=True,
                              timeout=60, check=False)
    finally:
        os.close(handle)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "b''", "closed without a greeting"
    assert "refused a connection from another user's process" in Path(served["log"]).read_text()
    again = _client(project, command="seed")["result"]["metadata"]["server"]
    assert again["pid"] == served["pid"]


def test_ctrl_c_on_the_cli_interrupts_the_run_on_the_server(server_dir: Path,
                                                            project: Path) -> None:
    """``floe-dbt build`` through the server: progress lines arrive live, SIGINT cancels the run on
    the server (exit 130, finished nodes kept) and the server stays up for the next client."""
    cli = Path(sys.executable).parent / "floe-dbt"
    process = subprocess.Popen(
        [str(cli), "build", "--project-dir", str(project), "-s", "people slow"], cwd=project,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("START model slow" in line for line in list(lines)):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=30)
    stderr = "".join(lines)
    assert process.returncode == 130, stderr
    assert "interrupted after" in stderr, stderr
    [pid] = _servers(server_dir)
    after = _client(project, command="seed")["result"]["metadata"]["server"]
    assert after["pid"] == pid


def test_sigterm_mid_run_cancels_it_then_exits(server_dir: Path, project: Path) -> None:
    """A server stopped by SIGTERM while serving cancels the run (its client gets the
    interrupted result, not a lost connection), then exits and removes its socket."""
    recorder = EventRecorder()
    thread, errors, results, _ = _slow_build(project, recorder)
    [pid] = _servers(server_dir)
    os.kill(pid, signal.SIGTERM)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    [result] = results
    assert result.interrupted
    assert result.metadata["server"]["pid"] == pid
    deadline = time.monotonic() + 20
    while _servers(server_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _servers(server_dir) == []
    log = Path(result.metadata["server"]["log"])
    assert not log.with_suffix(".sock").exists()
    assert "exiting: SIGTERM after 1 invocation(s)" in log.read_text()
