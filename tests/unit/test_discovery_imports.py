"""What plugin discovery leaves out, checked in fresh interpreters: discovery is on the path of
every CLI call and every facade, so the heavy half of the framework loads only when a hook needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from floe_dbt_hooks.plugin import entrypoints

LEFT_OUT = (
    "dbt", "sqlfluff", "dagster", "opentelemetry", "structlog", "cattrs", "yaml", "msgspec",
    "floe_dbt_hooks.models", "floe_dbt_hooks.api", "logging", "json", "hashlib", "datetime",
)
"""Engines and integrations, tracing and logging libraries, the attrs-heavy models and the
facade, and the standard-library modules discovery used to import just for its cache."""

CODE = """\
import sys
before = set(sys.modules)
from floe_dbt_hooks import create_plugin_manager
pm = create_plugin_manager(None)
loaded = set(sys.modules) - before
import json
left_out = json.loads(sys.argv[1])
print(json.dumps({
    "plugins": sorted(pm.origins),
    "loaded": sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in left_out)),
}))
"""


def _discover(tmp_path: Path) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD", None)
    done = subprocess.run([sys.executable, "-c", CODE, json.dumps(LEFT_OUT)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_discovery_with_entry_points_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """The first run scans the installed distributions (importlib.metadata brings json and more)
    and writes the entry-point cache; the second reads it, as every later discovery does."""
    first = _discover(tmp_path)
    assert {"floe_dbt_core", "floe_dbt_fusion", "floe_dbt_cloud", "floe_dbt_log"} <= set(
        first["plugins"])
    second = _discover(tmp_path)
    assert second["plugins"] == first["plugins"]
    assert second["loaded"] == []


def test_unreadable_entry_point_cache_means_a_rescan(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = entrypoints._cache_file("floe.dbt")
    scanned = entrypoints._scan("floe.dbt")
    for garbage in (b"", b"\x00\xffnot marshal", b"\xe9\x03\x00\x00\x00", b"N"):
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(garbage)
        assert entrypoints._environment("floe.dbt") == scanned
        # the rescan rewrote the cache, and the rewritten cache is served as it was scanned
        assert entrypoints._environment("floe.dbt") == scanned
        assert cache.read_bytes() != garbage
