"""The dbt Cloud runtime without a job_id: its own job per project and environment, found by listing
(paged) or created once, against the stand-in; and the stand-in's job creation and list filters
held to openapi-v2.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from floe_dbt_cloud.client import MAX_PAGES, CloudAPIError, CloudClient
from floe_dbt_cloud.jobs import forget_jobs, new_job_body
from floe_dbt_cloud.settings import DEFAULT_JOB_NAME, CloudSettings

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.models import DBTRunResult, RunRequest
from floe_dbt_hooks.plugin.manager import create_plugin_manager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
from tests.cloud_standin import StandIn, write_floe_yml
from tests.cloud_standin.jobs import SPEC_REQUIRED

pytestmark = pytest.mark.integration

SEED_ONLY = {k: v for k, v in CONTRACT_PROJECT.items() if not k.startswith("tests/")}
PROJECT, ENVIRONMENT = 7, 9


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    forget_jobs()
    with StandIn() as server:
        monkeypatch.setenv("DBT_CLOUD_API_TOKEN", server.token)
        yield server
    forget_jobs()


@pytest.fixture
def project(tmp_path: Path, standin: StandIn) -> Path:
    root = write_project(tmp_path / "contract", {**SEED_ONLY, "profiles.yml": DUCKDB_PROFILES})
    write_floe_yml(root, standin, None, project_id=PROJECT, environment_id=ENVIRONMENT)
    return root


def run(project: Path, **options: Any) -> DBTRunResult:
    result: DBTRunResult = create_plugin_manager(
        project, runtime="cloud", **{"fallback": False, **options}
    ).hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    return result


def api(standin: StandIn) -> httpx.Client:
    return httpx.Client(base_url=f"{standin.access_url}/api/v2/accounts/{standin.account_id}/",
                        headers={"Authorization": f"Token {standin.token}"}, timeout=10)


def test_an_existing_job_is_found(project: Path, standin: StandIn) -> None:
    standin.add_job(project, name=DEFAULT_JOB_NAME, project_id=PROJECT, environment_id=1)
    standin.add_job(project, name="nightly", project_id=PROJECT, environment_id=ENVIRONMENT)
    mine = standin.add_job(project, name=DEFAULT_JOB_NAME, project_id=PROJECT,
                           environment_id=ENVIRONMENT)
    result = run(project)
    assert result.success
    assert result.metadata["dbt_cloud_job_id"] == mine.id
    assert standin.runs[result.metadata["dbt_cloud_run_id"]].job is mine
    assert standin.count("POST", r"/jobs/?$") == 0


def test_the_job_is_created_once_then_reused(project: Path, standin: StandIn) -> None:
    standin.add_environment(project, project_id=PROJECT, environment_id=ENVIRONMENT)
    first, second = run(project), run(project)
    assert first.success
    assert second.success
    assert standin.count("POST", r"/jobs/?$") == 1
    assert standin.count("GET", r"/jobs/?$") == 1
    created = max(standin.jobs)
    assert first.metadata["dbt_cloud_job_id"] == second.metadata["dbt_cloud_job_id"] == created
    body = standin.created_jobs[0]
    assert set(SPEC_REQUIRED) <= set(body)
    assert (body["name"], body["project_id"], body["environment_id"]) == (
        DEFAULT_JOB_NAME, PROJECT, ENVIRONMENT)


def test_the_job_is_found_past_the_first_page(project: Path, standin: StandIn) -> None:
    for index in range(150):
        standin.add_job(project, name=f"job {index}", project_id=PROJECT,
                        environment_id=ENVIRONMENT)
    mine = standin.add_job(project, name="ours", project_id=PROJECT, environment_id=ENVIRONMENT)
    write_floe_yml(project, standin, None, project_id=PROJECT, environment_id=ENVIRONMENT,
                   job_name="ours")
    result = run(project)
    assert result.metadata["dbt_cloud_job_id"] == mine.id
    assert standin.count("GET", r"/jobs/?$") == 2
    assert standin.count("POST", r"/jobs/?$") == 0


def test_listing_is_bounded_when_the_total_never_ends() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        page = [{"id": int(request.url.params["offset"]) + i, "name": "other"} for i in range(100)]
        return httpx.Response(200, json={"status": {"code": 200}, "data": page,
                                         "extra": {"pagination": {"total_count": 10 ** 9}}})

    settings = CloudSettings(access_url="http://127.0.0.1:9", account_id=1, token="t")
    with CloudClient(settings, transport=httpx.MockTransport(endless)) as client, \
            pytest.raises(CloudAPIError, match=f"after {MAX_PAGES} pages"):
        list(client.jobs(project_id=1, environment_id=1))
    assert client.requests == MAX_PAGES


@pytest.mark.parametrize("settings", [{"project_id": PROJECT}, {"environment_id": ENVIRONMENT}])
def test_without_job_or_project_and_environment_it_declines(
    project: Path, standin: StandIn, settings: dict[str, int]
) -> None:
    write_floe_yml(project, standin, None, **settings)
    result = run(project, fallback=True)
    assert result.runtime == "core"
    [declined] = result.declined
    assert (declined.runtime, declined.reason_code) == ("cloud", "not-configured")
    assert "project_id and environment_id" in declined.message
    assert standin.requests == []


def test_an_unknown_environment_is_a_configuration_error(project: Path,
                                                         standin: StandIn) -> None:
    with pytest.raises(DBTConfigurationError, match="would not find or create job"):
        run(project)
    assert standin.runs == {}


def test_the_standin_holds_a_new_job_to_the_spec(standin: StandIn, tmp_path: Path) -> None:
    standin.add_environment(tmp_path, project_id=PROJECT, environment_id=ENVIRONMENT)
    with api(standin) as client:
        bare = client.post("jobs/", json={"account_id": standin.account_id, "name": "x"})
        settings = CloudSettings(account_id=standin.account_id, project_id=PROJECT,
                                 environment_id=ENVIRONMENT, token="t")
        wrong = client.post("jobs", json={**new_job_body(settings), "settings": {"threads": 1},
                                          "job_type": "nightly"})
        good = client.post("jobs", json=new_job_body(settings))
    assert bare.status_code == 400
    status = bare.json()["status"]
    assert (status["code"], status["is_success"]) == (400, False)
    assert {"project_id", "environment_id", "execution", "settings", "triggers"} <= set(
        bare.json()["data"])
    assert wrong.status_code == 400
    assert set(wrong.json()["data"]) == {"settings", "job_type"}
    assert good.status_code == 200
    assert good.json()["data"]["name"] == DEFAULT_JOB_NAME


def test_the_standin_can_default_what_the_service_defaults(tmp_path: Path) -> None:
    with StandIn(fill_job_defaults=True) as standin, api(standin) as client:
        standin.add_environment(tmp_path, project_id=PROJECT, environment_id=ENVIRONMENT)
        made = client.post("jobs", json={"account_id": standin.account_id, "name": "adhoc",
                                         "project_id": PROJECT, "environment_id": ENVIRONMENT,
                                         "description": "d", "job_type": "other"})
        missing = client.post("jobs", json={"account_id": standin.account_id, "name": "adhoc"})
    assert made.status_code == 200
    assert made.json()["data"]["settings"] == {"threads": 1, "target_name": "default"}
    assert missing.status_code == 400
    assert set(missing.json()["data"]) == {"project_id", "environment_id"}


def test_the_standin_filters_jobs_as_the_spec_lists_them(standin: StandIn,
                                                         tmp_path: Path) -> None:
    standin.add_job(tmp_path, name="Nightly build", project_id=PROJECT)
    standin.add_job(tmp_path, name="gone", project_id=PROJECT, state=2)
    standin.add_job(tmp_path, name="elsewhere", project_id=2)
    with api(standin) as client:
        active = client.get("jobs/", params={"project_id": PROJECT}).json()
        deleted = client.get("jobs/", params={"project_id": PROJECT, "state": "deleted"}).json()
        named = client.get("jobs/", params={"name__icontains": "NIGHTLY"}).json()
        too_many = client.get("jobs/", params={"limit": 101})
    assert [j["name"] for j in active["data"]] == ["Nightly build"]
    assert active["extra"]["pagination"] == {"count": 1, "total_count": 1}
    assert active["extra"]["filters"] == {"project_id": str(PROJECT)}
    assert [j["name"] for j in deleted["data"]] == ["gone"]
    assert [j["name"] for j in named["data"]] == ["Nightly build"]
    assert too_many.status_code == 400


def test_the_standin_answers_what_dagster_dbt_reads_besides_runs(standin: StandIn,
                                                                  tmp_path: Path) -> None:
    """Fidelity gaps dagster-dbt's client found: the account without a trailing slash, projects,
    environments, and List Runs filtered by project, environment, status__in and
    finished_at__range."""
    standin.add_environment(tmp_path, project_id=PROJECT, environment_id=ENVIRONMENT)
    with api(standin) as client:
        account = client.get(f"{standin.access_url}/api/v2/accounts/{standin.account_id}")
        project = client.get(f"projects/{PROJECT}")
        environment = client.get(f"environments/{ENVIRONMENT}/")
        missing = client.get("environments/12345")
        runs = client.get("runs", params={"project_id": PROJECT, "status__in": "[1,2,3]",
                                          "finished_at__range": '["2020-01-01T00:00:00+00:00", '
                                                                '"2020-01-02T00:00:00+00:00"]'})
    assert account.json()["data"]["id"] == standin.account_id
    assert project.json()["data"]["id"] == PROJECT
    assert environment.json()["data"]["project_id"] == PROJECT
    assert missing.status_code == 404
    assert runs.status_code == 200
    assert runs.json()["extra"]["filters"]["status__in"] == ["1", "2", "3"]


def test_a_remembered_job_deleted_in_dbt_cloud_is_found_anew(project: Path,
                                                              standin: StandIn) -> None:
    standin.add_environment(project, project_id=PROJECT, environment_id=ENVIRONMENT)
    first = run(project)
    gone = first.metadata["dbt_cloud_job_id"]
    standin.delete_job(gone)
    second = run(project)
    assert second.success
    assert second.metadata["dbt_cloud_job_id"] not in (gone, None)
    assert standin.count("POST", rf"/jobs/{gone}/run/?$") == 2, "the 404 trigger, then no more"
    assert standin.count("POST", r"/jobs/?$") == 2, "created again once"
    assert run(project).metadata["dbt_cloud_job_id"] == second.metadata["dbt_cloud_job_id"]


def test_a_configured_job_that_is_gone_is_a_configuration_error(project: Path,
                                                                 standin: StandIn) -> None:
    job = standin.add_job(project, project_id=PROJECT, environment_id=ENVIRONMENT)
    write_floe_yml(project, standin, job.id)
    standin.delete_job(job.id)
    with pytest.raises(DBTConfigurationError, match=rf"job {job.id} not found") as caught:
        run(project)
    assert "plugins.cloud.job_id" in (caught.value.hint or "")
    assert standin.count("POST", r"/jobs/?$") == 0, "a configured job is never replaced"
