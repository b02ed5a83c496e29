"""One real Prefect server per test session (Prefect's own test harness: a local uvicorn server on
SQLite in a temporary PREFECT_HOME, no network), and readers of what it recorded."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import copy_example

_HOME = tempfile.mkdtemp(prefix="floe-prefect-home-")
# Before prefect is imported: its settings are read once.
os.environ.update({
    "PREFECT_HOME": _HOME,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.2",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.2",
    "DO_NOT_TRACK": "1",
})


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "jaffle_shop")


class Recorded:
    """What the server holds about one flow run."""

    def __init__(self, flow_run_id: UUID) -> None:
        self.id = flow_run_id

    @property
    def _client(self) -> Any:
        from prefect import get_client

        return get_client(sync_client=True)

    def _filter(self, module: str, cls: str, field: str) -> Any:
        import prefect.client.schemas.filters as filters

        inner = getattr(filters, cls)(any_=[self.id])
        return getattr(filters, module)(**{field: inner})

    @property
    def flow_run(self) -> Any:
        with self._client as client:
            return client.read_flow_run(self.id)

    def task_runs(self) -> dict[str, Any]:
        """Task runs by name."""
        with self._client as client:
            runs = client.read_task_runs(
                flow_run_filter=self._filter("FlowRunFilter", "FlowRunFilterId", "id"))
        return {run.name: run for run in runs}

    def artifacts(self) -> list[Any]:
        with self._client as client:
            return list(client.read_artifacts(artifact_filter=self._filter(
                "ArtifactFilter", "ArtifactFilterFlowRunId", "flow_run_id")))

    def logs(self, wanted: Callable[[str], bool] = lambda text: True,
             timeout: float = 15.0) -> list[Any]:
        """Log records of the run (they arrive in batches): waits until one matches ``wanted``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._client as client:
                logs = list(client.read_logs(log_filter=self._filter(
                    "LogFilter", "LogFilterFlowRunId", "flow_run_id")))
            if any(wanted(log.message) for log in logs) or time.monotonic() > deadline:
                return logs
            time.sleep(0.3)

    def asset_events(self, wanted: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The ``prefect.asset.*`` events related to this flow run, once ``wanted`` arrived."""
        deadline = time.monotonic() + timeout
        marker = f"prefect.flow-run.{self.id}"
        while True:
            events: list[dict[str, Any]] = []
            with self._client as client:
                page = client._client.post("/events/filter", json={
                    "filter": {"event": {"prefix": ["prefect.asset."]},
                               "related": {"id": [marker]}}, "limit": 50}).json()
                events += page["events"]
                while page.get("next_page"):
                    page = client._client.get(page["next_page"]).json()
                    events += page["events"]
            if len([e for e in events if "materialization" in e["event"]]) >= wanted \
                    or time.monotonic() > deadline:
                return events
            time.sleep(0.3)


def table(artifact: Any) -> list[dict[str, Any]]:
    """A table artifact's rows (the server keeps them as JSON text)."""
    import json

    data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return list(data)


def recorded(state: Any) -> Recorded:
    return Recorded(state.state_details.flow_run_id)


def materializations(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Asset key -> {"event": ..., "payload": ..., "related": [...]} of each materialization."""
    return {e["resource"]["prefect.resource.id"]: e for e in events
            if e["event"].startswith("prefect.asset.materialization.")}


def relation_counts(project: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(project / "jaffle_shop.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema='main'"
        ).fetchall()]
        return {n: con.execute(f'select count(*) from main."{n}"').fetchone()[0]  # type: ignore[index]
                for n in names}
