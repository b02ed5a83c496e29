"""The core runtime's server settings: ``plugins.core`` in floe.yml, ``FLOE_DBT_CORE_SERVER``.

::

    plugins:
      core:
        server: true              # forward run/compile to a warm server (env FLOE_DBT_CORE_SERVER)
        server_pool: 2            # servers per user and build, each serving one invocation at a time
        server_idle_timeout: 600  # seconds without a client before a server exits
        server_start_timeout: 60  # seconds a client waits for a new server to listen
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.config import parse_bool
from floe_dbt_hooks.errors import DBTConfigurationError

ENABLE_ENV = "FLOE_DBT_CORE_SERVER"


@attrs.frozen
class ServerSettings:
    enabled: bool = False
    pool: int = 2
    idle_timeout: float = 600.0
    start_timeout: float = 60.0


def _number(settings: Mapping[str, Any], key: str, default: float, source: Path | None,
            *, integer: bool = False) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
            integer and not isinstance(value, int)):
        kind = "a positive whole number" if integer else "a positive number of seconds"
        raise DBTConfigurationError(f"'plugins.core.{key}' must be {kind}, got {value!r}",
                                    file_path=source, hint=f"for example '{key}: {default:g}'")
    return float(value)


def server_settings(settings: Mapping[str, Any], source: Path | None,
                    environ: Mapping[str, str] | None = None) -> ServerSettings:
    """Read and check the settings; the environment variable wins over floe.yml."""
    env = os.environ if environ is None else environ
    enabled = settings.get("server", False)
    if not isinstance(enabled, bool):
        raise DBTConfigurationError(f"'plugins.core.server' must be true or false, got "
                                    f"{enabled!r}", file_path=source, hint="server: true")
    if env.get(ENABLE_ENV):
        enabled = parse_bool(env[ENABLE_ENV], source=ENABLE_ENV)
    if not enabled:
        return ServerSettings()
    return ServerSettings(
        enabled=True,
        pool=int(_number(settings, "server_pool", 2, source, integer=True)),
        idle_timeout=_number(settings, "server_idle_timeout", 600.0, source),
        start_timeout=_number(settings, "server_start_timeout", 60.0, source),
    )
