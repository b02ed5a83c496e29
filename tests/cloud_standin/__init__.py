"""A local stand-in for dbt Cloud's Admin API v2 (see :mod:`tests.cloud_standin.server`)."""

from __future__ import annotations

from pathlib import Path

from tests.cloud_standin.server import Faults, StandIn

__all__ = ["Faults", "StandIn", "write_floe_yml"]


def write_floe_yml(project: Path, standin: StandIn, job_id: int | None,
                   **settings: object) -> Path:
    """Point ``project``'s floe.yml at the stand-in (the token stays in the environment); settings
    given as None are left out."""
    options = {"access_url": standin.access_url, "account_id": standin.account_id,
               "job_id": job_id, "poll_interval": 0.2, "max_poll_interval": 1.0,
               "backoff": 0.05, "max_backoff": 1.0, "request_timeout": 10, **settings}
    lines = "".join(f"    {key}: {value}\n" for key, value in options.items()
                    if value is not None)
    path = project / "floe.yml"
    path.write_text(f"plugins:\n  cloud:\n{lines}", encoding="utf-8")
    return path
