"""The ``cloud-overhead`` case: what the dbt Cloud runtime adds to a run, the wall time from the
run finishing in dbt Cloud to the result being returned, and the requests each run costs.

Runs against the test stand-in (tests/cloud_standin, real dbt-core runs on DuckDB) on loopback, so
the numbers are the runtime's own: its poll schedule, the artifact downloads and the result
building. Goal: overhead under one poll interval + 100 ms, and at most one request per poll plus
the trigger, the artifact list and the downloads. Measured in a fresh process
(``run.py _child cloud-overhead``) against a stand-in started there.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.runner import ROOT, Options, Row, log, row, run_child, summary

DOWNLOADS = 2  # manifest.json and run_results.json


POLL_INTERVAL = 1.0


def case_cloud_overhead(opts: Options) -> list[Row]:
    """dbt Cloud runtime: wall time from the run finishing to the result, and requests per run."""
    report = run_child("cloud-overhead", cwd=ROOT, timeout=opts.timeout, runs=opts.repeat,
                       interval=POLL_INTERVAL, command="seed")
    for s in report["runs"]:
        log(f"  cloud-overhead: run {s['run_id']} {s['run_seconds']:.2f} s, overhead "
            f"{s['overhead_seconds'] * 1000:.0f} ms (allowed {s['allowed_seconds'] * 1000:.0f} ms), "
            f"{s['polls']} polls, {s['requests']} requests")
    return [row("cloud-overhead", "ms", summary([s["overhead_seconds"] for s in report["runs"]]),
                None, "< poll interval + 100 ms; 1 request/poll + trigger, list, downloads",
                bool(report["goal_met"]), details=report)]


def child_cloud_overhead(runs: int, interval: float, command: str) -> dict[str, Any]:
    """Triggers ``runs`` runs through the cloud runtime against a local stand-in."""
    from floe_dbt_cloud.invocation import poll_interval
    from floe_dbt_cloud.settings import CloudSettings

    from floe_dbt_hooks.models import RunRequest
    from floe_dbt_hooks.plugin.manager import create_plugin_manager
    from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
    from tests.cloud_standin import StandIn, write_floe_yml

    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cloud-overhead-") as scratch, StandIn() as standin:
        os.environ["DBT_CLOUD_API_TOKEN"] = standin.token
        project = write_project(Path(scratch) / "contract",
                                {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
        write_floe_yml(project, standin, standin.add_job(project).id, poll_interval=interval,
                       max_poll_interval=max(interval, 30.0))
        pm = create_plugin_manager(project, runtime="cloud", fallback=False)
        settings = CloudSettings(poll_interval=interval, max_poll_interval=max(interval, 30.0))
        for _ in range(runs):
            started = time.monotonic()
            result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command=command))
            returned = time.monotonic()
            run = standin.runs[result.metadata["dbt_cloud_run_id"]]
            assert run.finished_monotonic is not None
            polls = standin.count("GET", rf"/runs/{run.id}/?$")
            requests = int(result.metadata["dbt_cloud_requests"])
            elapsed = run.finished_monotonic - started
            allowed = poll_interval(settings, elapsed) + 0.1
            samples.append({
                "run_id": run.id, "success": result.success,
                "run_seconds": round(elapsed, 3),
                "overhead_seconds": round(returned - run.finished_monotonic, 3),
                "allowed_seconds": round(allowed, 3),
                "polls": polls, "requests": requests,
                "extra_requests": requests - polls - 1 - 1 - DOWNLOADS,
            })
    overheads = [s["overhead_seconds"] for s in samples]
    return {
        "command": command, "poll_interval": interval, "runs": samples,
        "overhead_median": statistics.median(overheads), "overhead_max": max(overheads),
        "goal_met": all(s["overhead_seconds"] < s["allowed_seconds"] and s["extra_requests"] <= 0
                        for s in samples),
    }

