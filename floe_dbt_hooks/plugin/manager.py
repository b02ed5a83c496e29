"""``create_plugin_manager()``: the one place that loads, blocks and checks plugins.

Plugins come from three places, in this order:

1. built-ins, by import (the dbt-core runtime, the Fusion runtime, strict mode);
2. the ``floe.dbt`` entry-point group, unless ``FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD`` is set;
3. the project's own ``floe_hooks.py`` next to ``dbt_project.yml`` (like pytest's conftest.py).

Blocked names (``-p no:NAME``, ``FLOE_DBT_DISABLE``, ``plugins.disable``) are never imported. A plugin
that fails to import is reported with its distribution and version; the others still load unless
strict plugin loading is on. Unknown hook names are rejected with the plugin's origin.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs
import pluggy
from pluggy import HookImpl, HookimplOpts

from floe_dbt_hooks.config import FloeConfig, load_config
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.plugin import hookspecs
from floe_dbt_hooks.plugin.markers import NAME

PROJECT_HOOKS_NAME = "floe_hooks"
"""The plugin name a project's ``floe_hooks.py`` is registered under (``-p no:floe_hooks``)."""
SELECTION_PLUGIN_NAME = "floe_dbt_runtime_selection"

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("floe_dbt_core", "floe_dbt_core.plugin:CoreRuntime"),
    ("floe_dbt_fusion", "floe_dbt_fusion.plugin:FusionRuntime"),
    ("floe_dbt_cloud", "floe_dbt_cloud.plugin:CloudRuntime"),
    ("floe_dbt_strict", "floe_dbt_hooks.builtin.strict:StrictFallback"),
    ("floe_dbt_log", "floe_dbt_hooks.builtin.log:InvocationLogger"),
)
"""(plugin name, "module:factory") pairs registered before anything else."""

OriginKind = Literal["framework", "builtin", "entrypoint", "project", "api"]


@attrs.frozen(kw_only=True)
class PluginOrigin:
    """Where a registered plugin came from, for ``floe-dbt plugins`` and error messages."""

    name: str
    kind: OriginKind
    module: str | None = None
    distribution: str | None = None
    version: str | None = None
    path: Path | None = None

    def describe(self) -> str:
        if self.kind == "entrypoint":
            return f"entry point from {self.distribution} {self.version}"
        if self.kind == "project":
            return f"project file {self.path}"
        return self.kind


@attrs.frozen(kw_only=True)
class PluginLoadError:
    """A plugin that could not be loaded; kept so ``floe-dbt plugins`` can show it."""

    name: str
    distribution: str | None
    version: str | None
    error: str

    def describe(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "unknown distribution"
        return f"plugin '{self.name}' from {dist} failed to load: {self.error}"


class FloePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers its config and where each plugin came from."""

    def __init__(self, config: FloeConfig, project_dir: Path | None) -> None:
        super().__init__(NAME)
        self.config = config
        self.project_dir = project_dir
        self.origins: dict[str, PluginOrigin] = {}
        self.load_errors: list[PluginLoadError] = []
        self._inner_hookexec = _isolate_notifications(self._inner_hookexec)

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> HookimplOpts | None:
        """Dunder attributes are never hook implementations; skipping them saves pluggy's static
        attribute lookup for most of a plugin's ``dir()``, about three quarters of registering."""
        if name.startswith("__"):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def register_with_origin(self, plugin: object, origin: PluginOrigin) -> None:
        """Register ``plugin``; a hook implementation pluggy rejects (a misspelt argument, say)
        becomes a configuration error naming the plugin and where it came from."""
        try:
            registered = self.register(plugin, name=origin.name)
        except pluggy.PluginValidationError as exc:
            raise DBTConfigurationError(
                f"plugin '{origin.name}' ({origin.describe()}) is invalid: {exc}",
                file_path=origin.path,
                hint="hook implementations must use the argument names of the hookspecs in "
                "floe_dbt_hooks/plugin/hookspecs.py",
            ) from exc
        if registered is not None:
            self.origins[origin.name] = origin


_NOTIFICATIONS = frozenset({"dbt_event"})
"""Hooks whose observers are called one by one: one raising must not hide the event from the rest."""


class _HookExec(Protocol):
    def __call__(self, hook_name: str, hook_impls: Sequence[HookImpl],
                 caller_kwargs: Mapping[str, object], firstresult: bool) -> object: ...



def _isolate_notifications(call: _HookExec) -> _HookExec:
    """Deliver each notification to every plain implementation separately, logging (by plugin
    name) the ones that raise; other hooks, and notifications with wrappers, run as pluggy runs
    them. A plain implementation is called directly with its arguments, as pluggy's own loop
    would: there is one notification per engine event, thousands in a build."""

    def hookexec(hook_name: str, hook_impls: Sequence[HookImpl],
                 caller_kwargs: Mapping[str, object], firstresult: bool) -> object:
        if hook_name not in _NOTIFICATIONS or any(i.wrapper or i.hookwrapper for i in hook_impls):
            return call(hook_name, hook_impls, caller_kwargs, firstresult)
        for impl in reversed(hook_impls):
            try:
                impl.function(*[caller_kwargs[name] for name in impl.argnames])
            except Exception as exc:
                from floe_dbt_hooks.builtin.log import get_logger

                get_logger().warning("observer_failed", hook=hook_name, plugin=impl.plugin_name,
                                     error=f"{type(exc).__name__}: {exc}")
        return []

    return hookexec


def create_plugin_manager(
    project_dir: str | Path | None = None,
    *,
    config: FloeConfig | None = None,
    runtime: str | None = None,
    fallback: bool | None = None,
    disable: Iterable[str] = (),
    plugins: Iterable[object] = (),
    autoload: bool | None = None,
    strict_plugins: bool | None = None,
) -> FloePluginManager:
    """A fresh plugin manager for ``project_dir`` with every plugin discovered and configured.

    ``runtime``, ``fallback`` and ``disable`` override the floe config; ``plugins`` are extra plugin
    objects registered after entry points and before the project's ``floe_hooks.py``.
    """
    root = Path(project_dir).expanduser().resolve() if project_dir is not None else None
    if config is None:
        config = load_config(
            root if root is not None and root.is_dir() else None,
            runtime=runtime,
            fallback=fallback,
            disable=disable,
            strict_plugins=strict_plugins,
        )
    else:
        config = attrs.evolve(
            config,
            runtime=runtime or config.runtime,
            fallback=config.fallback if fallback is None else fallback,
            disable=tuple(dict.fromkeys((*config.disable, *disable))),
            strict_plugins=config.strict_plugins if strict_plugins is None else strict_plugins,
        )
    if SELECTION_PLUGIN_NAME in config.disable:
        raise DBTConfigurationError(
            f"'{SELECTION_PLUGIN_NAME}' is part of the framework and cannot be disabled",
            hint="remove it from -p no:..., FLOE_DBT_DISABLE or plugins.disable",
        )
    pm = FloePluginManager(config, root)
    pm.add_hookspecs(hookspecs)
    from floe_dbt_hooks.builtin.tracing import HookTracer

    HookTracer().install(pm)
    for name in config.disable:
        pm.set_blocked(name)

    from floe_dbt_hooks.builtin.runtime_selection import RuntimeSelection

    pm.register_with_origin(RuntimeSelection(pm), PluginOrigin(name=SELECTION_PLUGIN_NAME, kind="framework"))
    _register_builtins(pm)
    if autoload is None:
        autoload = not os.environ.get("FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD")
    if autoload:
        _register_entry_points(pm)
    for index, plugin in enumerate(plugins):
        name = getattr(plugin, "name", None) or f"api-plugin-{index}-{type(plugin).__name__}"
        if not pm.is_blocked(name):
            pm.register_with_origin(
                plugin, PluginOrigin(name=name, kind="api", module=type(plugin).__module__)
            )
    if root is not None:
        _register_project_hooks(pm, root)
    _check_unknown_hooks(pm)
    pm.hook.dbt_configure.call_historic(kwargs={"config": config, "hook": pm.hook})
    return pm


def _register_builtins(pm: FloePluginManager) -> None:
    for name, target in BUILTIN_PLUGINS:
        if pm.is_blocked(name):
            continue
        module_name, _, factory = target.partition(":")
        module = importlib.import_module(module_name)
        pm.register_with_origin(
            getattr(module, factory)(),
            PluginOrigin(name=name, kind="builtin", module=module_name),
        )


def _instantiate(obj: Any) -> object:
    """Entry points may name a module, a plugin class (instantiated with no arguments) or an
    instance."""
    return obj() if isinstance(obj, type) else obj


def _register_entry_points(pm: FloePluginManager) -> None:
    from floe_dbt_hooks.plugin.entrypoints import plugin_entry_points

    seen: set[str] = set()
    for ep in plugin_entry_points(NAME):
        if ep.name in seen or pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        seen.add(ep.name)
        dist, version = ep.distribution, ep.version
        try:
            plugin = _instantiate(ep.load())
            pm.register_with_origin(
                plugin,
                PluginOrigin(
                    name=ep.name, kind="entrypoint", module=ep.module,
                    distribution=dist, version=version,
                ),
            )
        except Exception as exc:
            failure = PluginLoadError(
                name=ep.name, distribution=dist, version=version,
                error=f"{type(exc).__name__}: {exc}",
            )
            if pm.config.strict_plugins:
                raise DBTConfigurationError(
                    failure.describe(),
                    hint=f"fix or uninstall {dist}, or block it with -p no:{ep.name} "
                    "(strict plugin loading is on)",
                ) from exc
            pm.load_errors.append(failure)
            from floe_dbt_hooks.builtin.log import get_logger

            get_logger().warning(
                "plugin_load_failed", plugin=ep.name, distribution=dist, version=version,
                error=failure.error, hint=f"block it with -p no:{ep.name}",
            )


def _register_project_hooks(pm: FloePluginManager, root: Path) -> None:
    from floe_dbt_hooks.plugin.project_hooks import PROJECT_HOOKS_FILE, import_project_hooks

    path = root / PROJECT_HOOKS_FILE
    if pm.is_blocked(PROJECT_HOOKS_NAME) or not path.is_file():
        return
    module = import_project_hooks(path)
    pm.register_with_origin(
        module, PluginOrigin(name=PROJECT_HOOKS_NAME, kind="project", module=module.__name__,
                             path=path)
    )


def _check_unknown_hooks(pm: FloePluginManager) -> None:
    """Reject implementations of hooks that do not exist, naming the plugin and the hook."""
    for hook_name, caller in vars(pm.hook).items():
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            origin = pm.origins.get(impl.plugin_name)
            where = origin.describe() if origin else impl.plugin_name
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("dbt_")))
            raise DBTConfigurationError(
                f"plugin '{impl.plugin_name}' ({where}) implements unknown hook '{hook_name}'",
                file_path=origin.path if origin else None,
                hint=f"known hooks: {known}; mark an optional hook with "
                "@hookimpl(optionalhook=True)",
            )
