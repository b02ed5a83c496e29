"""SIGINT and SIGTERM against the real CLI and a long-lived facade host, on dbt-core and Fusion:
the engine is stopped, the finished nodes stay in the result and in run_results.json, the DuckDB
lock is released, the exit code is 130 or 143; a second signal stops everything at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

pytestmark = pytest.mark.integration

SLOW_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select count(*) as n from range(3000000) a, range(3000000) b\n"
    "where (a.range * 31 + b.range) % 1000003 = 7\n"
)
STOP_WITHIN = 45.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "contract", {
        **CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES, "models/slow.sql": SLOW_MODEL})


class Stderr(list[str]):
    """A child's stderr lines, collected on a thread as they arrive."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__()
        self._reader = threading.Thread(target=lambda: self.extend(process.stderr or ()),
                                        daemon=True)
        self._reader.start()

    def text(self) -> str:
        """Everything, once the child has closed its stderr."""
        self._reader.join(timeout=30)
        return "".join(self)


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """Whatever a test started is gone afterwards, whether it passed or not."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start(argv: list[str], cwd: Path) -> tuple[subprocess.Popen[str], Stderr]:
    """Start ``argv``: stdout into ``cwd/stdout.txt``, stderr lines collected as they arrive."""
    with open(cwd / "stdout.txt", "w") as stdout:
        process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, "DO_NOT_TRACK": "1"},
                                   stdout=stdout, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
    _started.append(process)
    return process, Stderr(process)


def _wait_for(lines: Stderr, pattern: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not any(re.search(pattern, line) for line in list(lines)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"never saw {pattern!r}:\n{''.join(lines)}")
        time.sleep(0.05)


def _engine_processes(project: Path) -> list[int]:
    """Pids of processes (other than pytest's) whose command line names the project."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(project) in cmdline and "pytest" not in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("runtime", "signum", "code"), [
    ("core", signal.SIGINT, 130), ("core", signal.SIGTERM, 143),
    ("fusion", signal.SIGINT, 130), ("fusion", signal.SIGTERM, 143),
])
def test_a_signal_interrupts_the_cli_cleanly(project: Path, runtime: str, signum: int,
                                             code: int) -> None:
    cli = Path(sys.executable).parent / "floe-dbt"
    process, lines = _start([str(cli), "build", "--project-dir", str(project), "--runtime",
                             runtime, "--no-fallback", "-s", "people slow", "--threads", "2"],
                            project)
    _wait_for(lines, r"START model slow", process)
    _wait_for(lines, r"OK +seed people", process)
    started = time.monotonic()
    process.send_signal(signum)
    process.wait(timeout=STOP_WITHIN + 15)
    stderr, stdout = lines.text(), (project / "stdout.txt").read_text()
    assert time.monotonic() - started < STOP_WITHIN
    assert process.returncode == code, stderr
    assert re.search(r"interrupted after \d+ of (\d+|\?) nodes", stderr), stderr
    assert "Traceback" not in stdout + stderr
    assert "leaked semaphore" not in stderr
    run_results = load_artifact(project / "target" / "run_results.json")
    statuses = {r["unique_id"]: r["status"] for r in run_results["results"]}
    assert statuses.get("seed.contract.people") == "success", statuses
    assert statuses.get("model.contract.slow", "error") == "error", statuses
    assert _engine_processes(project) == []
    again = subprocess.run([str(cli), "seed", "--project-dir", str(project), "--runtime", runtime],
                           cwd=project, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, "the database lock was released"


def test_a_second_signal_stops_everything_at_once(project: Path) -> None:
    cli = Path(sys.executable).parent / "floe-dbt"
    process, lines = _start([str(cli), "run", "--project-dir", str(project), "--runtime",
                             "fusion", "--no-fallback", "-s", "slow"], project)
    _wait_for(lines, r"START model slow", process)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert time.monotonic() - started < 5, "the second signal did not wait for the grace period"
    assert process.returncode == 130
    assert _engine_processes(project) == [], "no engine process outlives the CLI"


HOST = """
import json, sys, uuid
from floe_dbt_hooks import DBTFacade, hookimpl
from floe_dbt_hooks.runtime.signals import cancel_on_signals


class SaysWhenSlowStarts:
    @hookimpl
    def dbt_event(self, event):
        if event.kind == "node_start" and event.node.name == "slow":
            print("slow started", flush=True)


facade = DBTFacade(runtime=sys.argv[2], fallback=False)
pm = facade.plugin_manager(sys.argv[1])
pm.register(SaysWhenSlowStarts())
invocation_id = str(uuid.uuid4())
with cancel_on_signals(pm.hook, invocation_id) as stop:
    result = facade.build(sys.argv[1], select="people slow", invocation_id=invocation_id)
print(json.dumps({"interrupted": result.interrupted, "signal": stop.signum,
                  "nodes": {n.unique_id: n.status for n in result.nodes}}), flush=True)
"""


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_a_long_lived_host_gets_an_interrupted_result(project: Path, runtime: str) -> None:
    """A worker process running the facade under cancel_on_signals: SIGTERM stops the invocation,
    the host gets the interrupted result and carries on."""
    process = subprocess.Popen([sys.executable, "-c", HOST, str(project), runtime], cwd=project,
                               env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == "slow started", (line, process.stderr.read() if process.stderr else "")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=STOP_WITHIN + 15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["interrupted"] is True, report
    assert report["signal"] == signal.SIGTERM
    assert report["nodes"].get("model.contract.slow", "error") == "error", report
