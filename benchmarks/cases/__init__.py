"""The registry of benchmark cases, in the order a full run takes them, and of the functions a
case runs inside a fresh Python process (``run.py _child MODE KWARGS_JSON``).

A case is a function of the :class:`~benchmarks.runner.Options` returning table rows; its
docstring's first line is what ``--list`` prints. One module per group of cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.cases import (
    airflow,
    build,
    cloud,
    compare,
    dagster,
    fusion,
    lint,
    manifest,
    observability,
    scale,
    server,
    soak,
    spark,
    startup,
    warm,
)
from benchmarks.runner import Options, Row

Case = Callable[[Options], list[Row]]

CASES: dict[str, Case] = {
    "import": startup.case_import,
    "build-example": build.case_build_example,
    "build-50": build.case_build_50,
    "manifest-10mb": manifest.case_manifest,
    "warm-one-model-500": warm.case_warm,
    "core-server-500": server.case_core_server,
    "lint-50": lint.case_lint,
    "fusion-compile-50": fusion.case_fusion_compile,
    "fusion-vs-core-compile-50": fusion.case_fusion_vs_core,
    "fallback-decision": fusion.case_fallback,
    "observability-example": observability.case_observability,
    "compare-50": compare.case_compare,
    "dagster-defs-50": dagster.case_dagster_defs,
    "spark-warm-example": spark.case_spark_warm,
    "cloud-overhead": cloud.case_cloud_overhead,
    "airflow-dag-parse": airflow.case_airflow_parse,
    "airflow-task-500": airflow.case_airflow_task,
    "soak": soak.case_soak,
    "load": soak.case_load,
    "scale-fusion-compile": scale.case_scale_fusion_compile,
    "scale-manifest": scale.case_scale_manifest,
    "scale-dagster-defs": scale.case_scale_dagster_defs,
    "scale-warm-run": scale.case_scale_warm_run,
    "scale-lint": scale.case_scale_lint,
    "scale-compare": scale.case_scale_compare,
}

CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "manifest": manifest.child_manifest,
    "warm": warm.child_warm,
    "breakdown": warm.child_breakdown,
    "fusion-compile": fusion.child_fusion_compile,
    "fallback": fusion.child_fallback,
    "observe": observability.child_observe,
    "spark-warm": spark.child_spark_warm,
    "cloud-overhead": cloud.child_cloud_overhead,
    "soak": soak.child_soak,
    "load-fusion": soak.child_load_fusion,
    "scale-graph": scale.child_scale_graph,
    "scale-warm": scale.child_scale_warm,
}


def describe(name: str) -> str:
    """The first line of the case's docstring."""
    doc = (CASES[name].__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
