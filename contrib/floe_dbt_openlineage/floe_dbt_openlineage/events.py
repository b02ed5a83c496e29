"""Build the OpenLineage run events of one invocation with the client's own event classes.

One invocation is one run of the job ``dbt-run-<project>`` (dbt-ol's name; ``OPENLINEAGE_DBT_JOB_NAME``
overrides it). Each executed node is its own run, of a job named like dbt-ol names it
(``<database>.<schema>.<package>.<node>`` plus ``.build.run``, ``.test``... by command), whose parent
run facet points at the invocation's run. A successful node ends COMPLETE, a failed one FAIL with
its error message; skipped nodes never ran and get no events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    JobFacet,
    RunFacet,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    sql_job,
)
from openlineage.client.uuid import generate_new_uuid

from floe_dbt_hooks.secrets import redact
from floe_dbt_openlineage import __version__
from floe_dbt_openlineage.datasets import DatasetIndex
from floe_dbt_openlineage.facets import PRODUCER, DbtNodeJobFacet, DbtRunRunFacet
from floe_dbt_openlineage.nodes import ExecutedNode
from floe_dbt_openlineage.settings import RunRef

JOB_TYPES = {"model": "MODEL", "seed": "SEED", "snapshot": "SNAPSHOT", "test": "TEST",
             "unit_test": "TEST"}
_JOB_SUFFIX_KIND = {"model": "run", "seed": "seed", "snapshot": "snapshot", "test": "test",
                    "unit_test": "test"}


@attrs.frozen(kw_only=True)
class InvocationRun:
    """The invocation's run and job, and the dbt facts every event of it repeats."""

    run_id: str
    job_namespace: str
    job_name: str
    command: str
    invocation_id: str
    project_name: str | None = None
    project_version: str | None = None
    profile_name: str | None = None
    full_refresh: bool | None = None
    parent: RunRef | None = None
    root: RunRef | None = None

    def dbt_run_facet(self, runtime: str | None) -> DbtRunRunFacet:
        return DbtRunRunFacet(
            invocation_id=self.invocation_id, project_name=self.project_name, dbt_runtime=runtime,
            project_version=self.project_version, profile_name=self.profile_name,
            full_refresh=self.full_refresh, producer=PRODUCER,
        )

    def as_parent(self) -> parent_run.ParentRunFacet:
        """The parent run facet of a node run: this invocation, under the orchestrator's root."""
        root = self.root or RunRef(self.job_namespace, self.job_name, self.run_id)
        return _parent_facet(RunRef(self.job_namespace, self.job_name, self.run_id), root)


def _parent_facet(parent: RunRef, root: RunRef | None) -> parent_run.ParentRunFacet:
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=parent.namespace, name=parent.job_name),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=root.run_id),
            job=parent_run.RootJob(namespace=root.namespace, name=root.job_name),
        ) if root is not None else None,
        producer=PRODUCER,
    )


def new_run_id(instant: datetime | None = None) -> str:
    return str(generate_new_uuid(instant))


def _job_type(kind: str) -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DBT", jobType=kind,
                                         producer=PRODUCER)


def _engine(engine_version: str | None) -> dict[str, RunFacet]:
    if not engine_version:
        return {}
    return {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=engine_version, name="dbt", openlineageAdapterVersion=__version__,
        producer=PRODUCER)}


def _error(message: str | None, language: str) -> dict[str, RunFacet]:
    if not message:
        return {}
    return {"errorMessage": error_message_run.ErrorMessageRunFacet(
        message=redact(message), programmingLanguage=language, producer=PRODUCER)}


def invocation_event(
    state: RunState, run: InvocationRun, event_time: datetime, *, runtime: str | None = None,
    engine_version: str | None = None, error: str | None = None,
) -> RunEvent:
    """START, COMPLETE, FAIL or ABORT of the invocation itself."""
    facets: dict[str, RunFacet] = {"dbt_run": run.dbt_run_facet(runtime), **_engine(engine_version)}
    if run.parent is not None:
        facets["parent"] = _parent_facet(run.parent, run.root)
    facets.update(_error(error, "python"))
    return RunEvent(
        eventType=state, eventTime=event_time.isoformat(), producer=PRODUCER,
        run=Run(runId=run.run_id, facets=facets),
        job=Job(namespace=run.job_namespace, name=run.job_name, facets={"jobType": _job_type("JOB")}),
    )


def node_job_name(unique_id: str, resource_type: str, node: Mapping[str, Any], command: str) -> str:
    """dbt-ol's job names: ``jaffle_shop.main.jaffle_shop.orders`` for ``run``, with
    ``.build.run``/``.build.test``... under ``build``, ``.test``/``.seed``/``.snapshot`` otherwise."""
    local = unique_id.split(".", 1)[1] if "." in unique_id else unique_id
    base = ".".join(str(p) for p in (node.get("database"), node.get("schema"), local) if p)
    kind = _JOB_SUFFIX_KIND.get(resource_type, resource_type)
    if command == "build":
        return f"{base}.build.{kind}"
    if command == "compile":
        return f"{base}.compile"
    return base if kind == "run" else f"{base}.{kind}"


def node_events(
    run: InvocationRun, executed: ExecutedNode, index: DatasetIndex | None, *, runtime: str,
    engine_version: str | None, dialect: str,
) -> tuple[RunEvent, RunEvent]:
    """The START and the COMPLETE or FAIL of one executed node."""
    node = (index.node(executed.unique_id) if index else None) or {}
    job_facets: dict[str, JobFacet] = {
        "jobType": _job_type(JOB_TYPES.get(executed.resource_type, executed.resource_type.upper())),
        "dbt_node": DbtNodeJobFacet(
            original_file_path=node.get("original_file_path"), database=node.get("database"),
            schema=node.get("schema"), alias=node.get("alias"), unique_id=executed.unique_id,
            test_type=("generic" if node.get("test_metadata") else "singular")
            if executed.resource_type == "test" else None,
            producer=PRODUCER,
        ),
    }
    if executed.compiled_code:
        job_facets["sql"] = sql_job.SQLJobFacet(query=redact(executed.compiled_code), dialect=dialect,
                                                producer=PRODUCER)
    job_name = node_job_name(executed.unique_id, executed.resource_type, node, run.command)
    base_facets: dict[str, RunFacet] = {
        "parent": run.as_parent(), "dbt_run": run.dbt_run_facet(runtime), **_engine(engine_version),
    }
    run_id = new_run_id(executed.started_at)
    inputs: list[InputDataset] = index.inputs(executed) if index else []
    output = index.output(executed, statistics=run.command != "compile") if index else None
    outputs: list[OutputDataset] = [output] if output is not None else []
    start = RunEvent(
        eventType=RunState.START, eventTime=executed.started_at.isoformat(), producer=PRODUCER,
        run=Run(runId=run_id, facets=dict(base_facets)), inputs=inputs, outputs=outputs,
        job=Job(namespace=run.job_namespace, name=job_name, facets=dict(job_facets)),
    )
    failed = executed.status in ("error", "fail")
    end_facets = {**base_facets, **(_error(executed.message, "SQL") if failed else {})}
    end = RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=executed.completed_at.isoformat(), producer=PRODUCER,
        run=Run(runId=run_id, facets=end_facets), inputs=inputs,
        job=Job(namespace=run.job_namespace, name=job_name, facets=dict(job_facets)),
        outputs=[] if failed else outputs,
    )
    return start, end
