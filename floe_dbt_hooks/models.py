"""Requests, results and events exchanged through the hooks: frozen attrs classes.

Every hook takes one frozen request and returns one frozen result, so a plugin can neither change
what the next plugin sees nor what the caller gets back except by returning a new object (wrappers
use ``attrs.evolve``). One cattrs converter (:func:`converter`) turns every model into JSON-ready data
and back; it is built on first use so that plugin discovery never pays for importing cattrs.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

import attrs

if TYPE_CHECKING:
    import cattrs

RunCommand = Literal["run", "test", "build", "seed", "snapshot", "docs"]
"""Commands served by ``dbt_run``; ``docs`` means ``dbt docs generate`` (it writes catalog.json)."""

RUN_COMMANDS: tuple[RunCommand, ...] = get_args(RunCommand)
NODE_COMMANDS: tuple[RunCommand, ...] = tuple(c for c in RUN_COMMANDS if c != "docs")
"""The run commands that execute nodes (everything but ``docs``)."""
FULL_REFRESH_COMMANDS: tuple[RunCommand, ...] = ("run", "build", "seed")
"""The run commands dbt accepts ``--full-refresh`` for."""

NodeStatus = Literal["success", "error", "fail", "warn", "skipped"]
"""dbt's node statuses folded into one vocabulary: a passing test is ``success``."""

Severity = Literal["error", "warning", "info"]
ArtifactKind = Literal["manifest", "run_results", "catalog"]
ARTIFACT_FILES: Mapping[str, str] = {
    "manifest": "manifest.json",
    "run_results": "run_results.json",
    "catalog": "catalog.json",
}


def _new_invocation_id() -> str:
    return str(uuid.uuid4())


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Accept one selector string or many; dbt treats space-separated words as a union."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(value)


def _optional_path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class ParentRun:
    """An orchestrator's run (an Airflow task...) that an invocation runs under, for lineage.

    ``namespace``/``job_name``/``run_id`` name the parent run as OpenLineage does; ``root_*`` name
    the run at the top of the hierarchy (a DAG run), None when the parent is itself the root.
    """

    namespace: str
    job_name: str
    run_id: str
    root_namespace: str | None = None
    root_job_name: str | None = None
    root_run_id: str | None = None


@attrs.frozen(kw_only=True)
class InvocationRequest:
    """What every lifecycle hook receives: a project, a target and a selection.

    ``runtime`` None means "the configured runtime"; ``fallback`` None means "as configured".
    ``isolate`` gives the invocation its own target path under ``target/floe/<invocation_id>`` so
    concurrent invocations never overwrite each other's artifacts. ``parent_run`` names the
    orchestrator's run this invocation belongs to (lineage plugins prefer it to their environment).
    """

    project_dir: Path = attrs.field(converter=Path)
    profiles_dir: Path | None = attrs.field(default=None, converter=_optional_path)
    target: str | None = None
    select: tuple[str, ...] = attrs.field(default=(), converter=_names)
    exclude: tuple[str, ...] = attrs.field(default=(), converter=_names)
    selector: str | None = None
    vars: Mapping[str, Any] = attrs.field(factory=dict)
    threads: int | None = None
    runtime: str | None = None
    fallback: bool | None = None
    isolate: bool = True
    target_path: Path | None = attrs.field(default=None, converter=_optional_path)
    timeout: float | None = None
    reuse_manifest: bool = True
    invocation_id: str = attrs.field(factory=_new_invocation_id)
    parent_run: ParentRun | None = None


@attrs.frozen(kw_only=True)
class CompileRequest(InvocationRequest):
    """Ask a runtime to parse and compile the selected nodes."""


@attrs.frozen(kw_only=True)
class RunRequest(InvocationRequest):
    """Ask a runtime to execute ``command`` on the selected nodes."""

    command: RunCommand = "run"
    full_refresh: bool = False

    def __attrs_post_init__(self) -> None:
        if self.command not in RUN_COMMANDS:
            raise ValueError(
                f"RunRequest.command must be one of {', '.join(RUN_COMMANDS)}; got {self.command!r}"
            )


@attrs.frozen(kw_only=True)
class LintRequest(InvocationRequest):
    """Ask a runtime's linter to check (and with ``fix``, rewrite) the selected models.

    ``config_path`` names an extra SQLFluff config file (it must exist); ``use_cache`` False
    re-lints every file instead of reusing results for unchanged content.
    """

    fix: bool = False
    config_path: Path | None = attrs.field(default=None, converter=_optional_path)
    use_cache: bool = True


@attrs.frozen(kw_only=True)
class ArtifactRequest:
    """Ask where an artifact of a project lives; a remote runtime may fetch it first."""

    kind: ArtifactKind
    project_dir: Path = attrs.field(converter=Path)
    target_path: Path | None = attrs.field(default=None, converter=_optional_path)
    runtime: str | None = None


@attrs.frozen(kw_only=True)
class NodeTiming:
    """One phase of a node's execution (dbt reports ``compile`` and ``execute``)."""

    name: str
    started_at: datetime | None = None
    completed_at: datetime | None = None


@attrs.frozen(kw_only=True)
class NodeResult:
    """The outcome of one node, with the same meaning whichever runtime produced it."""

    unique_id: str
    resource_type: str
    name: str
    status: NodeStatus
    execution_time: float = 0.0
    rows_affected: int | None = None
    failures: int | None = None
    message: str | None = None
    error_message: str | None = None
    file_path: str | None = None
    line: int | None = None
    relation_name: str | None = None
    timing: tuple[NodeTiming, ...] = ()


@attrs.frozen(kw_only=True)
class Declined:
    """A runtime that was asked and declined, and why (see ``FallbackEvent``)."""

    runtime: str
    reason_code: str
    error_code: str
    message: str
    hint: str | None = None
    engine_codes: tuple[str, ...] = ()
    file_path: str | None = None
    line: int | None = None


@attrs.frozen(kw_only=True)
class InvocationResult:
    """What a runtime returns for a compile or run; paths point at this invocation's artifacts."""

    success: bool
    command: str
    runtime: str
    invocation_id: str
    project_dir: Path
    target: str | None = None
    target_path: Path | None = None
    manifest_path: Path | None = None
    run_results_path: Path | None = None
    catalog_path: Path | None = None
    elapsed_time: float = 0.0
    nodes: tuple[NodeResult, ...] = ()
    declined: tuple[Declined, ...] = ()
    interrupted: bool = False
    """Stopped before the end (``dbt_cancel``, a signal): ``nodes`` are the ones that finished."""
    nodes_total: int | None = None
    """How many nodes the engine planned to run, when it said so."""
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def execution_time_seconds(self) -> float:
        return self.elapsed_time

    @property
    def models_run(self) -> int:
        return sum(
            1 for n in self.nodes if n.resource_type == "model" and n.status != "skipped"
        )

    @property
    def tests_run(self) -> int:
        tests = ("test", "unit_test")
        return sum(1 for n in self.nodes if n.resource_type in tests and n.status != "skipped")

    @property
    def failures(self) -> int:
        return sum(1 for n in self.nodes if n.status in ("error", "fail"))

    @property
    def node_counts(self) -> dict[str, int]:
        """Number of nodes per status, e.g. ``{"success": 12, "fail": 1}``."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        return counts


@attrs.frozen(kw_only=True)
class CompileResult(InvocationResult):
    """Result of ``dbt_compile``: ``manifest_path`` holds the compiled manifest."""


@attrs.frozen(kw_only=True)
class DBTRunResult(InvocationResult):
    """Result of ``dbt_run``; partial failures are node statuses here, not exceptions."""


@attrs.frozen(kw_only=True)
class LintViolation:
    """One problem a linter found, positioned in the source file."""

    file_path: str
    line: int
    column: int
    code: str
    message: str
    severity: Severity = "warning"
    fixable: bool = False
    engine_code: str | None = None


@attrs.frozen(kw_only=True)
class LintResult:
    """Result of ``dbt_lint``; ``passed`` is True when no violation was found."""

    passed: bool
    runtime: str
    invocation_id: str
    violations: tuple[LintViolation, ...] = ()
    files_checked: int = 0
    fixed_count: int = 0
    fixed_files: tuple[str, ...] = ()
    skipped_files: tuple[str, ...] = ()
    declined: tuple[Declined, ...] = ()
    elapsed_time: float = 0.0
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FallbackEvent:
    """A runtime the request asked for declines it; sent through ``dbt_fallback`` before the next
    runtime is tried. ``reason_code`` is stable (e.g. ``binary-missing``), ``error_code`` is the
    FLOE-DBT code strict mode raises."""

    runtime: str
    reason_code: str
    error_code: str
    message: str
    request: InvocationRequest
    hint: str | None = None
    engine_codes: tuple[str, ...] = ()
    file_path: str | None = None
    line: int | None = None

    def as_declined(self) -> Declined:
        return Declined(
            runtime=self.runtime,
            reason_code=self.reason_code,
            error_code=self.error_code,
            message=self.message,
            hint=self.hint,
            engine_codes=self.engine_codes,
            file_path=self.file_path,
            line=self.line,
        )


@attrs.frozen(kw_only=True)
class NodeInfo:
    """The node an event is about, as far as the runtime knows it at that moment."""

    unique_id: str
    resource_type: str
    name: str
    index: int | None = None
    total: int | None = None
    status: NodeStatus | None = None
    execution_time: float | None = None
    rows_affected: int | None = None
    message: str | None = None
    file_path: str | None = None
    relation_name: str | None = None


EventKind = Literal["node_start", "node_finish", "log"]


@attrs.frozen(kw_only=True)
class RuntimeEvent:
    """A structured event from a runtime while it works (sent through ``dbt_event``).

    ``name`` and ``code`` are dbt's event name and code (``NodeStart``/``Q024``) whichever runtime
    sent it; ``node`` is set for ``node_start`` and ``node_finish``.
    """

    invocation_id: str
    runtime: str
    kind: EventKind
    name: str
    level: str = "info"
    code: str | None = None
    message: str = ""
    timestamp: datetime | None = None
    node: NodeInfo | None = None


@attrs.frozen(kw_only=True)
class RuntimeInfo:
    """How a runtime describes itself (``dbt_runtime_info``); cheap to build, no engine import."""

    name: str
    plugin: str
    version: str | None
    available: bool
    reason: str | None = None
    supports_parallel_execution: bool = False
    supports_sql_linting: bool = False
    adapters: tuple[str, ...] = ()
    details: Mapping[str, Any] = attrs.field(factory=dict)


_Model = TypeVar("_Model")

_COMPUTED = ("execution_time_seconds", "models_run", "tests_run", "failures", "node_counts")


@functools.cache
def converter() -> cattrs.Converter:
    """The one converter for every model: datetimes as ISO strings, paths as strings.

    Results are unstructured with their computed counts too (``models_run``, ``failures``...), so
    ``--output json`` carries everything a reader needs; structuring ignores those extra keys.
    """
    import cattrs
    from cattrs.gen import make_dict_unstructure_fn
    from cattrs.strategies import configure_tagged_union, include_subclasses

    conv = cattrs.Converter()
    include_subclasses(
        InvocationRequest, conv,
        union_strategy=functools.partial(configure_tagged_union, tag_name="request_type"),
    )
    conv.register_unstructure_hook(Path, str)
    conv.register_structure_hook(Path, lambda value, _: Path(value))
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))

    def unstructure_result(cls: type[InvocationResult]) -> Any:
        base = make_dict_unstructure_fn(cls, conv)

        def unstructure(result: InvocationResult) -> dict[str, Any]:
            data: dict[str, Any] = base(result)
            for name in _COMPUTED:
                data[name] = getattr(result, name)
            return data

        return unstructure

    conv.register_unstructure_hook_factory(
        lambda cls: isinstance(cls, type) and issubclass(cls, InvocationResult),
        unstructure_result,
    )
    return conv


def to_dict(model: object) -> Any:
    """JSON-ready data for any model in this module."""
    return converter().unstructure(model)


def from_dict(data: Any, cls: type[_Model]) -> _Model:
    """The model of type ``cls`` that :func:`to_dict` produced ``data`` from."""
    return converter().structure(data, cls)
