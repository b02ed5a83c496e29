"""One dbt invocation inside a Dagster asset step, reported node by node as it runs.

The invocation runs in a worker thread (``pm.hook.dbt_run``, so whichever runtime serves it); the
asset function's generator reads a queue fed by the shared
:class:`~floe_dbt_hooks.orchestration.sharing.EventRouter`, a ``dbt_event`` / ``dbt_fallback``
observer registered on the plugin manager that hands each event to the stream of its invocation id.
Each ``node_finish`` becomes, right then:

* a :class:`~dagster.MaterializeResult` for a model, seed or snapshot that succeeded, with
  ``status``, ``execution_time``, ``relation_name`` (the manifest's), ``runtime``, ``unique_id``,
  ``invocation_id``, ``rows_affected`` when the node event carries it (dbt-core's do where the
  adapter reports it; Fusion's do not, so run_results.json's value follows as an
  :class:`~dagster.AssetObservation` when the invocation ends), and ``fallback_from`` /
  ``fallback_reason_code`` / ``fallback_reason`` when the requested runtime declined;
* an :class:`~dagster.AssetCheckResult` for a data test that is a selected check (``passed`` when
  the test passed; severity WARN for dbt's ``warn``, else ERROR; ``failures``, the failing rows,
  when the event says so);
* an error (or warning, for skipped nodes) in the run's log for a node that failed.

Nodes the runtime did not report through events are reported from the result when the invocation
returns. Afterwards, if any model, seed or snapshot failed (or a test that is no selected check
failed), the step fails with a :class:`~dagster.Failure` whose description gives each failed node's
file, line and dbt's message, and lists what dbt skipped. Failed checks of ``severity: error``
tests fail the step through Dagster's blocking checks.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from floe_dbt_dagster.translator import UNIQUE_ID_KEY
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.models import (
    DBTRunResult,
    FallbackEvent,
    NodeResult,
    RunCommand,
    RunRequest,
    RuntimeEvent,
)
from floe_dbt_hooks.orchestration.graph import ASSET_TYPES, TEST_TYPE, DBTGraph
from floe_dbt_hooks.orchestration.sharing import RoutedInvocation
from floe_dbt_hooks.runtime.results import node_location

if TYPE_CHECKING:
    from dagster import AssetExecutionContext

    from floe_dbt_dagster.resource import DBTResource
    from floe_dbt_hooks.api import DBTFacade
    from floe_dbt_hooks.orchestration.manifest import LoadedManifest
    from floe_dbt_hooks.orchestration.sharing import EventRouter

DagsterEvent = MaterializeResult[Any] | AssetCheckResult | AssetObservation
_GOT = re.compile(r"\bGot (\d+) results?\b")


@attrs.frozen(kw_only=True)
class AssetsContext:
    """What :func:`floe_dbt_assets` knows about its definitions, handed to the stream."""

    graph: DBTGraph
    loaded: LoadedManifest | None = None
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    selector: str | None = None


CURRENT_ASSETS: contextvars.ContextVar[AssetsContext | None] = contextvars.ContextVar(
    "floe_dbt_dagster_assets", default=None)


@attrs.frozen(kw_only=True)
class _Finished:
    """A finished node as an event or a result reports it."""

    unique_id: str
    resource_type: str
    status: str
    runtime: str
    execution_time: float | None = None
    rows_affected: int | None = None
    relation_name: str | None = None
    message: str | None = None
    failures: int | None = None
    file_path: str | None = None
    line: int | None = None

    @classmethod
    def from_event(cls, event: RuntimeEvent) -> _Finished:
        node = event.node
        assert node is not None
        return cls(unique_id=node.unique_id, resource_type=node.resource_type,
                   status=node.status or "error", runtime=event.runtime,
                   execution_time=node.execution_time, rows_affected=node.rows_affected,
                   relation_name=node.relation_name, message=node.message,
                   file_path=node.file_path)

    @classmethod
    def from_result(cls, node: NodeResult, runtime: str) -> _Finished:
        return cls(unique_id=node.unique_id, resource_type=node.resource_type, status=node.status,
                   runtime=runtime, execution_time=node.execution_time,
                   rows_affected=node.rows_affected, relation_name=node.relation_name,
                   message=node.error_message or node.message, failures=node.failures,
                   file_path=node.file_path, line=node.line)


class DBTStream:
    """Iterate it (``yield from dbt.stream(context)``); ``result`` is set once it is exhausted."""

    def __init__(self, resource: DBTResource, facade: DBTFacade, router: EventRouter,
                 context: AssetExecutionContext, command: RunCommand,
                 options: Mapping[str, Any]) -> None:
        self._resource = resource
        self._facade = facade
        self._router = router
        self._context = context
        self._command = command
        self._options = dict(options)
        self.result: DBTRunResult | None = None
        self.declined: list[FallbackEvent] = []
        self.yielded_while_running = 0
        """Dagster events handed on while the engine was still running (streaming, not batched)."""
        self._assets = CURRENT_ASSETS.get()
        self._graph: DBTGraph | None = self._assets.graph if self._assets else None

    def __iter__(self) -> Iterator[DagsterEvent]:
        return self._run()

    # -- what to run -------------------------------------------------------------------------

    def _keys(self) -> tuple[dict[str, AssetKey], dict[str, AssetCheckKey]]:
        assets_def = self._context.assets_def
        assets = {str(spec.metadata[UNIQUE_ID_KEY]): spec.key for spec in assets_def.specs
                  if UNIQUE_ID_KEY in spec.metadata}
        checks = {str(spec.metadata[UNIQUE_ID_KEY]): spec.key
                  for spec in assets_def.node_check_specs_by_output_name.values()
                  if UNIQUE_ID_KEY in (spec.metadata or {})}
        return assets, checks

    def _graph_for_subset(self) -> DBTGraph:
        if self._graph is None:
            loaded = self._resource.load_manifest()
            self._graph = DBTGraph(loaded.manifest, self._resource.resolved_project_dir)
        return self._graph

    def _selection(self, assets: Mapping[str, AssetKey], checks: Mapping[str, AssetCheckKey]
                   ) -> dict[str, Any]:
        """dbt selection flags: the definitions' own for a full run, the exact nodes otherwise.

        A subset selects each selected asset and each selected check's test by ``fqn:`` and
        excludes every test that dbt's eager indirect selection would add without it being a
        selected check (a relationships test to an unselected model, a deselected check)."""
        context = self._context
        chosen_keys = set(context.selected_asset_keys)
        chosen_checks = set(context.selected_asset_check_keys)
        full = chosen_keys == set(assets.values()) and chosen_checks == set(checks.values())
        explicit = {k: self._options.pop(k) for k in ("select", "exclude", "selector")
                    if k in self._options}
        if full:
            defaults = {"select": self._assets.select if self._assets else (),
                        "exclude": self._assets.exclude if self._assets else (),
                        "selector": self._assets.selector if self._assets else None}
            return {**defaults, **explicit}
        if explicit:
            context.log.warning(f"a subset runs exactly the selected assets: {explicit} ignored")
        graph = self._graph_for_subset()
        asset_ids = [uid for uid, key in assets.items() if key in chosen_keys]
        check_ids = [uid for uid, key in checks.items() if key in chosen_checks]
        select = [graph.fqn_selector(uid) for uid in asset_ids]
        select += [graph.fqn_selector(uid) for uid in check_ids
                   if graph.attached_asset(uid) not in asset_ids]
        wanted_tests = set(check_ids)
        touched = set(asset_ids) | {p for t in check_ids for p in graph.upstream(t)}
        exclude = sorted({graph.fqn_selector(t) for t in graph.test_ids()
                          if t not in wanted_tests and set(graph.upstream(t)) & touched})
        context.log.info(f"dbt subset: select {' '.join(select)}"
                         + (f"; exclude {' '.join(exclude)}" if exclude else ""))
        return {"select": tuple(select), "exclude": tuple(exclude), "selector": None}

    # -- running -----------------------------------------------------------------------------

    def _run(self) -> Iterator[DagsterEvent]:
        context = self._context
        assets, checks = self._keys()
        selection = self._selection(assets, checks)
        request = RunRequest(project_dir=self._resource.resolved_project_dir,
                             command=self._command, **selection, **self._options)
        pm = self._facade.plugin_manager(request.project_dir)
        context.log.info(f"dbt {self._command} ({request.invocation_id}) starting on runtime "
                         f"{pm.config.runtime_for(request.runtime)}")
        emitted: dict[str, _Finished] = {}
        problems: list[_Finished] = []
        with RoutedInvocation(pm, self._router, request,
                              thread_name="floe-dbt-dagster") as invocation:
            for kind, payload in invocation:
                if kind == "fallback":
                    self.declined.append(payload)
                    context.log.warning(
                        f"runtime {payload.runtime} declined ({payload.reason_code}): "
                        f"{payload.message}; the next runtime serves")
                    continue
                finished = _Finished.from_event(payload)
                emitted[finished.unique_id] = finished
                for event in self._events(finished, assets, checks, request.invocation_id,
                                          problems):
                    self.yielded_while_running += invocation.running
                    yield event
        try:
            result: DBTRunResult = invocation.result()
        except FloeDBTError as error:
            raise Failure(description=str(error), metadata={
                "error_code": error.code, "file": error.file_path or "",
                "line": error.line or 0, "hint": error.hint or ""}) from error
        self.result = result
        for node in result.nodes:
            streamed = emitted.get(node.unique_id)
            if streamed is None:
                yield from self._events(_Finished.from_result(node, result.runtime), assets,
                                        checks, request.invocation_id, problems)
            elif streamed.rows_affected is None and node.rows_affected is not None and \
                    assets.get(node.unique_id) in context.selected_asset_keys and \
                    node.status == "success":
                # The node event did not carry it (Fusion's do not); run_results does.
                yield AssetObservation(asset_key=assets[node.unique_id], metadata={
                    "rows_affected": MetadataValue.int(node.rows_affected),
                    "invocation_id": request.invocation_id, "source": "run_results.json"})
        self._raise_for(result, problems)

    def _fallback_metadata(self) -> dict[str, Any]:
        if not self.declined:
            return {}
        first = self.declined[0]
        return {"fallback_from": first.runtime, "fallback_reason_code": first.reason_code,
                "fallback_reason": first.message}

    def _events(self, node: _Finished, assets: Mapping[str, AssetKey],
                checks: Mapping[str, AssetCheckKey], invocation_id: str,
                problems: list[_Finished]) -> Iterator[DagsterEvent]:
        context = self._context
        source = self._graph.props(node.unique_id).get("original_file_path") if self._graph else None
        if source:
            node = attrs.evolve(node, file_path=str(source))
        common: dict[str, Any] = {
            "status": node.status, "runtime": node.runtime, "unique_id": node.unique_id,
            "invocation_id": invocation_id, **self._fallback_metadata(),
        }
        if node.execution_time is not None:
            common["execution_time"] = MetadataValue.float(round(node.execution_time, 6))
        if node.resource_type in ASSET_TYPES:
            key = assets.get(node.unique_id)
            if node.status in ("success", "warn"):
                if key is None or key not in context.selected_asset_keys:
                    return
                relation = self._relation(node.unique_id) or node.relation_name
                metadata = {**common, **({"relation_name": relation} if relation else {})}
                if node.rows_affected is not None:
                    metadata["rows_affected"] = MetadataValue.int(node.rows_affected)
                yield MaterializeResult(asset_key=key, metadata=metadata)
            elif node.status == "skipped":
                problems.append(node)
                context.log.warning(f"{_label(key, node)} skipped by dbt (an upstream node failed)")
            else:
                problems.append(node)
                context.log.error(f"{_label(key, node)} failed: {_where(node)}"
                                  f"{node.message or 'see the step failure for the message'}")
            return
        if node.resource_type != TEST_TYPE:
            return
        check = checks.get(node.unique_id)
        if check is None or check not in context.selected_asset_check_keys:
            if node.status in ("fail", "error"):
                problems.append(node)
                context.log.error(f"dbt test {node.unique_id} failed: {node.message or ''}")
            return
        if node.status == "skipped":
            context.log.warning(f"check {check.to_user_string()} skipped by dbt")
            return
        metadata = dict(common)
        failures = node.failures
        if failures is None and node.message:  # dbt-core's test message: "Got 3 results, ..."
            got = _GOT.search(node.message)
            failures = int(got.group(1)) if got else None
        if failures is not None:
            metadata["failures"] = MetadataValue.int(failures)
        if node.message and node.status != "success":
            metadata["message"] = node.message
        yield AssetCheckResult(
            asset_key=check.asset_key, check_name=check.name, passed=node.status == "success",
            severity=AssetCheckSeverity.WARN if node.status == "warn" else AssetCheckSeverity.ERROR,
            metadata=metadata,
        )

    def _relation(self, unique_id: str) -> str | None:
        if self._graph is None:
            return None
        value = self._graph.props(unique_id).get("relation_name")
        return str(value) if value else None

    def _raise_for(self, result: DBTRunResult, problems: list[_Finished]) -> None:
        failed = [p for p in problems if p.status in ("error", "fail")]
        if not failed and (result.success or result.failures == 0 or self._only_checks(result)):
            return
        by_id = {n.unique_id: n for n in result.nodes}
        lines = []
        for item in failed:
            node = by_id.get(item.unique_id)
            detail = _Finished.from_result(node, result.runtime) if node else item
            lines.append(f"- {detail.unique_id}: {_where(detail)}{detail.message or detail.status}")
        skipped = [p.unique_id for p in problems if p.status == "skipped"]
        description = (f"dbt {result.command} on runtime {result.runtime}: "
                       f"{len(failed)} node(s) failed\n" + "\n".join(lines))
        if skipped:
            description += f"\nskipped downstream: {', '.join(skipped)}"
        raise Failure(description=description, metadata={
            "failed": [p.unique_id for p in failed], "skipped": skipped,
            "runtime": result.runtime, "invocation_id": result.invocation_id,
            "run_results": str(result.run_results_path or ""), **self._fallback_metadata(),
        })

    def _only_checks(self, result: DBTRunResult) -> bool:
        """Every failed node is a test reported as a check (Dagster judges those)."""
        _, checks = self._keys()
        return all(n.resource_type == TEST_TYPE and n.unique_id in checks
                   for n in result.nodes if n.status in ("error", "fail"))


def _label(key: AssetKey | None, node: _Finished) -> str:
    return f"asset {key.to_user_string()}" if key is not None else f"dbt node {node.unique_id}"


def _where(node: _Finished) -> str:
    return node_location(node.file_path, node.line, node.message)
