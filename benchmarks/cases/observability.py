"""The ``observability-example`` case: what floe's logging and tracing cost a build, with no
OpenTelemetry SDK and with an in-memory one, against a build with the log plugin disabled."""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmarks.runner import (
    EXAMPLE,
    GENERATED,
    Options,
    Row,
    clean_state,
    copy_project,
    log,
    rotated,
    row,
    run_child,
    summary,
    warmup_tag,
)

MODES = ("baseline", "default", "otel-sdk")


def case_observability(opts: Options) -> list[Row]:
    """DBTFacade.build of the example, default and with an OTel SDK, against floe_dbt_log off."""
    project = copy_project(EXAMPLE, GENERATED / "observability-example")
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    seen: dict[str, dict[str, Any]] = {}
    for i in range(opts.warmup + opts.repeat):
        for mode in rotated(MODES, i):
            clean_state(project)
            data = run_child("observe", cwd=project, timeout=opts.timeout, mode=mode,
                             project=str(project))
            seen[mode] = data
            if i >= opts.warmup:
                wall[mode].append(data["wall"])
                cpu[mode].append(data["cpu"])
            log(f"  observability-example: {mode} build {data['wall']:.3f} s wall, "
                f"{data['cpu']:.3f} s CPU, {data['nodes']} nodes, {data['spans']} spans, "
                f"opentelemetry.trace imported: {data['otel_imported']}{warmup_tag(i, opts)}")
    clean_state(project)
    base_wall, base_cpu = summary(wall["baseline"]), summary(cpu["baseline"])
    rows = []
    for mode, limit in (("default", 0.01), ("otel-sdk", 0.05)):
        mode_wall, mode_cpu = summary(wall[mode]), summary(cpu[mode])
        ratio = mode_wall["median"] / base_wall["median"]
        cpu_ratio = mode_cpu["median"] / base_cpu["median"]
        log(f"  observability-example: {mode}/baseline {100 * (ratio - 1):+.1f}% wall "
            f"(medians), {100 * (mode_wall['min'] / base_wall['min'] - 1):+.1f}% (mins), "
            f"{100 * (cpu_ratio - 1):+.1f}% CPU")
        target = f"overhead < {limit:.0%}"
        rows.append(row(f"observability-example {mode}", "s", mode_wall, base_wall, target,
                        ratio < 1 + limit, reference_name="(baseline)", details={
                            "spans": seen[mode]["spans"], "baseline_spans": seen["baseline"]["spans"],
                            "otel_imported": seen[mode]["otel_imported"]}))
        rows.append(row(f"observability-example {mode} CPU", "s", mode_cpu, base_cpu, target,
                        cpu_ratio < 1 + limit, reference_name="(baseline CPU)"))
    return rows


def child_observe(mode: str, project: str) -> dict[str, Any]:
    """One facade build of ``project``; only the build call is timed (wall, and this process's
    CPU time, all threads). The plugin manager is created before the clock starts."""
    exporter: Any = None
    if mode == "otel-sdk":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(disable=["floe_dbt_log"]) if mode == "baseline" else DBTFacade()
    facade.plugin_manager(project)
    if exporter is not None:
        exporter.clear()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = facade.build(project)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not result.success or result.runtime != "core":
        raise SystemExit(f"build: success={result.success} runtime={result.runtime} "
                         f"failures={result.failures}")
    otel = "opentelemetry.trace" in sys.modules
    if mode == "baseline" and otel:
        raise SystemExit("baseline: opentelemetry.trace got imported")
    spans = len(exporter.get_finished_spans()) if exporter is not None else 0
    return {"wall": elapsed, "cpu": cpu, "nodes": len(result.nodes), "spans": spans,
            "otel_imported": otel}
