"""``kill -9`` of the ``floe-dbt`` CLI at random points, over and over, on one project.

After every kill: no process of the run is left (a Fusion child stops by itself once its parent is
gone), every artifact in ``target/`` is either the complete one from before the run or a complete new
one (valid JSON; manifest and run_results with a dbt schema version and an invocation id that is the
previous one or one never seen before), and a following run succeeds. Shared by the test (small N)
and ``benchmarks/kill_loop.py`` (large N).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

ARTIFACTS = ("manifest.json", "run_results.json", "semantic_manifest.json")
"""dbt's documented artifacts, written by the engine (atomically for dbt-core inside floe)."""
ORPHAN_WAIT = 20.0
RUN_TIMEOUT = 300.0


@attrs.define
class LoopReport:
    runtime: str
    iterations: int = 0
    killed_before_end: int = 0
    new_artifacts_seen: int = 0
    kill_points: list[float] = attrs.field(factory=list)


def cli_argv(project: Path, runtime: str) -> list[str]:
    cli = Path(sys.executable).parent / "floe-dbt"
    return [str(cli), "build", "--project-dir", str(project), "--runtime", runtime,
            "--no-fallback"]


def make_project(root: Path) -> Path:
    return write_project(root, {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


def _env() -> dict[str, str]:
    return {**os.environ, "DO_NOT_TRACK": "1"}


def run_to_end(project: Path, runtime: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli_argv(project, runtime), *extra], cwd=project, env=_env(), text=True,
                          capture_output=True, timeout=RUN_TIMEOUT, check=False)


def project_processes(project: Path) -> list[int]:
    """Pids whose command line names ``project`` (the CLI, a Fusion child), this process aside."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(project) in cmdline and state != b"Z":
            found.append(int(entry.name))
    return found


def snapshot(target: Path) -> dict[str, bytes]:
    return {name: (target / name).read_bytes() for name in ARTIFACTS if (target / name).is_file()}


def check_artifacts(target: Path, before: dict[str, bytes], seen_ids: set[str]) -> int:
    """Assert every artifact is the previous one or a complete new one; count the new ones."""
    new = 0
    for name in ARTIFACTS:
        path = target / name
        if not path.is_file():
            assert name not in before, f"{name} disappeared"
            continue
        data = path.read_bytes()
        if data == before.get(name):
            continue
        try:
            parsed = json.loads(data)
        except ValueError as error:
            raise AssertionError(f"{name} is neither the previous nor a complete new file "
                                 f"({len(data)} bytes): {error}") from None
        assert isinstance(parsed, dict), name
        if name != "semantic_manifest.json":
            metadata = parsed.get("metadata") or {}
            assert str(metadata.get("dbt_schema_version", "")).startswith("https://"), name
            invocation = metadata.get("invocation_id")
            assert isinstance(invocation, str), f"{name}: no invocation_id"
            assert invocation, f"{name}: an empty invocation_id"
            assert invocation not in seen_ids, f"{name}: an older run's artifact came back"
        new += 1
    for path in target.rglob("*.json"):
        if path.name.startswith("."):
            continue
        try:
            json.loads(path.read_bytes())
        except ValueError as error:
            raise AssertionError(f"{path} is not complete JSON: {error}") from None
    return new


def _wait_gone(project: Path) -> None:
    deadline = time.monotonic() + ORPHAN_WAIT
    while (left := project_processes(project)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"still running {ORPHAN_WAIT:.0f}s after the CLI was killed: {left}"


def kill_loop(project: Path, runtime: str, iterations: int, *, seed: int,
              window: Callable[[float], tuple[float, float]] = lambda t: (0.0, t * 1.1),
              recover_every: int = 1) -> LoopReport:
    """Run the loop; ``window`` maps a full run's duration (the latest run to the end) to the
    range kill points come from."""
    rng = random.Random(seed)
    report = LoopReport(runtime=runtime)
    first = run_to_end(project, runtime)
    assert first.returncode == 0, first.stderr[-3000:]
    duration = _timed_run(project, runtime)
    target = project / "target"
    seen_ids: set[str] = set()
    for index in range(iterations):
        before = snapshot(target)
        seen_ids |= _invocations_of(before)
        low, high = window(duration)
        point = rng.uniform(low, high)
        process = subprocess.Popen(cli_argv(project, runtime), cwd=project, env=_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        time.sleep(point)
        if process.poll() is None:
            report.killed_before_end += 1
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        report.kill_points.append(round(point, 3))
        _wait_gone(project)
        report.new_artifacts_seen += check_artifacts(target, before, seen_ids)
        if (index + 1) % recover_every == 0 or index == iterations - 1:
            duration = _timed_run(project, runtime, f"run after kill {index} at {point:.2f}s")
        report.iterations += 1
    return report


def _timed_run(project: Path, runtime: str, what: str = "a run") -> float:
    """Run to the end, assert it succeeded; its duration calibrates the next kill points (the
    first run of a project parses from scratch and is slower than the rest)."""
    started = time.monotonic()
    done = run_to_end(project, runtime)
    assert done.returncode == 0, f"{what} failed:\n{done.stderr[-3000:]}"
    return time.monotonic() - started


def _invocations_of(files: dict[str, bytes]) -> set[str]:
    ids = set()
    for name in ("manifest.json", "run_results.json"):
        try:
            ids.add(json.loads(files[name])["metadata"]["invocation_id"])
        except (KeyError, ValueError, TypeError):
            continue
    return ids
