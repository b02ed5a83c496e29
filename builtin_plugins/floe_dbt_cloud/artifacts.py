"""``dbt_artifact_path`` for cloud invocations: the local copy, downloaded when it is missing.

A cloud invocation leaves ``dbt_cloud_run.json`` in its target path naming the run; an artifact
missing there is fetched from that run (``GET runs/{id}/artifacts/{path}``). A target path without a
run marker gets the artifact of the job's latest run that has one
(``GET jobs/{job_id}/artifacts/{path}``); without a configured job, of the runtime's own job
when it exists (it is never created just to read an artifact).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from floe_dbt_hooks.models import ARTIFACT_FILES

if TYPE_CHECKING:
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.models import ArtifactRequest


def artifact_path(request: ArtifactRequest, settings: CloudSettings) -> Path | None:
    from floe_dbt_cloud.client import CloudAPIError, CloudClient, CloudNotFound
    from floe_dbt_cloud.invocation import RUN_MARKER
    from floe_dbt_cloud.jobs import existing_job
    from floe_dbt_hooks.errors import DBTExecutionError
    from floe_dbt_hooks.fsutil import atomic_write_bytes
    from floe_dbt_hooks.project import load_project

    name = ARTIFACT_FILES[request.kind]
    folder = request.target_path or load_project(request.project_dir).target_path
    if not folder.is_absolute():
        folder = Path(request.project_dir) / folder
    path = folder / name
    if path.is_file():
        return path
    marker = folder / RUN_MARKER
    try:
        with CloudClient(settings) as client:
            if marker.is_file():
                run = json.loads(marker.read_text(encoding="utf-8"))
                data = client.artifact(int(run["run_id"]), name, step=run.get("step"))
            else:
                job_id = existing_job(client, settings)
                if job_id is None:
                    return None
                data = client.job_artifact(job_id, name)
    except CloudNotFound:
        return None
    except CloudAPIError as exc:
        raise DBTExecutionError(f"could not download {name} from dbt Cloud: {exc}",
                                hint="dbt Cloud may be unavailable; try again later") from None
    atomic_write_bytes(path, data)
    return path
