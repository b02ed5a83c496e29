"""The shared Fusion parse state's file mechanics: seed copies the newest generation whole or not
at all, publish adds a generation only for state written during the run, and superseded
generations go once they are old."""

from __future__ import annotations

import os
import time
from pathlib import Path

from floe_dbt_fusion import parse_cache


def _state(folder: Path, text: str) -> Path:
    state = folder / parse_cache.STATE_DIR
    (state / "nodes").mkdir(parents=True)
    (state / "filestamps.parquet").write_text(text)
    (state / "nodes" / "v1_0.parquet").write_text(text * 2)
    return state


def test_publish_then_seed_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    assert not parse_cache.seed(root, tmp_path / "first"), "nothing published yet"
    started = time.time() - 1
    _state(tmp_path / "first", "one")
    assert parse_cache.publish(root, tmp_path / "first", started)
    assert parse_cache.seed(root, tmp_path / "second")
    seeded = tmp_path / "second" / parse_cache.STATE_DIR
    assert (seeded / "filestamps.parquet").read_text() == "one"
    assert (seeded / "nodes" / "v1_0.parquet").read_text() == "oneone"
    assert not parse_cache.publish(root, tmp_path / "second", time.time() + 5), \
        "state older than the run is not republished"
    assert len(list(root.glob("gen-*"))) == 1


def test_a_generation_that_vanishes_mid_seed_leaves_no_partial_copy(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _state(tmp_path / "first", "one")
    assert parse_cache.publish(root, tmp_path / "first", time.time() - 1)
    (root / parse_cache.POINTER).write_text("gen-gone")
    assert not parse_cache.seed(root, tmp_path / "second")
    assert not (tmp_path / "second" / parse_cache.STATE_DIR).exists()
    (root / parse_cache.POINTER).write_text("../escape")
    assert not parse_cache.seed(root, tmp_path / "third")


def test_superseded_generations_and_stale_staging_go_once_old(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _state(tmp_path / "a", "a")
    assert parse_cache.publish(root, tmp_path / "a", time.time() - 1)
    (old,) = root.glob("gen-*")
    staging = root / ".gen-killed.tmp"
    staging.mkdir()
    for path in (old, staging):
        past = time.time() - 2 * parse_cache.KEEP_SECONDS
        os.utime(path, (past, past))
    recent_a = old.name
    _state(tmp_path / "b", "b")
    assert parse_cache.publish(root, tmp_path / "b", time.time() - 1)
    left = {p.name for p in root.iterdir()}
    assert recent_a not in left
    assert ".gen-killed.tmp" not in left
    current = (root / parse_cache.POINTER).read_text()
    assert current in left
    assert (root / current / "filestamps.parquet").read_text() == "b"
