"""The dbt-core runtime's linter: SQLFluff over the project's models, cached, with safe fixes.

One call of :func:`lint`:

1. reads the project and the profile target; the target's adapter gives the default dialect;
2. checks every SQLFluff config file it will read (a malformed or dangling one is an error naming
   it), builds the project's config with the framework's defaults underneath, and rejects unknown
   rule codes;
3. selects the model files (binary and non-UTF-8 ones are skipped and listed);
4. looks each file up in the lint cache and lints only the misses, in this process, or in worker
   processes when there are enough of them and ``processes`` asks for more than one;
5. with ``fix``: writes each fixed file atomically, only if it still has the bytes that were linted
   and lies inside a model path, and lints it again until it is stable (at most three rounds), so the
   result reports what is left;
6. stores the results in the cache and returns one LintResult.

The jinja templater (with dbt's builtins and the project's macros) is the default; a project whose
SQLFluff config says ``templater = dbt`` gets sqlfluff-templater-dbt, run in this process under the
dbt-core runtime's lock (it drives dbt-core, whose state is global).

Its parts: ``files`` (which model files), ``select`` (``dbt ls`` for selections only dbt resolves),
``config`` (SQLFluff's config and its checks), ``dialects``, ``engine`` (SQLFluff runs, here or in
worker processes) and ``cache``. None imports SQLFluff or dbt at module level.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from floe_dbt_core.lint import cache as lint_cache
from floe_dbt_core.lint import config as lint_config
from floe_dbt_core.lint import files as lint_files
from floe_dbt_core.lint.dialects import ADAPTER_DIALECTS, dialect_for_adapter
from floe_dbt_core.lint.engine import FileOutcome, FileTask, lint_parallel, lint_texts
from floe_dbt_hooks.errors import DBTLintError
from floe_dbt_hooks.fsutil import atomic_write_text, walk_tree
from floe_dbt_hooks.models import LintRequest, LintResult, LintViolation
from floe_dbt_hooks.project import DBTProject, ProfileTarget, load_profile_target, load_project

if TYPE_CHECKING:
    from sqlfluff.core import FluffConfig

RUNTIME = "core"
FIX_ROUNDS = 3
MIN_FILES_PER_PROCESS = 40
"""A worker process costs about 0.4 s to start (SQLFluff import and config); below this many
files per worker, linting in this process is faster."""
_LINT_LOCK = threading.Lock()
"""SQLFluff keeps process-wide config caches; lints in one process run one at a time."""

_T = TypeVar("_T")


@attrs.frozen
class _Plan:
    """Everything decided before any file is linted."""

    project: DBTProject
    roots: tuple[Path, ...]
    settings: lint_config.LintSettings
    templater: str
    dialect: str
    engine: str
    context: str
    configs: Mapping[Path, str]


def _defaults(project: DBTProject, profile: ProfileTarget, request: LintRequest) -> dict[str, Any]:
    """What the framework fills in where the project's SQLFluff config says nothing."""
    core: dict[str, Any] = {}
    dialect = ADAPTER_DIALECTS.get(profile.adapter_type.lower())
    if dialect is not None:
        core["dialect"] = dialect
    jinja: dict[str, Any] = {"apply_dbt_builtins": True}
    macros = [str(p) for p in project.macro_paths if p.is_dir()]
    if macros:
        jinja["load_macros_from_path"] = ",".join(macros)
    dbt: dict[str, Any] = {
        "project_dir": str(project.project_dir),
        "profiles_dir": str(profile.profiles_dir),
        "target": profile.target,
        "target_path": str(project.target_path / "floe" / "lint-dbt"),
    }
    if request.vars:
        dbt["context"] = dict(request.vars)
    return {"core": core, "templater": {"jinja": jinja, "dbt": dbt}}


def _nested_dirs(roots: Sequence[Path]) -> list[Path]:
    return [folder for root in roots if root.is_dir()
            for folder in (root, *(Path(e.path) for e in walk_tree(root) if e.is_dir()))]


def _where(project: DBTProject, settings: lint_config.LintSettings) -> Path:
    if settings.config_path:
        return Path(settings.config_path)
    return next((project.project_dir / n for n in (".sqlfluff", "pyproject.toml", "setup.cfg",
                                                   "tox.ini") if (project.project_dir / n).is_file()),
                project.project_dir)


def _jinja_context_paths(config: FluffConfig) -> list[Path]:
    section = config.get_section(("templater", "jinja")) or {}
    paths: list[Path] = []
    for key in ("load_macros_from_path", "loader_search_path", "library_path"):
        value = section.get(key)
        if isinstance(value, str) and value:
            paths += [Path(p.strip()) for p in value.split(",") if p.strip()]
    return paths


def _dbt_context(project: DBTProject, profile: ProfileTarget, request: LintRequest) -> str:
    from floe_dbt_hooks.project import referenced_env_vars

    roots = [*project.source_paths, project.packages_install_path, project.project_file,
             profile.profiles_file]
    if project.packages_file is not None:
        roots.append(project.packages_file)
    env = {name: os.environ.get(name) for name in sorted(referenced_env_vars(project, profile))}
    extra = json.dumps({"vars": dict(request.vars), "env": env, "target": profile.target},
                       sort_keys=True, default=str)
    return hashlib.sha256((lint_cache.tree_digest(roots) + extra).encode()).hexdigest()


def _plan(request: LintRequest, project: DBTProject, profile: ProfileTarget,
          directories: Sequence[Path]) -> tuple[_Plan, FluffConfig]:
    roots = project.model_paths
    config_path = request.config_path
    if config_path is not None and not config_path.is_absolute():
        config_path = Path.cwd() / config_path
    settings = lint_config.LintSettings(
        project_dir=str(project.project_dir), defaults=_defaults(project, profile, request),
        config_path=str(config_path) if config_path else None,
    )
    lint_config.check_config_files(settings, _nested_dirs(roots))
    root = lint_config.build_config(settings)
    dialect = root.get("dialect")
    if not dialect:
        dialect_for_adapter(profile.adapter_type, profile.profiles_file)
    where = _where(project, settings)
    lint_config.check_rule_references(root, where)
    templater = str(root.get("templater"))
    configs: dict[Path, str] = {}
    context_paths: list[Path] = []
    for directory in dict.fromkeys(directories):
        child = lint_config.child_config(root, directory, settings)
        lint_config.check_rule_references(child, where)
        configs[directory] = lint_config.config_digest(child)
        context_paths += _jinja_context_paths(child)
    context = (_dbt_context(project, profile, request) if templater == "dbt"
               else lint_cache.tree_digest(context_paths or _jinja_context_paths(root)))
    plan = _Plan(project=project, roots=roots, settings=settings, templater=templater,
                 dialect=str(dialect), engine=lint_cache.engine_digest(templater),
                 context=context, configs=configs)
    return plan, root


def _ignored_by_sqlfluff(plan: _Plan, config: FluffConfig) -> set[Path]:
    """Files .sqlfluffignore (or ignore_paths in config files) excludes, as SQLFluff would."""
    from sqlfluff.core.linter.discovery import paths_from_path

    exts = tuple(str(config.get("sql_file_exts") or ".sql").lower().split(","))
    kept: set[Path] = set()
    every: set[Path] = set()
    for root in plan.roots:
        if not root.exists():
            continue
        kept |= {Path(p).resolve() for p in paths_from_path(
            str(root), ignore_non_existent_files=True, working_path=str(plan.project.project_dir),
            target_file_exts=exts)}
        every |= {Path(p).resolve() for p in paths_from_path(
            str(root), ignore_non_existent_files=True, ignore_files=False,
            working_path=str(plan.project.project_dir), target_file_exts=exts)}
    return every - kept


def _in_engine_context(plan: _Plan, work: Callable[[], _T]) -> _T:
    """The dbt templater drives dbt-core in this process: hold the runtime's lock, run from the
    project folder. The jinja templater needs nothing."""
    if plan.templater != "dbt":
        return work()
    from floe_dbt_core.invoke import _DBT_LOCK
    from floe_dbt_hooks.runtime.workdir import run_in_directory

    with _DBT_LOCK:
        return run_in_directory(plan.project.project_dir, work)


def _processes(plan: _Plan, config: FluffConfig, settings: Mapping[str, Any], count: int) -> int:
    wanted = settings.get("processes", config.get("processes") or 1)
    try:
        processes = int(wanted)
    except (TypeError, ValueError) as exc:
        raise DBTLintError(f"'processes' must be a whole number, not {wanted!r}",
                           hint="set plugins.sqlfluff.processes in floe.yml") from exc
    if processes <= 0:
        processes = max(1, (os.cpu_count() or 1) + processes)
    if plan.templater == "dbt":
        return 1
    return max(1, min(processes, count // MIN_FILES_PER_PROCESS))


def _run(plan: _Plan, tasks: Sequence[FileTask], fix: bool, processes: int,
         timeout: float) -> list[FileOutcome]:
    if not tasks:
        return []
    if processes > 1:
        return lint_parallel(plan.settings, tasks, fix, processes, timeout)
    return _in_engine_context(plan, lambda: lint_texts(plan.settings, tasks, fix))


def _write_fix(plan: _Plan, source: lint_files.SourceFile, text: str) -> None:
    """Replace the file atomically, only inside the model paths and only if unchanged since read."""
    if not lint_files.inside(source.path, plan.roots):
        raise DBTLintError(f"refusing to write {source.path}: it is outside the model paths",
                           file_path=source.path)
    current = source.path.read_bytes()
    if hashlib.sha256(current).hexdigest() != source.digest:
        raise DBTLintError(
            f"{source.relative} changed while it was being linted; it was not fixed",
            file_path=source.path, hint="run the fix again",
        )
    atomic_write_text(source.path, text)


@attrs.frozen
class _FixOutcome:
    final: dict[str, FileOutcome]
    sources: dict[str, lint_files.SourceFile]
    fixed: tuple[str, ...]
    fixed_count: int


def _fix(plan: _Plan, sources: dict[str, lint_files.SourceFile], tasks: list[FileTask],
         processes: int, timeout: float) -> _FixOutcome:
    final: dict[str, FileOutcome] = {}
    before: dict[str, int] = {}
    fixed: dict[str, None] = {}
    pending = tasks
    for _ in range(FIX_ROUNDS):
        next_round: list[FileTask] = []
        for outcome in _run(plan, pending, True, processes, timeout):
            before.setdefault(outcome.relative, len(outcome.violations))
            if outcome.fixed_text is None:
                final[outcome.relative] = outcome
                continue
            source = sources[outcome.relative]
            _write_fix(plan, source, outcome.fixed_text)
            fixed[outcome.relative] = None
            data = outcome.fixed_text.encode("utf-8")
            sources[outcome.relative] = attrs.evolve(
                source, text=outcome.fixed_text, digest=hashlib.sha256(data).hexdigest())
            next_round.append(FileTask(path=str(source.path), relative=source.relative,
                                       text=outcome.fixed_text))
        pending = next_round
        if not pending:
            break
    for outcome in _run(plan, pending, False, processes, timeout):
        final[outcome.relative] = outcome
    count = sum(max(0, before[name] - len(final[name].violations)) for name in fixed)
    return _FixOutcome(final=final, sources=sources, fixed=tuple(fixed), fixed_count=count)


def lint(request: LintRequest, settings: Mapping[str, Any] | None = None) -> LintResult:
    """Lint (and with ``request.fix``, fix) the project's selected models with SQLFluff."""
    started = time.perf_counter()
    settings = settings or {}
    project = load_project(request.project_dir)
    profile = load_profile_target(project, request.profiles_dir, request.target)
    with _LINT_LOCK:
        lint_config.clear_sqlfluff_caches()
        selected = lint_files.select_files(request, project, profile)
        plan, root = _plan(request, project, profile, [f.path.parent for f in selected.files])
        ignored = _ignored_by_sqlfluff(plan, root)
        sources = {f.relative: f for f in selected.files if f.path.resolve() not in ignored}
        cache = lint_cache.LintCache(project.target_path / "floe" / "lint-cache") \
            if request.use_cache else None

        def key(source: lint_files.SourceFile) -> str:
            return lint_cache.file_key(engine=plan.engine, config=plan.configs[source.path.parent],
                                       context=plan.context, relative=source.relative,
                                       content=source.digest)

        results: dict[str, tuple[LintViolation, ...]] = {}
        for name, source in sources.items():
            hit = cache.get(name, key(source)) if cache is not None else None
            if hit is not None:
                results[name] = hit
        wanted = [s for n, s in sources.items()
                  if n not in results or (request.fix and any(v.fixable for v in results[n]))]
        tasks = [FileTask(path=str(s.path), relative=s.relative, text=s.text) for s in wanted]
        processes = _processes(plan, root, settings, len(tasks))
        timeout = float(request.timeout or settings.get("timeout", 3600))
        skipped = dict(selected.skipped)
        fixed: tuple[str, ...] = ()
        fixed_count = 0
        if request.fix:
            outcome = _fix(plan, sources, tasks, processes, timeout)
            outcomes, sources = list(outcome.final.values()), outcome.sources
            fixed, fixed_count = outcome.fixed, outcome.fixed_count
        else:
            outcomes = _run(plan, tasks, False, processes, timeout)
        for item in outcomes:
            if item.skipped:
                skipped[item.relative] = item.skipped
                results.pop(item.relative, None)
                continue
            results[item.relative] = item.violations
            if cache is not None:
                cache.put(item.relative, key(sources[item.relative]), item.violations)
        if cache is not None:
            cache.save()
    return _result(request, plan, results, skipped, fixed, fixed_count, len(tasks), processes,
                   cache, started)


def _result(request: LintRequest, plan: _Plan, results: Mapping[str, tuple[LintViolation, ...]],
            skipped: Mapping[str, str], fixed: tuple[str, ...], fixed_count: int, linted: int,
            processes: int, cache: lint_cache.LintCache | None, started: float) -> LintResult:
    from importlib.metadata import version

    from floe_dbt_hooks.builtin.log import get_logger

    for path, reason in skipped.items():
        get_logger().warning("lint_file_skipped", file=path, reason=reason)
    violations = tuple(sorted(
        (v for vs in results.values() for v in vs),
        key=lambda v: (v.file_path, v.line, v.column, v.code),
    ))
    return LintResult(
        passed=not any(v.severity != "info" for v in violations),
        runtime=RUNTIME,
        invocation_id=request.invocation_id,
        violations=violations,
        files_checked=len(results),
        fixed_count=fixed_count,
        fixed_files=fixed,
        skipped_files=tuple(sorted(skipped)),
        elapsed_time=time.perf_counter() - started,
        metadata={
            "linter": "sqlfluff",
            "sqlfluff_version": version("sqlfluff"),
            "dialect": plan.dialect,
            "templater": plan.templater,
            "processes": processes,
            "linted_files": linted,
            "cached_files": max(0, len(results) - linted),
            "cache_path": str(cache.path) if cache is not None else None,
            "skipped": dict(skipped),
        },
    )
