"""How runs are named and where the transport config came from, once lineage is on.

Imported only when a transport is configured (the cheap check is ``transport_source`` in the package
``__init__``); still no ``openlineage`` import here. Naming follows the variables dbt-ol reads:
``OPENLINEAGE_NAMESPACE`` (job namespace, default ``dbt``), ``OPENLINEAGE_DBT_JOB_NAME`` (the
invocation's job name), ``OPENLINEAGE_PARENT_ID`` and ``OPENLINEAGE_ROOT_PARENT_ID``
(``namespace/job/run_id`` of the orchestrator's run this invocation belongs to).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from floe_dbt_hooks.models import InvocationRequest

DEFAULT_JOB_NAMESPACE = "dbt"
"""The job namespace dbt-ol uses when ``OPENLINEAGE_NAMESPACE`` is not set."""


@attrs.frozen
class RunRef:
    """A run elsewhere (an orchestrator's task) that a dbt invocation runs under."""

    namespace: str
    job_name: str
    run_id: str

    @classmethod
    def parse(cls, value: str | None) -> RunRef | None:
        """``namespace/job_name/run_id``, the format of ``OPENLINEAGE_PARENT_ID``; None if malformed."""
        parts = (value or "").strip().split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


@attrs.frozen(kw_only=True)
class LineageSettings:
    """What the plugin needs to emit; None from :func:`detect` means "OpenLineage is not in use"."""

    source: str
    """Where the transport configuration was found, for the log line saying the plugin is active."""
    config_file: Path | None = None
    """The ``openlineage.yml`` in force, resolved when the plugin was configured so that a runtime
    changing the working directory later does not lose it."""
    job_namespace: str = DEFAULT_JOB_NAMESPACE
    job_name: str | None = None
    """``OPENLINEAGE_DBT_JOB_NAME``: the invocation's job name instead of ``dbt-run-<project>``."""
    parent: RunRef | None = None
    root: RunRef | None = None

    def parent_of(self, request: InvocationRequest) -> tuple[RunRef | None, RunRef | None]:
        """The parent and root run of ``request``: its own ``parent_run`` (set per invocation by an
        orchestrator such as the Airflow operators) over the environment's, read once at set-up."""
        given = request.parent_run
        if given is None:
            return self.parent, self.root
        parent = RunRef(given.namespace, given.job_name, given.run_id)
        if given.root_run_id and given.root_job_name:
            root = RunRef(given.root_namespace or given.namespace, given.root_job_name, given.root_run_id)
        else:
            root = parent
        return parent, root

    def client_config(self) -> dict[str, Any] | None:
        """The pinned config file's content, handed to the client as its explicit config."""
        if self.config_file is None:
            return None
        import yaml

        try:
            data = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return None
        return data if isinstance(data, dict) else None


def from_environment(source: str, config_file: Path | None,
                     environ: Mapping[str, str] | None = None) -> LineageSettings:
    """The settings for a transport found at ``source`` (see ``floe_dbt_openlineage.transport_source``)."""
    env = os.environ if environ is None else environ
    parent = RunRef.parse(env.get("OPENLINEAGE_PARENT_ID"))
    return LineageSettings(
        source=source,
        config_file=config_file,
        job_namespace=env.get("OPENLINEAGE_NAMESPACE") or DEFAULT_JOB_NAMESPACE,
        job_name=env.get("OPENLINEAGE_DBT_JOB_NAME") or None,
        parent=parent,
        root=(RunRef.parse(env.get("OPENLINEAGE_ROOT_PARENT_ID")) or parent) if parent else None,
    )
