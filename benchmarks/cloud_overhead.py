"""What the dbt Cloud runtime adds to a run: the wall time from the run finishing in dbt Cloud to
the result being returned, and the requests each run costs.

Runs against the test stand-in (tests/cloud_standin, real dbt-core runs on DuckDB) on loopback, so
the numbers are the runtime's own: its poll schedule, the artifact downloads and the result
building. Goal: overhead under one poll interval + 100 ms, and at most one request per poll plus
the trigger, the artifact list and the downloads.

    .venv/bin/python -m benchmarks.cloud_overhead [--runs 5] [--poll-interval 1.0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from floe_dbt_cloud.invocation import poll_interval  # noqa: E402
from floe_dbt_cloud.settings import CloudSettings  # noqa: E402

from floe_dbt_hooks.models import RunRequest  # noqa: E402
from floe_dbt_hooks.plugin.manager import create_plugin_manager  # noqa: E402
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project  # noqa: E402
from tests.cloud_standin import StandIn, write_floe_yml  # noqa: E402

DOWNLOADS = 2  # manifest.json and run_results.json


def measure(runs: int, interval: float, command: str) -> dict[str, Any]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--command", default="seed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = measure(args.runs, args.poll_interval, args.command)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for s in report["runs"]:
            print(f"run {s['run_id']}: dbt Cloud run {s['run_seconds']:.2f}s, overhead "
                  f"{s['overhead_seconds'] * 1000:.0f} ms (allowed {s['allowed_seconds'] * 1000:.0f}"
                  f" ms), {s['polls']} polls, {s['requests']} requests")
        print(f"median overhead {report['overhead_median'] * 1000:.0f} ms, max "
              f"{report['overhead_max'] * 1000:.0f} ms; goal met: {report['goal_met']}")
    return 0 if report["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
