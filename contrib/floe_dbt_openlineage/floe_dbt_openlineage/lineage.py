"""The lineage of one invocation: START before the runtime is called, the rest once it returns.

Node runs are reported from the result and the artifacts the runtime wrote (``result.nodes``,
``manifest_path``, ``run_results_path``), so dbt-core and Fusion produce the same events, and each
node's events carry the node's own start and end times. Every step is guarded: a broken manifest, an
unknown adapter or an unreachable backend costs events and a warning, never the dbt result.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from openlineage.client.event_v2 import RunState

from floe_dbt_openlineage.emitter import Emitter, warn
from floe_dbt_openlineage.events import InvocationRun, invocation_event, new_run_id, node_events

if TYPE_CHECKING:
    from floe_dbt_hooks.models import InvocationRequest, InvocationResult
    from floe_dbt_openlineage.datasets import DatasetIndex
    from floe_dbt_openlineage.settings import LineageSettings

_Result = TypeVar("_Result", bound="InvocationResult")
RUN_ID_KEY = "openlineage_run_id"
"""Result metadata key holding the invocation's OpenLineage run id."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _project_facts(request: InvocationRequest) -> dict[str, Any]:
    """Project name and version and profile name for the ``dbt_run`` facet; empty if unreadable."""
    from floe_dbt_hooks.project import load_project
    from floe_dbt_hooks.project.yamlfile import load_yaml_mapping

    try:
        project = load_project(request.project_dir)
        version = load_yaml_mapping(project.project_file).get("version")
    except Exception:
        return {}  # the runtime reports a broken project itself
    return {"project_name": project.name, "profile_name": project.profile,
            "project_version": None if version is None else str(version)}


class InvocationLineage:
    """Emits one invocation's events through its own :class:`Emitter`."""

    def __init__(self, settings: LineageSettings, request: InvocationRequest, command: str) -> None:
        facts = _project_facts(request)
        parent, root = settings.parent_of(request)
        self.run = InvocationRun(
            run_id=new_run_id(), job_namespace=settings.job_namespace,
            job_name=settings.job_name or f"dbt-run-{facts.get('project_name') or 'project'}",
            command=command, invocation_id=request.invocation_id,
            full_refresh=getattr(request, "full_refresh", None) or None,
            parent=parent, root=root, **facts,
        )
        self.profiles_dir = request.profiles_dir
        self.emitter = Emitter(settings, request.invocation_id)

    @classmethod
    def begin(cls, settings: LineageSettings, request: InvocationRequest,
              command: str) -> InvocationLineage | None:
        """Emit the invocation's START; None (and a warning) if lineage cannot be set up."""
        lineage = None
        try:
            lineage = cls(settings, request, command)
            lineage.emitter.emit(invocation_event(RunState.START, lineage.run, _now()))
        except Exception as exc:
            warn("openlineage_setup_failed", invocation_id=request.invocation_id,
                 error=f"{type(exc).__name__}: {exc}")
            if lineage is not None:
                lineage.emitter.close()
            return None
        return lineage

    def raised(self, exc: BaseException) -> None:
        """The wrapped call raised: FAIL (ABORT for an interrupt) for the invocation."""
        state = RunState.FAIL if isinstance(exc, Exception) else RunState.ABORT
        try:
            self.emitter.emit(invocation_event(state, self.run, _now(), error=str(exc) or repr(exc)))
        except Exception as error:
            warn("openlineage_event_failed", invocation_id=self.run.invocation_id, error=str(error))
        finally:
            self.emitter.close()

    def finished(self, result: _Result) -> _Result:
        """Emit every executed node's runs, then the invocation's COMPLETE or FAIL."""
        engine = result.metadata.get("dbt_version") or result.metadata.get("fusion_version")
        try:
            self._emit_nodes(result, str(engine) if engine else None)
            failed = [n.unique_id for n in result.nodes if n.status in ("error", "fail")]
            error = None
            if not result.success:
                error = (f"{len(failed)} node(s) failed: {', '.join(failed[:10])}" if failed
                         else f"dbt {result.command} did not succeed")
            self.emitter.emit(invocation_event(
                RunState.COMPLETE if result.success else RunState.FAIL, self.run, _now(),
                runtime=result.runtime, engine_version=str(engine) if engine else None, error=error,
            ))
        except Exception as exc:
            warn("openlineage_event_failed", invocation_id=self.run.invocation_id,
                 error=f"{type(exc).__name__}: {exc}")
        finally:
            self.emitter.close()
        return attrs.evolve(result, metadata={**result.metadata, RUN_ID_KEY: self.run.run_id})

    def _emit_nodes(self, result: InvocationResult, engine: str | None) -> None:
        from floe_dbt_openlineage.nodes import executed_nodes

        manifest = _artifact(result.manifest_path)
        run_results = _artifact(result.run_results_path)
        index, adapter = self._datasets(result, manifest)
        for executed in executed_nodes(result, manifest, run_results, fallback_time=_now()):
            try:
                events = node_events(self.run, executed, index, runtime=result.runtime,
                                     engine_version=engine, dialect=adapter)
            except Exception as exc:
                warn("openlineage_node_skipped", invocation_id=self.run.invocation_id,
                     node=executed.unique_id, error=f"{type(exc).__name__}: {exc}")
                continue
            for event in events:
                self.emitter.emit(event)

    def _datasets(self, result: InvocationResult,
                  manifest: dict[str, Any] | None) -> tuple[DatasetIndex | None, str]:
        """The dataset index for the target, or None when the namespace cannot be worked out."""
        from floe_dbt_openlineage.datasets import DatasetIndex
        from floe_dbt_openlineage.namespace import dataset_namespace, target_output

        adapter = str(result.metadata.get("adapter_type") or "")
        if manifest is None:
            return None, adapter
        try:
            output = target_output(result.project_dir, self.profiles_dir, result.target)
            adapter = adapter or str(output.get("type"))
            return DatasetIndex(manifest, dataset_namespace(adapter, output)), adapter
        except Exception as exc:
            warn("openlineage_namespace_unknown", invocation_id=self.run.invocation_id,
                 adapter=adapter, error=f"{type(exc).__name__}: {exc}",
                 hint="node runs are sent without input and output datasets")
            return None, adapter


def _artifact(path: Any) -> dict[str, Any] | None:
    from floe_dbt_hooks.artifacts import load_artifact

    if path is None:
        return None
    try:
        return load_artifact(path)
    except Exception:
        return None
