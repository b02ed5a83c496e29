"""Warm versus cold on Spark: one model of examples/jaffle_shop built repeatedly.

    .venv/bin/python benchmarks/spark_warm.py [--runs 5] [--model stg_orders]

- cold: ``dbt run -s MODEL`` from the command line each time: a new Python process, a new JVM and
  SparkSession, dbt parses the project again.
- warm: the same run through :class:`floe_dbt_hooks.DBTFacade` in this one process: dbt-spark's
  ``session`` method keeps the SparkSession (and its JVM) between invocations and the dbt-core
  runtime keeps the parsed manifest.

Both use the example's ``spark`` target (local[*], the warehouse in a temporary folder). The cold
runs go first: Derby's metastore (in the project folder) admits one JVM, and the warm JVM holds it
until this process ends. The first warm run starts the JVM, so it is reported apart and the
median is over the runs after it. Goal: warm at least 5x faster than cold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "jaffle_shop"
CLI_TIMEOUT = 600


def _cold_run(project: Path, model: str, env: dict[str, str]) -> float:
    dbt = Path(sys.executable).parent / "dbt"
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(dbt), "run", "-s", model, "--project-dir", str(project), "--profiles-dir", str(project),
         "--target", "spark"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=CLI_TIMEOUT)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if code != 0:
        raise SystemExit(f"dbt run -s {model} failed (exit {code}); see {project}/logs/dbt.log")
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="stg_orders")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="floe-spark-bench-") as scratch:
        project = Path(shutil.copytree(EXAMPLE, Path(scratch) / "jaffle_shop", ignore=shutil.ignore_patterns(
            "target", "logs", "*.duckdb", "spark-warehouse", "metastore_db")))
        os.environ.update({"FLOE_SPARK_WAREHOUSE": str(Path(scratch) / "warehouse"),
                           "DO_NOT_TRACK": "1"})
        env = dict(os.environ)
        print(f"seeding (dbt seed, CLI) into {scratch} ...", flush=True)
        seed = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "seed", "--project-dir", str(project),
             "--profiles-dir", str(project), "--target", "spark"],
            cwd=project, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
        if seed.returncode != 0:
            raise SystemExit(f"dbt seed failed:\n{seed.stdout[-2000:]}")

        cold = [_cold_run(project, args.model, env) for _ in range(args.runs)]
        print("cold (dbt run -s, new process each):", ", ".join(f"{t:.1f}s" for t in cold),
              flush=True)

        from floe_dbt_hooks import DBTFacade

        facade = DBTFacade(runtime="core", fallback=False)
        warm: list[float] = []
        for _ in range(args.runs + 1):
            started = time.perf_counter()
            result = facade.run_models(project, target="spark", select=args.model)
            warm.append(time.perf_counter() - started)
            if not result.success:
                raise SystemExit(f"warm run failed: {result.failures}")
        print(f"warm (DBTFacade, one process): first {warm[0]:.1f}s (starts the JVM), then "
              + ", ".join(f"{t:.2f}s" for t in warm[1:]), flush=True)

    cold_median, warm_median = statistics.median(cold), statistics.median(warm[1:])
    ratio = cold_median / warm_median
    print(f"median cold {cold_median:.2f}s, median warm {warm_median:.2f}s, "
          f"warm is {ratio:.1f}x faster (goal: 5x) -> {'met' if ratio >= 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
