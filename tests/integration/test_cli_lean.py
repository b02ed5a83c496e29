"""What ``floe-dbt compile`` on Fusion leaves out, checked on the real console script in fresh
interpreters with the real Fusion binary: the CLI's start-up is most of its overhead over raw
Fusion, so modules that this command does not use must stay unimported (``-X importtime`` lists
every module the process imported)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from floe_dbt_hooks.testing import write_project

pytestmark = pytest.mark.integration

FUSION_BIN = os.environ.get("FLOE_DBT_FUSION_BIN", "")
LEFT_OUT = (
    "yaml", "logging", "structlog", "cattrs", "dbt", "sqlfluff", "dagster", "opentelemetry",
    "msgspec", "importlib.metadata", "email", "tempfile", "traceback",
    "floe_dbt_hooks.api", "floe_dbt_hooks.cli.log_format", "floe_dbt_hooks.runtime.locks",
    "floe_dbt_core.runtime", "floe_dbt_cloud.settings",
)
"""PyYAML (the project's YAML comes from the parse cache once warm), logging (nothing is logged
at the default level), the other engines and integrations, the entry-point scan, the facade, and
what only another command or an error needs."""
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", re.MULTILINE)
_FILES = {
    "dbt_project.yml": "name: lean\nprofile: lean\nversion: '1.0'\n",
    "profiles.yml": "lean:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                    "      path: lean.duckdb\n      threads: 1\n",
    "models/a.sql": "select 1 as id\n",
    "models/b.sql": "select id from {{ ref('a') }}\n",
}


def _compile(project: Path, cache: Path, *extra: str
             ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    script = Path(sys.executable).parent / "floe-dbt"
    env = {**os.environ, "DO_NOT_TRACK": "1", "XDG_CACHE_HOME": str(cache),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), "compile", "--project-dir", str(project),
         "--runtime", "fusion", "--no-fallback", *extra],
        capture_output=True, text=True, timeout=300, env=env, cwd=project, check=False,
    )
    return done, set(_IMPORTED.findall(done.stderr))


def _unwanted(imported: set[str]) -> list[str]:
    return sorted(m for m in imported
                  if any(m == name or m.startswith(name + ".") for name in LEFT_OUT))


@pytest.mark.skipif(not Path(FUSION_BIN).is_file(), reason="needs the real Fusion binary "
                    "(FLOE_DBT_FUSION_BIN; scripts/bootstrap.py test installs it)")
def test_fusion_compile_imports_only_what_it_uses(tmp_path: Path) -> None:
    project = write_project(tmp_path / "lean", _FILES)
    cache = tmp_path / "cache"
    first, cold = _compile(project, cache)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "compile on runtime 'fusion'" in first.stdout
    assert "yaml" in cold, "the first run parses the YAML files (and fills the cache)"
    assert len(list((cache / "floe-dbt" / "yaml").glob("*.marshal"))) == 2

    second, warm = _compile(project, cache)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "compile on runtime 'fusion'" in second.stdout
    assert {"pluggy", "floe_dbt_fusion.invocation", "floe_dbt_fusion.diagnostics"} <= warm
    assert _unwanted(warm) == []

    as_json, _ = _compile(project, cache, "--output", "json")
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    nodes = {n["unique_id"]: n["file_path"] for n in json.loads(as_json.stdout)["nodes"]}
    assert nodes == {"model.lean.a": "models/a.sql", "model.lean.b": "models/b.sql"}

    (project / "profiles.yml").write_text(
        _FILES["profiles.yml"].replace("target: dev", "target: missing"), encoding="utf-8")
    changed, reparsed = _compile(project, cache)
    assert changed.returncode == 2, "the edited profile is read, not the cached one"
    assert "target 'missing' not found" in changed.stderr
    assert "yaml" in reparsed
    assert "logging" in reparsed, "the error is logged"
