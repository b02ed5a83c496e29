"""The dbt-core runtime's linter on the real SQLFluff: dialects, the project's config, bad input,
the lint cache, --fix, selection, the dbt templater, the CLI, and Fusion's lint beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from floe_dbt_hooks import DBTFacade, LintRequest, create_plugin_manager
from floe_dbt_hooks.errors import DBTLintError
from floe_dbt_hooks.models import LintResult
from tests.conftest import RunCLI
from tests.lint_corpus import corpus

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return corpus.copy_project("duckdb", tmp_path / "duckdb")


def _lint(project: Path, **options: object) -> LintResult:
    return DBTFacade(runtime="core").lint_project(project, **options)  # type: ignore[arg-type]


def _codes(result: LintResult, name: str) -> list[str]:
    return [v.code for v in result.violations if v.file_path == f"models/{name}"]


# -- dialect and config ---------------------------------------------------------------------------

def test_project_sqlfluff_config_wins_over_our_defaults(project: Path) -> None:
    (project / ".sqlfluff").write_text("[sqlfluff]\ndialect = snowflake\nexclude_rules = CV05\n")
    result = _lint(project)
    assert result.metadata["dialect"] == "snowflake"
    assert _codes(result, "snowflake_path_in_duckdb.sql") == [], "valid Snowflake in snowflake"
    assert _codes(result, "null_comparison.sql") == [], "exclude_rules honoured"
    assert "AM05" in _codes(result, "ambiguous_join.sql")


def test_project_rules_allowlist_and_pyproject_config(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.sqlfluff.core]\nrules = "CV05,RF02"\n')
    result = _lint(project)
    assert {v.code for v in result.violations} <= {"CV05", "RF02", "PRS", "TMP"}
    assert "CV05" in _codes(result, "null_comparison.sql")


def test_adapter_without_sqlfluff_dialect_is_a_clear_error(project: Path) -> None:
    (project / "profiles.yml").write_text(
        "corpus_duckdb:\n  target: dev\n  outputs:\n    dev:\n      type: salesforce\n")
    with pytest.raises(DBTLintError) as info:
        _lint(project)
    assert "'salesforce' adapter has no SQLFluff dialect" in info.value.message
    assert info.value.code == "FLOE-DBT-E004"
    (project / ".sqlfluff").write_text("[sqlfluff]\ndialect = ansi\n")
    assert _lint(project).metadata["dialect"] == "ansi"


@pytest.mark.parametrize(("adapter", "dialect"), [("postgres", "postgres"), ("snowflake", "snowflake"),
                                                  ("databricks", "databricks"), ("trino", "trino")])
def test_dialect_follows_the_target_adapter(project: Path, adapter: str, dialect: str) -> None:
    (project / "profiles.yml").write_text(
        f"corpus_duckdb:\n  target: dev\n  outputs:\n    dev:\n      type: {adapter}\n")
    assert _lint(project, select="clean").metadata["dialect"] == dialect


def test_unknown_rule_code_is_an_error(project: Path) -> None:
    (project / ".sqlfluff").write_text("[sqlfluff]\nrules = CV05,XX99\n")
    with pytest.raises(DBTLintError, match="unknown SQLFluff rule 'XX99' in 'rules'") as info:
        _lint(project)
    assert info.value.file_path == str(project / ".sqlfluff")


def test_malformed_sqlfluff_names_the_file(project: Path) -> None:
    (project / "models" / ".sqlfluff").write_text("[sqlfluff\ndialect = duckdb\n")
    with pytest.raises(DBTLintError, match="is malformed") as info:
        _lint(project)
    assert info.value.file_path == str(project / "models" / ".sqlfluff")


def test_missing_config_files_are_named(project: Path) -> None:
    with pytest.raises(DBTLintError, match="SQLFluff config file not found"):
        _lint(project, config_path=project / "ci.sqlfluff")
    os.symlink(project / "nowhere.cfg", project / ".sqlfluff")
    with pytest.raises(DBTLintError, match="missing") as info:
        _lint(project)
    assert info.value.file_path == str(project / ".sqlfluff")


def test_binary_and_non_utf8_models_are_skipped_and_listed(project: Path) -> None:
    (project / "models" / "blob.sql").write_bytes(b"select 1\x00\x01\x02")
    (project / "models" / "latin1.sql").write_bytes("select 'café' as c\n".encode("latin-1"))
    result = _lint(project)
    assert result.skipped_files == ("models/blob.sql", "models/latin1.sql")
    assert "binary" in result.metadata["skipped"]["models/blob.sql"]
    assert "not UTF-8" in result.metadata["skipped"]["models/latin1.sql"]
    assert not any(v.file_path in result.skipped_files for v in result.violations)


def test_files_dbtignore_leaves_out_are_not_linted(project: Path) -> None:
    scratch = project / "models" / "scratch" / "wip.sql"
    scratch.parent.mkdir()
    scratch.write_text("SELECT   a,b FROM   t\n")
    assert any(v.file_path == "models/scratch/wip.sql" for v in _lint(project).violations)
    (project / ".dbtignore").write_text("models/scratch/\n")
    result = _lint(project)
    assert result.violations, "the other models are still linted"
    assert not any(v.file_path.startswith("models/scratch/") for v in result.violations)


def test_bad_sql_and_jinja_are_violations_with_positions(project: Path) -> None:
    result = _lint(project)
    by_file = {(v.file_path, v.code): v for v in result.violations}
    jinja = by_file[("models/jinja_error.sql", "TMP")]
    assert (jinja.line, jinja.severity) == (3, "error")
    parse = by_file[("models/unparsable.sql", "PRS")]
    assert (parse.line, parse.column) == (1, 1)
    assert "unparsable" in parse.message


# -- cache ----------------------------------------------------------------------------------------

def test_cache_relints_only_what_changed_and_never_serves_stale(project: Path) -> None:
    first = _lint(project)
    assert first.metadata["linted_files"] == 11
    again = _lint(project)
    assert (again.metadata["linted_files"], again.metadata["cached_files"]) == (0, 11)
    assert again.violations == first.violations
    (project / "models" / "clean.sql").write_text("select id from {{ ref('people') }} where x = null\n")
    changed = _lint(project)
    assert changed.metadata["linted_files"] == 1
    assert "CV05" in _codes(changed, "clean.sql")
    (project / ".sqlfluff").write_text("[sqlfluff]\nexclude_rules = CV05\n")
    rule = _lint(project)
    assert rule.metadata["linted_files"] == 11
    assert "CV05" not in _codes(rule, "clean.sql")
    (project / ".sqlfluff").write_text("[sqlfluff]\nexclude_rules = CV05\ndialect = snowflake\n")
    dialect = _lint(project)
    assert dialect.metadata["linted_files"] == 11
    assert _codes(dialect, "snowflake_path_in_duckdb.sql") == []
    (project / "macros").mkdir()
    (project / "macros" / "adult.sql").write_text("{% macro adult() %}age > 18{% endmacro %}\n")
    macro = _lint(project)
    assert macro.metadata["linted_files"] == 11, "a macro change re-lints every model"
    cache_file = Path(macro.metadata["cache_path"])
    assert cache_file.is_relative_to(project / "target" / "floe" / "lint-cache")
    assert json.loads(cache_file.read_text())["format"] == 1


# -- fix ------------------------------------------------------------------------------------------

def test_fix_rewrites_models_safely_and_a_second_lint_has_nothing_fixable(project: Path,
                                                                          tmp_path: Path) -> None:
    outside = tmp_path / "outside.sql"
    outside.write_text("SELECT id\nfrom t where a = null\n")
    os.symlink(outside, project / "models" / "linked.sql")
    (project / "analyses").mkdir()
    analysis = project / "analyses" / "a.sql"
    analysis.write_text("SELECT id\nfrom t where a = null\n")
    before = (project / "models" / "null_comparison.sql").read_text()
    result = _lint(project, fix=True)
    assert set(result.fixed_files) >= {"models/null_comparison.sql", "models/keyword_case.sql",
                                       "models/trailing_whitespace.sql", "models/ambiguous_join.sql"}
    assert result.fixed_count >= 4
    assert "models/linked.sql" in result.skipped_files
    assert outside.read_text() == "SELECT id\nfrom t where a = null\n"
    assert analysis.read_text() == "SELECT id\nfrom t where a = null\n"
    after = (project / "models" / "null_comparison.sql").read_text()
    assert after == before.replace("team_id = null", "team_id is null")
    assert "join" not in (project / "models" / "ambiguous_join.sql").read_text().replace(
        "inner join", "")
    assert not list((project / "models").glob(".*.tmp")), "no temporary files left behind"
    second = _lint(project)
    assert not [v for v in second.violations if v.fixable]
    assert {v.code for v in second.violations} >= {"PRS", "TMP", "RF02"}


# -- selection, templaters, parallel --------------------------------------------------------------

def test_selection_by_name_path_and_graph(project: Path) -> None:
    assert _lint(project, select="null_comparison").files_checked == 1
    assert _lint(project, select="path:models").files_checked == 11
    (project / "models" / "jinja_error.sql").unlink()
    (project / "models" / "unparsable.sql").unlink()
    (project / "models" / "loop_renders_bad_sql.sql").unlink()
    (project / "models" / "child.sql").write_text("select id\nfrom {{ ref('clean') }}\n")
    graph = _lint(project, select="+child")
    assert {v.file_path for v in graph.violations} <= {"models/child.sql", "models/clean.sql"}
    assert graph.files_checked == 2


def test_dbt_templater_when_the_project_asks_for_it(project: Path) -> None:
    for name in ("jinja_error.sql", "unparsable.sql", "loop_renders_bad_sql.sql"):
        (project / "models" / name).unlink()
    (project / ".sqlfluff").write_text("[sqlfluff]\ntemplater = dbt\n")
    result = _lint(project)
    assert result.metadata["templater"] == "dbt"
    assert "CV05" in _codes(result, "null_comparison.sql")
    assert "AM05" in _codes(result, "ambiguous_join.sql")
    assert _codes(result, "clean.sql") == []


def test_parallel_processes_give_the_same_answer(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import generate_project

    project = generate_project.generate(tmp_path / "p", 80, "layered", False)
    (project / "floe.yml").write_text("plugins:\n  sqlfluff:\n    processes: 2\n")
    parallel = _lint(project, use_cache=False)
    assert parallel.metadata["processes"] == 2
    (project / "floe.yml").write_text("plugins:\n  sqlfluff:\n    processes: 1\n")
    serial = _lint(project, use_cache=False)
    assert serial.metadata["processes"] == 1
    assert parallel.violations == serial.violations
    assert len(serial.violations) >= 80


# -- CLI ------------------------------------------------------------------------------------------

def test_cli_lint_outputs_and_exit_codes(project: Path, floe_dbt: RunCLI) -> None:
    text = floe_dbt("lint", "--project-dir", str(project))
    assert text.code == 1, text
    assert "models/null_comparison.sql:5:15: CV05 [warning]" in text.stdout
    github = floe_dbt("lint", "--project-dir", str(project), "--output", "github", cwd=project.parent)
    assert "::warning file=duckdb/models/null_comparison.sql,line=5,col=15,title=CV05::" in github.stdout
    assert "::error file=duckdb/models/jinja_error.sql,line=3,col=1,title=TMP::" in github.stdout
    data = json.loads(floe_dbt("lint", "--project-dir", str(project), "--output", "json").stdout)
    assert data["runtime"] == "core"
    assert data["passed"] is False
    clean = floe_dbt("lint", "--project-dir", str(project), "-s", "clean")
    assert clean.code == 0, clean
    assert "No issues found" in clean.stdout
    (project / ".sqlfluff").write_text("[sqlfluff]\nrules = NOPE1\n")
    broken = floe_dbt("lint", "--project-dir", str(project))
    assert broken.code == 2
    assert "FLOE-DBT-E004" in broken.stderr


# -- Fusion ---------------------------------------------------------------------------------------

def test_fusion_lint_reports_model_errors_as_violations_and_fix_relints(project: Path) -> None:
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    result = pm.hook.dbt_lint(request=LintRequest(project_dir=project))
    assert result.runtime == "fusion"
    jinja = next(v for v in result.violations if v.file_path == "models/jinja_error.sql")
    assert (jinja.code, jinja.engine_code, jinja.line) == ("TMP", "dbt1502", 3)
    am05 = next(v for v in result.violations if v.file_path == "models/ambiguous_join.sql")
    assert (am05.code, am05.engine_code) == ("AM05", "dbt0149")
    fixed = pm.hook.dbt_lint(request=LintRequest(project_dir=project, fix=True))
    assert "models/null_comparison.sql" in fixed.fixed_files
    assert fixed.fixed_count >= 1
    assert not any(v.code == "CV05" for v in fixed.violations), "what is left, after the fix"
    assert any(v.code == "RF02" for v in fixed.violations)


def test_fusion_fix_only_writes_model_files(project: Path) -> None:
    analysis = project / "analyses" / "adhoc.sql"
    analysis.parent.mkdir(exist_ok=True)
    analysis.write_text("select id from {{ ref('clean') }} where id = null\n")
    before = analysis.read_bytes()
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    fixed = pm.hook.dbt_lint(request=LintRequest(project_dir=project, fix=True))
    assert fixed.fixed_files, "model files were fixed"
    assert all(path.startswith("models/") for path in fixed.fixed_files)
    assert analysis.read_bytes() == before, "Fusion fixes a scratch copy; analyses are not models"
    assert not list(project.rglob(".*.tmp")), "no temporary files left behind"
    assert "is null" in (project / "models" / "null_comparison.sql").read_text().lower()
