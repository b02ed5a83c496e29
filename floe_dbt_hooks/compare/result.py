"""The frozen models a comparison produces (converted to JSON by the one cattrs converter)."""

from __future__ import annotations

from typing import Literal

import attrs

Verdict = Literal["same", "differs", "only-in", "failed-in"]


@attrs.frozen(kw_only=True)
class ConfigDifference:
    """One config key whose value differs between the runtimes' manifests."""

    key: str
    values: tuple[str, ...]


@attrs.frozen(kw_only=True)
class TableComparison:
    """What each runtime's build left in the database for one model."""

    row_counts: tuple[int | None, ...]
    columns: tuple[tuple[str, ...], ...]
    checksums: tuple[str | None, ...]

    @property
    def same(self) -> bool:
        return (len(set(self.row_counts)) == 1 and len(set(self.columns)) == 1
                and len(set(self.checksums)) == 1 and None not in self.checksums)


@attrs.frozen(kw_only=True)
class NodeComparison:
    """The verdict for one node and the evidence behind it.

    ``verdict`` is ``same``, ``differs``, ``only-in`` (``present_in`` names where) or ``failed-in``
    (``failed_in`` names where it failed to build under ``execute``).
    """

    unique_id: str
    resource_type: str
    verdict: Verdict
    present_in: tuple[str, ...] = ()
    failed_in: tuple[str, ...] = ()
    sql_same: bool | None = None
    sql_diff: str | None = None
    config_differences: tuple[ConfigDifference, ...] = ()
    dependencies_same: bool | None = None
    dependency_difference: tuple[tuple[str, ...], ...] = ()
    data: TableComparison | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        """Short words for why a node differs, for summaries."""
        out = []
        if self.sql_same is False:
            out.append("compiled SQL")
        if self.config_differences:
            out.append("config: " + ", ".join(d.key for d in self.config_differences))
        if self.dependencies_same is False:
            out.append("dependencies")
        if self.data is not None and not self.data.same:
            out.append("data")
        return tuple(out)


@attrs.frozen(kw_only=True)
class RuntimeOutcome:
    """How one runtime fared: served, or declined/failed with its codes and the fix dbt publishes."""

    runtime: str
    ok: bool
    error_code: str | None = None
    message: str | None = None
    engine_codes: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    file_path: str | None = None
    line: int | None = None
    compile_seconds: float | None = None
    build_seconds: float | None = None
    version: str | None = None


@attrs.frozen(kw_only=True)
class CompareResult:
    """A comparison of ``runtimes`` on one project; ``agree`` decides the CLI's exit code."""

    project_dir: str
    runtimes: tuple[str, ...]
    executed: bool
    outcomes: tuple[RuntimeOutcome, ...]
    nodes: tuple[NodeComparison, ...] = ()
    normalisations: tuple[str, ...] = ()
    elapsed_time: float = 0.0

    @property
    def ran(self) -> bool:
        """Whether every runtime produced something to compare."""
        return all(o.ok for o in self.outcomes)

    @property
    def agree(self) -> bool:
        return self.ran and all(n.verdict == "same" for n in self.nodes)

    @property
    def rejected_by(self) -> tuple[str, ...]:
        """Runtimes that could not compile the project although another one could."""
        if not any(o.ok for o in self.outcomes):
            return ()
        return tuple(o.runtime for o in self.outcomes
                     if not o.ok and o.error_code == "FLOE-DBT-E001")

    @property
    def exit_code(self) -> int:
        """0 the runtimes agree, 1 they differ (a rejection is a difference), 2 no comparison."""
        if self.agree:
            return 0
        if self.ran or len(self.rejected_by) + sum(o.ok for o in self.outcomes) == len(
                self.outcomes):
            return 1
        return 2

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.verdict] = counts.get(node.verdict, 0) + 1
        return counts

    def summary(self) -> str:
        """One line: agreement, or how many nodes differ and why not."""
        if not self.ran:
            failed = [f"{o.runtime} ({o.error_code}: {', '.join(o.engine_codes) or o.message})"
                      for o in self.outcomes if not o.ok]
            return f"comparison incomplete: {'; '.join(failed)} could not compile the project"
        counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(self.counts.items()))
        word = "agree" if self.agree else "differ"
        return (f"{' and '.join(self.runtimes)} {word} on {len(self.nodes)} node(s) "
                f"({counts}){' including built data' if self.executed else ''}")
