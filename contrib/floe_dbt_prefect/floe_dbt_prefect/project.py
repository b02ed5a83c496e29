"""``DbtProject``: how to run one dbt project, as plain data a task can carry to any worker.

Every invocation goes through :class:`floe_dbt_hooks.DBTFacade` (so the configured runtime serves
it, with fallback, plugins and the project's ``floe_hooks.py``), and each is isolated: its own
``target/floe/<invocation id>/`` folder, so two flow runs on the same project never share
artifacts. One facade per configuration is kept per process; dbt-core's in-process invocations
queue behind the core runtime's lock, Fusion's run as parallel subprocesses, and both wait for
the DuckDB file's writer lock. Nothing here imports Prefect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.api import DBTFacade
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.models import (
    DBTRunResult,
    FallbackEvent,
    RunCommand,
    RunRequest,
    RuntimeEvent,
    from_dict,
    to_dict,
)
from floe_dbt_hooks.orchestration.manifest import LoadedManifest, load_manifest
from floe_dbt_hooks.orchestration.sharing import (
    EventRouter,
    RoutedInvocation,
    SharedPerConfiguration,
    integration_config,
)

_SHARED: SharedPerConfiguration[tuple[DBTFacade, EventRouter]] = SharedPerConfiguration()


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _optional_path(path: str | Path | None) -> str | None:
    return None if path is None else str(Path(path).expanduser())


@attrs.frozen(kw_only=True)
class DbtProject:
    """A dbt project and how to run it. Unset fields come from the project's floe config
    (``floe.yml``) and the environment (``FLOE_DBT_RUNTIME``...), as for the CLI."""

    project_dir: str = attrs.field(converter=_absolute)
    profiles_dir: str | None = attrs.field(default=None, converter=_optional_path)
    target: str | None = None
    runtime: str | None = None
    """core, fusion or any installed runtime; None: the floe config's ``plugins.dbt_runtime``."""
    fallback: bool | None = None
    """False: strict, a runtime that cannot serve is an error instead of falling back."""
    vars: Mapping[str, Any] = attrs.field(factory=dict)
    threads: int | None = None
    timeout: float | None = None
    """Seconds per dbt invocation."""
    disable: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    plugin_settings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    """Per-plugin settings over floe.yml's, e.g. ``{"fusion": {"binary": "/opt/dbt"}}``."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_dict(self)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DbtProject:
        return from_dict(dict(data), cls)

    def floe_config(self) -> FloeConfig:
        return integration_config(self.project_dir, runtime=self.runtime, fallback=self.fallback,
                                  disable=self.disable, plugin_settings=self.plugin_settings)

    def shared(self) -> tuple[DBTFacade, EventRouter]:
        """This process's facade for this configuration, and its event router."""
        key = json.dumps({k: v for k, v in self.to_json().items()
                          if k in ("project_dir", "runtime", "fallback", "disable",
                                   "plugin_settings")}, sort_keys=True, default=str)

        def build() -> tuple[DBTFacade, EventRouter]:
            router = EventRouter("floe_dbt_prefect_router")
            return DBTFacade(config=self.floe_config(), plugins=[router]), router

        return _SHARED.get(key, build)

    def load_manifest(self, reuse: bool | None = None) -> LoadedManifest:
        """The manifest the plan is built from (compiled ones go to ``target/floe/prefect/``)."""
        facade, _ = self.shared()
        return load_manifest(facade, self.project_dir, runtime=self.runtime,
                             profiles_dir=self.profiles_dir, target=self.target, vars=self.vars,
                             reuse=reuse, consumer="prefect")

    def request(self, command: RunCommand, select: Iterable[str] = (),
                exclude: Iterable[str] = (), **options: Any) -> RunRequest:
        fields: dict[str, Any] = {
            "project_dir": self.project_dir, "profiles_dir": self.profiles_dir,
            "target": self.target, "runtime": self.runtime, "fallback": self.fallback,
            "vars": dict(self.vars), "threads": self.threads, "timeout": self.timeout,
            "isolate": True}
        fields.update(options)
        return RunRequest(command=command, select=tuple(select), exclude=tuple(exclude), **fields)


def invoke(project: DbtProject, request: RunRequest, *,
           on_node: Callable[[RuntimeEvent], None] = lambda event: None,
           on_fallback: Callable[[FallbackEvent], None] = lambda event: None) -> DBTRunResult:
    """Run ``request`` through the hooks; ``on_node``/``on_fallback`` are called in the calling
    thread (where the orchestrator's run context lives) as the engine reports them."""
    facade, router = project.shared()
    pm = facade.plugin_manager(request.project_dir)
    with RoutedInvocation(pm, router, request, thread_name="floe-dbt-prefect") as invocation:
        for kind, payload in invocation:
            if kind == "fallback":
                on_fallback(payload)
            else:
                on_node(payload)
    result: DBTRunResult = invocation.result()
    return result
