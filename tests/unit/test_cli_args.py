"""floe-dbt argument handling and error reporting; every case fails before dbt would run."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.cli.main import EXIT_ERROR, EXIT_OK, main

FLOE_ENV = (
    "FLOE_DBT_RUNTIME",
    "FLOE_DBT_FALLBACK",
    "FLOE_DBT_DISABLE",
    "FLOE_DBT_STRICT_PLUGINS",
    "FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD",
    "DBT_PROFILES_DIR",
    "DBT_TARGET",
)


@pytest.fixture(autouse=True)
def _isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No floe/dbt environment, an empty cwd, the CLI's log handler removed afterwards, and a
    check that no test got as far as importing dbt's runner."""
    for name in FLOE_ENV:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    logger = logging.getLogger("floe_dbt_hooks")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    dbt_was_loaded = "dbt.cli.main" in sys.modules
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
    if not dbt_was_loaded:
        assert "dbt.cli.main" not in sys.modules, "a unit test imported dbt's runner"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "dbt_project.yml").write_text("name: shop\nprofile: shop\n", encoding="utf-8")
    (root / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: shop.duckdb\n",
        encoding="utf-8",
    )
    return root


def test_missing_project_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent"
    code = main(["build", "--project-dir", str(missing)])
    out, err = capsys.readouterr()
    assert code == EXIT_ERROR == 2
    assert "error: FLOE-DBT-E003" in err
    assert f"project directory does not exist: {missing}" in err
    assert "hint: pass --project-dir" in err
    assert "Traceback" not in err
    assert out == ""


def test_missing_project_dir_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent"
    code = main(["run", "--project-dir", str(missing), "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    document = json.loads(out)  # stdout is exactly one JSON document
    assert set(document) == {"error"}
    error = document["error"]
    assert error["code"] == "FLOE-DBT-E003"
    assert error["type"] == "DBTConfigurationError"
    assert error["file_path"] == str(missing)
    assert "does not exist" in error["message"]
    assert error["hint"]
    assert "error: FLOE-DBT-E003" in err  # the human message still goes to stderr


@pytest.mark.parametrize("option", ["bogus", "no:", "yes:floe_dbt_core"])
def test_bad_plugin_option(project: Path, capsys: pytest.CaptureFixture[str], option: str) -> None:
    code = main(["build", "--project-dir", str(project), "-p", option])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"unknown -p option {option!r}" in err
    assert "use -p no:NAME" in err
    assert out == ""


def test_bad_plugin_option_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "--project-dir", str(project), "-p", "bogus", "--output", "json"])
    out, _ = capsys.readouterr()
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "FLOE-DBT-E003"
    assert "bogus" in error["message"]


@pytest.mark.parametrize(
    ("vars_text", "message"),
    [
        ("[1,2]", "--vars must be a YAML mapping"),
        ("just a string", "--vars must be a YAML mapping"),
        ("{a: [1, }", "--vars is not valid YAML"),
    ],
)
def test_bad_vars(
    project: Path, capsys: pytest.CaptureFixture[str], vars_text: str, message: str
) -> None:
    code = main(["build", "--project-dir", str(project), "--runtime", "nope", "--vars", vars_text])
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err
    assert "--vars '{key: value}'" in err


def test_unknown_runtime(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--project-dir", str(project), "--runtime", "nope"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "unknown runtime 'nope'" in err
    assert "installed runtimes: cloud, core" in err
    assert out == ""


def test_unknown_runtime_from_environment_json(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_DBT_RUNTIME", "nope")
    code = main(["compile", "--project-dir", str(project), "--output", "json"])
    out, _ = capsys.readouterr()
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "FLOE-DBT-E003"
    assert error["message"] == "unknown runtime 'nope'"
    assert "core" in error["hint"]


def test_broken_floe_yml(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "floe.yml").write_text("plugins:\n  dbt_fallback: maybe\n", encoding="utf-8")
    code = main(["build", "--project-dir", str(project)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "'plugins.dbt_fallback' must be true or false" in err
    assert str(project / "floe.yml") in err


def test_plugins_json_lists_builtins_and_core_runtime(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plugins", "--project-dir", str(project), "--output", "json"])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK == 0
    document = json.loads(out)
    plugins = {p["name"]: p for p in document["plugins"]}
    assert plugins["floe_dbt_core"]["kind"] == "builtin"
    assert plugins["floe_dbt_core"]["module"] == "floe_dbt_core.plugin"
    assert plugins["floe_dbt_strict"]["kind"] == "builtin"
    assert plugins["floe_dbt_runtime_selection"]["kind"] == "framework"
    runtimes = {r["name"]: r for r in document["runtimes"]}
    assert runtimes["core"]["available"] is True
    assert runtimes["core"]["plugin"] == "floe_dbt_core"
    assert runtimes["core"]["version"]
    assert document["load_errors"] == []
    assert document["config"] == {
        "runtime": "core", "fallback": True, "disable": [], "source": None,
    }


def test_plugins_json_honours_disable_and_flags(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "plugins", "--project-dir", str(project), "--output", "json", "-p", "no:floe_dbt_core",
        "--runtime", "fusion", "--no-fallback",
    ])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "floe_dbt_core" not in {p["name"] for p in document["plugins"]}
    assert "core" not in {r["name"] for r in document["runtimes"]}
    assert document["config"]["runtime"] == "fusion"
    assert document["config"]["fallback"] is False
    assert document["config"]["disable"] == ["floe_dbt_core"]


def test_plugins_text(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plugins", "--project-dir", str(project)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "plugins:" in out
    assert "floe_dbt_core" in out
    assert "runtimes:" in out
    assert "core (selected):" in out
    assert "available" in out


def test_plugins_without_project_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plugins", "--project-dir", str(tmp_path / "missing"), "--output", "json"])
    assert code == 0
    assert "floe_dbt_core" in {p["name"] for p in json.loads(capsys.readouterr().out)["plugins"]}


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([])
    _, err = capsys.readouterr()
    assert code == 2
    assert "usage:" in err


def test_unknown_output_format_is_rejected_by_argparse(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["build", "--project-dir", str(project), "--output", "xml"])
    assert info.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err
