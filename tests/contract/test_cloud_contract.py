"""The dbt Cloud runtime passes the runtime contract against the Admin API v2 stand-in, whose runs
execute the steps with real dbt-core (strictly: no fallback allowed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.testing import CONTRACT_PROJECT, RuntimeContract, write_project
from tests.cloud_standin import StandIn, write_floe_yml

pytestmark = pytest.mark.integration


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn() as server:
        monkeypatch.setenv("DBT_CLOUD_API_TOKEN", server.token)
        yield server


class TestCloudContract(RuntimeContract):
    runtime = "cloud"

    @pytest.fixture
    def contract_project(self, tmp_path: Path, contract_profiles_yml: str,
                         standin: StandIn) -> Path:
        project = write_project(
            tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": contract_profiles_yml}
        )
        write_floe_yml(project, standin, standin.add_job(project).id)
        return project
