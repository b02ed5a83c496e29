"""One instance of each service per test run, shared by every pytest-xdist worker.

The first worker that needs a service starts it under an exclusive file lock in the run's shared
temp folder (the controller's basetemp, the parent of each worker's) and writes how to reach it to
a state file; later workers read that file. Only the controller (or the single process without
xdist) stops the services, at session finish, after every worker is done. So a run starts only
what its selected tests need (``-m "not spark"`` never starts a JVM), pytest run directly behaves
like CI, and no worker can stop a service another worker still uses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from floe_dbt_hooks.runtime.locks import file_lock

T = TypeVar("T")


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder all processes of this run share: the controller's basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_service(root: Path, name: str, start: Callable[[], T], load: Callable[[str], T],
                   dump: Callable[[T], str]) -> T:
    """The running service ``name`` of this run, started by whichever process asks first."""
    state = root / f"service-{name}.json"
    with file_lock(root / f"service-{name}.lock"):
        if state.is_file():
            return load(state.read_text())
        service = start()
        partial = state.with_suffix(".partial")
        partial.write_text(dump(service))
        partial.chmod(0o600)
        os.replace(partial, state)
        return service


def stop_shared_services(root: Path, stoppers: dict[str, Callable[[str], None]]) -> None:
    """Stop every service this run started (called by the controller only)."""
    for name, stop in stoppers.items():
        state = root / f"service-{name}.json"
        with file_lock(root / f"service-{name}.lock"):
            if state.is_file():
                try:
                    stop(state.read_text())
                finally:
                    state.unlink()
