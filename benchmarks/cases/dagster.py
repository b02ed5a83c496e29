"""The ``dagster-defs-50`` case: how long loading Dagster definitions for a dbt project takes,
floe_dbt_dagster against dagster-dbt, in the same run.

On a generated 50-model project (layered: one seed, 50 models, 51 tests), each sample is a fresh
Python process, as a Dagster code server would be, that imports the integration and builds
``Definitions`` with one multi-asset for the whole project (51 assets, 51 checks), then resolves
the asset graph. The time reported is measured inside that process from before the integration's
import to the resolved graph (interpreter start-up excluded; the process's whole wall time is in
the details).

* ``floe fusion``: ``@floe_dbt_assets`` with ``DBTResource(runtime="fusion")``: Fusion compiles
  the project (no manifest on disk beforehand: ``target/`` is deleted before every sample);
* ``floe core, fresh manifest``: runtime ``core`` with a manifest written by an earlier load and
  nothing changed since (reused: no dbt import);
* ``floe core, no manifest``: runtime ``core`` after deleting ``target/`` (dbt-core compiles
  in-process);
* ``dagster-dbt parse + @dbt_assets``: ``DbtCliResource(...).cli(["--quiet", "parse"]).wait()``
  (dagster-dbt's own way to get the manifest, a ``dbt parse`` subprocess) then ``@dbt_assets``;
  ``target/`` is deleted before every sample, so the parse starts cold (no partial parsing);
* ``dagster-dbt @dbt_assets, existing manifest``: ``@dbt_assets(manifest=...)`` on a manifest
  that ``dbt parse`` wrote beforehand.

dagster-dbt is installed only for this comparison, into ``.venv-dagster-dbt`` (created on first
use: a virtual environment that sees the dev venv's packages through a ``.pth`` file, plus
``dagster-dbt==0.29.27``, the release matching the pinned dagster, and what it needs beyond the
dev venv); the floe rows run on the dev venv, which does not have dagster-dbt.
"""

from __future__ import annotations

import shutil
import sysconfig
import venv
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    ROOT,
    Options,
    Row,
    Summary,
    child_env,
    generated_project,
    last_json,
    log,
    row,
    run_proc,
    summary,
    tool,
)

MODELS = 50
DAGSTER_DBT = "dagster-dbt==0.29.27"
REFERENCE_VENV = ROOT / ".venv-dagster-dbt"

CHILD = r"""
import json, sys, time
started = time.perf_counter()
mode, project = sys.argv[1], sys.argv[2]
from dagster import AssetExecutionContext, Definitions
if mode.startswith("floe"):
    from floe_dbt_dagster import DBTResource, floe_dbt_assets, loaded_manifest
    imported = time.perf_counter()
    resource = DBTResource(project_dir=project, runtime=mode.split("-")[1], fallback=False)

    @floe_dbt_assets(resource=resource)
    def project_assets(context: AssetExecutionContext, dbt: DBTResource):
        yield from dbt.stream(context)

    loaded = loaded_manifest(project_assets)
    extra = {"how": loaded.how, "runtime": loaded.runtime}
else:
    from pathlib import Path
    from dagster_dbt import DbtCliResource, dbt_assets
    imported = time.perf_counter()
    resource = DbtCliResource(project_dir=project, profiles_dir=project,
                              dbt_executable=sys.argv[3])
    manifest = Path(project) / "target" / "manifest.json"
    if mode == "dagster-dbt-parse":
        resource.cli(["--quiet", "parse"], target_path=Path(project) / "target").wait()

    @dbt_assets(manifest=manifest)
    def project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    extra = {}
defs = Definitions(assets=[project_assets], resources={"dbt": resource})
graph = defs.resolve_asset_graph()
done = time.perf_counter()
print(json.dumps({"load": done - started, "defs": done - imported,
                  "assets": len(list(project_assets.specs)),
                  "checks": len(list(project_assets.check_specs)), **extra}))
"""

SAMPLES: dict[str, tuple[str, bool]] = {
    # name: (child mode, delete target/ before each sample)
    "floe fusion": ("floe-fusion", True),
    "floe core, fresh manifest": ("floe-core", False),
    "floe core, no manifest": ("floe-core", True),
    "dagster-dbt parse + @dbt_assets": ("dagster-dbt-parse", True),
    "dagster-dbt @dbt_assets, existing manifest": ("dagster-dbt", False),
}


def ensure_reference_venv(opts: Options) -> Path:
    """``.venv-dagster-dbt``: the dev venv's packages (via .pth) plus dagster-dbt, pinned."""
    python = REFERENCE_VENV / "bin" / "python"
    stamp = REFERENCE_VENV / ".floe-bench-stamp"
    if python.exists() and stamp.is_file() and stamp.read_text() == DAGSTER_DBT:
        return python
    log(f"  creating {REFERENCE_VENV} with {DAGSTER_DBT} (once)")
    venv.EnvBuilder(with_pip=True, clear=True).create(REFERENCE_VENV)
    purelib = Path(sysconfig.get_paths()["purelib"])
    site = Path(run_proc(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=ROOT, timeout=120).stdout.strip())
    (site / "floe-dev-venv.pth").write_text(f"{purelib}\n")
    run_proc([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
              "-c", ROOT / "constraints.txt", DAGSTER_DBT], cwd=ROOT, timeout=1800)
    stamp.write_text(DAGSTER_DBT)
    return python


def measure(python: Path, mode: str, project: Path, dbt: Path, opts: Options) -> dict[str, Any]:
    """One fresh process loading the definitions ``mode`` describes; its JSON plus the wall time."""
    env = child_env()
    env.pop("DAGSTER_HOME", None)
    done = run_proc([python, "-c", CHILD, mode, project, dbt], cwd=project, timeout=opts.timeout,
                    env=env)
    return {**last_json(done.stdout), "wall": done.wall}


def run_samples(project: Path, opts: Options) -> dict[str, list[dict[str, Any]]]:
    """Warm-up plus measured rounds of every SAMPLES entry, interleaved: same conditions for all."""
    reference = ensure_reference_venv(opts)
    ours, dbt = tool("python"), tool("dbt")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in SAMPLES}
    for index in range(opts.warmup + opts.repeat):
        for name, (mode, cold) in SAMPLES.items():
            if cold:
                shutil.rmtree(project / "target", ignore_errors=True)
            elif mode == "dagster-dbt" and not (project / "target" / "manifest.json").is_file():
                measure(reference, "dagster-dbt-parse", project, dbt, opts)
            python = reference if mode.startswith("dagster-dbt") else ours
            data = measure(python, mode, project, dbt, opts)
            if mode == "floe-core" and not cold and data.get("how") != "reused":
                data = measure(python, mode, project, dbt, opts)  # the first one wrote it
            tag = " (warm-up)" if index < opts.warmup else ""
            log(f"  dagster-defs-50: {name}: {data['load']:.3f} s in process, "
                f"{data['wall']:.3f} s wall, {data['assets']} assets, {data['checks']} checks"
                + (f", manifest {data['how']}" if "how" in data else "") + tag)
            if index >= opts.warmup:
                samples[name].append(data)
    return samples


def case_dagster_defs(opts: Options) -> list[Row]:
    """Loading Dagster Definitions: floe_dbt_dagster against dagster-dbt, fresh process each."""
    project = generated_project("dagster-defs-50", MODELS)
    samples = run_samples(project, opts)

    def load(name: str) -> Summary:
        return summary([s["load"] for s in samples[name]])

    def details(name: str) -> dict[str, Any]:
        return {"wall": summary([s["wall"] for s in samples[name]]),
                "defs_only": summary([s["defs"] for s in samples[name]]),
                "assets": samples[name][0]["assets"], "checks": samples[name][0]["checks"]}

    parse = "dagster-dbt parse + @dbt_assets"
    existing = "dagster-dbt @dbt_assets, existing manifest"
    fusion = load("floe fusion")
    return [
        row("dagster-defs-50 floe fusion", "s", fusion, load(parse), "about 1 s",
            fusion["median"] < 1.5, reference_name="(dagster-dbt parse + @dbt_assets)",
            details={"floe": details("floe fusion"), "reference": details(parse)}),
        row("dagster-defs-50 floe core, fresh manifest", "s", load("floe core, fresh manifest"),
            load(existing), "-", None, reference_name="(dagster-dbt, existing manifest)",
            details={"floe": details("floe core, fresh manifest"),
                     "reference": details(existing)}),
        row("dagster-defs-50 floe core, no manifest", "s", load("floe core, no manifest"),
            load(parse), "-", None, reference_name="(dagster-dbt parse + @dbt_assets)",
            details={"floe": details("floe core, no manifest"), "reference": details(parse)}),
    ]
