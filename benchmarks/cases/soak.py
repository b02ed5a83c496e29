"""The ``soak`` and ``load`` cases: a long-lived process that keeps invoking dbt, and many
invocations of one project at once.

``soak``: one Python process (as an orchestrator's worker or a notebook would be) calls
``DBTFacade`` ``--soak-n`` times (default 1,000), alternating dbt-core and Fusion, cycling through
commands (run, test, build, compile) and selections (one model, a model and its children, a
model and its parents, a wildcard, everything) on a generated 30-model project. After calls 1, 10,
100 and 1,000 (those up to N) it records the process's resident memory (``VmRSS``), open file
descriptors (``/proc/self/fd``), OS threads (``/proc/self/status``) and live child processes
(any process whose parent is this one, zombies included). The table compares the last checkpoint
with the one after 10 calls (both runtimes warm by then): flat means no more than 10% or 25 MB
more memory, and not one more descriptor, thread or child.

``load``: 16 Fusion invocations at once from one process (threads over one ``DBTFacade``, as a
Dagster or Airflow worker running many tasks would) plus 4 dbt-core processes (one
``DBTFacade(runtime="core")`` build each), all started together on one generated project. On
DuckDB they take turns on floe's writer lock; every one must succeed and leave intact artifacts in
its own isolated target folder: ``run_results.json`` and ``manifest.json`` parse, the run results
carry the invocation's id, and every node in them succeeded.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    ROOT,
    BenchError,
    Options,
    Row,
    child_env,
    fusion_binary,
    generated_project,
    last_json,
    log,
    row,
    run_child,
    run_proc,
    summary,
    tool,
)

SOAK_MODELS = 30
CHECKPOINTS = (1, 10, 100, 1000)
RSS_SLACK_MB = 25.0
RSS_SLACK = 0.10
LOAD_MODELS = 10
LOAD_FUSION = 16
LOAD_CORE = 4


# --------------------------------------------------------------------------------------------
# soak


def soak_plan(index: int, models: int) -> tuple[str, str, str | None]:
    """(runtime, command, selection) of call ``index``: runtimes alternate every call, commands
    and selections cycle at other periods so every runtime meets every combination."""
    from benchmarks.generate_project import model_name

    runtime = "core" if index % 2 == 0 else "fusion"
    command = ("run", "test", "run", "build", "compile")[(index // 2) % 5]
    pick = model_name((index * 7) % models)
    selection = (pick, f"{pick}+", f"+{pick}", "model_000*", None, pick)[(index // 3) % 6]
    return runtime, command, selection


def case_soak(opts: Options) -> list[Row]:
    """--soak-n warm DBTFacade calls (core and Fusion alternating): RSS, fds, threads, children."""
    fusion_binary()
    project = generated_project("soak", SOAK_MODELS)
    for step in ("seed", "run"):  # every model exists before the first selective call
        run_proc([tool("dbt"), step, "--profiles-dir", "."], cwd=project, timeout=opts.timeout)
    calls = opts.soak_n
    log(f"  soak: {calls} facade calls on {project} (progress every 100 calls below)")
    started = time.perf_counter()
    data = run_child("soak", cwd=ROOT, timeout=max(opts.timeout, 30.0 * calls),
                     project=str(project), calls=calls)
    log(f"  soak: {calls} calls in {time.perf_counter() - started:.0f} s")
    points = data["points"]
    for point in points:
        log(f"  soak: after {point['calls']:>4} calls: VmRSS {point['rss_mb']:.1f} MB, "
            f"{point['fds']} fds, {point['threads']} threads ({point['py_threads']} Python), "
            f"{point['children']} child processes {point['child_names']} ({point['zombies']} zombies), "
            f"{point['invocation_dirs']} isolated target folders, "
            f"{point['uncollectable']} uncollectable objects")
    for window in data["windows"]:
        log(f"  soak: calls {window['first']}-{window['last']}: median core "
            f"{window['core']:.3f} s, fusion {window['fusion']:.3f} s")
    last = points[-1]
    base = next((p for p in points if p["calls"] == 10), points[0])
    rows: list[Row] = []
    label = f"soak-{calls}"
    rss_limit = max(base["rss_mb"] * (1 + RSS_SLACK), base["rss_mb"] + RSS_SLACK_MB)
    rows.append(row(f"{label} VmRSS MB", "MB", _one(last["rss_mb"]), _one(base["rss_mb"]),
                    f"<= +10% or +{RSS_SLACK_MB:g} MB", last["rss_mb"] <= rss_limit,
                    reference_name=f"(after {base['calls']} calls)",
                    details={"points": points, "windows": data["windows"],
                             "project": str(project)}))
    for key, what in (("fds", "open fds"), ("threads", "OS threads"),
                      ("children", "child processes")):
        rows.append(row(f"{label} {what}", "n", _one(last[key]), _one(base[key]), "flat",
                        last[key] <= base[key], reference_name=f"(after {base['calls']} calls)"))
    first, final = data["windows"][0], data["windows"][-1]
    for runtime in ("core", "fusion"):
        rows.append(row(f"{label} {runtime} call", "s", _one(final[runtime]),
                        _one(first[runtime]), "-", None,
                        reference_name=f"(calls {first['first']}-{first['last']})",
                        note=f"median of calls {final['first']}-{final['last']}"))
    return rows


def _one(value: float) -> dict[str, Any]:
    return {"median": value, "min": value, "samples": [value]}


def process_state(project: Path | None = None) -> dict[str, Any]:
    """Resident memory, open descriptors, OS and Python threads, live children (and how many of
    them are zombies) of this process; with ``project``, its isolated target folders."""
    import gc
    import threading

    status: dict[str, str] = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    me = str(os.getpid())
    children = zombies = 0
    names: list[str] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == me:
            children += 1
            zombies += fields[0] == "Z"
            names.append(stat.split("(", 1)[1].rsplit(")", 1)[0])
    state: dict[str, Any] = {
        "rss_mb": float(status["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(status["Threads"]),
        "py_threads": threading.active_count(),
        "children": children,
        "zombies": zombies,
        "child_names": sorted(names),
        "uncollectable": len(gc.garbage),
    }
    if project is not None:
        floe = project / "target" / "floe"
        state["invocation_dirs"] = len(os.listdir(floe)) if floe.is_dir() else 0
    return state


def child_soak(project: str, calls: int) -> dict[str, Any]:
    """In the child: ``calls`` facade calls per :func:`soak_plan`; any failure stops the soak."""
    from floe_dbt_hooks import DBTFacade

    root = Path(project)
    facade = DBTFacade(fallback=False)
    checkpoints = {c for c in CHECKPOINTS if c <= calls} | {calls}
    points: list[dict[str, Any]] = []
    times: dict[str, list[tuple[int, float]]] = {"core": [], "fusion": []}
    for index in range(calls):
        runtime, command, selection = soak_plan(index, SOAK_MODELS)
        started = time.perf_counter()
        if command == "compile":
            result: Any = facade.compile(root, runtime=runtime, select=selection)
        else:
            result = facade.invoke(command, root, runtime=runtime, select=selection)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        if not result.success or result.runtime != runtime:
            raise SystemExit(f"call {index + 1} ({runtime} {command} -s {selection}): "
                             f"success={result.success} runtime={result.runtime} "
                             f"declined={result.declined} nodes={result.nodes}")
        times[runtime].append((index + 1, elapsed))
        if index + 1 in checkpoints:
            points.append({"calls": index + 1, **process_state(root)})
        if (index + 1) % 100 == 0:
            print(f"soak: {index + 1} calls, {json.dumps(points[-1])}", file=sys.stderr,
                  flush=True)
    return {"points": points, "windows": _windows(times, calls)}


def _windows(times: dict[str, list[tuple[int, float]]], calls: int) -> list[dict[str, Any]]:
    """Median call time per runtime over the first and the last 100 calls (or tenth)."""
    size = max(2, min(100, calls // 10 or calls))
    spans = [(1, size), (max(1, calls - size + 1), calls)]
    out = []
    for first, last in spans:
        window: dict[str, Any] = {"first": first, "last": last}
        for runtime, samples in times.items():
            chosen = [t for i, t in samples if first <= i <= last] or [t for _, t in samples]
            window[runtime] = statistics.median(chosen)
        out.append(window)
    return out


# --------------------------------------------------------------------------------------------
# load

CORE_CHILD = r"""
import json, sys, time
from floe_dbt_hooks import DBTFacade
started = time.perf_counter()
result = DBTFacade(runtime="core", fallback=False).build(sys.argv[1])
print(json.dumps({"elapsed": time.perf_counter() - started, "success": result.success,
                  "runtime": result.runtime, "invocation_id": result.invocation_id,
                  "run_results": str(result.run_results_path),
                  "manifest": str(result.manifest_path), "nodes": len(result.nodes)}))
"""


def case_load(opts: Options) -> list[Row]:
    """16 concurrent Fusion builds (threads) plus 4 dbt-core build processes on one project."""
    fusion_binary()
    project = generated_project("load", LOAD_MODELS)
    run_proc([tool("dbt"), "seed", "--profiles-dir", "."], cwd=project, timeout=opts.timeout)
    rows: list[Row] = []
    walls: list[float] = []
    for i in range(opts.repeat):
        outcome = run_load(project, LOAD_FUSION, LOAD_CORE, opts.timeout)
        walls.append(outcome["wall"])
        fusion_s = summary([r["elapsed"] for r in outcome["fusion"]])
        core_s = summary([r["elapsed"] for r in outcome["core"]])
        log(f"  load: round {i + 1}: all {LOAD_FUSION + LOAD_CORE} done in "
            f"{outcome['wall']:.1f} s; Fusion builds {fusion_s['min']:.1f}-"
            f"{max(fusion_s['samples']):.1f} s (median {fusion_s['median']:.1f}), dbt-core "
            f"processes {core_s['min']:.1f}-{max(core_s['samples']):.1f} s; one Fusion build "
            f"alone {outcome['single_fusion']:.1f} s")
    rows.append(row(f"load {LOAD_FUSION} fusion + {LOAD_CORE} core", "s", summary(walls), None,
                    "all succeed, artifacts intact", True,
                    note=f"{opts.repeat * (LOAD_FUSION + LOAD_CORE)} builds checked",
                    details={"project": str(project)}))
    return rows


def run_load(project: Path, fusion: int, core: int, timeout: float) -> dict[str, Any]:
    """Start ``core`` dbt-core build processes and ``fusion`` Fusion builds (threads of one child
    process) at once on ``project``; check every result and its artifacts; BenchError if any
    failed."""
    python = tool("python")
    single = run_child("load-fusion", cwd=ROOT, timeout=timeout, project=str(project), builds=1)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=core + 1) as pool:
        fusion_job = pool.submit(run_child, "load-fusion", cwd=ROOT, timeout=timeout,
                                 project=str(project), builds=fusion)
        core_jobs = [pool.submit(run_proc, [python, "-c", CORE_CHILD, project], cwd=ROOT,
                                 timeout=timeout, env=child_env()) for _ in range(core)]
        fusion_results = fusion_job.result()["builds"]
        core_results = [last_json(job.result().stdout) for job in core_jobs]
    wall = time.perf_counter() - started
    problems = [p for r in [*fusion_results, *core_results] for p in check_build(r)]
    ids = [r["invocation_id"] for r in [*fusion_results, *core_results]]
    if len(set(ids)) != len(ids):
        problems.append("two builds share an invocation id")
    if problems:
        raise BenchError("load: " + "; ".join(problems[:10]))
    return {"wall": wall, "fusion": fusion_results, "core": core_results,
            "single_fusion": single["builds"][0]["elapsed"]}


def check_build(result: dict[str, Any]) -> list[str]:
    """What is wrong with one build's result and artifacts (empty: nothing)."""
    name = f"{result.get('runtime')} build {result.get('invocation_id')}"
    if not result.get("success"):
        return [f"{name} failed: {result.get('error', '')}"]
    problems: list[str] = []
    try:
        run_results = json.loads(Path(result["run_results"]).read_text())
        manifest = json.loads(Path(result["manifest"]).read_text())
    except (OSError, ValueError, KeyError) as exc:
        return [f"{name}: artifacts unreadable ({exc})"]
    if Path(result["run_results"]).parent.name != result["invocation_id"]:
        problems.append(f"{name}: run_results.json is not in its own isolated folder")
    engine_id = run_results.get("metadata", {}).get("invocation_id")
    if result["runtime"] == "fusion" and engine_id != result["invocation_id"]:
        # dbt-core writes an id of its own; Fusion is handed floe's
        problems.append(f"{name}: run_results.json is invocation {engine_id}'s")
    statuses = [r.get("status") for r in run_results.get("results", [])]
    if len(statuses) != result["nodes"] or not statuses:
        problems.append(f"{name}: run_results.json has {len(statuses)} results, "
                        f"the result {result['nodes']} nodes")
    if any(s not in ("success", "pass") for s in statuses):
        problems.append(f"{name}: statuses {sorted(set(map(str, statuses)))}")
    if not manifest.get("nodes"):
        problems.append(f"{name}: manifest.json has no nodes")
    return problems


def child_load_fusion(project: str, builds: int) -> dict[str, Any]:
    """In the child: ``builds`` Fusion builds at once, one thread each, on one facade."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(runtime="fusion", fallback=False)

    def one(_: int) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            result = facade.build(project)
        except Exception as exc:  # reported, so one failure does not hide the others
            return {"success": False, "runtime": "fusion", "invocation_id": "?",
                    "error": f"{type(exc).__name__}: {exc}"}
        return {"elapsed": time.perf_counter() - started, "success": result.success,
                "runtime": result.runtime, "invocation_id": result.invocation_id,
                "run_results": str(result.run_results_path),
                "manifest": str(result.manifest_path), "nodes": len(result.nodes)}

    with concurrent.futures.ThreadPoolExecutor(max_workers=builds) as pool:
        return {"builds": list(pool.map(one, range(builds)))}
