"""Run examples/jaffle_shop as Prefect tasks, one per model and seed, through floe-dbt-hooks.

    pip install "floe-dbt-hooks[prefect]"
    python examples/prefect/jaffle_shop_flow.py                      # dbt-core, per node
    python examples/prefect/jaffle_shop_flow.py --runtime fusion --mode per_wave

Parsing happens once per flow run (Fusion: a fraction of a second; dbt-core reuses a fresh
target/manifest.json); each task then runs ``dbt build`` for its node and that node's tests on the
selected runtime, falling back to dbt-core if Fusion cannot serve. Without PREFECT_API_URL, Prefect
starts a temporary local server for the run. ``flow.serve()`` or ``flow.deploy()`` schedule it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from floe_dbt_prefect import DbtProject, dbt_flow

PROJECT = Path(__file__).resolve().parent.parent / "jaffle_shop"


def jaffle_shop_flow(project_dir: str | Path = PROJECT, runtime: str | None = None,
                     mode: str = "per_node") -> Any:
    """The flow: every model and seed of the project, tests attached, two retries per task."""
    return dbt_flow(
        DbtProject(project_dir=project_dir, runtime=runtime),
        mode=mode,                      # or "per_wave", "single"
        tests="attached",               # or "separate", "none"
        name="jaffle-shop",
        task_options={"retries": 2, "retry_delay_seconds": 5},
    )


def main(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", default=str(PROJECT))
    parser.add_argument("--runtime", default=None, help="core, fusion or any installed runtime")
    parser.add_argument("--mode", default="per_node", choices=["per_node", "per_wave", "single"])
    parser.add_argument("--full-refresh", action="store_true")
    args = parser.parse_args(argv)
    flow = jaffle_shop_flow(args.project_dir, args.runtime, args.mode)
    return flow(full_refresh=args.full_refresh)


if __name__ == "__main__":
    main()
