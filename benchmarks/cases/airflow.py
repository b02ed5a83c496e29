"""The ``airflow-dag-parse`` and ``airflow-task-500`` cases: floe_dbt_airflow against
astronomer-cosmos 1.15.1 (``LoadMode.DBT_MANIFEST``), in the same run.

Both sides run in a fresh Python process per sample with Airflow 3.3.2 from ``.venv-airflow``
(``scripts/bootstrap.py``'s isolated suite); Cosmos runs from ``.venv-airflow-cosmos``, a venv
made here on first use that sees ``.venv-airflow``'s packages through a ``.pth`` file plus
``astronomer-cosmos==1.15.1`` (pinned under ``constraints-airflow.txt``).

``airflow-dag-parse``: what a DAG processor pays to parse the DAG file of a generated layered
project of 50 and 500 models (one task per model, tests after each / as Cosmos's after-each
groups). ``import airflow.sdk`` happens before the clock starts (a DAG processor has Airflow
loaded); timed is the integration's import plus building the DAG.

* floe **cold, Fusion**: no task plan cached, ``target/`` deleted: Fusion compiles the project.
* floe **cold, dbt-core, fresh manifest**: no task plan cached, ``target/manifest.json`` (from
  ``dbt parse``) reused.
* floe **cached**: the task plan written by an earlier parse, nothing changed (a re-parse).
* Cosmos: ``DbtDag`` with ``RenderConfig(load_method=LoadMode.DBT_MANIFEST)`` on the manifest
  ``dbt parse`` wrote (Cosmos has no cache in this mode; its cold and re-parse cost the same).
  Cosmos needs that manifest made beforehand by someone; floe's cold rows include making it.

``airflow-task-500``: one model task of the 500-model project in a fresh task process, the way
an executor starts one: parse the DAG file, then ``task.execute()`` of one model in the middle
(its upstream views built beforehand; tests left out on both sides so both run exactly one
model). floe on dbt-core and on Fusion, Cosmos's local execution mode (it finds dbt importable
and uses ``dbtRunner`` in-process, its fastest local mode; ``partial_parse.msgpack`` from
``dbt parse`` present). Timed from the process's first line to the end of ``execute``.
floe on dbt-core also through the warm server (``plugins.core.server``): a first task starts
it (import and parse; reported in the row's details, not measured), the measured tasks reuse it.
Goals (issue 13): parse (cached) < 100 ms at 500 models; a dbt-core model task at least 3x
faster than Cosmos's, a Fusion one at least 10x.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.cases.server import server_env, stop_servers
from benchmarks.runner import (
    ROOT,
    BenchError,
    Options,
    Row,
    child_env,
    generated_project,
    last_json,
    log,
    row,
    run_proc,
    summary,
    tool,
    warmup_tag,
)

COSMOS = "astronomer-cosmos==1.15.1"
AIRFLOW_VENV = ROOT / ".venv-airflow"
COSMOS_VENV = ROOT / ".venv-airflow-cosmos"
SIZES = (50, 500)

CHILD = r"""
import json, sys, time
started = time.perf_counter()
side, project, profile, model, execute = sys.argv[1:6]
from datetime import datetime
from pathlib import Path
import airflow.sdk
t0 = time.perf_counter()
plan = None
if side.startswith("floe"):
    # What DbtDag(...) does, in two timed steps: the task plan, then the Airflow tasks.
    from floe_dbt_airflow import DbtProject, add_tasks
    from floe_dbt_airflow.cache import load_plan
    runtime = side.split("-")[1]
    settings = {}
    if runtime == "coreserver":  # the warm dbt-core server (plugins.core.server)
        runtime, settings = "core", {"core": {"server": True}}
    dbt_project = DbtProject(project_dir=project, runtime=runtime, fallback=False,
                             plugin_settings=settings)
    loaded = load_plan(dbt_project, test_behavior="none" if execute != "0" else "after_each")
    plan = time.perf_counter() - t0
    with airflow.sdk.DAG(dag_id="bench", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        add_tasks(loaded.plan, dbt_project)
    task = dag.task_dict.get(model)
    context = {}
else:
    from cosmos import (DbtDag, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig,
                        RenderConfig, TestBehavior)
    p = Path(project)
    dag = DbtDag(
        dag_id="bench", schedule=None, start_date=datetime(2026, 1, 1),
        project_config=ProjectConfig(dbt_project_path=p, manifest_path=p / "target" / "manifest.json"),
        profile_config=ProfileConfig(profile_name=profile, target_name="dev",
                                     profiles_yml_filepath=p / "profiles.yml"),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST,
                                   test_behavior=TestBehavior.NONE if execute != "0"
                                   else TestBehavior.AFTER_EACH),
        execution_config=ExecutionConfig(dbt_executable_path=sys.argv[6]))
    task = dag.task_dict.get(f"{model}_run")

    class _TI:
        task_id, dag_id, run_id, map_index, try_number = "t", "bench", "r", -1, 1
        def xcom_push(self, *args, **kwargs): pass
        def xcom_pull(self, *args, **kwargs): return None

    class _Events(dict):
        def __missing__(self, key):
            return type("Event", (), {"add": lambda self, *a, **k: None, "extra": {}})()

    import pendulum
    context = {"ti": _TI(), "task_instance": _TI(), "dag": dag, "run_id": "r", "params": {},
               "logical_date": pendulum.now(), "ds": "2026-01-01", "task": task,
               "dag_run": None, "outlet_events": _Events()}
parsed = time.perf_counter()
result = {"parse": parsed - t0, "plan": plan, "tasks": len(dag.task_dict)}
if execute == "1":
    if task is None:
        raise SystemExit(f"no task for {model}: {sorted(dag.task_dict)[:5]}")
    task.execute(context)
    result["execute"] = time.perf_counter() - parsed
    result["task"] = time.perf_counter() - started
print(json.dumps(result))
"""


def ensure_cosmos_venv() -> Path:
    """``.venv-airflow-cosmos``: .venv-airflow's packages (via .pth) plus Cosmos, pinned."""
    airflow_python = AIRFLOW_VENV / "bin" / "python"
    if not airflow_python.exists():
        raise BenchError(f"{airflow_python} not found: create it with scripts/bootstrap.py "
                         "(ensure_isolated_venv for the 'airflow' suite, or 'bootstrap.py test')")
    python = COSMOS_VENV / "bin" / "python"
    stamp = COSMOS_VENV / ".floe-bench-stamp"
    if python.exists() and stamp.is_file() and stamp.read_text() == COSMOS:
        return python
    import venv

    log(f"  creating {COSMOS_VENV} with {COSMOS} (once)")
    venv.EnvBuilder(with_pip=True, clear=True).create(COSMOS_VENV)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    theirs = run_proc([airflow_python, "-c", code], cwd=ROOT, timeout=120).stdout.strip()
    site = Path(run_proc([python, "-c", code], cwd=ROOT, timeout=120).stdout.strip())
    (site / "floe-airflow-venv.pth").write_text(f"{theirs}\n")
    run_proc([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
              "-c", ROOT / "constraints-airflow.txt", COSMOS], cwd=ROOT, timeout=1800)
    stamp.write_text(COSMOS)
    return python


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(project.parent / f"{project.name}-airflow-home"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", RUST_BACKTRACE="0")
    return env


def _profile(project: Path) -> str:
    return next(line.rstrip(":") for line in (project / "profiles.yml").read_text().splitlines()
                if line and not line.startswith((" ", "#")))


def _measure(python: Path, side: str, project: Path, model: str, execute: bool | str,
             opts: Options, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One fresh process; ``execute`` True runs the model's task, "plan" only parses with the
    task case's settings (to leave its plan cached), False parses with tests after each."""
    done = run_proc([python, "-c", CHILD, side, project, _profile(project), model,
                     {True: "1", False: "0"}.get(execute, str(execute)), tool("dbt")],
                    cwd=project, timeout=opts.timeout, env={**_env(project), **(env or {})})
    return {**last_json(done.stdout), "wall": done.wall}


def _project(models: int) -> Path:
    """A generated project with the manifest Cosmos needs (``dbt parse``)."""
    project = generated_project(f"airflow-{models}", models)
    run_proc([tool("dbt"), "parse", "--profiles-dir", ".", "-q"], cwd=project, timeout=900)
    return project


def _floe_plan_cache(project: Path) -> Path:
    return project / "target" / "floe" / "airflow"


def case_airflow_parse(opts: Options) -> list[Row]:
    """DAG-file parse time at 50 and 500 models, cold and cached: floe against Cosmos (DBT_MANIFEST)."""
    cosmos = ensure_cosmos_venv()
    ours = AIRFLOW_VENV / "bin" / "python"
    rows: list[Row] = []
    for models in SIZES:
        project = _project(models)
        manifest = project / "target" / "manifest.json"
        saved = manifest.read_bytes()
        samples: dict[str, list[float]] = {k: [] for k in (
            "floe cold fusion", "floe cold core", "floe cached", "cosmos")}
        plans: list[float] = []
        for index in range(opts.warmup + opts.repeat):
            for name in samples:
                if name == "floe cold fusion":
                    shutil.rmtree(project / "target", ignore_errors=True)
                elif name == "floe cold core":
                    shutil.rmtree(_floe_plan_cache(project), ignore_errors=True)
                    if not manifest.exists():
                        manifest.parent.mkdir(parents=True, exist_ok=True)
                        manifest.write_bytes(saved)
                elif name == "cosmos" and not manifest.exists():
                    manifest.write_bytes(saved)
                side = {"floe cold fusion": "floe-fusion", "floe cold core": "floe-core",
                        "floe cached": "floe-core", "cosmos": "cosmos"}[name]
                data = _measure(cosmos if side == "cosmos" else ours, side, project, "", False,
                                opts)
                log(f"  airflow-dag-parse {models}: {name}: {data['parse'] * 1e3:.1f} ms "
                    f"({data['tasks']} tasks, {data['wall']:.2f} s wall){warmup_tag(index, opts)}")
                if index >= opts.warmup:
                    samples[name].append(data["parse"])
                    if name == "floe cached":
                        plans.append(data["plan"])
        reference = summary(samples["cosmos"])
        rows.append(row(f"airflow-dag-parse {models} floe cached: task plan only", "ms",
                        summary(plans), None, "< 100 ms" if models == 500 else "-",
                        statistics.median(plans) < 0.1 if models == 500 else None,
                        note="the rest of a parse is Airflow building the operators"))
        for name in ("floe cached", "floe cold core", "floe cold fusion"):
            target, met = "-", None
            rows.append(row(f"airflow-dag-parse {models} {name}", "ms", summary(samples[name]),
                            reference, target, met, reference_name="(Cosmos DBT_MANIFEST)"))
    return rows


def _middle_model(project: Path) -> str:
    models = sorted(p.stem for p in (project / "models").glob("*.sql"))
    return models[len(models) // 2]


def case_airflow_task(opts: Options) -> list[Row]:
    """One model task of a 500-model project in a fresh process: floe (dbt-core, Fusion) against
    Cosmos's local mode."""
    cosmos = ensure_cosmos_venv()
    ours = AIRFLOW_VENV / "bin" / "python"
    project = _project(500)
    model = _middle_model(project)
    run_proc([tool("dbt"), "build", "--profiles-dir", ".", "-q", "-s", f"+{model}",
              "--exclude", model, "resource_type:test"], cwd=project, timeout=opts.timeout)
    sides = {"floe core": ("floe-core", ours), "floe fusion": ("floe-fusion", ours),
             "floe core, warm server": ("floe-coreserver", ours),
             "cosmos local": ("cosmos", cosmos)}
    folder = Path(tempfile.mkdtemp(prefix="floe-bench-srv-"))
    try:
        return _task_rows(project, model, sides, folder, opts)
    finally:
        stop_servers(folder)


def _task_rows(project: Path, model: str, sides: dict[str, tuple[str, Path]], folder: Path,
               opts: Options) -> list[Row]:
    """The task samples of every side; the warm server's first task (it starts the server)
    runs before the rounds and is reported in the row's details."""
    envs = {"floe-coreserver": server_env(folder, True)}
    for side, python in sides.values():  # plans cached, as a scheduler's parse left them
        if side != "cosmos":
            _measure(python, side, project, model, "plan", opts, server_env(folder, False))
    first = _measure(sides["floe core, warm server"][1], "floe-coreserver", project, model, True,
                     opts, envs["floe-coreserver"])
    pids = {p.name: p.read_text() for p in folder.glob("*.pid")}
    log(f"  airflow-task-500: floe core, warm server: first task (starts the server) "
        f"{first['task']:.2f} s to the end of execute ({first['wall']:.2f} s wall)")
    samples: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    for index in range(opts.warmup + opts.repeat):
        for name, (side, python) in sides.items():
            data = _measure(python, side, project, model, True, opts, envs.get(side))
            log(f"  airflow-task-500: {name}: {data['task']:.2f} s to the end of execute "
                f"(parse {data['parse']:.2f} s, execute {data['execute']:.2f} s, "
                f"{data['wall']:.2f} s wall){warmup_tag(index, opts)}")
            if index >= opts.warmup:
                samples[name].append(data)
    if {p.name: p.read_text() for p in folder.glob("*.pid")} != pids or not pids:
        raise BenchError(f"the warm server tasks were not all served by the first server: {pids}")
    reference = summary([s["task"] for s in samples["cosmos local"]])
    rows = []
    for name, factor in (("floe core", 3), ("floe fusion", 10), ("floe core, warm server", 3)):
        ours_summary = summary([s["task"] for s in samples[name]])
        speedup = reference["median"] / ours_summary["median"]
        rows.append(row(f"airflow-task-500 {name}", "s", ours_summary, reference,
                        f"{factor}x faster", speedup >= factor,
                        reference_name="(Cosmos local, dbtRunner)",
                        note=f"{speedup:.1f}x faster",
                        details={"execute": summary([s["execute"] for s in samples[name]]),
                                 "reference_execute": summary(
                                     [s["execute"] for s in samples["cosmos local"]]),
                                 **({"first_task": first["task"]} if "server" in name else {})}))
    return rows
