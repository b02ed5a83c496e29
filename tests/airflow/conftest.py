"""Fixtures for the Airflow suite (run from .venv-airflow; tests/conftest.py leaves this folder out
where Airflow is not installed)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.airflow.harness import AirflowHome

# DAG objects built in this process (plan tests) must not touch ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="floe-airflow-home-")
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], True)
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def airflow_home(tmp_path: Path) -> AirflowHome:
    home = AirflowHome(tmp_path / "airflow")
    home.dags.mkdir(parents=True)
    return home
