"""``DBTResource``: the facade's methods as a Dagster resource, and the event stream for assets.

Every method builds one request through :class:`floe_dbt_hooks.DBTFacade`, so each invocation goes
through the hook framework: the configured runtime serves it (dbt-core in-process behind its
process-wide lock, or dbt Fusion as a subprocess, in parallel), with fallback, plugins, tracing and
the project's ``floe_hooks.py`` as everywhere else. Orchestration code never imports dbt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

from floe_dbt_hooks.api import DBTFacade
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.models import (
    ArtifactKind,
    CompileResult,
    DBTRunResult,
    LintResult,
    RunCommand,
    RuntimeInfo,
)
from floe_dbt_hooks.orchestration.sharing import EventRouter, SharedPerConfiguration, integration_config
from floe_dbt_hooks.plugin.manager import FloePluginManager

if TYPE_CHECKING:
    from dagster import AssetExecutionContext

    from floe_dbt_dagster.stream import DBTStream
    from floe_dbt_hooks.orchestration.manifest import LoadedManifest

_SHARED: SharedPerConfiguration[tuple[DBTFacade, EventRouter]] = SharedPerConfiguration()


class DBTResource(ConfigurableResource):  # type: ignore[type-arg]
    """Runs a dbt project through floe-dbt-hooks' runtimes.

    Unset fields come from the project's floe config (``floe.yml``: ``plugins.dbt_runtime``,
    ``plugins.dbt_fallback``, ``plugins.disable``, per-plugin settings) and the environment
    (``FLOE_DBT_RUNTIME``...), exactly as for the CLI.
    """

    project_dir: str = Field(description="Folder with dbt_project.yml.")
    profiles_dir: str | None = Field(default=None, description="Folder with profiles.yml.")
    target: str | None = Field(default=None, description="Profile target.")
    runtime: str | None = Field(
        default=None, description="core, fusion or any installed runtime; default: the floe "
        "config's plugins.dbt_runtime (core when unset).")
    fallback: bool | None = Field(
        default=None, description="False: strict, a runtime that cannot serve is an error.")
    disable: list[str] = Field(default_factory=list, description="Plugins never to load.")
    plugin_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-plugin settings merged over floe.yml's, e.g. "
        "{'fusion': {'binary': '/opt/dbt/bin/dbt', 'timeout': 600}}.")
    dbt_vars: dict[str, Any] = Field(default_factory=dict, description="dbt --vars.")
    threads: int | None = Field(default=None, description="dbt --threads.")
    timeout: float | None = Field(default=None, description="Seconds per invocation.")
    isolate: bool = Field(
        default=True, description="Give every invocation its own target/floe/<id>/ folder.")
    autoload_plugins: bool | None = Field(
        default=None, description="Load floe.dbt entry-point plugins (default: yes, unless "
        "FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD is set).")

    # -- the framework underneath ------------------------------------------------------------

    @property
    def resolved_project_dir(self) -> Path:
        return Path(self.project_dir).expanduser().resolve()

    def floe_config(self) -> FloeConfig:
        """The floe config every invocation of this resource uses."""
        return integration_config(self.resolved_project_dir, runtime=self.runtime,
                                  fallback=self.fallback, disable=self.disable,
                                  plugin_settings=self.plugin_settings)

    def _shared(self) -> tuple[DBTFacade, EventRouter]:
        """One facade (so one plugin manager) per distinct configuration in this process, with
        the event router that feeds streams registered on it."""
        key = json.dumps(
            {"project": str(self.resolved_project_dir), "runtime": self.runtime,
             "fallback": self.fallback, "disable": sorted(self.disable),
             "settings": self.plugin_settings, "autoload": self.autoload_plugins,
             "isolate": self.isolate},
            sort_keys=True, default=str,
        )

        def build() -> tuple[DBTFacade, EventRouter]:
            router = EventRouter("floe_dbt_dagster_router")
            options: dict[str, Any] = {"config": self.floe_config(), "plugins": [router]}
            if self.autoload_plugins is not None:
                options["autoload"] = self.autoload_plugins
            return DBTFacade(isolate=self.isolate, **options), router

        return _SHARED.get(key, build)

    @property
    def facade(self) -> DBTFacade:
        return self._shared()[0]

    def plugin_manager(self) -> FloePluginManager:
        return self.facade.plugin_manager(self.resolved_project_dir)

    def _options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {
            "profiles_dir": self.profiles_dir, "target": self.target, "threads": self.threads,
            "timeout": self.timeout, "isolate": self.isolate,
        }
        if self.dbt_vars:
            merged["vars"] = dict(self.dbt_vars)
        merged.update({k: v for k, v in options.items() if v is not None or k not in merged})
        return merged

    # -- the facade's methods ----------------------------------------------------------------

    def compile(self, **options: Any) -> CompileResult:
        """Compile (``select``/``exclude`` narrow it); the result points at its manifest."""
        return self.facade.compile(self.resolved_project_dir, **self._options(options))

    def compile_project(self, **options: Any) -> Path:
        """Compile and return the manifest.json path (raises DBTCompilationError on failure)."""
        return self.facade.compile_project(self.resolved_project_dir, **self._options(options))

    def invoke(self, command: RunCommand, **options: Any) -> DBTRunResult:
        """Any ``dbt_run`` command: run, test, build, seed, snapshot, docs."""
        return self.facade.invoke(command, self.resolved_project_dir, **self._options(options))

    def run_models(self, select: str | list[str] | None = None,
                   exclude: str | list[str] | None = None, full_refresh: bool = False,
                   **options: Any) -> DBTRunResult:
        return self.invoke("run", select=select, exclude=exclude, full_refresh=full_refresh,
                           **options)

    def test_models(self, select: str | list[str] | None = None, **options: Any) -> DBTRunResult:
        return self.invoke("test", select=select, **options)

    def build(self, **options: Any) -> DBTRunResult:
        return self.invoke("build", **options)

    def seed(self, **options: Any) -> DBTRunResult:
        return self.invoke("seed", **options)

    def snapshot(self, **options: Any) -> DBTRunResult:
        return self.invoke("snapshot", **options)

    def lint(self, fix: bool = False, select: str | list[str] | None = None,
             **options: Any) -> LintResult:
        """SQLFluff on dbt-core, ``dbt lint`` on Fusion, one LintResult either way."""
        merged = self._options(options)
        return self.facade.lint_project(self.resolved_project_dir, fix=fix, select=select,
                                        **merged)

    def artifact_path(self, kind: ArtifactKind, target_path: str | Path | None = None) -> Path:
        return self.facade.artifact_path(kind, self.resolved_project_dir, target_path)

    def get_manifest(self, target_path: str | Path | None = None) -> dict[str, Any]:
        """The latest invocation's manifest.json (or ``target_path``'s)."""
        return self.facade.get_manifest(self.resolved_project_dir, target_path)

    def get_run_results(self, target_path: str | Path | None = None) -> dict[str, Any]:
        return self.facade.get_run_results(self.resolved_project_dir, target_path)

    def get_catalog(self, target_path: str | Path | None = None, *, generate: bool = True
                    ) -> dict[str, Any]:
        return self.facade.get_catalog(self.resolved_project_dir, target_path, generate=generate,
                                       **self._options({}))

    def runtime_info(self) -> RuntimeInfo:
        return self.facade.runtime_info(self.resolved_project_dir)

    def supports_parallel_execution(self) -> bool:
        return self.runtime_info().supports_parallel_execution

    # -- Dagster ---------------------------------------------------------------------------

    def load_manifest(self, reuse: bool | None = None) -> LoadedManifest:
        """The manifest for building definitions (see :mod:`floe_dbt_hooks.orchestration.manifest`;
        compiled ones go to ``target/floe/dagster/``)."""
        from floe_dbt_hooks.orchestration.manifest import load_manifest

        return load_manifest(self.facade, self.resolved_project_dir, runtime=self.runtime,
                             profiles_dir=self.profiles_dir, target=self.target,
                             vars=self.dbt_vars, reuse=reuse, consumer="dagster")

    def stream(self, context: AssetExecutionContext, command: RunCommand = "build",
               **options: Any) -> DBTStream:
        """Run ``command`` for the assets ``context`` selected and yield Dagster events as nodes
        finish: ``yield from dbt.stream(context)`` in a :func:`floe_dbt_assets` function.

        ``options`` are RunRequest fields (``full_refresh``, ``vars``, ``threads``...);
        ``select``/``exclude``/``selector`` replace the definitions' own selection when the run
        is not a subset. After iterating, ``.result`` holds the DBTRunResult.
        """
        from floe_dbt_dagster.stream import DBTStream

        facade, router = self._shared()
        return DBTStream(self, facade, router, context, command, self._options(options))
