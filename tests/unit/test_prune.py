"""Isolated invocation folders are pruned: the oldest beyond the limit go, recent ones stay."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from floe_dbt_hooks.models import RunRequest
from floe_dbt_hooks.project import load_project, prepare_target_path
from floe_dbt_hooks.project import target_paths as project_module


def test_oldest_isolated_folders_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    monkeypatch.setattr(project_module, "KEEP_INVOCATIONS", 3)
    project = load_project(tmp_path)
    floe = tmp_path / "target" / "floe"
    old = time.time() - 2 * project_module.KEEP_SECONDS
    folders = []
    for index in range(6):
        folder = floe / str(uuid.uuid4())
        folder.mkdir(parents=True)
        stamp = old + index if index < 5 else time.time()
        os.utime(folder, (stamp, stamp))
        folders.append(folder)
    (floe / "parse").mkdir()
    path = prepare_target_path(project, RunRequest(project_dir=tmp_path))
    assert path.is_dir()
    remaining = {p.name for p in floe.iterdir()}
    assert "parse" in remaining, "only invocation folders are pruned"
    assert path.name in remaining
    assert folders[5].name in remaining, "young folders stay"
    assert {folders[4].name, folders[3].name} <= remaining
    assert not ({folders[0].name, folders[1].name, folders[2].name} & remaining)


def test_non_isolated_invocations_prune_nothing(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    stale = tmp_path / "target" / "floe" / str(uuid.uuid4())
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))
    path = prepare_target_path(load_project(tmp_path), RunRequest(project_dir=tmp_path, isolate=False))
    assert path == tmp_path.resolve() / "target"
    assert stale.exists()


def test_temporaries_of_killed_writers_are_swept_once_old(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    target = tmp_path / "target"
    target.mkdir()
    old = time.time() - 2 * project_module.KEEP_SECONDS
    abandoned = target / ".manifest.json.k2j3h4.tmp"
    writing = target / ".run_results.json.x9y8z7.tmp"
    users = [target / ".keep.tmp", target / "notes.tmp", target / "manifest.json"]
    for path in (abandoned, writing, *users):
        path.write_text("{")
    for path in (abandoned, *users):
        os.utime(path, (old, old))
    prepare_target_path(load_project(tmp_path), RunRequest(project_dir=tmp_path, isolate=False))
    assert not abandoned.exists()
    assert writing.exists(), "a temporary younger than KEEP_SECONDS may belong to a live write"
    assert all(path.exists() for path in users), "only the atomic writer's names are swept"
