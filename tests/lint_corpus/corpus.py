"""The planted-issue corpus: one small dbt project per dialect, each with ``expected.yml``.

``expected.yml`` lists every planted problem as (file, line, rule) and the ``incidental`` findings
a planted problem causes around it. The SQLFluff path must find exactly planted + incidental; the
Fusion path's detection rate is reported against the planted list, with where it differs.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import attrs
import yaml

from floe_dbt_hooks.models import LintResult

CORPUS = Path(__file__).resolve().parent
DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")

Finding = tuple[str, int, str]


@attrs.frozen
class Detection:
    """How one lint result compares with a corpus project's planted problems."""

    name: str
    planted: int
    detected: tuple[Finding, ...]
    other_line: tuple[tuple[Finding, int], ...]
    missed: tuple[Finding, ...]
    unexpected: tuple[Finding, ...]

    @property
    def rate(self) -> float:
        return len(self.detected) / self.planted if self.planted else 1.0


def expected(name: str) -> tuple[Counter[Finding], Counter[Finding]]:
    data = yaml.safe_load((CORPUS / name / "expected.yml").read_text())

    def counter(items: Iterable[dict[str, object]]) -> Counter[Finding]:
        return Counter((str(i["file"]), int(str(i["line"])), str(i["rule"])) for i in items)

    return counter(data["planted"]), counter(data.get("incidental") or [])


def found(result: LintResult) -> Counter[Finding]:
    return Counter((v.file_path, v.line, v.code) for v in result.violations)


def copy_project(name: str, destination: Path) -> Path:
    return Path(shutil.copytree(CORPUS / name, destination,
                                ignore=shutil.ignore_patterns("target", "logs", "*.duckdb")))


def compare(name: str, result: LintResult) -> Detection:
    planted, incidental = expected(name)
    got = found(result)
    detected = planted & got
    missed = planted - got
    leftover = got - planted
    other_line: list[tuple[Finding, int]] = []
    for file, line, rule in sorted(missed.elements()):
        near = next((f for f in leftover if f[0] == file and f[2] == rule), None)
        if near is not None:
            other_line.append(((file, line, rule), near[1]))
    return Detection(
        name=name, planted=sum(planted.values()), detected=tuple(sorted(detected.elements())),
        other_line=tuple(other_line), missed=tuple(sorted(missed.elements())),
        unexpected=tuple(sorted((leftover - incidental).elements())),
    )


def report(rows: Iterable[tuple[str, Detection | str]]) -> str:
    """A markdown table per runtime and corpus project, then every difference."""
    lines = ["| runtime / dialect | planted | found (same file, line, rule) | rate |",
             "|---|---|---|---|"]
    notes: list[str] = []
    for label, row in rows:
        if isinstance(row, str):
            lines.append(f"| {label} | - | - | not run: {row} |")
            continue
        lines.append(f"| {label} | {row.planted} | {len(row.detected)} | {row.rate:.0%} |")
        for finding in row.missed:
            moved = next((line for f, line in row.other_line if f == finding), None)
            where = f" (reported on line {moved})" if moved is not None else ""
            notes.append(f"- {label}: missed {finding[2]} at {finding[0]}:{finding[1]}{where}")
        notes += [f"- {label}: also reported {f[2]} at {f[0]}:{f[1]}" for f in row.unexpected]
    return "\n".join(lines + (["", *notes] if notes else []))
