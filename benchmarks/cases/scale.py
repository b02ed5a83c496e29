"""The ``scale-*`` cases: floe on a generated ``--scale-models`` project (default 5,000 models,
layered, a ``not_null`` test per model, so about 10,000 nodes), each against its peer or the raw
engine in the same run.

* ``scale-fusion-compile``: ``floe-dbt compile --runtime fusion`` against the raw Fusion CLI
  (both warm, each on its own target), and ``DBTFacade(runtime="fusion").compile`` in one process
  against the raw CLI on a fresh target folder per run (what the facade's isolation gives Fusion).
* ``scale-manifest``: the Fusion manifest of that project (about 27 MB): floe's ``load_artifact``
  cold against ``json.load``, each in a fresh process; and the orchestration graph
  (``DBTGraph``: parents, children, assets, checks, selections) built on it, with the same work
  on a tenth of the project to show how it grows (10x the project should cost about 10x).
* ``scale-dagster-defs``: Dagster ``Definitions`` in a fresh process, as in ``dagster-defs-50``:
  ``floe_dbt_dagster`` on Fusion against dagster-dbt 0.29.27 (``dbt parse`` + ``@dbt_assets``),
  and both on the manifest ``dbt parse`` wrote (floe reuses it because it is fresh).
* ``scale-warm-run``: one model selected and run from a warm process: ``DBTFacade`` on dbt-core
  against ``dbt run -s`` with partial parsing warm, and ``DBTFacade(runtime="fusion")`` against
  the raw Fusion ``run -s``.
* ``scale-lint``: ``floe-dbt lint`` with a warm cache after one model changed, against the raw
  ``sqlfluff lint`` of that one file (the least a linter must do); the cache's first fill is logged.
* ``scale-compare``: ``floe-dbt compare`` (dbt-core and Fusion compile concurrently, then the
  manifests compared node by node) against the slower runtime's compile alone, both cold.

The parts that run dbt-core over the whole project (parse, compile, the warm run's first call,
compare) take minutes at 5,000 models on a 2-core machine; ``--scale-core-models`` runs those on
a smaller project (the Fusion, Dagster-on-a-given-manifest, manifest and lint parts keep
``--scale-models``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks import generate_project
from benchmarks.cases import dagster as dagster_case
from benchmarks.cases.fusion import FUSION_RAW_TARGET, fusion_raw_argv, within_raw
from benchmarks.runner import (
    GENERATED,
    ROOT,
    BenchError,
    Options,
    Ran,
    Row,
    clean_state,
    fusion_binary,
    fusion_env,
    log,
    rotated,
    row,
    run_child,
    run_proc,
    summary,
    timed_rounds,
    tool,
    warmup_tag,
)

GROWTH_LIMIT = 30.0
"""A step whose time grows more than this for a 10x larger project is flagged. Linear code
measures 11-18x here, not 10x: the 5,000-model graph no longer fits the CPU caches (the trivially
linear ``select tag``, one dict lookup per node, grows as much, with the garbage collector off
too); a quadratic step grows about 100x."""


def scale_project(models: int, *, keep: bool = False) -> Path:
    """The generated ``models``-model project at ``generated/scale-<models>``; with ``keep`` an
    existing one (with its database and target) is reused, else it is generated anew."""
    path = GENERATED / f"scale-{models}"
    mark = path / ".floe-bench-generated"
    if keep and mark.is_file() and mark.read_text().startswith(f"layered {models} "):
        return path
    started = time.perf_counter()
    generate_project.generate(path, models, "layered", True)
    log(f"  generated {models}-model project {path} in {time.perf_counter() - started:.1f} s")
    return path


def _check_models(done: Ran, manifest: Path, models: int) -> None:
    data = json.loads(manifest.read_text())
    found = sum(1 for n in data["nodes"].values() if n.get("resource_type") == "model")
    if found < models:
        raise BenchError(f"{manifest} has {found} models, expected {models}")


# --------------------------------------------------------------------------------------------
# Fusion compile


def case_scale_fusion_compile(opts: Options) -> list[Row]:
    """floe's Fusion compile (CLI, facade) against raw Fusion on a --scale-models project."""
    binary = fusion_binary()
    models = opts.scale_models
    project = scale_project(models)
    name = f"scale-fusion-compile-{models}"
    commands: dict[str, list[str | Path]] = {
        "fusion": fusion_raw_argv(binary),
        "floe": [tool("floe-dbt"), "compile", "--project-dir", project, "--runtime", "fusion",
                 "--no-fallback"],
    }
    times, cpu = timed_rounds(name, project, commands, opts, cold=False,
                              envs={"fusion": fusion_env()})
    _check_models(Ran(0, 0, 0, "", ""), project / "target" / "manifest.json", models)
    data = run_child("fusion-compile", cwd=project, timeout=opts.timeout * (opts.repeat + 2) * 3,
                     project=str(project), calls=opts.repeat, warmup=opts.warmup,
                     timeout_each=opts.timeout)
    log(f"  {name}: in one process, facade compile " + ", ".join(f"{t:.2f}" for t in data["facade"])
        + " s; raw Fusion on a fresh target " + ", ".join(f"{t:.2f}" for t in data["raw_fresh"])
        + " s; Fusion's own time inside the facade calls "
        + ", ".join(f"{t:.2f}" for t in data["engine"]) + " s")
    floe_s, raw_s = summary(times["floe"]), summary(times["fusion"])
    facade_s, fresh_s = summary(data["facade"]), summary(data["raw_fresh"])
    cli_ok, cli_note = within_raw(floe_s["median"], raw_s["median"], limit=float("inf"))
    proc_ok, proc_note = within_raw(facade_s["median"], fresh_s["median"], limit=float("inf"))
    python_side = [f - e for f, e in zip(data["facade"], data["engine"], strict=True)]
    return [
        row(f"{name} CLI", "s", floe_s, raw_s, "raw +5% or +50 ms", cli_ok,
            reference_name="(raw Fusion compile)", note=cli_note,
            details={"cpu_seconds": {"floe": summary(cpu["floe"]),
                                     "fusion": summary(cpu["fusion"])},
                     "project": str(project)}),
        row(f"{name} in-process", "s", facade_s, fresh_s, "raw +5% or +50 ms", proc_ok,
            reference_name="(raw Fusion, fresh target)", note=proc_note,
            details={"python_side_seconds": summary(python_side),
                     "engine_seconds": summary(data["engine"])}),
    ]


# --------------------------------------------------------------------------------------------
# manifest and graph


def fusion_manifest(project: Path, opts: Options) -> Path:
    """Compile ``project`` with raw Fusion (unless done already) and return its manifest."""
    manifest = project / FUSION_RAW_TARGET / "manifest.json"
    if not manifest.is_file():
        run_proc(fusion_raw_argv(fusion_binary()), cwd=project, timeout=opts.timeout,
                 env=fusion_env())
    return manifest


def case_scale_manifest(opts: Options) -> list[Row]:
    """load_artifact and DBTGraph on the --scale-models Fusion manifest, against json.load."""
    models = opts.scale_models
    small_models = max(2, models // 10)
    big = fusion_manifest(scale_project(models, keep=True), opts)
    small = fusion_manifest(scale_project(small_models, keep=True), opts)
    name = f"scale-manifest-{models}"
    samples: dict[str, list[float]] = {"cold": [], "json": []}
    graph: dict[int, list[dict[str, float]]] = {models: [], small_models: []}
    for i in range(opts.warmup + opts.repeat):
        for mode in rotated(["floe", "json"], i):
            data = run_child("manifest", cwd=ROOT, timeout=opts.timeout, mode=mode,
                             path=str(big))
            if i >= opts.warmup:
                samples["cold" if mode == "floe" else "json"].append(
                    data["cold"] if mode == "floe" else data["json_load"])
        for size, path in ((models, big), (small_models, small)):
            data = run_child("scale-graph", cwd=ROOT, timeout=opts.timeout, path=str(path),
                             model=generate_project.middle_model(size))
            if i >= opts.warmup:
                graph[size].append(data)
            log(f"  {name}: graph of {size} models: "
                + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in data.items())
                + warmup_tag(i, opts))
    cold_s, json_s = summary(samples["cold"]), summary(samples["json"])
    log(f"  {name}: {big} is {big.stat().st_size / 1e6:.1f} MB; load_artifact cold "
        f"{cold_s['median'] * 1e3:.0f} ms, json.load {json_s['median'] * 1e3:.0f} ms")
    rows = [row(f"{name} load_artifact cold", "ms", cold_s, json_s, "<= json.load",
                cold_s["median"] <= json_s["median"] * 1.05, reference_name="(json.load)",
                details={"path": str(big), "bytes": big.stat().st_size})]
    for step in graph[models][0]:
        big_s = summary([d[step] for d in graph[models]])
        small_s = summary([d[step] for d in graph[small_models]])
        growth = big_s["median"] / small_s["median"] if small_s["median"] else None
        rows.append(row(f"{name} {step}", "ms", big_s, small_s, "< 30x (10x linear)",
                        None if growth is None else growth < GROWTH_LIMIT,
                        reference_name=f"({small_models} models)", ratio=growth))
    return rows


def child_scale_graph(path: str, model: str) -> dict[str, float]:
    """In the child: the manifest loaded and fully decoded (not timed: a large one is decoded
    lazily), then DBTGraph built and queried."""
    from floe_dbt_hooks.artifacts import load_artifact, materialize
    from floe_dbt_hooks.orchestration.graph import DBTGraph

    manifest = materialize(load_artifact(path))
    out: dict[str, float] = {}
    started = time.perf_counter()
    graph = DBTGraph(manifest, Path(path).parent.parent.parent)
    out["DBTGraph()"] = time.perf_counter() - started
    started = time.perf_counter()
    assets, tests = graph.asset_ids(), graph.test_ids()
    for uid in assets:
        graph.upstream(uid)
    for uid in tests:
        graph.attached_asset(uid)
    out["assets+checks"] = time.perf_counter() - started
    for label, select in (("select all", None), ("select model+", f"{model}+"),
                          ("select +model", f"+{model}"), ("select tag", "tag:none")):
        started = time.perf_counter()
        graph.select(select)
        out[label] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------------------------
# Dagster definitions


def case_scale_dagster_defs(opts: Options) -> list[Row]:
    """Dagster Definitions: floe_dbt_dagster (Fusion; fresh manifest) against dagster-dbt."""
    fusion_binary()
    models = opts.scale_core_models
    project = scale_project(models)
    reference = dagster_case.ensure_reference_venv(opts)
    ours, dbt = tool("python"), tool("dbt")
    name = f"scale-dagster-defs-{models}"
    order = [("floe fusion", "floe-fusion", True), ("dagster-dbt parse", "dagster-dbt-parse", True),
             ("floe core, fresh manifest", "floe-core", False),
             ("dagster-dbt, existing manifest", "dagster-dbt", False)]
    samples: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in order}
    for i in range(opts.warmup + opts.repeat):
        for label, mode, cold in order:
            if cold:
                shutil.rmtree(project / "target", ignore_errors=True)
            data = dagster_case.measure(reference if mode.startswith("dagster-dbt") else ours,
                                        mode, project, dbt, opts)
            if mode == "floe-core" and data.get("how") != "reused":
                raise BenchError(f"{name}: floe did not reuse dbt parse's manifest: {data}")
            log(f"  {name}: {label}: {data['load']:.2f} s in process ({data['defs']:.2f} s "
                f"after the import), {data['assets']} assets, {data['checks']} checks"
                + warmup_tag(i, opts))
            if i >= opts.warmup:
                samples[label].append(data)

    def load(label: str) -> dict[str, Any]:
        return summary([s["load"] for s in samples[label]])

    def defs(label: str) -> dict[str, Any]:
        return summary([s["defs"] for s in samples[label]])

    return [
        row(f"{name} floe fusion", "s", load("floe fusion"), load("dagster-dbt parse"), "< 1",
            load("floe fusion")["median"] < load("dagster-dbt parse")["median"],
            reference_name="(dagster-dbt: dbt parse + @dbt_assets)"),
        row(f"{name} existing manifest", "s", load("floe core, fresh manifest"),
            load("dagster-dbt, existing manifest"), "<= 1.1",
            load("floe core, fresh manifest")["median"]
            <= 1.1 * load("dagster-dbt, existing manifest")["median"],
            reference_name="(dagster-dbt @dbt_assets)",
            details={"after_import": {"floe": defs("floe core, fresh manifest"),
                                      "dagster-dbt": defs("dagster-dbt, existing manifest")}}),
    ]


# --------------------------------------------------------------------------------------------
# one model, warm


def case_scale_warm_run(opts: Options) -> list[Row]:
    """One model run from a warm process (dbt-core, Fusion) against the CLIs."""
    binary = fusion_binary()
    models = opts.scale_core_models
    project = scale_project(models)
    model = generate_project.middle_model(models)
    name = f"scale-warm-run-{models}"
    raw_env = fusion_env()
    for step in ("seed", "run"):  # Fusion builds the database: minutes faster than dbt-core
        elapsed = run_proc([binary, step, "--profiles-dir", ".", "--target-path",
                            FUSION_RAW_TARGET], cwd=project, timeout=opts.timeout * 4,
                           env=raw_env).wall
        log(f"  {name}: setup Fusion {step} {elapsed:.1f} s")
    elapsed = run_proc([tool("dbt"), "parse", "--profiles-dir", "."], cwd=project,
                       timeout=opts.timeout * 4).wall
    log(f"  {name}: setup dbt parse {elapsed:.1f} s (partial parsing warm for dbt run -s)")
    cli: dict[str, list[float]] = {"dbt-core": [], "fusion": []}
    argv: dict[str, list[str | Path]] = {
        "dbt-core": [tool("dbt"), "run", "-s", model, "--profiles-dir", "."],
        "fusion": [binary, "run", "-s", model, "--profiles-dir", ".", "--target-path",
                   FUSION_RAW_TARGET],
    }
    for i in range(opts.warmup + opts.repeat):
        for runtime in rotated(list(argv), i):
            done = run_proc(argv[runtime], cwd=project, timeout=opts.timeout * 4,
                            env=raw_env if runtime == "fusion" else None)
            if i >= opts.warmup:
                cli[runtime].append(done.wall)
            log(f"  {name}: {runtime} CLI run -s {model} {done.wall:.2f} s{warmup_tag(i, opts)}")
    data = run_child("scale-warm", cwd=ROOT, timeout=opts.timeout * (opts.repeat + 4) * 2,
                     project=str(project), model=model, calls=opts.repeat)
    log(f"  {name}: facade core: first call (parse) {data['core_first']:.1f} s, warm "
        + ", ".join(f"{t:.2f}" for t in data["core"]) + " s; facade fusion "
        + ", ".join(f"{t:.2f}" for t in data["fusion"]) + " s")
    core_s, fusion_s = summary(data["core"]), summary(data["fusion"])
    raw_core, raw_fusion = summary(cli["dbt-core"]), summary(cli["fusion"])
    fusion_ok, fusion_note = within_raw(fusion_s["median"], raw_fusion["median"],
                                        limit=float("inf"))
    return [
        row(f"{name} core warm", "s", core_s, raw_core, "< 1", core_s["median"] < raw_core["median"],
            reference_name="(dbt run -s, partial parse)",
            details={"first_call": data["core_first"], "model": model}),
        row(f"{name} fusion", "s", fusion_s, raw_fusion, "raw +5% or +50 ms", fusion_ok,
            reference_name="(raw Fusion run -s)", note=fusion_note),
    ]


def child_scale_warm(project: str, model: str, calls: int) -> dict[str, Any]:
    """In the child: one cold and ``calls`` warm dbt-core runs of ``model``, and ``calls`` Fusion
    runs of it, alternating, through one facade."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(fallback=False)
    out: dict[str, Any] = {"core": [], "fusion": []}

    def one(runtime: str) -> float:
        started = time.perf_counter()
        result = facade.run_models(project, select=model, runtime=runtime)
        elapsed = time.perf_counter() - started
        if not result.success or result.models_run != 1 or result.runtime != runtime:
            raise SystemExit(f"{runtime} run -s {model}: success={result.success} "
                             f"models_run={result.models_run} runtime={result.runtime}")
        return elapsed

    out["core_first"] = one("core")
    for _ in range(calls):
        out["core"].append(one("core"))
        out["fusion"].append(one("fusion"))
    return out


# --------------------------------------------------------------------------------------------
# lint


def case_scale_lint(opts: Options) -> list[Row]:
    """floe-dbt lint, warm cache, one model changed, against sqlfluff lint of that one file."""
    models = opts.scale_models
    project = scale_project(models)
    name = f"scale-lint-{models}"
    floe = tool("floe-dbt")
    (project / "floe.yml").write_text("plugins:\n  sqlfluff:\n    processes: 2\n")
    done = run_proc([floe, "lint", "--project-dir", project, "--output", "json"], cwd=project,
                    timeout=opts.timeout * 8, check=False)
    log(f"  {name}: first lint (fills the cache, 2 processes) {done.wall:.1f} s")
    changed: list[float] = []
    raw: list[float] = []
    all_models = sorted((project / "models").glob("*.sql"))
    for i in range(opts.warmup + opts.repeat):
        model = all_models[(i * 97) % len(all_models)]
        model.write_text(model.read_text() + f"-- edit {i}\n")
        for which in rotated(["floe", "sqlfluff"], i):
            if which == "floe":
                done = run_proc([floe, "lint", "--project-dir", project, "--output", "json"],
                                cwd=project, timeout=opts.timeout, check=False)
                if '"linted_files": 1,' not in done.stdout:
                    log(f"  {name}: WARNING the cached lint did not lint exactly one file")
            else:
                done = run_proc([tool("sqlfluff"), "lint", model.relative_to(project),
                                 "--dialect", "duckdb", "--processes", "1"], cwd=project,
                                timeout=opts.timeout, check=False)
            if i >= opts.warmup:
                (changed if which == "floe" else raw).append(done.wall)
            log(f"  {name}: {which} after {model.name} changed {done.wall:.2f} s"
                + warmup_tag(i, opts))
    floe_s, raw_s = summary(changed), summary(raw)
    return [row(f"{name} one file changed", "s", floe_s, raw_s, "-", None,
                reference_name="(sqlfluff lint <that file>)")]


# --------------------------------------------------------------------------------------------
# compare


def case_scale_compare(opts: Options) -> list[Row]:
    """floe-dbt compare against the slower runtime's compile alone, cold, --scale-core-models."""
    fusion_binary()
    models = opts.scale_core_models
    project = scale_project(models)
    name = f"scale-compare-{models}"
    floe = tool("floe-dbt")
    commands: dict[str, list[str | Path]] = {
        "compare": [floe, "compare", "--project-dir", project, "--output", "json"],
        "core compile": [floe, "compile", "--project-dir", project, "--runtime", "core"],
    }
    inside: list[dict[str, Any]] = []

    def agreed(label: str, done: Ran) -> None:
        if label == "compare":
            data = json.loads(done.stdout)
            inside.append({o["runtime"]: o.get("compile_seconds") for o in data["outcomes"]})

    times, cpu = timed_rounds(name, project, commands, opts, cold=True, check=agreed)
    clean_state(project)
    compare_s, core_s = summary(times["compare"]), summary(times["core compile"])
    log(f"  {name}: compile seconds inside each compare: {inside}")
    return [row(name, "s", compare_s, core_s, "< 1.5x", compare_s["median"] < 1.5 * core_s["median"],
                reference_name="(floe compile, core)",
                details={"compile_seconds_inside_compare": inside,
                         "cpu_seconds": {k: summary(v) for k, v in cpu.items()},
                         "median_compare_minus_core":
                             statistics.median(times["compare"]) - core_s["median"]})]
