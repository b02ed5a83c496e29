"""The planted-issue corpus on the real SQLFluff (every planted problem found, nothing else) and on
the real Fusion binary (its detection rate, and where it differs, reported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dbt_hooks import DBTFacade
from tests.lint_corpus import corpus

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("dialect", corpus.DIALECTS)
def test_sqlfluff_finds_every_planted_issue(tmp_path: Path, dialect: str) -> None:
    project = corpus.copy_project(dialect, tmp_path / dialect)
    result = DBTFacade(runtime="core").lint_project(project)
    assert result.runtime == "core"
    assert result.metadata["dialect"] == dialect
    detection = corpus.compare(dialect, result)
    assert detection.missed == (), corpus.report([(f"core/{dialect}", detection)])
    assert detection.rate == 1.0
    assert detection.unexpected == (), "the corpus lists every finding; update expected.yml"
    clean = {p.name for p in (project / "models").glob("*.sql")} - {
        Path(v.file_path).name for v in result.violations}
    assert any(name.endswith("_ok.sql") or name == "clean.sql" for name in clean), \
        "dialect-specific syntax in its own dialect is not flagged"


def test_fusion_detection_rate_is_reported_with_its_differences(tmp_path: Path) -> None:
    rows: list[tuple[str, corpus.Detection | str]] = []
    for dialect in corpus.DIALECTS:
        project = corpus.copy_project(dialect, tmp_path / dialect)
        result = DBTFacade(runtime="fusion").lint_project(project)
        if result.runtime != "fusion":
            reason = "; ".join(f"{d.reason_code}: {d.message}" for d in result.declined)
            rows.append((f"fusion/{dialect}", f"Fusion declined ({reason})"))
            continue
        rows.append((f"fusion/{dialect}", corpus.compare(dialect, result)))
    text = corpus.report(rows)
    (tmp_path / "fusion-detection.md").write_text(text)
    print(text)
    ran = {label: row for label, row in rows if not isinstance(row, str)}
    assert set(ran) == {"fusion/duckdb", "fusion/snowflake", "fusion/bigquery"}
    assert "fusion/postgres | - | - | not run: Fusion declined (adapter-unsupported" in text
    duckdb = ran["fusion/duckdb"]
    assert {f[2] for f in duckdb.detected} >= {"AM05", "CV05", "CP01", "RF02", "TMP"}
    assert ("models/trailing_whitespace.sql", 2, "LT01") in duckdb.missed
    assert "missed LT01 at models/trailing_whitespace.sql:2" in text
    total = sum(r.planted for r in ran.values())
    detected = sum(len(r.detected) for r in ran.values())
    assert 0 < detected < total, "Fusion detects some but not all planted problems"
