"""dbt-core through the warm server passes the same runtime contract as in-process dbt-core: one
server (a folder of this class's own, per test worker) serves every case, each result is checked
to have come from it, and the server is stopped and checked gone at the end."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.models import (
    CompileRequest,
    CompileResult,
    DBTRunResult,
    InvocationResult,
    RunRequest,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.plugin.markers import hookimpl
from floe_dbt_hooks.testing import EventRecorder, RuntimeContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="class", autouse=True)
def _warm_server() -> Iterator[Path]:
    saved = {name: os.environ.get(name) for name in ("FLOE_DBT_SERVER_DIR", "FLOE_DBT_CORE_SERVER")}
    root = Path(tempfile.mkdtemp(prefix="floe-contract-srv-"))
    os.environ.update(FLOE_DBT_SERVER_DIR=str(root / "s"), FLOE_DBT_CORE_SERVER="1")
    try:
        yield root / "s"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pids = [int(p.read_text()) for p in (root / "s").glob("*.pid")]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a server outlived the class"


class _Served:
    """Keeps every run and compile result the manager returns."""

    name = "contract_served_results"

    def __init__(self) -> None:
        self.results: list[InvocationResult] = []

    @hookimpl(wrapper=True)
    def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
        result = yield
        self.results.append(result)
        return result

    @hookimpl(wrapper=True)
    def dbt_compile(self, request: CompileRequest
                    ) -> Generator[None, CompileResult, CompileResult]:
        result = yield
        self.results.append(result)
        return result


class TestCoreServerContract(RuntimeContract):
    runtime = "core"
    universal_fallback = True

    @pytest.fixture
    def served(self) -> Iterator[_Served]:
        served = _Served()
        yield served
        assert [r.metadata.get("server", {}).get("used") for r in served.results] == \
            [True] * len(served.results), "every result came from the server"

    @pytest.fixture
    def pm(self, contract_project: Path, recorder: EventRecorder, served: _Served
           ) -> FloePluginManager:
        return create_plugin_manager(contract_project, runtime=self.runtime, fallback=False,
                                     plugins=[recorder, served])
