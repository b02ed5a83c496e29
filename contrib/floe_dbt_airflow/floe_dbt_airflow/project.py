"""``DbtProject``: which dbt project a DAG runs and how (runtime, fallback, target, vars).

One frozen value shared by the DAG factory (at parse time, to build the task plan) and by every
operator (at run time, to build its requests). It holds only plain data, so Airflow can keep it
on operators and render it; the facade behind it is built lazily, once per configuration per
process, and never at DAG-parse time unless the plan must be rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.api import DBTFacade
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.orchestration.sharing import SharedPerConfiguration, integration_config


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def _path(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


def _optional_path(value: str | Path | None) -> Path | None:
    return None if value is None else _path(value)


@attrs.frozen(kw_only=True)
class DbtProject:
    """A dbt project and the floe settings every task of the DAG uses.

    Unset fields come from the project's ``floe.yml`` and the environment (``FLOE_DBT_RUNTIME``...)
    exactly as for the ``floe-dbt`` CLI: ``runtime`` None is the configured runtime (dbt-core when
    nothing says otherwise), ``fallback`` None is the configured fallback (on).
    """

    project_dir: Path = attrs.field(converter=_path)
    profiles_dir: Path | None = attrs.field(default=None, converter=_optional_path)
    target: str | None = None
    runtime: str | None = None
    fallback: bool | None = None
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    threads: int | None = None
    timeout: float | None = None
    """Seconds per dbt invocation; the runtime stops the engine (and its children) after that."""
    disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    """floe plugins never to load (entry-point names)."""
    plugin_settings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=dict)
    """Per-plugin settings merged over floe.yml's, e.g. ``{"fusion": {"timeout": 600}}``."""

    def key(self) -> str:
        """A stable text naming this configuration (facade cache key, plan cache key)."""
        return json.dumps(
            {"project": str(self.project_dir), "profiles": str(self.profiles_dir or ""),
             "target": self.target, "runtime": self.runtime, "fallback": self.fallback,
             "vars": dict(self.vars), "disable": sorted(self.disable),
             "settings": {k: dict(v) for k, v in self.plugin_settings.items()}},
            sort_keys=True, default=str,
        )

    def floe_config(self) -> FloeConfig:
        return integration_config(self.project_dir, runtime=self.runtime, fallback=self.fallback,
                                  disable=self.disable, plugin_settings=self.plugin_settings)

    def facade(self) -> DBTFacade:
        """The process's facade for this configuration, with the task-log event relay on it."""
        from floe_dbt_airflow.relay import EventRelay

        return _FACADES.get(self.key(), lambda: DBTFacade(
            isolate=True, config=self.floe_config(), plugins=[EventRelay.shared()]))

    def request_options(self) -> dict[str, Any]:
        """The RunRequest/CompileRequest fields every invocation of this project carries."""
        options: dict[str, Any] = {"profiles_dir": self.profiles_dir, "target": self.target,
                                   "threads": self.threads, "timeout": self.timeout,
                                   "isolate": True}
        if self.vars:
            options["vars"] = dict(self.vars)
        return options


_FACADES: SharedPerConfiguration[DBTFacade] = SharedPerConfiguration()
