"""The lint's pure parts: adapter dialects, cache keys, the cache file, GitHub annotations."""

from __future__ import annotations

from pathlib import Path

import pytest
from floe_dbt_core.lint import cache as lint_cache
from floe_dbt_core.lint.dialects import ADAPTER_DIALECTS, dialect_for_adapter

from floe_dbt_hooks.cli.progress import lint_report
from floe_dbt_hooks.errors import DBTLintError
from floe_dbt_hooks.models import LintResult, LintViolation


def test_every_mapped_dialect_exists_in_sqlfluff() -> None:
    from sqlfluff.core import dialect_readout

    known = {d.label for d in dialect_readout()}
    assert set(ADAPTER_DIALECTS.values()) <= known
    assert dialect_for_adapter("Databricks") == "databricks"
    assert dialect_for_adapter("spark") == "sparksql"


def test_adapter_without_dialect_names_the_profile() -> None:
    with pytest.raises(DBTLintError, match="'salesforce' adapter has no SQLFluff dialect") as info:
        dialect_for_adapter("salesforce", Path("/p/profiles.yml"))
    assert info.value.file_path == "/p/profiles.yml"
    assert info.value.hint is not None
    assert "duckdb" in info.value.hint


def test_sqlfluff_version_and_plugins_change_the_engine_key(monkeypatch: pytest.MonkeyPatch) -> None:
    jinja, dbt = lint_cache.engine_digest("jinja"), lint_cache.engine_digest("dbt")
    assert jinja != dbt
    real = lint_cache.metadata.version
    monkeypatch.setattr(lint_cache.metadata, "version",
                        lambda name: "9.9.9" if name == "sqlfluff" else real(name))
    assert lint_cache.engine_digest("jinja") != jinja


def test_every_key_part_changes_the_file_key() -> None:
    base = {"engine": "e", "config": "c", "context": "m", "relative": "models/a.sql",
            "content": "h"}
    keys = {lint_cache.file_key(**base)}
    for part in base:
        keys.add(lint_cache.file_key(**{**base, part: base[part] + "x"}))
    assert len(keys) == 1 + len(base)


def test_cache_round_trip_and_merge(tmp_path: Path) -> None:
    violation = LintViolation(file_path="models/a.sql", line=1, column=2, code="CV05",
                              message="m", fixable=True, engine_code="convention.is_null")
    first, second = lint_cache.LintCache(tmp_path), lint_cache.LintCache(tmp_path)
    first.put("models/a.sql", "k1", [violation])
    first.save()
    second.put("models/b.sql", "k2", [])
    second.save()
    reread = lint_cache.LintCache(tmp_path)
    assert reread.get("models/a.sql", "k1") == (violation,)
    assert reread.get("models/b.sql", "k2") == ()
    assert reread.get("models/a.sql", "other") is None
    (tmp_path / lint_cache.CACHE_FILE).write_text("{not json")
    assert lint_cache.LintCache(tmp_path).get("models/a.sql", "k1") is None


def test_tree_digest_sees_content_changes(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("{% macro a() %}1{% endmacro %}")
    before = lint_cache.tree_digest([tmp_path])
    (tmp_path / "m.sql").write_text("{% macro a() %}2{% endmacro %}")
    assert lint_cache.tree_digest([tmp_path]) != before


def test_lint_report_text_github_and_clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    violation = LintViolation(file_path="models/a.sql", line=3, column=7, code="CV05",
                              message="Use IS NULL, not = null: 100%", fixable=True)
    result = LintResult(passed=False, runtime="core", invocation_id="x", violations=(violation,),
                        files_checked=2, skipped_files=("models/b.sql",),
                        metadata={"skipped": {"models/b.sql": "binary file"}})
    text = lint_report(result)
    assert "models/a.sql:3:7: CV05 [warning] Use IS NULL, not = null: 100% (fixable)" in text
    assert "skipped models/b.sql: binary file" in text
    assert "Found 1 issue(s) (1 fixable) in 1 of 2 file(s)" in text
    monkeypatch.chdir(tmp_path)
    github = lint_report(result, github_root=tmp_path / "proj")
    assert ("::warning file=proj/models/a.sql,line=3,col=7,title=CV05::"
            "Use IS NULL, not = null: 100%25") in github
    clean = LintResult(passed=True, runtime="core", invocation_id="x", files_checked=4)
    assert lint_report(clean).startswith("No issues found in 4 file(s)")
