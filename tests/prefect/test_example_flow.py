"""The README's example flow file, run as a user would (its ``main``) on a copy of the project."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.prefect.conftest import Recorded, relation_counts

pytestmark = pytest.mark.integration

EXAMPLE = ROOT / "examples" / "prefect" / "jaffle_shop_flow.py"


def test_example_flow_file(project: Path) -> None:
    spec = importlib.util.spec_from_file_location("jaffle_shop_flow", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    result = module.main(["--project-dir", str(project), "--runtime", "fusion"])

    units = result["units"]
    assert result["plan"] == {"mode": "per_node", "units": 11, "waves": 6, "manifest": "compiled"}
    assert {u["state"] for u in units.values()} == {"ok"}
    assert {u["runtime"] for u in units.values()} == {"fusion"}
    assert relation_counts(project)["customers"] == 15
    # The flow's tasks carry the example's retry policy on the server.
    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_runs(limit=1, sort="START_TIME_DESC")[0]
    assert flow_run.name
    tasks = Recorded(flow_run.id).task_runs()
    assert len(tasks) == 11
    assert {t.empirical_policy.retries for t in tasks.values()} == {2}
