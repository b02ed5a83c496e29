"""The floe config: which runtime serves, whether fallback is allowed, which plugins are off.

Sources, strongest first: explicit arguments (the CLI's ``--runtime``, ``--no-fallback``, ``-p no:NAME``),
environment variables (``FLOE_DBT_RUNTIME``, ``FLOE_DBT_FALLBACK``, ``FLOE_DBT_DISABLE``), the project's
``floe.yml`` next to ``dbt_project.yml``, then the defaults (runtime ``core``, fallback on).

``floe.yml``::

    plugins:
      dbt_runtime: fusion        # core (default), fusion, or any installed runtime's name
      dbt_fallback: true         # false: strict mode, a declining runtime is an error
      disable: [some_plugin]     # plugin names never to load
      fusion:                    # anything else under plugins: is per-plugin settings
        binary: /opt/dbt/bin/dbt
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError

CONFIG_FILENAMES = ("floe.yml", "floe.yaml")
DEFAULT_RUNTIME = "core"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@attrs.frozen(kw_only=True)
class FloeConfig:
    """The resolved config handed to every plugin through ``dbt_configure``."""

    runtime: str = DEFAULT_RUNTIME
    fallback: bool = True
    disable: tuple[str, ...] = ()
    strict_plugins: bool = False
    plugin_settings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    source: Path | None = None

    def settings_for(self, plugin: str) -> Mapping[str, Any]:
        """The ``plugins.<plugin>:`` mapping of floe.yml, empty when absent."""
        return self.plugin_settings.get(plugin, {})

    def runtime_for(self, requested: str | None) -> str:
        """The runtime a request addresses: its own choice, else the configured one."""
        return requested or self.runtime

    def fallback_for(self, requested: bool | None) -> bool:
        return self.fallback if requested is None else requested


def find_config_file(project_dir: Path) -> Path | None:
    for name in CONFIG_FILENAMES:
        candidate = project_dir / name
        if candidate.is_file():
            return candidate
    return None


def parse_bool(value: str, *, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DBTConfigurationError(
        f"{source} must be true or false, got {value!r}",
        hint="use one of: true, false, 1, 0, yes, no",
    )


def _split_names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _read_file(path: Path) -> dict[str, Any]:
    from floe_dbt_hooks.project.loading import holds_no_literal_secret
    from floe_dbt_hooks.project.yamlfile import load_yaml_mapping

    data = load_yaml_mapping(path, cacheable=holds_no_literal_secret)
    plugins = data.get("plugins", {})
    if plugins is None:
        return {}
    if not isinstance(plugins, dict):
        raise DBTConfigurationError(
            "'plugins' must be a mapping",
            file_path=path,
            hint="write 'plugins:' followed by indented keys such as 'dbt_runtime: core'",
        )
    return plugins


def load_config(
    project_dir: Path | None = None,
    *,
    runtime: str | None = None,
    fallback: bool | None = None,
    disable: Iterable[str] = (),
    strict_plugins: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> FloeConfig:
    """Resolve the config for ``project_dir`` from arguments, environment and floe.yml."""
    env = os.environ if environ is None else environ
    source = find_config_file(project_dir) if project_dir is not None else None
    plugins = _read_file(source) if source is not None else {}
    where = str(source) if source else "floe.yml"

    file_runtime = plugins.get("dbt_runtime")
    if file_runtime is not None and not isinstance(file_runtime, str):
        raise DBTConfigurationError(
            "'plugins.dbt_runtime' must be a runtime name such as core or fusion",
            file_path=source,
        )
    file_fallback = plugins.get("dbt_fallback")
    if file_fallback is not None and not isinstance(file_fallback, bool):
        raise DBTConfigurationError(
            "'plugins.dbt_fallback' must be true or false", file_path=source
        )
    file_disable = plugins.get("disable") or []
    if isinstance(file_disable, str):
        file_disable = _split_names(file_disable)
    if not isinstance(file_disable, (list, tuple)) or not all(
        isinstance(n, str) for n in file_disable
    ):
        raise DBTConfigurationError(
            "'plugins.disable' must be a list of plugin names", file_path=source
        )

    resolved_runtime = runtime or env.get("FLOE_DBT_RUNTIME") or file_runtime or DEFAULT_RUNTIME
    if fallback is None:
        env_fallback = env.get("FLOE_DBT_FALLBACK")
        if env_fallback is not None:
            fallback = parse_bool(env_fallback, source="FLOE_DBT_FALLBACK")
        else:
            fallback = file_fallback if file_fallback is not None else True
    if strict_plugins is None:
        env_strict = env.get("FLOE_DBT_STRICT_PLUGINS")
        strict_plugins = (
            parse_bool(env_strict, source="FLOE_DBT_STRICT_PLUGINS") if env_strict else False
        )
    disabled = (
        *file_disable,
        *_split_names(env.get("FLOE_DBT_DISABLE", "")),
        *disable,
    )
    settings = {
        key: value
        for key, value in plugins.items()
        if key not in ("dbt_runtime", "dbt_fallback", "disable") and isinstance(value, dict)
    }
    unknown = [
        key
        for key, value in plugins.items()
        if key not in ("dbt_runtime", "dbt_fallback", "disable") and not isinstance(value, dict)
    ]
    if unknown:
        raise DBTConfigurationError(
            f"unknown setting(s) under 'plugins': {', '.join(sorted(map(str, unknown)))}",
            file_path=source,
            hint=f"{where} knows dbt_runtime, dbt_fallback, disable and per-plugin mappings",
        )
    return FloeConfig(
        runtime=resolved_runtime,
        fallback=fallback,
        disable=tuple(dict.fromkeys(disabled)),
        strict_plugins=strict_plugins,
        plugin_settings=settings,
        source=source,
    )
