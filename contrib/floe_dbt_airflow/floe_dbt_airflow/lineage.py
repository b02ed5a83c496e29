"""The Airflow task an invocation runs under, as an OpenLineage parent run.

Each operator sets ``parent_run`` on its request from the task's context at execute time (the
facade is shared per configuration, so the environment cannot say which task is running). The job
is ``<dag_id>.<task_id>`` under the DAG run (job ``<dag_id>``), in Airflow's OpenLineage namespace.
Run ids are the ones Airflow's OpenLineage provider gives the same task instance and DAG run when
the provider is installed, so our dbt runs hang under its task events; without it they are UUIDs
derived deterministically from the same facts (see :func:`_derived_run_id`), so a retry is a new run
and a re-execution of the same try names the same one.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from floe_dbt_hooks.models import ParentRun

DEFAULT_NAMESPACE = "default"
"""The job namespace of Airflow's OpenLineage provider when none is configured."""

_RUN_ID_NAMESPACE = uuid.UUID("6f6c6e73-6466-4c6f-6544-627441697266")
"""A fixed namespace for the fallback's name-based (version 5) UUIDs."""


def task_parent_run(context: Mapping[str, Any]) -> ParentRun | None:
    """The task instance of ``context`` as parent, its DAG run as root; None without a task."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return None
    dag_run = context.get("dag_run")
    dag_id, task_id = str(ti.dag_id), str(ti.task_id)
    when = context.get("logical_date") or getattr(dag_run, "logical_date", None) \
        or getattr(dag_run, "run_after", None)
    map_index = getattr(ti, "map_index", None)
    facts = {"dag_id": dag_id, "task_id": task_id, "try_number": int(ti.try_number or 0),
             "map_index": -1 if map_index is None else int(map_index), "logical_date": when,
             "clear_number": int(getattr(dag_run, "clear_number", 0) or 0),
             "run_id": str(getattr(dag_run, "run_id", "") or "")}
    namespace = airflow_namespace()
    return ParentRun(
        namespace=namespace, job_name=f"{dag_id}.{task_id}",
        run_id=_run_id("build_task_instance_run_id", facts, ("dag_id", "task_id", "try_number",
                                                             "map_index", "logical_date")),
        root_namespace=namespace, root_job_name=dag_id,
        root_run_id=_run_id("build_dag_run_id", facts, ("dag_id", "logical_date", "clear_number")),
    )


def airflow_namespace() -> str:
    """The provider's configured namespace, else ``AIRFLOW__OPENLINEAGE__NAMESPACE``, else default."""
    try:
        from airflow.providers.openlineage.conf import namespace
    except ImportError:
        return os.environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE") or DEFAULT_NAMESPACE
    return str(namespace())


def _run_id(builder: str, facts: Mapping[str, Any], derived_from: tuple[str, ...]) -> str:
    provided = _provider_builder(builder)
    if provided is not None:
        wanted = inspect.signature(provided).parameters
        try:
            return str(provided(**{k: v for k, v in facts.items() if k in wanted}))
        except (TypeError, ValueError):
            pass  # a provider whose builder wants facts we lack: derive our own id
    return _derived_run_id(builder, [facts[k] for k in derived_from])


def _provider_builder(name: str) -> Callable[..., Any] | None:
    try:
        from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    except ImportError:
        return None
    builder = getattr(OpenLineageAdapter, name, None)
    return builder if callable(builder) else None


def _derived_run_id(kind: str, parts: list[Any]) -> str:
    """A version-5 UUID of the namespace, the kind of run and its facts (dag id, task id, try
    number, map index and logical date for a task; dag id, logical date and clear number for a
    DAG run): stable for one try of one task instance, different for the next try."""
    words = [airflow_namespace(), kind] + [
        p.isoformat() if isinstance(p, datetime) else str(p) for p in parts]
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, "\x1f".join(words)))
