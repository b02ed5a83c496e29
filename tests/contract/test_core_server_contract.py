"""dbt-core through the warm server passes the same runtime contract as in-process dbt-core: one
server (a folder of this class's own) serves every case; it is stopped, and checked to have
served them, at the end."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dbt_hooks.testing import RuntimeContract

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
        logs = "".join(log.read_text() for log in (root / "s").glob("*.log"))
        pids = [int(p.read_text()) for p in (root / "s").glob("*.pid")]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
        assert len(re.findall(r"INFO invocation \S+: \w+$", logs, re.MULTILINE)) >= 10, logs
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a server outlived the class"


class TestCoreServerContract(RuntimeContract):
    runtime = "core"
    universal_fallback = True
