"""A policy plugin shipped as its own distribution: the worked example of a third-party plugin.

Installed, it registers through the ``floe.dbt`` entry point. It wraps ``dbt_run`` and refuses to
run ``run``/``build``/``seed``/``snapshot`` against a protected target unless the request selects
nodes, so nobody rebuilds production by accident. Configure it in the project's floe.yml::

    plugins:
      guard:
        protected_targets: [prod]

With no ``protected_targets`` it does nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.config import FloeConfig

if TYPE_CHECKING:
    from floe_dbt_hooks.models import DBTRunResult, RunRequest

GUARDED_COMMANDS = ("run", "build", "seed", "snapshot")


class GuardPlugin:
    """Wraps every ``dbt_run``; raises before any runtime is tried when the policy is broken."""

    def __init__(self) -> None:
        self.protected: frozenset[str] = frozenset()

    @hookimpl
    def dbt_configure(self, config: FloeConfig) -> None:
        targets: Any = config.settings_for("guard").get("protected_targets", [])
        self.protected = frozenset(str(t) for t in targets)

    @hookimpl(wrapper=True)
    def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
        if self.protected and request.command in GUARDED_COMMANDS and not (
            request.select or request.selector
        ):
            from floe_dbt_hooks.errors import DBTConfigurationError
            from floe_dbt_hooks.project import load_profile_target, load_project

            project = load_project(request.project_dir)
            target = load_profile_target(project, request.profiles_dir, request.target).target
            if target in self.protected:
                raise DBTConfigurationError(
                    f"'{request.command}' on protected target '{target}' must select nodes",
                    file_path=project.project_dir / "floe.yml",
                    hint="pass --select (or --selector), or remove the target from "
                    "plugins.guard.protected_targets",
                )
        result = yield
        return result
