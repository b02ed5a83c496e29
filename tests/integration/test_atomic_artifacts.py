"""dbt-core's artifact writer under SIGKILL: with floe's atomic writers installed (as every dbt-core
invocation inside floe does) a killed writer leaves the previous complete file; with dbt's own, the
same kills leave truncated files (measured: 25 of 25), which shows the check can see a torn
write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from floe_dbt_core import atomic_artifacts

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

pytestmark = pytest.mark.integration

KILLS = 30
CONTROL_KILLS = 5
WRITER = r"""
import json, os, random, signal, sys, time
from pathlib import Path

patched, kills, path = sys.argv[1] == "atomic", int(sys.argv[2]), Path(sys.argv[3])
import dbt.artifacts.schemas.base as base
if patched:
    from floe_dbt_core import atomic_artifacts
    atomic_artifacts.install()
payload = {"metadata": {"invocation_id": "x"},
           "nodes": {f"model.p.m{i}": {"name": "m" * 40, "tags": list(range(20))}
                     for i in range(10000)}}
base.write_json(str(path), payload)
rng = random.Random(14)
torn = 0
for _ in range(kills):
    pid = os.fork()
    if pid == 0:
        while True:
            base.write_json(str(path), payload)
    time.sleep(rng.uniform(0.0, 0.15))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    try:
        json.loads(path.read_bytes())
    except ValueError:
        torn += 1
        base.write_json(str(path), payload)
print(json.dumps({"torn": torn, "kills": kills}))
"""


def _kill_writers(tmp_path: Path, mode: str, kills: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", WRITER, mode, str(kills), str(tmp_path / f"{mode}.json")],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "DO_NOT_TRACK": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_killed_dbt_writers_never_leave_a_torn_artifact(tmp_path: Path) -> None:
    atomic = _kill_writers(tmp_path, "atomic", KILLS)
    assert atomic == {"torn": 0, "kills": KILLS}
    in_place = _kill_writers(tmp_path, "dbt", CONTROL_KILLS)
    assert in_place["torn"] > 0, (
        f"dbt's own writer survived {CONTROL_KILLS} kills intact: check whether dbt now writes "
        "atomically (then floe_dbt_core.atomic_artifacts can go)")


def test_every_dbt_writer_is_replaced() -> None:
    atomic_artifacts.install()
    assert atomic_artifacts.installed_writers() == dict.fromkeys(
        atomic_artifacts.installed_writers(), True)
    assert len(atomic_artifacts.installed_writers()) == 8


def test_files_dbt_opens_itself_are_replaced_whole(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """graph_summary.json and partial_parse.msgpack are opened by dbt directly, not through its
    writers; a real build must still produce each by a rename of a complete file."""
    project = write_project(tmp_path / "contract",
                            {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
    renamed: list[str] = []
    real_replace = os.replace

    def recording_replace(source: str, destination: str) -> None:
        renamed.append(Path(destination).name)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", recording_replace)
    result = DBTFacade(isolate=False).invoke("build", project)
    assert result.success
    for name in ("graph_summary.json", "partial_parse.msgpack", "manifest.json",
                 "run_results.json"):
        assert name in renamed, f"{name} was written in place"
    for name in ("graph_summary.json", "manifest.json", "run_results.json"):
        assert (project / "target" / name).stat().st_size > 0
    assert not list((project / "target").glob(".*.tmp"))


def test_a_block_that_raises_leaves_the_old_file(tmp_path: Path) -> None:
    atomic_artifacts.install()
    import dbt.compilation

    path = tmp_path / "graph_summary.json"
    path.write_text('{"old": 1}')
    def write_halfway() -> None:
        with dbt.compilation.open(str(path), "w") as handle:  # type: ignore[attr-defined]
            handle.write('{"new"')
            raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError, match="killed halfway"):
        write_halfway()
    assert path.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["graph_summary.json"]
    with dbt.compilation.open(str(path)) as reread:  # type: ignore[attr-defined]
        assert reread.read() == '{"old": 1}'
