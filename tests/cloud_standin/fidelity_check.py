"""Fidelity check: drive the stand-in with dbt Cloud client code that nobody here wrote.

Run by hand, never by the test suite or scripts/bootstrap.py: it needs a separate virtualenv holding
dagster-dbt (whose ``DbtCloudWorkspaceClient`` talks Admin API v2), which the project does not
depend on::

    python3 -m venv /tmp/fidelity-venv
    /tmp/fidelity-venv/bin/pip install dagster-dbt==0.29.27 dagster==1.13.27
    .venv/bin/python -m tests.cloud_standin.fidelity_check /tmp/fidelity-venv/bin/python

The project's interpreter starts the stand-in in this process (as the integration tests do, with
dbt-core executing the runs), then the other interpreter runs this same file with ``--client`` and
calls dagster-dbt's client against it: list and create jobs, trigger, poll to the end, run steps and
logs, list and fetch artifacts, list runs with filters, cancel. Each check prints one JSON line;
the exit code is the number of failed checks. The token travels only in the child's environment.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT, ENVIRONMENT = 7, 9
TOKEN_ENV = "DBT_CLOUD_API_TOKEN"
CHILD_TIMEOUT = 600


def _check(name: str, work: Callable[[], Any], failures: list[str]) -> Any:
    try:
        value = work()
    except BaseException as exc:
        failures.append(name)
        print(json.dumps({"check": name, "ok": False, "error": f"{type(exc).__name__}: "
                                                                f"{str(exc)[:300]}"}), flush=True)
        return None
    print(json.dumps({"check": name, "ok": True, "value": value}, default=str), flush=True)
    return value


def client_checks(access_url: str, account_id: int, job_id: int) -> int:
    """In the dagster-dbt venv: every call the check makes, in order; returns failures."""
    from dagster_dbt.cloud_v2.client import DbtCloudWorkspaceClient

    client = DbtCloudWorkspaceClient(
        account_id=account_id, token=os.environ[TOKEN_ENV], access_url=access_url,
        request_max_retries=1, request_retry_delay=0.2, request_timeout=30)
    failures: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            raise AssertionError(what)

    def list_jobs() -> list[int]:
        ids = [int(j["id"]) for j in client.list_jobs(PROJECT, ENVIRONMENT)]
        expect(job_id in ids, f"job {job_id} not listed")
        return ids

    def create_job() -> int:
        made = client.create_job(project_id=PROJECT, environment_id=ENVIRONMENT,
                                 job_name="dagster ad-hoc")
        expect(made["name"] == "dagster ad-hoc", "name not echoed")
        return int(made["id"])

    def run_to_end(steps: list[str]) -> dict[str, Any]:
        run = client.trigger_job_run(job_id, steps_override=steps)
        final = client.poll_run(int(run["id"]), poll_interval=0.5, poll_timeout=300)
        return dict(final)

    started = datetime.datetime.now(datetime.timezone.utc)
    _check("list_jobs", list_jobs, failures)
    _check("create_job", create_job, failures)
    _check("get_job_details", lambda: client.get_job_details(job_id)["id"], failures)
    final = _check("trigger_job_run + poll_run", lambda: run_to_end(["dbt seed"]), failures)
    run_id = int(final["id"]) if final else 0
    _check("status success", lambda: expect(final is not None and final["status"] == 10,
                                            f"status {final and final['status']}"), failures)
    _check("run_steps", lambda: [s["name"] for s in client.get_run_details(
        run_id, include_related=["run_steps"])["run_steps"]], failures)
    _check("get_run_logs", lambda: len(client.get_run_logs(run_id, max_retries=1)), failures)
    names = _check("list_run_artifacts", lambda: list(client.list_run_artifacts(run_id)), failures)
    _check("artifacts listed", lambda: expect(
        {"manifest.json", "run_results.json"} <= set(names or ()), f"{names}"), failures)
    _check("get_run_results_json", lambda: client.get_run_results_json(run_id)["metadata"]["env"]
           .get("DBT_CLOUD_RUN_ID"), failures)
    _check("get_run_manifest_json", lambda: len(client.get_run_manifest_json(run_id)["nodes"]),
           failures)
    finished = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    _check("get_runs_batch", lambda: expect(
        [r["id"] for r in client.get_runs_batch(PROJECT, ENVIRONMENT, started, finished)[0]]
        == [run_id], "batch is not exactly the finished run"), failures)
    _check("get_runs_batch outside the window", lambda: expect(client.get_runs_batch(
        PROJECT, ENVIRONMENT, started - datetime.timedelta(days=2),
        started - datetime.timedelta(days=1))[0] == [], "runs outside the range"), failures)
    _check("get_active_job_ids", lambda: expect(
        client.get_active_job_ids(PROJECT, ENVIRONMENT, [job_id]) == set(),
        "a finished job counted as active"), failures)

    def cancel() -> int:
        run = client.trigger_job_run(job_id, steps_override=["dbt build"])
        active = client.get_active_job_ids(PROJECT, ENVIRONMENT, [job_id])
        client.cancel_run(int(run["id"]))
        final = client.poll_run(int(run["id"]), poll_interval=0.5, poll_timeout=120)
        expect(active == {job_id}, f"active {active}")
        expect(final["status"] == 30, f"status {final['status']}")
        return int(final["status"])

    _check("cancel_run", cancel, failures)
    _check("get_project_details", lambda: client.get_project_details(PROJECT)["id"], failures)
    _check("get_environment_details",
           lambda: client.get_environment_details(ENVIRONMENT)["id"], failures)
    _check("get_account_details", lambda: client.get_account_details()["id"], failures)
    return len(failures)


def main(argv: list[str]) -> int:
    """With the project's interpreter: start the stand-in, run the client checks in ``argv[0]``."""
    from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
    from tests.cloud_standin import StandIn

    if len(argv) != 1:
        print("usage: python -m tests.cloud_standin.fidelity_check /path/to/venv/bin/python",
              file=sys.stderr)
        return 2
    files = {k: v for k, v in CONTRACT_PROJECT.items() if not k.startswith("tests/")}
    with tempfile.TemporaryDirectory(prefix="floe-fidelity-") as folder, \
            StandIn(fill_job_defaults=True) as standin:
        root = write_project(Path(folder) / "contract", {**files, "profiles.yml": DUCKDB_PROFILES})
        job = standin.add_job(root, project_id=PROJECT, environment_id=ENVIRONMENT)
        started = time.monotonic()
        child = subprocess.run(
            [argv[0], "-m", "tests.cloud_standin.fidelity_check", "--client",
             standin.access_url, str(standin.account_id), str(job.id)],
            env={**os.environ, TOKEN_ENV: standin.token,
                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            timeout=CHILD_TIMEOUT, check=False,
        )
        print(json.dumps({"failed_checks": child.returncode,
                          "seconds": round(time.monotonic() - started, 1)}))
        return child.returncode


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        sys.exit(client_checks(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    sys.exit(main(sys.argv[1:]))
