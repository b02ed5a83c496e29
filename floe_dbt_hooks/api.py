"""The facade: the seed's DBTPlugin methods for people who would rather not think in hooks.

Every method is a thin call into ``pm.hook.*``; a plugin manager is created per project on first use
(so each project's ``floe_hooks.py`` and ``floe.yml`` apply) and kept for the facade's life.
Invocations are isolated by default: each gets its own target path, and the artifact getters read
the most recent invocation's artifacts unless told otherwise.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.models import (
    ArtifactKind,
    ArtifactRequest,
    CompileRequest,
    CompileResult,
    DBTRunResult,
    InvocationResult,
    LintRequest,
    LintResult,
    RunCommand,
    RunRequest,
    RuntimeInfo,
    to_dict,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager

if TYPE_CHECKING:
    from floe_dbt_hooks.compare.result import CompareResult


class DBTFacade:
    """DBTPlugin-style methods over the hook framework.

    ``runtime`` and ``fallback`` override the floe config for every call; ``manager_options`` go
    to :func:`create_plugin_manager` (for example ``plugins=[...]`` or ``disable=[...]``).
    """

    def __init__(
        self,
        *,
        runtime: str | None = None,
        fallback: bool | None = None,
        isolate: bool = True,
        **manager_options: Any,
    ) -> None:
        self._runtime = runtime
        self._fallback = fallback
        self._isolate = isolate
        self._manager_options = manager_options
        self._managers: dict[Path, FloePluginManager] = {}
        self._last_target: dict[Path, Path] = {}
        self._lock = threading.Lock()

    def plugin_manager(self, project_dir: str | Path) -> FloePluginManager:
        """The plugin manager serving ``project_dir`` (created on first use)."""
        key = Path(project_dir).expanduser().resolve()
        with self._lock:
            pm = self._managers.get(key)
            if pm is None:
                pm = create_plugin_manager(
                    key, runtime=self._runtime, fallback=self._fallback, **self._manager_options
                )
                self._managers[key] = pm
            return pm

    def _remember(self, result: InvocationResult) -> None:
        if result.target_path is not None:
            self._last_target[result.project_dir] = result.target_path

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("isolate", self._isolate)
        return options

    def compile(self, project_dir: str | Path, **options: Any) -> CompileResult:
        """Compile and return the whole result (``compile_project`` returns only the manifest)."""
        request = CompileRequest(project_dir=project_dir, **self._options(options))
        result: CompileResult = self.plugin_manager(project_dir).hook.dbt_compile(request=request)
        self._remember(result)
        return result

    def compile_project(
        self,
        project_dir: str | Path,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        **options: Any,
    ) -> Path:
        """Compile the project; returns the path of the compiled manifest.json."""
        result = self.compile(project_dir, profiles_dir=profiles_dir, target=target, **options)
        if not result.success or result.manifest_path is None:
            failed = [n.unique_id for n in result.nodes if n.status == "error"]
            from floe_dbt_hooks.errors import DBTCompilationError

            raise DBTCompilationError(
                f"compile failed for {len(failed)} node(s): {', '.join(failed[:5])}",
                file_path=next((n.file_path for n in result.nodes if n.status == "error"), None),
                original_message=next(
                    (n.error_message for n in result.nodes if n.error_message), None
                ),
            )
        return result.manifest_path

    def invoke(self, command: RunCommand, project_dir: str | Path, **options: Any) -> DBTRunResult:
        """Run any ``dbt_run`` command (run, test, build, seed, snapshot, docs)."""
        request = RunRequest(project_dir=project_dir, command=command, **self._options(options))
        result: DBTRunResult = self.plugin_manager(project_dir).hook.dbt_run(request=request)
        self._remember(result)
        return result

    def run_models(
        self,
        project_dir: str | Path,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        select: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
        full_refresh: bool = False,
        **options: Any,
    ) -> DBTRunResult:
        """``dbt run`` on the selection."""
        return self.invoke(
            "run", project_dir, profiles_dir=profiles_dir, target=target, select=select,
            exclude=exclude, full_refresh=full_refresh, **options,
        )

    def test_models(
        self,
        project_dir: str | Path,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        select: str | list[str] | None = None,
        **options: Any,
    ) -> DBTRunResult:
        """``dbt test`` on the selection."""
        return self.invoke(
            "test", project_dir, profiles_dir=profiles_dir, target=target, select=select,
            **options,
        )

    def build(self, project_dir: str | Path, **options: Any) -> DBTRunResult:
        """``dbt build``: seeds, models, snapshots and tests in DAG order."""
        return self.invoke("build", project_dir, **options)

    def lint_project(
        self,
        project_dir: str | Path,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        fix: bool = False,
        select: str | list[str] | None = None,
        **options: Any,
    ) -> LintResult:
        """Lint (with ``fix``, fix) the selected models: SQLFluff on dbt-core, ``dbt lint`` on
        Fusion; violations are in the result, a linter that cannot run raises DBTLintError."""
        request = LintRequest(project_dir=project_dir, profiles_dir=profiles_dir, target=target,
                              fix=fix, select=select, **self._options(options))
        result: LintResult = self.plugin_manager(project_dir).hook.dbt_lint(request=request)
        return result

    def artifact_path(
        self, kind: ArtifactKind, project_dir: str | Path, target_path: str | Path | None = None
    ) -> Path:
        """Where ``kind`` lives: the given target path, else the latest invocation's, else the
        project's."""
        root = Path(project_dir).expanduser().resolve()
        path: Path = self.plugin_manager(root).hook.dbt_artifact_path(
            request=ArtifactRequest(
                kind=kind, project_dir=root,
                target_path=target_path or self._last_target.get(root), runtime=self._runtime,
            )
        )
        return path

    def get_manifest(
        self, project_dir: str | Path, target_path: str | Path | None = None
    ) -> dict[str, Any]:
        return load_artifact(self.artifact_path("manifest", project_dir, target_path))

    def get_run_results(
        self, project_dir: str | Path, target_path: str | Path | None = None
    ) -> dict[str, Any]:
        return load_artifact(self.artifact_path("run_results", project_dir, target_path))

    def get_catalog(
        self,
        project_dir: str | Path,
        target_path: str | Path | None = None,
        *,
        generate: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """catalog.json; with ``generate`` (default) it runs ``docs generate`` when missing."""
        path = self.artifact_path("catalog", project_dir, target_path)
        if not path.is_file() and generate:
            result = self.invoke("docs", project_dir, **options)
            if result.catalog_path is None:
                raise DBTConfigurationError(
                    "docs generate did not write catalog.json",
                    file_path=path,
                    hint="run 'floe-dbt docs generate' and check its output",
                )
            path = result.catalog_path
        return load_artifact(path)

    def runtime_info(self, project_dir: str | Path, runtime: str | None = None) -> RuntimeInfo:
        pm = self.plugin_manager(project_dir)
        wanted = pm.config.runtime_for(runtime or self._runtime)
        infos: dict[str, RuntimeInfo] = {info.name: info for info in pm.hook.dbt_runtime_info()}
        if wanted not in infos:
            raise DBTConfigurationError(
                f"unknown runtime '{wanted}'",
                hint=f"installed runtimes: {', '.join(sorted(infos)) or 'none'}",
            )
        return infos[wanted]

    def supports_parallel_execution(
        self, project_dir: str | Path = ".", runtime: str | None = None
    ) -> bool:
        return self.runtime_info(project_dir, runtime).supports_parallel_execution

    def supports_sql_linting(self, project_dir: str | Path = ".", runtime: str | None = None) -> bool:
        return self.runtime_info(project_dir, runtime).supports_sql_linting

    def get_runtime_metadata(
        self, project_dir: str | Path = ".", runtime: str | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = to_dict(self.runtime_info(project_dir, runtime))
        return data

    def compare(
        self, project_dir: str | Path, runtimes: tuple[str, str] = ("core", "fusion"), **options: Any
    ) -> CompareResult:
        """Shadow-run the project under two runtimes (see :mod:`floe_dbt_hooks.compare`)."""
        from floe_dbt_hooks.compare.runner import compare_runtimes

        return compare_runtimes(project_dir, runtimes, pm=self.plugin_manager(project_dir), **options)
