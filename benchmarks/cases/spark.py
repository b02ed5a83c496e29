"""The ``spark-warm-example`` case: one model of examples/jaffle_shop on Spark (``session`` method,
local[*]) built repeatedly in one warm process, against ``dbt run -s`` on the CLI each time.

The CLI pays for a new Python process, a new JVM and SparkSession and a parse every run; the warm
process keeps dbt-spark's SparkSession and the parsed manifest. The CLI runs go first: Derby's
metastore in the project folder admits one JVM, and the warm child holds it until it exits. The
warm child's first call starts the JVM and is reported apart. Goal: warm at least 5x faster.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.runner import (
    EXAMPLE,
    GENERATED,
    BenchError,
    Options,
    Row,
    child_env,
    copy_project,
    log,
    row,
    run_child,
    run_proc,
    summary,
    tool,
    warmup_tag,
)

MODEL = "stg_orders"


def case_spark_warm(opts: Options) -> list[Row]:
    """DBTFacade.run_models(select=stg_orders) on Spark warm, against dbt run -s on the CLI."""
    project = copy_project(EXAMPLE, GENERATED / "spark-example")
    env = {**child_env(), "FLOE_SPARK_WAREHOUSE": str(GENERATED / "spark-example-warehouse")}
    dbt = tool("dbt")
    flags = ["--project-dir", str(project), "--profiles-dir", str(project), "--target", "spark"]
    seeded = run_proc([dbt, "seed", *flags], cwd=project, timeout=opts.timeout, env=env).wall
    log(f"  spark-warm-example: setup dbt seed {seeded:.1f} s")
    cli: list[float] = []
    for i in range(opts.warmup + opts.repeat):
        done = run_proc([dbt, "run", "-s", MODEL, *flags], cwd=project, timeout=opts.timeout,
                        env=env)
        if i >= opts.warmup:
            cli.append(done.wall)
        log(f"  spark-warm-example: dbt run -s {MODEL} {done.wall:.1f} s{warmup_tag(i, opts)}")
    data = run_child("spark-warm", cwd=project, timeout=opts.timeout * (opts.repeat + 2),
                     project=str(project), warehouse=env["FLOE_SPARK_WAREHOUSE"],
                     calls=opts.repeat + 1)
    warm = data["times"][1:]
    log(f"  spark-warm-example: facade first call {data['times'][0]:.1f} s (starts the JVM), "
        "then " + ", ".join(f"{t:.2f}" for t in warm) + " s")
    floe_s, cli_s = summary(warm), summary(cli)
    speedup = cli_s["median"] / floe_s["median"]
    return [row("spark-warm-example", "s", floe_s, cli_s, ">= 5x faster", speedup >= 5,
                reference_name="(dbt run -s, spark)", note=f"{speedup:.1f}x faster",
                details={"model": MODEL, "first_call": data["times"][0]})]


def child_spark_warm(project: str, warehouse: str, calls: int) -> dict[str, Any]:
    """``calls`` timed runs of MODEL through one facade; the first starts the JVM."""
    os.environ["FLOE_SPARK_WAREHOUSE"] = warehouse
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(runtime="core", fallback=False)
    times: list[float] = []
    for index in range(calls):
        started = time.perf_counter()
        result = facade.run_models(project, target="spark", select=MODEL)
        times.append(time.perf_counter() - started)
        if not result.success or result.models_run != 1:
            raise BenchError(f"call {index}: success={result.success} nodes={result.nodes}")
    return {"times": times}
