"""Shared fixtures: copies of the example project and a runner for the real ``floe-dbt`` CLI."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.services.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "jaffle_shop"
CLI_TIMEOUT = 300


def _default_fusion_env() -> None:
    """Let a bare ``pytest`` in the dev venv use the Fusion binary and DuckDB driver that
    ``scripts/bootstrap.py`` set up (same paths, same ``FLOE_DEV_*`` overrides). Runs on import,
    before test modules read the variables; values already set win."""
    fusion = Path(os.environ.get("FLOE_DEV_FUSION_VENV") or ROOT / ".venv-fusion") / "bin" / "dbt"
    driver = Path(os.environ.get("FLOE_DEV_DRIVER_DIR") or ROOT / ".cache" / "adbc" / "duckdb-1.5.6")
    for name, path in (("FLOE_DBT_FUSION_BIN", fusion), ("ADBC_DRIVER_PATH", driver)):
        if not os.environ.get(name) and path.exists():
            os.environ[name] = str(path)


_default_fusion_env()

ISOLATED_SUITES = ("airflow", "prefect")
"""Test folders for integrations installed only in their own venv (scripts/bootstrap.py's
IsolatedSuite): left out where the integration is not importable, run from that venv."""
collect_ignore = [name for name in ISOLATED_SUITES if importlib.util.find_spec(name) is None]


def copy_example(destination: Path) -> Path:
    """A clean copy of examples/jaffle_shop without any build output."""
    return Path(shutil.copytree(
        EXAMPLE, destination,
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", "*.duckdb.wal", ".user.yml",
                                      "spark-warehouse", "metastore_db", "derby.log"),
    ))


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "jaffle_shop")


class CLIResult:
    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        self.code = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    def __repr__(self) -> str:
        return f"<exit {self.code}>\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


RunCLI = Callable[..., CLIResult]


@pytest.fixture
def floe_dbt(tmp_path: Path) -> RunCLI:
    """Run the installed ``floe-dbt`` console script as a user would, from ``cwd``."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CLIResult:
        script = Path(sys.executable).parent / "floe-dbt"
        full_env = {**os.environ, "DO_NOT_TRACK": "1", **(env or {})}
        completed = subprocess.run(
            [str(script), *args], cwd=cwd or tmp_path, env=full_env, capture_output=True,
            text=True, timeout=CLI_TIMEOUT, check=False,
        )
        return CLIResult(completed)

    return run


@pytest.fixture
def isolated_openlineage_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OpenLineage setting from outside, and the whole environment restored afterwards: the
    client itself writes ``OPENLINEAGE__TRANSPORT__*`` variables when it sees ``OPENLINEAGE_URL``."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    os.environ.clear()
    os.environ.update(saved)
