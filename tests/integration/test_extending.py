"""The README's floe_hooks.py example, dropped into a real project: it wraps a hook and adds a
runtime that the CLI and the Python API can select."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from floe_dbt_hooks import DBTFacade
from tests.conftest import ROOT, RunCLI

pytestmark = pytest.mark.integration

EXAMPLE_HOOKS = ROOT / "examples" / "plugins" / "floe_hooks.py"


def test_readme_shows_the_tested_example() -> None:
    readme = (ROOT / "README.md").read_text()
    assert EXAMPLE_HOOKS.read_text().strip() in readme, "README must show examples/plugins/floe_hooks.py"


def test_project_hooks_add_a_runtime_and_wrap_results(example_project: Path, floe_dbt: RunCLI) -> None:
    shutil.copy(EXAMPLE_HOOKS, example_project / "floe_hooks.py")
    listed = floe_dbt("plugins", "--project-dir", str(example_project))
    assert "dbt-cli: 1, available" in listed.stdout
    result = floe_dbt("build", "--project-dir", str(example_project), "--runtime", "dbt-cli",
                      "--output", "json", env={"FLOE_RUN_BUDGET_SECONDS": "0"})
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["runtime"] == "dbt-cli"
    assert data["metadata"]["over_budget"] is True
    assert data["node_counts"] == {"success": 33}
    with duckdb.connect(str(example_project / "jaffle_shop.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from customers").fetchone() == (15,)


def test_project_hooks_wrap_every_runtime_from_python(example_project: Path) -> None:
    shutil.copy(EXAMPLE_HOOKS, example_project / "floe_hooks.py")
    result = DBTFacade().invoke("seed", example_project)
    assert result.runtime == "core"
    assert result.metadata["over_budget"] is False


def test_runtime_selected_in_floe_yml_serves_and_reports_nodes(example_project: Path,
                                                                floe_dbt: RunCLI) -> None:
    """Selected through the project's config rather than --runtime, the example runtime serves
    (no silent dbt-core run), and its dbt CLI's JSON log lines become node events."""
    shutil.copy(EXAMPLE_HOOKS, example_project / "floe_hooks.py")
    (example_project / "floe.yml").write_text("plugins:\n  dbt_runtime: dbt-cli\n")
    result = floe_dbt("seed", "--project-dir", str(example_project), "--output", "json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert (data["runtime"], data["declined"]) == ("dbt-cli", [])
    assert data["node_counts"] == {"success": 3}
    assert {n["file_path"] for n in data["nodes"]} == {
        "seeds/raw_customers.csv", "seeds/raw_orders.csv", "seeds/raw_payments.csv"}
    progress = floe_dbt("seed", "--project-dir", str(example_project))
    assert progress.code == 0, progress
    assert len(re.findall(r"\b[123]/3 OK +seed raw_", progress.stderr)) == 3, progress
