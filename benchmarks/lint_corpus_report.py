"""Print the planted-issue corpus report: SQLFluff (runtime core) and dbt Fusion, per dialect.

    FLOE_DBT_FUSION_BIN=.venv-fusion/bin/dbt .venv/bin/python benchmarks/lint_corpus_report.py

Each corpus project (tests/lint_corpus/<dialect>/) is copied to a temporary folder and linted there.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floe_dbt_hooks import DBTFacade
from tests.lint_corpus import corpus


def main() -> int:
    rows: list[tuple[str, corpus.Detection | str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for runtime in ("core", "fusion"):
            for dialect in corpus.DIALECTS:
                project = corpus.copy_project(dialect, Path(scratch) / runtime / dialect)
                result = DBTFacade(runtime=runtime).lint_project(project)
                if result.runtime != runtime:
                    why = "; ".join(f"{d.reason_code}: {d.message}" for d in result.declined)
                    rows.append((f"{runtime}/{dialect}", f"declined ({why})"))
                else:
                    rows.append((f"{runtime}/{dialect}", corpus.compare(dialect, result)))
    print(corpus.report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
