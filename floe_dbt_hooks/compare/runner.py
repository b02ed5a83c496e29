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
from floe_dbt_hooks.compare.tables import (
    SERVER_ADAPTERS,
    TableReader,
    built_relations,
    compare_relations,
    open_reader,
)
from floe_dbt_hooks.errors import DBTConfigurationError, FloeDBTError
from floe_dbt_hooks.fsutil import atomic_write_text
from floe_dbt_hooks.models import (
    CompileRequest,
    DBTRunResult,
    InvocationResult,
    RunRequest,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.project import load_profile_target, load_project, render_env_vars


@attrs.frozen
class BuildPlace:
    """Where one runtime's ``compare --execute`` build goes."""

    profiles_dir: Path
    adapter_type: str
    output: dict[str, Any]
    """The target's output as the build sees it, env_var() rendered (for reading the tables)."""
    database_file: Path | None = None

    def reader(self) -> TableReader:
        return open_reader(self.adapter_type, self.output, self.database_file)


def _rendered(value: Any) -> Any:
    import os

    used: dict[str, str | None] = {}
    if isinstance(value, str):
        return render_env_vars(value, os.environ, used)
    if isinstance(value, dict):
        return {str(k): _rendered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v) for v in value]
    return value


def _schema_for(schema: str, runtime: str) -> str:
    """``<schema>_<runtime>``: appended after any env_var() call, so it still renders."""
    return f"{schema}_{''.join(c if c.isalnum() else '_' for c in runtime.lower())}"


def _failed(runtime: str, error: FloeDBTError) -> RuntimeOutcome:
    return RuntimeOutcome(
        runtime=runtime, ok=False, error_code=error.code, message=error.message,
        engine_codes=error.engine_codes, fixes=fixes_for(error.engine_codes),
        file_path=error.file_path, line=error.line,
    )


def build_place(project_dir: Path, profiles_dir: Path | None, target: str | None,
                work: Path, runtime: str) -> BuildPlace:
    """A profiles folder whose target writes into ``runtime``'s own DuckDB file or schema."""
    import yaml

    project = load_project(project_dir)
    profile = load_profile_target(project, profiles_dir, target)
    data = yaml.safe_load(profile.profiles_file.read_text(encoding="utf-8"))
    output = data[profile.profile]["outputs"][profile.target]
    database = None
    if profile.adapter_type == "duckdb" and profile.database_file is not None:
        database = work / runtime / profile.database_file.name
        database.parent.mkdir(parents=True, exist_ok=True)
        output["path"] = str(database)
    elif profile.adapter_type in SERVER_ADAPTERS and isinstance(output.get("schema"), str):
        output["schema"] = _schema_for(output["schema"], runtime)
    else:
        raise DBTConfigurationError(
            f"--execute builds each runtime into its own DuckDB file or schema; target "
            f"'{profile.target}' is a {profile.adapter_type} target"
            + ("" if profile.adapter_type == "duckdb" else " (or has no 'schema')"),
            file_path=profile.profiles_file,
            hint="compare without --execute, or pass --target for a DuckDB, PostgreSQL or Spark "
                 "target",
        )
    folder = work / f"profiles-{runtime}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "profiles.yml", yaml.safe_dump(data, sort_keys=False))
    return BuildPlace(folder, profile.adapter_type, _rendered(output), database)


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
    places = [build_place(root, options["profiles_dir"], options["target"], work, rt)
              for rt in runtimes]

    def build_with(index: int) -> DBTRunResult | FloeDBTError:
        request = RunRequest(command="build", runtime=runtimes[index],
                             **{**options, "profiles_dir": places[index].profiles_dir})
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
    tables = read_tables(places, [b for b in builds if isinstance(b, DBTRunResult)])
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


def read_tables(places: Sequence[BuildPlace], builds: Sequence[DBTRunResult]) -> dict[str, Any]:
    """Each build's relations (from its own manifest: the schemas differ on servers) read where
    that build wrote them."""
    from floe_dbt_hooks.artifacts import load_artifact

    relations = [built_relations(load_artifact(b.manifest_path).get("nodes", {}))
                 if b.manifest_path else {} for b in builds]
    readers = [place.reader() for place in places]
    try:
        return compare_relations(readers, relations)
    finally:
        for reader in readers:
            reader.close()
