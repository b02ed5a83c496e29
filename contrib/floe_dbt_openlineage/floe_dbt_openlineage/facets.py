"""The two dbt-specific facets, shaped exactly like the OpenLineage dbt integration's.

OpenLineage's standard facets (schema, SQL, parent, processing engine, data quality...) come from
the client. dbt-ol adds ``dbt_run`` (which dbt invocation a run belongs to) and ``dbt_node`` (which
manifest node a job is); they live in openlineage-integration-common, which this plugin does not
depend on, so they are declared here with the same fields and schema URLs: a consumer that reads
dbt-ol's facets reads these.
"""

from __future__ import annotations

import attr
from openlineage.client.facet_v2 import JobFacet, RunFacet

from floe_dbt_openlineage import __version__

PRODUCER = f"https://pypi.org/project/floe-dbt-openlineage/{__version__}/"
"""Who produced the events and facets: this plugin, at this version."""

_DBT_SCHEMAS = "https://github.com/OpenLineage/OpenLineage/tree/main/integration/common/openlineage/schema/"


@attr.define
class DbtRunRunFacet(RunFacet):
    """The dbt invocation a run belongs to; ``dbt_runtime`` is the floe runtime (core, fusion)."""

    invocation_id: str
    project_name: str | None = attr.field(default=None)
    dbt_runtime: str | None = attr.field(default=None)
    project_version: str | None = attr.field(default=None)
    profile_name: str | None = attr.field(default=None)
    full_refresh: bool | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _DBT_SCHEMAS + "dbt-run-run-facet.json"


@attr.define
class DbtNodeJobFacet(JobFacet):
    """The manifest node a job runs."""

    original_file_path: str | None = attr.field(default=None)
    database: str | None = attr.field(default=None)
    schema: str | None = attr.field(default=None)
    alias: str | None = attr.field(default=None)
    unique_id: str | None = attr.field(default=None)
    test_type: str | None = attr.field(default=None)
    """``generic`` or ``singular`` for tests."""

    @staticmethod
    def _get_schema() -> str:
        return _DBT_SCHEMAS + "dbt-node-job-facet.json"
