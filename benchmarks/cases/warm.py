"""The ``warm-one-model-500`` case: running one model of 500 from a warm Python process (the
facade keeps the parsed manifest) against ``dbt run -s`` on the CLI with partial parsing warm."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import generate_project
from benchmarks.runner import (
    GENERATED,
    ROOT,
    BenchError,
    Options,
    Row,
    generated_project,
    log,
    row,
    run_child,
    run_proc,
    summary,
    tool,
    warmup_tag,
)

MODELS = 500
PROFILED_CALLS = 5


def case_warm(opts: Options) -> list[Row]:
    """DBTFacade().run_models(select=<a middle model>) warm, against dbt run -s on the CLI."""
    project = generated_project("warm-500", MODELS)
    model = generate_project.middle_model(MODELS, "layered")
    dbt = tool("dbt")
    for step in ("seed", "run", "parse"):
        elapsed = run_proc([dbt, step, "--profiles-dir", "."], cwd=project,
                           timeout=opts.timeout).wall
        log(f"  warm-one-model-500: setup dbt {step} {elapsed:.1f} s")

    cli: list[float] = []
    for i in range(opts.warmup + opts.repeat):
        done = run_proc([dbt, "run", "-s", model, "--profiles-dir", "."], cwd=project,
                        timeout=opts.timeout)
        if "PASS=1 " not in done.stdout:
            raise BenchError(f"dbt run -s {model} did not run exactly one model:\n{done.stdout}")
        if i >= opts.warmup:
            cli.append(done.wall)
        log(f"  warm-one-model-500: dbt run -s {model} {done.wall:.3f} s{warmup_tag(i, opts)}")

    data = run_child("warm", cwd=ROOT, timeout=opts.timeout * (4 if opts.memory else 1),
                     project=str(project), model=model, calls=opts.repeat + 1, memory=opts.memory,
                     profile=str(GENERATED / "warm-500.prof") if opts.profile else None)
    warm = data["times"][1:opts.repeat + 1]
    log(f"  warm-one-model-500: facade cold call {data['times'][0]:.3f} s, warm calls "
        + ", ".join(f"{t:.3f}" for t in warm) + " s")
    if len(data["times"]) > opts.repeat + 1:
        log(f"  warm-one-model-500: median of all {len(data['times']) - 1} warm calls "
            f"{statistics.median(data['times'][1:]):.3f} s")
    for point in data.get("memory", []):
        log(f"  warm-one-model-500: after {point['warm_calls']:>3} warm calls: "
            f"maxrss {point['maxrss_mb']:.1f} MB, VmRSS {point['vmrss_mb']:.1f} MB")
    if data.get("profile"):
        log(f"  warm-one-model-500: cProfile of the warm calls: {data['profile']} "
            f"(top functions in {data['profile_text']})")
    if opts.profile:
        breakdown = run_child("breakdown", cwd=ROOT, timeout=opts.timeout, project=str(project),
                              model=model, calls=5)["medians"]
        log("  warm-one-model-500: wall-time breakdown of a warm call (median of 5, "
            "instrumented):")
        for label, seconds in breakdown.items():
            log(f"    {seconds * 1e3:8.1f} ms  {label}")
        data["breakdown"] = breakdown
    floe_s, cli_s = summary(warm), summary(cli)
    return [row("warm-one-model-500", "s", floe_s, cli_s, "< 0.5 s", floe_s["median"] < 0.5,
                reference_name="(dbt run -s)", details={
                    "model": model, "cold_call": data["times"][0], "all_calls": data["times"],
                    "memory": data.get("memory", []), "project": str(project),
                    "breakdown": data.get("breakdown"),
                })]


def _rss() -> dict[str, float]:
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vmrss_kb = 0.0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                vmrss_kb = float(line.split()[1])
    return {"maxrss_mb": maxrss_kb / 1024, "vmrss_mb": vmrss_kb / 1024}


def child_warm(project: str, model: str, calls: int, memory: bool, profile: str | None
               ) -> dict[str, Any]:
    """``calls`` timed calls (the first is cold), then with ``memory`` more unprofiled calls up
    to 100 warm ones, then with ``profile`` PROFILED_CALLS more under cProfile (never timed)."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade()  # isolate=True; requests default to reuse_manifest=True
    checkpoints = {1, 10, 100} if memory else set()
    total = max(calls, 101) if memory else calls

    def call(index: int) -> float:
        started = time.perf_counter()
        result = facade.run_models(project, select=model)
        elapsed = time.perf_counter() - started
        if not result.success or result.models_run != 1:
            raise SystemExit(f"call {index}: success={result.success} "
                             f"models_run={result.models_run} nodes={result.nodes}")
        if index > 0 and not result.metadata.get("warm_manifest"):
            raise SystemExit(f"call {index} did not reuse the warm manifest")
        return elapsed

    times: list[float] = []
    mem: list[dict[str, Any]] = []
    for index in range(total):
        times.append(call(index))
        if index in checkpoints:
            mem.append({"warm_calls": index, **_rss()})
    out: dict[str, Any] = {"times": times, "memory": mem}
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for index in range(total, total + PROFILED_CALLS):
            call(index)
        profiler.disable()
        profiler.dump_stats(profile)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        text.write(f"{PROFILED_CALLS} warm run_models calls under cProfile\n")
        stats.sort_stats("cumulative").print_stats(80)
        stats.sort_stats("tottime").print_stats(40)
        Path(profile).with_suffix(".txt").write_text(text.getvalue())
        out.update(profile=profile, profile_text=str(Path(profile).with_suffix(".txt")))
    return out


# (label, module, attribute path): wall time of each is summed per warm call by child_breakdown.
# Indentation of a label shows nesting (the DuckDB open happens when before_run takes its first
# connection); "dbt preflight" (click, flags, project and profile loading, adapter setup) is what
# dbtRunner.invoke spends outside the task's run().
BREAKDOWN: tuple[tuple[str, str, str], ...] = (
    ("facade.run_models (total)", "floe_dbt_hooks.api", "DBTFacade.invoke"),
    ("  floe: load_project", "floe_dbt_core.invoke", "load_project"),
    ("  floe: load_profile_target", "floe_dbt_core.invoke", "load_profile_target"),
    ("  floe: _warm_manifest", "floe_dbt_core.invoke", "_warm_manifest"),
    ("    project_fingerprint", "floe_dbt_core.invoke", "project_fingerprint"),
    ("    _reset_compiled_state", "floe_dbt_core.invoke", "_reset_compiled_state"),
    ("  dbtRunner.invoke", "dbt.cli.main", "dbtRunner.invoke"),
    ("    task.run()", "dbt.task.runnable", "GraphRunnableTask.run"),
    ("      _runtime_initialize", "dbt.task.compile", "CompileTask._runtime_initialize"),
    ("        compile_manifest", "dbt.task.base", "ConfiguredTask.compile_manifest"),
    ("          Linker.link_graph", "dbt.compilation", "Linker.link_graph"),
    ("            Linker.find_cycles", "dbt.compilation", "Linker.find_cycles"),
    ("          Linker.get_graph_summary", "dbt.compilation", "Linker.get_graph_summary"),
    ("        get_graph_queue (selection)", "dbt.task.runnable",
     "GraphRunnableTask.get_graph_queue"),
    ("      before_run", "dbt.task.run", "RunTask.before_run"),
    ("        create_schemas", "dbt.task.runnable", "GraphRunnableTask.create_schemas"),
    ("        populate_adapter_cache", "dbt.task.runnable",
     "GraphRunnableTask.populate_adapter_cache"),
    ("        duckdb open (Environment.initialize_db)", "dbt.adapters.duckdb.environments",
     "Environment.initialize_db"),
    ("      execute_nodes", "dbt.task.runnable", "GraphRunnableTask.execute_nodes"),
    ("      after_run", "dbt.task.run", "RunTask.after_run"),
    ("      task_end_messages", "dbt.task.run", "RunTask.task_end_messages"),
    ("  floe: write run_results.json", "dbt.artifacts.schemas.run.v5.run",
     "RunExecutionResult.write"),
    ("  floe: copy manifest.json", "shutil", "copyfile"),
    ("  floe: _release_connections (close)", "floe_dbt_core.invoke", "_release_connections"),
    ("  floe: node_results", "floe_dbt_core.invoke", "node_results"),
)


def _instrument(totals: dict[str, float]) -> None:
    """Wrap every BREAKDOWN function so its wall time is added to ``totals[label]``."""
    import functools
    import importlib

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - started

        return wrapper

    for label, module_name, attr in BREAKDOWN:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        raw = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name)
        if isinstance(raw, classmethod):
            setattr(owner, name, classmethod(timed(label, raw.__func__)))
        elif isinstance(raw, staticmethod):
            setattr(owner, name, staticmethod(timed(label, raw.__func__)))
        elif raw is not None:
            setattr(owner, name, timed(label, raw))
        else:
            raise SystemExit(f"cannot instrument {module_name}.{attr}")


def child_breakdown(project: str, model: str, calls: int) -> dict[str, Any]:
    """Wall time per step of ``calls`` warm run_models calls (after one unmeasured cold call)."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade()
    facade.run_models(project, select=model)  # cold: parse (imports dbt first)
    facade.run_models(project, select=model)  # one more so lazy imports are done
    totals: dict[str, float] = {}
    _instrument(totals)
    labels = [label for label, _, _ in BREAKDOWN]
    total, invoke, task_run = labels[0], "  dbtRunner.invoke", "    task.run()"
    preflight = "    dbt preflight (dbtRunner.invoke minus task.run)"
    rest = "  floe: everything else (facade total minus its steps above)"
    per_call: dict[str, list[float]] = {label: [] for label in [*labels, preflight, rest]}
    for _ in range(calls):
        totals.clear()
        facade.run_models(project, select=model)
        totals[preflight] = totals.get(invoke, 0.0) - totals.get(task_run, 0.0)
        totals[rest] = totals.get(total, 0.0) - sum(
            v for k, v in totals.items() if k.startswith("  ") and not k.startswith("   "))
        for label in per_call:
            per_call[label].append(totals.get(label, 0.0))
    medians = {label: statistics.median(values) for label, values in per_call.items()}
    return {"medians": medians, "calls": calls}
