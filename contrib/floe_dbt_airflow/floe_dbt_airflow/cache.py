"""The task plan, cached on disk so that re-parsing a DAG file costs a stat, not a compile.

Airflow's scheduler (its DAG processor) re-imports every DAG file every 30 s by default. The
first parse gets the manifest from the runtime (:func:`floe_dbt_hooks.orchestration.manifest.load_manifest`:
Fusion compiles, dbt-core reuses a fresh manifest or compiles) and writes the plan as JSON under
``<target-path>/floe/airflow/plan-<key>.json``; ``<key>`` names the project configuration and the
selection. Each later parse stats the project's inputs (the same set
:mod:`floe_dbt_hooks.project.freshness` checks: sources, packages, ``dbt_project.yml``,
``profiles.yml``... plus ``floe.yml``) and reads the plan when their digest matches the one
recorded in it. A changed, added or removed file changes the digest and the plan is rebuilt.
No dbt import, no manifest read, on a hit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_airflow.plan import PLAN_VERSION, TaskPlan, build_plan
from floe_dbt_airflow.project import DbtProject
from floe_dbt_hooks.config import CONFIG_FILENAMES
from floe_dbt_hooks.fsutil import atomic_write_text
from floe_dbt_hooks.project import load_profile_target, load_project
from floe_dbt_hooks.project.freshness import project_inputs

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class LoadedPlan:
    """A plan and how this parse got it."""

    plan: TaskPlan
    how: str
    """``cached`` (read from disk), ``built`` (from the runtime's manifest) or ``given``."""
    path: Path | None
    elapsed: float


def inputs_digest(project: DbtProject) -> str:
    """sha256 over (path, mtime_ns) of every parse input: one stat each, nothing read but the
    project and profiles YAML (to know where the sources are)."""
    dbt_project = load_project(project.project_dir)
    profile = load_profile_target(dbt_project, project.profiles_dir, project.target)
    digest = hashlib.sha256()
    for name, mtime in project_inputs(dbt_project, profile):
        digest.update(f"{name}\0{mtime}\n".encode())
    for config_name in CONFIG_FILENAMES:
        config = project.project_dir / config_name
        try:
            digest.update(f"{config}\0{config.stat().st_mtime_ns}\n".encode())
        except OSError:
            continue
    return digest.hexdigest()


def plan_file(project: DbtProject, select: tuple[str, ...], exclude: tuple[str, ...],
              test_behavior: str) -> Path:
    key = hashlib.sha256(json.dumps(
        [PLAN_VERSION, project.key(), select, exclude, test_behavior]).encode()).hexdigest()[:16]
    target_path = load_project(project.project_dir).target_path
    return target_path / "floe" / "airflow" / f"plan-{key}.json"


def load_plan(
    project: DbtProject,
    *,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    test_behavior: str = "after_each",
    cache: bool = True,
) -> LoadedPlan:
    """The plan for this selection: from the cache when the project is unchanged, else built
    from the runtime's manifest (and cached)."""
    started = time.perf_counter()
    path = plan_file(project, select, exclude, test_behavior)
    digest = inputs_digest(project)
    if cache:
        cached = _read(path, digest)
        if cached is not None:
            return LoadedPlan(plan=cached, how="cached", path=path,
                              elapsed=time.perf_counter() - started)
    from floe_dbt_hooks.orchestration.graph import DBTGraph
    from floe_dbt_hooks.orchestration.manifest import load_manifest

    loaded = load_manifest(project.facade(), project.project_dir, runtime=project.runtime,
                           profiles_dir=project.profiles_dir, target=project.target,
                           vars=project.vars, consumer="airflow")
    for declined in loaded.declined:
        log.warning("runtime %s declined compiling for the DAG (%s): %s; the next runtime served",
                    declined.runtime, declined.reason_code, declined.message)
    graph = DBTGraph(loaded.manifest, project.project_dir)
    plan = attrs.evolve(build_plan(graph, select=select, exclude=exclude,
                                   test_behavior=test_behavior),
                        manifest_path=str(loaded.path), manifest_how=loaded.how,
                        runtime=loaded.runtime)
    if cache:
        # The digest taken before the compile: a file edited during it makes the next parse rebuild.
        atomic_write_text(path, json.dumps({"version": PLAN_VERSION, "inputs": digest,
                                            "plan": plan.to_json()}))
    return LoadedPlan(plan=plan, how="built", path=path, elapsed=time.perf_counter() - started)


def _read(path: Path, digest: str) -> TaskPlan | None:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != PLAN_VERSION or \
            data.get("inputs") != digest:
        return None
    try:
        return TaskPlan.from_json(data["plan"])
    except Exception:  # a damaged file: rebuild rather than fail the DAG
        log.warning("ignoring unreadable task plan cache %s", path)
        return None
