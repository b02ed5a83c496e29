"""OpenLineage for floe-dbt: run events for every invocation and every node it executed.

Installed (``pip install 'floe-dbt-hooks[openlineage]'``), the plugin registers through the
``floe.dbt`` entry point and switches itself on when an OpenLineage transport is configured the
standard way: an ``openlineage.yml`` (``OPENLINEAGE_CONFIG``, the current folder or
``~/.openlineage/``), ``OPENLINEAGE_URL``, or ``OPENLINEAGE__TRANSPORT__*`` variables. Otherwise it
does nothing, and ``openlineage`` is never imported: this module only imports the framework's hook
marker.

Active, it wraps ``dbt_compile`` and ``dbt_run`` (compile, run, test, build, seed, snapshot): START
for the invocation before any runtime is tried, then, from the result and its artifacts, START and
COMPLETE/FAIL for each executed node and COMPLETE/FAIL for the invocation (FAIL, and the error is
re-raised, when the call raises). The result's ``metadata["openlineage_run_id"]`` is the invocation's
run id. A lineage problem is logged as a warning and never changes the dbt result.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.plugin.markers import hookimpl

if TYPE_CHECKING:
    from floe_dbt_hooks.config import FloeConfig
    from floe_dbt_hooks.models import (
        CompileRequest,
        CompileResult,
        DBTRunResult,
        InvocationRequest,
        RunRequest,
    )
    from floe_dbt_openlineage.settings import LineageSettings

__version__ = "0.1.0"

"""Commands that get lineage; ``docs generate`` moves no data and gets none."""
CONFIG_FILE = "openlineage.yml"


def _config_file(env: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    """The ``openlineage.yml`` the client would read: ``OPENLINEAGE_CONFIG``, cwd, ``~/.openlineage``."""
    candidates = (
        Path(env["OPENLINEAGE_CONFIG"]) if env.get("OPENLINEAGE_CONFIG") else None,
        cwd / CONFIG_FILE,
        home / ".openlineage" / CONFIG_FILE,
    )
    for path in candidates:
        if path is not None and path.is_file() and os.access(path, os.R_OK):
            return path.resolve()
    return None


def transport_source(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None,
) -> tuple[str, Path | None] | None:
    """Where an OpenLineage transport is configured (a description and the config file, if any),
    by the client's own rules; None when it is not, or ``OPENLINEAGE_DISABLED=true``.

    A few ``os.environ`` look-ups and ``stat`` calls: this is all an inactive plugin ever costs.
    """
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return None
    config_file = _config_file(env, cwd or Path.cwd(), home or Path.home())
    if config_file is not None:
        return f"config file {config_file}", config_file
    if env.get("OPENLINEAGE_URL", "").strip():
        return "OPENLINEAGE_URL", None
    names = sorted(k for k, v in env.items() if k.startswith("OPENLINEAGE__TRANSPORT") and v)
    return (names[0], None) if names else None


class OpenLineagePlugin:
    """Emits OpenLineage events around ``dbt_compile`` and ``dbt_run`` when a transport is set up."""

    def __init__(self) -> None:
        self.settings: LineageSettings | None = None

    @hookimpl
    def dbt_configure(self, config: FloeConfig) -> None:
        """Decide once, from the environment and files only, whether lineage is on."""
        found = transport_source()
        if found is None:
            self.settings = None
            return
        from floe_dbt_hooks.builtin.log import get_logger
        from floe_dbt_openlineage.settings import from_environment

        self.settings = from_environment(*found)
        get_logger().debug("openlineage_enabled", source=self.settings.source)

    @property
    def active(self) -> bool:
        return self.settings is not None

    def _observe(self, request: InvocationRequest, command: str) -> Generator[None, Any, Any]:
        settings = self.settings
        from floe_dbt_hooks.models import NODE_COMMANDS

        if settings is None or command not in ("compile", *NODE_COMMANDS):
            return (yield)
        try:
            from floe_dbt_openlineage.lineage import InvocationLineage
        except Exception as exc:  # openlineage missing or broken: the run goes on without lineage
            from floe_dbt_openlineage.emitter import warn

            warn("openlineage_unavailable", error=f"{type(exc).__name__}: {exc}",
                 hint="pip install 'floe-dbt-hooks[openlineage]', or unset the OPENLINEAGE_* settings")
            return (yield)
        lineage = InvocationLineage.begin(settings, request, command)
        if lineage is None:
            return (yield)
        try:
            result = yield
        except BaseException as exc:
            lineage.raised(exc)
            raise
        if result is None:  # nobody served; the dispatcher turns this into an error
            lineage.raised(RuntimeError("no runtime served the request"))
            return result
        return lineage.finished(result)

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_compile(self, request: CompileRequest) -> Generator[None, CompileResult, CompileResult]:
        result: CompileResult = yield from self._observe(request, "compile")
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
        result: DBTRunResult = yield from self._observe(request, request.command)
        return result
