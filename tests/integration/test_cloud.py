"""The dbt Cloud runtime against the Admin API v2 stand-in: every fault the issue names, how it
surfaces, the run's identity in the artifacts, dbt_artifact_path, compare and Dagster."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetExecutionContext, materialize
from floe_dbt_dagster import DBTResource, floe_dbt_assets

from floe_dbt_hooks.errors import DBTConfigurationError, DBTExecutionError
from floe_dbt_hooks.models import ArtifactRequest, DBTRunResult, RunRequest, to_dict
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
from tests.cloud_standin import StandIn, write_floe_yml
from tests.conftest import RunCLI, copy_example

pytestmark = pytest.mark.integration

SEED_ONLY = {k: v for k, v in CONTRACT_PROJECT.items() if not k.startswith("tests/")}


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn() as server:
        monkeypatch.setenv("DBT_CLOUD_API_TOKEN", server.token)
        yield server


@pytest.fixture
def project(tmp_path: Path, standin: StandIn) -> Path:
    root = write_project(tmp_path / "contract", {**SEED_ONLY, "profiles.yml": DUCKDB_PROFILES})
    write_floe_yml(root, standin, standin.add_job(root).id)
    return root


def manager(project: Path, **options: Any) -> FloePluginManager:
    return create_plugin_manager(project, runtime="cloud", **{"fallback": False, **options})


def run(project: Path, command: str = "seed", **options: Any) -> DBTRunResult:
    result: DBTRunResult = manager(project).hook.dbt_run(
        request=RunRequest(project_dir=project, command=command, **options))
    return result


def configure(project: Path, standin: StandIn, **settings: Any) -> None:
    job_id = settings.pop("job_id", next(iter(standin.jobs)))
    write_floe_yml(project, standin, job_id, **settings)


def test_run_identity_reaches_result_and_artifacts(project: Path, standin: StandIn) -> None:
    result = run(project)
    assert result.success
    assert result.runtime == "cloud"
    run_id = result.metadata["dbt_cloud_run_id"]
    assert run_id in standin.runs
    assert result.metadata["dbt_cloud_href"].endswith(f"/runs/{run_id}/")
    assert result.run_results_path is not None
    on_disk = json.loads(result.run_results_path.read_text())
    assert on_disk["metadata"]["env"]["DBT_CLOUD_RUN_ID"] == str(run_id)
    body = standin.runs[run_id].body
    assert body["steps_override"] == ["dbt seed --log-format json"]
    assert len(body["cause"]) <= 255


def test_429_waits_for_retry_after(project: Path, standin: StandIn) -> None:
    standin.faults.only, standin.faults.retry_after, standin.faults.throttle = "GET .*/runs/", 1, 2
    result = run(project)
    assert result.success
    throttled = [r for r in standin.requests if r.status == 429]
    assert len(throttled) == 2
    after = [r for r in standin.requests if r.at > throttled[0].at]
    assert after[0].at - throttled[0].at >= 0.9


def test_500s_are_retried(project: Path, standin: StandIn) -> None:
    standin.faults.only, standin.faults.errors = "runs/", 3
    assert run(project).success
    assert sum(1 for r in standin.requests if r.status == 500) == 3


def test_a_trigger_answered_500_is_not_sent_twice(project: Path, standin: StandIn) -> None:
    standin.faults.only, standin.faults.errors = "POST .*/run/", 1
    with pytest.raises(DBTExecutionError, match="a run may have been queued"):
        run(project)
    assert standin.count("POST", r"/run/?$") == 1


def test_slow_responses_time_out_and_are_retried(project: Path, standin: StandIn) -> None:
    configure(project, standin, request_timeout=0.5)
    standin.faults.only, standin.faults.slow, standin.faults.slow_count = "GET", 1.5, 2
    assert run(project).success


def test_stuck_in_queue_is_cancelled_at_our_timeout(project: Path, standin: StandIn) -> None:
    standin.faults.stuck_in_queue = True
    with pytest.raises(DBTExecutionError, match="did not finish within 2s") as caught:
        run(project, timeout=2)
    assert "cancelled in dbt Cloud" in str(caught.value)
    assert standin.count("POST", r"/cancel/?$") == 1
    assert next(iter(standin.runs.values())).payload(False)["is_cancelled"]


def test_a_run_that_errors_before_dbt_is_an_execution_error(project: Path,
                                                            standin: StandIn) -> None:
    standin.faults.fail_clone = True
    with pytest.raises(DBTExecutionError, match="failed before any node ran"):
        run(project)


def test_node_errors_are_node_statuses_not_exceptions(project: Path) -> None:
    (project / "models" / "base_people.sql").write_text("select nope from {{ ref('people') }}\n")
    result = run(project, command="build")
    assert not result.success
    assert {n.name: n.status for n in result.nodes}["base_people"] == "error"


def test_cancelled_in_dbt_cloud(project: Path, standin: StandIn) -> None:
    standin.faults.cancel_after = 0.3
    with pytest.raises(DBTExecutionError, match="was cancelled in dbt Cloud"):
        run(project, command="build")


def test_our_cancellation_cancels_the_run(project: Path, standin: StandIn) -> None:
    pm = manager(project)
    request = RunRequest(project_dir=project, command="build")
    outcome: list[BaseException | DBTRunResult] = []

    def work() -> None:
        try:
            outcome.append(pm.hook.dbt_run(request=request))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 60
    while not standin.runs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pm.hook.dbt_cancel(invocation_id=request.invocation_id) is True
    worker.join(120)
    assert isinstance(outcome[0], DBTExecutionError)
    assert "at this invocation's request" in str(outcome[0])
    assert standin.count("POST", r"/cancel/?$") >= 1


def test_bad_token_is_a_configuration_error_without_the_token(
    project: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_CLOUD_API_TOKEN", "wrong-token-51d2e8")
    with pytest.raises(DBTConfigurationError) as caught:
        run(project)
    text = json.dumps(caught.value.to_dict())
    assert f"account {standin.account_id}" in text
    assert "DBT_CLOUD_API_TOKEN" in (caught.value.hint or "")
    assert "wrong-token-51d2e8" not in text
    assert "wrong-token-51d2e8" not in str(caught.value)
    assert standin.runs == {}


def test_unknown_job_is_a_configuration_error(project: Path, standin: StandIn) -> None:
    configure(project, standin, job_id=999)
    with pytest.raises(DBTConfigurationError, match="job 999 not found"):
        run(project)


def test_not_configured_declines_to_core(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBT_CLOUD_API_TOKEN")
    result = manager(project, fallback=True).hook.dbt_run(
        request=RunRequest(project_dir=project, command="seed"))
    assert result.runtime == "core"
    assert [(d.runtime, d.reason_code) for d in result.declined] == [("cloud", "not-configured")]


def test_token_in_floe_yml_is_refused(project: Path, standin: StandIn) -> None:
    configure(project, standin, token="oops")
    with pytest.raises(DBTConfigurationError, match="must not hold"):
        run(project)


def test_the_token_appears_in_no_result(project: Path, standin: StandIn) -> None:
    result = run(project)
    assert standin.token not in json.dumps(to_dict(result))
    for path in result.target_path.iterdir() if result.target_path else ():
        assert standin.token not in path.read_text(errors="replace")


def test_artifact_path_downloads_a_cloud_invocations_artifact(project: Path) -> None:
    result = run(project)
    assert result.target_path is not None
    assert result.manifest_path is not None
    result.manifest_path.unlink()
    path = manager(project).hook.dbt_artifact_path(request=ArtifactRequest(
        kind="manifest", project_dir=project, target_path=result.target_path, runtime="cloud"))
    assert path == result.manifest_path
    assert path.is_file()
    assert "seed.contract.people" in json.loads(path.read_text())["nodes"]


def test_one_request_per_poll_plus_the_downloads(project: Path, standin: StandIn) -> None:
    result = run(project)
    polls = standin.count("GET", r"/runs/\d+/?$")
    assert result.metadata["dbt_cloud_requests"] == polls + 1 + 1 + 2  # trigger, list, 2 files


def test_compare_core_and_cloud(project: Path, floe_dbt: RunCLI, standin: StandIn) -> None:
    write_project(project, {"tests/adults_have_names.sql": CONTRACT_PROJECT[
        "tests/adults_have_names.sql"]})
    cli = floe_dbt("compare", "--project-dir", str(project), "--runtimes", "core,cloud",
                   "--output", "json", env={"DBT_CLOUD_API_TOKEN": standin.token})
    assert cli.code == 0, cli
    report = json.loads(cli.stdout)
    assert report["runtimes"] == ["core", "cloud"]
    assert {n["verdict"] for n in report["nodes"]} == {"same"}


def test_dagster_materializes_the_example_on_cloud(tmp_path: Path, standin: StandIn) -> None:
    example = copy_example(tmp_path / "jaffle_shop")
    job = standin.add_job(example)
    settings = {"access_url": standin.access_url, "account_id": standin.account_id,
                "job_id": job.id, "poll_interval": 0.2, "max_poll_interval": 1.0}
    resource = DBTResource(project_dir=str(example), runtime="cloud", fallback=False,
                           plugin_settings={"cloud": settings})

    @floe_dbt_assets(resource=resource, name="jaffle_shop")
    def assets(context: AssetExecutionContext, dbt: DBTResource) -> Iterator[Any]:
        yield from dbt.stream(context)

    result = materialize([assets], resources={"dbt": resource}, raise_on_error=False)
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"customers", "orders", "raw_customers"} <= done
    assert len(done) == 8
    assert standin.runs, "the assets were built by a dbt Cloud run"
