"""One dbt-core invocation through dbtRunner: serialised, warm, isolated, and mapped to results.

* dbt keeps global state (flags, adapters, the invocation context), so every invocation in the
  process holds one process-wide lock: concurrent calls queue, they never interleave.
* dbt runs with the project directory as working directory, as if ``dbt`` were started there, so
  relative paths in profiles (a DuckDB file) land in the project whoever calls; the process's own
  working directory is left alone (floe_dbt_hooks.runtime.workdir).
* Warm: the parsed manifest is kept per project and target (the few most recently used) and
  handed to dbtRunner while the project's fingerprint is unchanged, so repeated invocations skip
  import and parse. Before reuse, the
  per-node compile state dbt leaves behind is cleared (dbt would otherwise skip re-injecting
  ephemeral CTEs into freshly rendered SQL).
* After every invocation the DuckDB environment dbt-duckdb caches at class level is closed, so
  the next invocation (or another process) sees the database file as it is now.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from floe_dbt_core import RUNTIME_NAME, atomic_artifacts
from floe_dbt_core.events import CoreCallback
from floe_dbt_core.fingerprint import project_fingerprint
from floe_dbt_core.results import error_from_dbt, run_result_entries
from floe_dbt_hooks.fsutil import atomic_copy
from floe_dbt_hooks.models import NODE_COMMANDS, InvocationRequest, InvocationResult
from floe_dbt_hooks.project import (
    DBTProject,
    ProfileTarget,
    load_profile_target,
    load_project,
    prepare_target_path,
)
from floe_dbt_hooks.project.dbtignore import dbt_ignored
from floe_dbt_hooks.runtime.events import Emit, EventParser
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.locks import database_lock, file_lock
from floe_dbt_hooks.runtime.results import (
    event_nodes,
    invocation_result,
    node_results,
    write_interrupted_run_results,
)
from floe_dbt_hooks.runtime.running import RunningInvocations
from floe_dbt_hooks.runtime.workdir import DirectoryRun

_DBT_LOCK = threading.RLock()
"""Held for the whole of every dbtRunner call in this process."""

_Result = TypeVar("_Result", bound=InvocationResult)
SELECTIVE_COMMANDS = (*NODE_COMMANDS, "compile")
"""With a warm manifest and a selection of one node, dbt looks relations up as it needs them
instead of first caching every relation of the project (``--no-populate-cache``): a third of a
one-model call. Only for one node (or one thread): dbt fills that lazy cache from each thread's
own connection, and two threads renaming views at once (``model_a*`` on 4 threads) then fail with
"Cache inconsistency detected: in rename" about one run in five."""
MAX_WARM_MANIFESTS = 4
"""Parsed manifests kept per process (least recently used dropped first): each project and target
has its own, since a manifest holds the target's database and schema names."""


@attrs.define
class _WarmManifest:
    key: str
    manifest: Any
    manifest_path: Path
    env: Mapping[str, str | None]

    def fresh(self, key: str) -> bool:
        return self.key == key and all(os.environ.get(k) == v for k, v in self.env.items())


_warm: OrderedDict[tuple[Path, str, Path], _WarmManifest] = OrderedDict()
_running: RunningInvocations[DirectoryRun[Any]] = RunningInvocations()
_CANCEL_EVERY = 0.25


def forget_warm_manifests() -> None:
    """Drop every kept manifest (tests and long-lived hosts that want the memory back)."""
    with _DBT_LOCK:
        _warm.clear()


_QUIET = ["--log-level", "none", "--no-use-colors", "--no-send-anonymous-usage-stats"]


def _command_words(command: str) -> list[str]:
    return ["docs", "generate"] if command == "docs" else [command]


def _ensure_deps(project: DBTProject, callback: CoreCallback) -> None:
    """Run ``dbt deps`` when the project declares packages that are not installed yet."""
    if project.packages_file is None:
        return
    installed = project.packages_install_path
    if installed.is_dir() and any(installed.iterdir()):
        return
    from dbt.cli.main import dbtRunner

    outcome = dbtRunner(callbacks=[callback]).invoke(
        ["deps", "--project-dir", str(project.project_dir), *_QUIET]
    )
    if not outcome.success:
        raise error_from_dbt(outcome.exception, callback.parser.errors(), project.packages_file)


def _reset_compiled_state(manifest: Any) -> None:
    """Clear what a previous compile left on the shared manifest's nodes."""
    for node in manifest.nodes.values():
        if "extra_ctes_injected" in getattr(type(node), "__dataclass_fields__", {}):
            node.extra_ctes_injected = False
            node.extra_ctes = []
            node.compiled = False
            node.compiled_code = None


def _warm_manifest(
    request: InvocationRequest,
    project: DBTProject,
    profile: ProfileTarget,
    callback: CoreCallback,
) -> _WarmManifest:
    key = project_fingerprint(
        source_paths=(*project.source_paths, project.packages_install_path),
        files=(*project.parse_files, profile.profiles_file),
        settings={"target": profile.target, "vars": dict(request.vars)},
        ignored=dbt_ignored(project.project_dir),
    )
    slot = (project.project_dir, profile.target, profile.profiles_file)
    cached = _warm.get(slot)
    if cached is not None and cached.fresh(key):
        _warm.move_to_end(slot)
        _reset_compiled_state(cached.manifest)
        return cached
    _warm.pop(slot, None)
    from dbt.cli.main import dbtRunner

    atomic_artifacts.install()
    parse_path = project.target_path / "floe" / "parse"
    with file_lock(parse_path / ".lock"):
        parse_request = attrs.evolve(request, target_path=parse_path, select=(), exclude=(),
                                     selector=None)
        flags = request_flags(parse_request, "parse", project, profile, parse_path)
        outcome = dbtRunner(callbacks=[callback]).invoke(["parse", *flags, *_QUIET])
    if not outcome.success or outcome.result is None:
        raise error_from_dbt(outcome.exception, callback.parser.errors(), project.project_file)
    manifest = outcome.result
    env = {name: os.environ.get(name) for name in getattr(manifest, "env_vars", {})}
    entry = _WarmManifest(
        key=key, manifest=manifest, manifest_path=parse_path / "manifest.json", env=env
    )
    _warm[slot] = entry
    while len(_warm) > MAX_WARM_MANIFESTS:
        _warm.popitem(last=False)
    return entry


def lazy_cache_is_safe(manifest: Any, request: InvocationRequest) -> bool:
    """Whether dbt may skip caching every relation up front for ``request``: it runs on one
    thread, or its selection is one bare name that names exactly one node of ``manifest`` (and
    no folder or package, which a bare name would also select), so no two nodes build at once."""
    if request.threads == 1 and request.select:
        return True
    if len(request.select) != 1 or request.exclude or request.selector:
        return False
    word = request.select[0]
    if not word.isidentifier():  # graph operators, wildcards, methods, paths, fqn prefixes
        return False
    named = 0
    for node in manifest.nodes.values():
        fqn = getattr(node, "fqn", None) or ()
        if word in fqn[:-1]:
            return False
        if getattr(node, "name", None) == word and getattr(node, "resource_type", None) != "test":
            named += 1
    return named == 1


def _release_connections(adapter_type: str) -> None:
    """Close the DuckDB database dbt-duckdb keeps open between invocations."""
    if adapter_type != "duckdb":
        return
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        with contextlib.suppress(Exception):
            environment.close()


def invoke(
    request: InvocationRequest, command: str, *, emit: Emit, result_cls: type[_Result]
) -> _Result:
    """Run ``command`` for ``request`` on dbt-core and return the framework's result."""
    started = time.perf_counter()
    project = load_project(request.project_dir)
    profile = load_profile_target(project, request.profiles_dir, request.target)
    target_path = prepare_target_path(project, request)
    parser = EventParser(request.invocation_id, RUNTIME_NAME, emit)
    callback = CoreCallback(parser)
    warm: _WarmManifest | None = None
    write_json = True

    def run_dbt() -> Any:
        nonlocal warm, write_json
        from dbt.cli.main import dbtRunner

        atomic_artifacts.install()
        try:
            _ensure_deps(project, callback)
            if request.reuse_manifest:
                warm = _warm_manifest(request, project, profile, callback)
            write_json = warm is None or command in ("compile", "docs")
            args = [*_command_words(command),
                    *request_flags(request, command, project, profile, target_path), *_QUIET]
            if not write_json:
                args.append("--no-write-json")
            if warm is not None and command in SELECTIVE_COMMANDS and lazy_cache_is_safe(
                    warm.manifest, request):
                args.append("--no-populate-cache")
            runner = dbtRunner(manifest=warm.manifest if warm else None, callbacks=[callback])
            return runner.invoke(args)
        finally:
            _release_connections(profile.adapter_type)

    if profile.adapter_type == "spark":
        _check_spark_master(profile)
    with _DBT_LOCK, database_lock(profile), _running.serving(request.invocation_id,
                          DirectoryRun(project.project_dir, run_dbt)) as run:
        outcome = run.run()

    if isinstance(outcome.exception, KeyboardInterrupt):
        return _interrupted(result_cls, request, command, project, profile, target_path, parser,
                            warm, time.perf_counter() - started)
    execution: Any = outcome.result if hasattr(outcome.result, "results") else None
    if outcome.exception is not None or (not outcome.success and execution is None
                                         and command != "docs"):
        raise error_from_dbt(outcome.exception, parser.errors(), project.project_file, profile,
                             selector=request.selector)

    manifest_path = target_path / "manifest.json"
    if warm is not None and not write_json:
        if execution is not None:
            execution.write(str(target_path / "run_results.json"))
        if warm.manifest_path != manifest_path and warm.manifest_path.is_file():
            atomic_copy(warm.manifest_path, manifest_path)
    entries, nodes = run_result_entries(execution) if execution is not None else ([], {})
    return invocation_result(
        result_cls, request=request, command=command, runtime=RUNTIME_NAME, project=project,
        profile=profile, target_path=target_path, success=bool(outcome.success),
        elapsed_time=time.perf_counter() - started, nodes=node_results(entries, nodes),
        metadata={
            "dbt_version": _dbt_version(),
            "warm_manifest": warm is not None,
            "warnings": parser.warnings(),
        },
    )


def cancel(invocation_id: str) -> bool:
    """Stop a running invocation the way dbt-core expects (KeyboardInterrupt in its thread: it
    writes the results so far and cancels its open queries); False if it is not running here."""
    run = _running.get(invocation_id)
    if run is None or not run.interrupt():
        return False
    threading.Thread(target=_cancel_open_queries, args=(run,), daemon=True,
                     name="floe-dbt-cancel").start()
    return True


def _cancel_open_queries(run: DirectoryRun[Any]) -> None:
    """Cancel the queries dbt's workers run, as dbt does on Ctrl-C, until the run has ended: its
    coordinating thread sleeps until a node finishes and only then sees the interruption, and a
    node that was just starting opens its query after the first round."""
    from dbt.adapters.factory import FACTORY

    while run.running:
        adapters: list[Any] = list(FACTORY.adapters.values())
        for adapter in adapters:
            with contextlib.suppress(Exception):
                adapter.cancel_open_connections()
        time.sleep(_CANCEL_EVERY)


def _interrupted(
    result_cls: type[_Result], request: InvocationRequest, command: str, project: DBTProject,
    profile: ProfileTarget, target_path: Path, parser: EventParser, warm: _WarmManifest | None,
    elapsed: float,
) -> _Result:
    """The nodes that finished before the interruption, in the result and in run_results.json
    (dbt writes it itself unless it was told not to write JSON)."""
    known = {uid: {"original_file_path": getattr(node, "original_file_path", None)}
             for uid, node in (warm.manifest.nodes.items() if warm else ())}
    nodes = event_nodes(parser.finished.values(), known)
    run_results = target_path / "run_results.json"
    if not run_results.is_file():
        write_interrupted_run_results(run_results, nodes, invocation_id=request.invocation_id,
                                      elapsed_time=elapsed)
    return invocation_result(
        result_cls, request=request, command=command, runtime=RUNTIME_NAME, project=project,
        profile=profile, target_path=target_path, success=False, elapsed_time=elapsed,
        nodes=nodes, interrupted=True, nodes_total=parser.total,
        metadata={"dbt_version": _dbt_version(), "warm_manifest": warm is not None,
                  "warnings": parser.warnings()},
    )


def _check_spark_master(profile: ProfileTarget) -> None:
    """A standalone master that does not answer fails in seconds, not after Spark's minute of
    registration retries."""
    from floe_dbt_core.connection_errors import probe_spark_master, rendered_output
    from floe_dbt_hooks.errors import DBTConfigurationError

    problem = probe_spark_master(rendered_output(profile))
    if problem is not None:
        raise DBTConfigurationError(problem[0], file_path=str(profile.profiles_file),
                                    hint=problem[1])


def _dbt_version() -> str:
    from dbt.version import __version__

    return str(__version__)
