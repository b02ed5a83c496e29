"""Run the comparison: compile under each runtime concurrently, optionally build, then compare.

Each runtime is asked strictly (no fallback), so a runtime that declines the project is reported
with its codes instead of being silently replaced. Builds (``execute``) go into one DuckDB file per
runtime: the project's profile is copied into a scratch profiles folder with the target's ``path``
pointing at ``<work>/<runtime>/<same file name>`` (same name, so the database name in compiled SQL
is unchanged).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.compare.hints import fixes_for
from floe_dbt_hooks.compare.manifests import compare_manifests
from floe_dbt_hooks.compare.normalize import NORMALISATIONS
from floe_dbt_hooks.compare.result import CompareResult, NodeComparison, RuntimeOutcome
from floe_dbt_hooks.compare.tables import compare_tables
from floe_dbt_hooks.errors import DBTConfigurationError, FloeDBTError
from floe_dbt_hooks.models import (
    CompileRequest,
    DBTRunResult,
    InvocationResult,
    RunRequest,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.project import load_profile_target, load_project


def _failed(runtime: str, error: FloeDBTError) -> RuntimeOutcome:
    return RuntimeOutcome(
        runtime=runtime, ok=False, error_code=error.code, message=error.message,
        engine_codes=error.engine_codes, fixes=fixes_for(error.engine_codes),
        file_path=error.file_path, line=error.line,
    )


def _scratch_profiles(project_dir: Path, profiles_dir: Path | None, target: str | None,
                      work: Path, runtime: str) -> tuple[Path, Path]:
    """A profiles folder whose target writes ``<work>/<runtime>/<db file name>``."""
    import yaml

    project = load_project(project_dir)
    profile = load_profile_target(project, profiles_dir, target)
    if profile.adapter_type != "duckdb" or profile.database_file is None:
        raise DBTConfigurationError(
            f"--execute builds each runtime into its own DuckDB file; target '{profile.target}' is "
            f"a {profile.adapter_type} target",
            file_path=profile.profiles_file,
            hint="compare without --execute, or pass --target for a DuckDB target",
        )
    data = yaml.safe_load(profile.profiles_file.read_text(encoding="utf-8"))
    database = work / runtime / profile.database_file.name
    database.parent.mkdir(parents=True, exist_ok=True)
    data[profile.profile]["outputs"][profile.target]["path"] = str(database)
    folder = work / f"profiles-{runtime}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder, database


def compare_runtimes(
    project_dir: str | Path,
    runtimes: Sequence[str] = ("core", "fusion"),
    *,
    select: Iterable[str] = (),
    exclude: Iterable[str] = (),
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    execute: bool = False,
    pm: FloePluginManager | None = None,
) -> CompareResult:
    """Compare ``runtimes`` on the project; see the module docstring."""
    started = time.perf_counter()
    if len(runtimes) != 2 or runtimes[0] == runtimes[1]:
        raise DBTConfigurationError(
            f"compare needs two different runtimes, got {', '.join(runtimes) or 'none'}",
            hint="e.g. --runtimes core,fusion",
        )
    root = load_project(project_dir).project_dir
    manager = pm or create_plugin_manager(root)
    installed = {info.name for info in manager.hook.dbt_runtime_info()}
    missing = [r for r in runtimes if r not in installed]
    if missing:
        raise DBTConfigurationError(
            f"unknown runtime(s): {', '.join(missing)}",
            hint=f"installed runtimes: {', '.join(sorted(installed))}",
        )
    options: dict[str, Any] = {
        "project_dir": root, "select": tuple(select), "exclude": tuple(exclude),
        "profiles_dir": profiles_dir, "target": target, "fallback": False, "isolate": True,
    }

    def compile_with(runtime: str) -> tuple[RuntimeOutcome, InvocationResult | None]:
        try:
            result = manager.hook.dbt_compile(request=CompileRequest(runtime=runtime, **options))
        except FloeDBTError as error:
            return _failed(runtime, error), None
        return RuntimeOutcome(
            runtime=runtime, ok=result.success, compile_seconds=result.elapsed_time,
            version=result.metadata.get("dbt_version") or result.metadata.get("fusion_version"),
            message=None if result.success else "compile reported node errors",
        ), result

    with ThreadPoolExecutor(max_workers=len(runtimes)) as pool:
        compiled = list(pool.map(compile_with, runtimes))
    outcomes = [outcome for outcome, _ in compiled]
    results = [result for _, result in compiled]
    if any(r is None or r.manifest_path is None for r in results):
        return CompareResult(project_dir=str(root), runtimes=tuple(runtimes), executed=False,
                             outcomes=tuple(outcomes), normalisations=NORMALISATIONS,
                             elapsed_time=time.perf_counter() - started)
    from floe_dbt_hooks.artifacts import load_artifact

    manifests = [load_artifact(r.manifest_path) for r in results if r and r.manifest_path]
    selected = None
    if options["select"] or options["exclude"]:
        selected = set().union(*({n.unique_id for n in r.nodes} for r in results if r))
    nodes = compare_manifests(runtimes, manifests, selected)
    if execute:
        nodes, outcomes = _execute(manager, runtimes, options, nodes, outcomes, manifests, root)
    return CompareResult(
        project_dir=str(root), runtimes=tuple(runtimes), executed=execute,
        outcomes=tuple(outcomes), nodes=tuple(nodes), normalisations=NORMALISATIONS,
        elapsed_time=time.perf_counter() - started,
    )


def _execute(
    manager: FloePluginManager, runtimes: Sequence[str], options: dict[str, Any],
    nodes: list[NodeComparison], outcomes: list[RuntimeOutcome], manifests: list[dict[str, Any]],
    root: Path,
) -> tuple[list[NodeComparison], list[RuntimeOutcome]]:
    """Build under each runtime into its own database, then add data and failures to the nodes."""
    work = root / "target" / "floe" / f"compare-{int(time.time() * 1000)}"
    scratch = [_scratch_profiles(root, options["profiles_dir"], options["target"], work, rt)
               for rt in runtimes]

    def build_with(index: int) -> DBTRunResult | FloeDBTError:
        request = RunRequest(command="build", runtime=runtimes[index],
                             **{**options, "profiles_dir": scratch[index][0]})
        try:
            result: DBTRunResult = manager.hook.dbt_run(request=request)
        except FloeDBTError as error:
            return error
        return result

    with ThreadPoolExecutor(max_workers=len(runtimes)) as pool:
        builds = list(pool.map(build_with, range(len(runtimes))))
    failed: dict[str, set[str]] = {}
    updated_outcomes = []
    for runtime, outcome, build in zip(runtimes, outcomes, builds, strict=True):
        if isinstance(build, FloeDBTError):
            updated_outcomes.append(_failed(runtime, build))
            continue
        failed[runtime] = {n.unique_id for n in build.nodes if n.status in ("error", "skipped")}
        updated_outcomes.append(attrs.evolve(outcome, build_seconds=build.elapsed_time))
    if any(isinstance(b, FloeDBTError) for b in builds):
        return nodes, updated_outcomes
    tables = compare_tables([db for _, db in scratch], manifests[0].get("nodes", {}))
    out = []
    for node in nodes:
        failed_in = tuple(rt for rt in runtimes if node.unique_id in failed.get(rt, set()))
        data = tables.get(node.unique_id)
        verdict = node.verdict
        if failed_in:
            verdict = "failed-in"
        elif verdict == "same" and data is not None and not data.same:
            verdict = "differs"
        out.append(attrs.evolve(node, verdict=verdict, failed_in=failed_in, data=data))
    return out, updated_outcomes
