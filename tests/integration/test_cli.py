"""The ``floe-dbt`` command line, run as a subprocess against the real dbt-core and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from floe_dbt_hooks.testing import write_project
from tests.conftest import RunCLI

pytestmark = pytest.mark.integration


def _table_count(database: Path, table: str) -> int:
    with duckdb.connect(str(database), read_only=True) as db:
        row = db.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_build_example_prints_progress_and_summary(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("build", "--project-dir", str(example_project))
    assert result.code == 0, result
    assert "START seed raw_customers" in result.stderr
    assert "OK    model customers" in result.stderr
    assert "\x1b[" not in result.stderr, "no terminal control characters when not a TTY"
    assert "total     33" in result.stdout
    assert "Completed successfully: build on runtime 'core'" in result.stdout
    assert _table_count(example_project / "jaffle_shop.duckdb", "customers") == 15
    assert (example_project / "target" / "run_results.json").is_file(), "CLI writes to target/"


def test_output_json_is_the_whole_result(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("seed", "--project-dir", str(example_project), "--output", "json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["runtime"] == "core"
    assert data["command"] == "seed"
    assert data["declined"] == []
    assert data["success"] is True
    assert {n["name"] for n in data["nodes"]} == {"raw_customers", "raw_orders", "raw_payments"}
    assert data["node_counts"] == {"success": 3}
    assert Path(data["run_results_path"]).is_file()
    assert Path(data["manifest_path"]).is_file()
    assert data["metadata"]["adapter_type"] == "duckdb"


def test_failing_model_exits_1_with_its_file(example_project: Path, floe_dbt: RunCLI) -> None:
    (example_project / "models" / "marts" / "orders.sql").write_text(
        "select order_id, nonexistent_column from {{ ref('stg_orders') }}\n"
    )
    result = floe_dbt("build", "--project-dir", str(example_project))
    assert result.code == 1, result
    assert "ERROR model.jaffle_shop.orders (models/marts/orders.sql)" in result.stdout
    assert "nonexistent_column" in result.stdout
    assert "SKIP" in result.stdout


def test_selector_matching_nothing_is_not_an_error(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("run", "--project-dir", str(example_project), "-s", "no_such_model",
                      "--output", "json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["nodes"] == []
    assert "does not match any enabled nodes" in result.stderr


def test_jinja_error_is_e001_with_file_and_line(example_project: Path, floe_dbt: RunCLI) -> None:
    (example_project / "models" / "staging" / "stg_orders.sql").write_text(
        "select 1 as id\n{% if %}\nselect 2\n"
    )
    result = floe_dbt("compile", "--project-dir", str(example_project), "--output", "json")
    assert result.code == 2, result
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "FLOE-DBT-E001"
    assert error["file_path"].endswith("stg_orders.sql")
    assert error["line"] == 2


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param(lambda p: p / "missing", "project directory does not exist", id="missing-dir"),
        pytest.param(lambda p: write_project(p / "empty", {"README": "x"}), "no dbt_project.yml",
                     id="no-dbt-project"),
        pytest.param(
            lambda p: write_project(p / "bad", {"dbt_project.yml": "name: x\nprofile: [\n"}),
            "dbt_project.yml is not valid YAML", id="malformed-dbt-project",
        ),
    ],
)
def test_bad_project_exits_2(tmp_path: Path, floe_dbt: RunCLI, setup, expected: str) -> None:  # type: ignore[no-untyped-def]
    project = setup(tmp_path)
    result = floe_dbt("build", "--project-dir", str(project))
    assert result.code == 2, result
    assert "FLOE-DBT-E003" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_profiles_names_file_and_line(example_project: Path, floe_dbt: RunCLI) -> None:
    (example_project / "profiles.yml").write_text("jaffle_shop:\n  target: dev\n  outputs: [\n")
    result = floe_dbt("run", "--project-dir", str(example_project), "--output", "json")
    assert result.code == 2, result
    error = json.loads(result.stdout)["error"]
    assert error["file_path"].endswith("profiles.yml")
    assert error["line"] == 4


def test_missing_profiles_says_where_it_looked(example_project: Path, tmp_path: Path,
                                               floe_dbt: RunCLI) -> None:
    empty = tmp_path / "no_profiles_here"
    empty.mkdir()
    result = floe_dbt("run", "--project-dir", str(example_project), "--profiles-dir", str(empty))
    assert result.code == 2, result
    assert f"no profiles.yml found in {empty}" in result.stderr


def test_unknown_target_lists_targets(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("run", "--project-dir", str(example_project), "--target", "prod")
    assert result.code == 2, result
    assert "target 'prod' not found" in result.stderr
    assert "available targets: ci, dev" in result.stderr


def test_unknown_runtime_lists_runtimes(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("run", "--project-dir", str(example_project), "--runtime", "warp")
    assert result.code == 2, result
    assert "unknown runtime 'warp'" in result.stderr
    assert "installed runtimes: cloud, core, fusion" in result.stderr


def test_target_flag_selects_the_ci_database(example_project: Path, floe_dbt: RunCLI) -> None:
    result = floe_dbt("seed", "--project-dir", str(example_project), "--target", "ci")
    assert result.code == 0, result
    assert _table_count(example_project / "ci.duckdb", "raw_orders") == 24
    assert not (example_project / "jaffle_shop.duckdb").exists()


def test_artifacts_command_prints_and_writes(example_project: Path, tmp_path: Path,
                                             floe_dbt: RunCLI) -> None:
    assert floe_dbt("compile", "--project-dir", str(example_project)).code == 0
    printed = floe_dbt("artifacts", "manifest", "--project-dir", str(example_project))
    assert printed.code == 0, printed
    assert "model.jaffle_shop.customers" in json.loads(printed.stdout)["nodes"]
    out = tmp_path / "out" / "run_results.json"
    written = floe_dbt("artifacts", "run-results", "--project-dir", str(example_project),
                       "--write", str(out))
    assert written.code == 0, written
    assert json.loads(out.read_text())["metadata"]["dbt_schema_version"].endswith("v6.json")


def test_corrupt_manifest_is_a_clear_error(example_project: Path, floe_dbt: RunCLI) -> None:
    target = example_project / "target"
    target.mkdir()
    (target / "manifest.json").write_text('{"metadata": {"dbt_version": "1.11')
    result = floe_dbt("artifacts", "manifest", "--project-dir", str(example_project))
    assert result.code == 2, result
    assert "manifest.json is corrupt or truncated" in result.stderr
    assert str(target / "manifest.json") in result.stderr
    assert "Traceback" not in result.stderr


def test_docs_generate_then_catalog(example_project: Path, floe_dbt: RunCLI) -> None:
    assert floe_dbt("build", "--project-dir", str(example_project)).code == 0
    generated = floe_dbt("docs", "generate", "--project-dir", str(example_project))
    assert generated.code == 0, generated
    catalog = floe_dbt("artifacts", "catalog", "--project-dir", str(example_project))
    assert catalog.code == 0, catalog
    nodes = json.loads(catalog.stdout)["nodes"]
    assert "customer_lifetime_value" in {
        c.lower() for c in nodes["model.jaffle_shop.customers"]["columns"]
    }


def test_plugins_lists_origins_and_runtimes(example_project: Path, floe_dbt: RunCLI) -> None:
    (example_project / "floe_hooks.py").write_text(
        "from floe_dbt_hooks import hookimpl\n\n@hookimpl\ndef dbt_event(event):\n    pass\n"
    )
    result = floe_dbt("plugins", "--project-dir", str(example_project), "--output", "json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    origins = {p["name"]: p for p in data["plugins"]}
    assert origins["floe_dbt_core"]["kind"] == "builtin"
    assert origins["guard"]["kind"] == "entrypoint"
    assert origins["guard"]["distribution"] == "floe-dbt-guard"
    assert origins["guard"]["version"] == "0.1.0"
    assert origins["floe_hooks"]["kind"] == "project"
    assert origins["floe_hooks"]["path"] == str(example_project / "floe_hooks.py")
    core = next(r for r in data["runtimes"] if r["name"] == "core")
    assert core["available"] is True
    assert core["supports_parallel_execution"] is False
    assert "duckdb" in core["adapters"]
    text = floe_dbt("plugins", "--project-dir", str(example_project), "-p", "no:floe_hooks")
    assert "floe_hooks" not in text.stdout
    assert "entry point from floe-dbt-guard 0.1.0" in text.stdout


def test_project_hooks_import_error_names_path(example_project: Path, floe_dbt: RunCLI) -> None:
    hooks = example_project / "floe_hooks.py"
    hooks.write_text("import os\n\nraise RuntimeError('boom')\n")
    result = floe_dbt("run", "--project-dir", str(example_project))
    assert result.code == 2, result
    assert f"({hooks}:3)" in result.stderr
    assert "RuntimeError: boom" in result.stderr


def test_project_hooks_unknown_hook_is_named(example_project: Path, floe_dbt: RunCLI) -> None:
    (example_project / "floe_hooks.py").write_text(
        "from floe_dbt_hooks import hookimpl\n\n@hookimpl\ndef dbt_runn(request):\n    pass\n"
    )
    result = floe_dbt("run", "--project-dir", str(example_project))
    assert result.code == 2, result
    assert "implements unknown hook 'dbt_runn'" in result.stderr
    assert str(example_project / "floe_hooks.py") in result.stderr


def test_guard_plugin_from_entry_point_protects_targets(example_project: Path,
                                                        floe_dbt: RunCLI) -> None:
    (example_project / "floe.yml").write_text("plugins:\n  guard:\n    protected_targets: [ci]\n")
    refused = floe_dbt("build", "--project-dir", str(example_project), "--target", "ci")
    assert refused.code == 2, refused
    assert "'build' on protected target 'ci' must select nodes" in refused.stderr
    assert not (example_project / "ci.duckdb").exists(), "nothing ran"
    allowed = floe_dbt("seed", "--project-dir", str(example_project), "--target", "ci",
                       "-s", "raw_orders")
    assert allowed.code == 0, allowed
    unguarded = floe_dbt("build", "--project-dir", str(example_project), "--target", "ci",
                       "-p", "no:guard")
    assert unguarded.code == 0, unguarded


def test_env_var_secret_never_printed(example_project: Path, floe_dbt: RunCLI) -> None:
    secret = "s3cr3t-Token-4242"
    profiles = example_project / "profiles.yml"
    profiles.write_text(profiles.read_text().replace(
        "      threads: 4\n",
        "      threads: 4\n      password: \"{{ env_var('FLOE_TEST_PASSWORD') }}\"\n", 1,
    ))
    assert "FLOE_TEST_PASSWORD" in profiles.read_text()
    (example_project / "models" / "staging" / "stg_orders.sql").write_text(
        f"select '{secret}' as leaked, missing_column from {{{{ ref('raw_orders') }}}}\n"
    )
    env = {"FLOE_TEST_PASSWORD": secret}
    outputs = [
        floe_dbt("build", "--project-dir", str(example_project), env=env),
        floe_dbt("build", "--project-dir", str(example_project), "--output", "json", env=env),
        floe_dbt("run", "--project-dir", str(example_project), "--target", "nope", env=env),
    ]
    assert [o.code for o in outputs] == [1, 1, 2], outputs
    for output in outputs:
        assert secret not in output.stdout
        assert secret not in output.stderr
    assert "*****" in outputs[1].stdout, "the model's error message is masked, not dropped"
