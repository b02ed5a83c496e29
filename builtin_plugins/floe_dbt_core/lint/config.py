"""The SQLFluff configuration a lint runs with: the project's own, with our defaults underneath.

The project's ``.sqlfluff`` / ``pyproject.toml`` / ``setup.cfg`` / ``tox.ini`` (at any level SQLFluff
reads, including nested folders) always win. What the framework knows and the project may leave unset
(the dialect of the target's adapter, the project's macro folders for the jinja templater, the
project, profiles folder and target for the dbt templater) enters as *defaults*, through a SQLFluff
plugin registered with ``trylast`` on a private copy of SQLFluff's plugin manager: below every config
file, and inherited by the per-folder configs SQLFluff builds for nested folders (overrides would beat
the project's files; a base config would be lost in those child configs).

SQLFluff caches parsed config files for the life of the process; they are dropped at the start of
every lint, so a long-lived process never lints with a config file as it was earlier.

Everything here imports SQLFluff lazily; the plugin-discovery path never imports this module.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from floe_dbt_hooks.errors import DBTLintError

if TYPE_CHECKING:
    from sqlfluff.core import FluffConfig

CONFIG_FILES = ("setup.cfg", "tox.ini", "pep8.ini", ".sqlfluff", "pyproject.toml")
"""The files SQLFluff reads in every folder it looks at, lowest precedence first."""
DEFAULTS_PLUGIN = "floe_dbt_defaults"
_sqlfluff_hookimpl = pluggy.HookimplMarker("sqlfluff-plugin")
"""SQLFluff's own marker (``sqlfluff.core.plugin.hookimpl``), made here so that importing this
module does not import SQLFluff."""


@attrs.frozen
class LintSettings:
    """What any process needs to rebuild exactly the same SQLFluff config: picklable."""

    project_dir: str
    defaults: Mapping[str, Any]
    config_path: str | None = None


class _Defaults:
    """A SQLFluff plugin contributing the framework's defaults, after SQLFluff's own."""

    def __init__(self, defaults: Mapping[str, Any]) -> None:
        self._defaults = defaults

    @_sqlfluff_hookimpl(trylast=True)
    def load_default_config(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self._defaults))
        return copied


def _plugin_manager(defaults: Mapping[str, Any]) -> pluggy.PluginManager:
    from sqlfluff.core.plugin.hookspecs import PluginSpec
    from sqlfluff.core.plugin.host import get_plugin_manager

    base = get_plugin_manager()
    manager = pluggy.PluginManager(base.project_name)
    manager.add_hookspecs(PluginSpec)
    for name, plugin in base.list_name_plugin():
        if name is not None:
            manager.register(plugin, name=name)
    manager.register(_Defaults(defaults), name=DEFAULTS_PLUGIN)
    return manager


def clear_sqlfluff_caches() -> None:
    """Forget config files SQLFluff parsed earlier in this process (they may have changed)."""
    from sqlfluff.core.config import file, loader

    loader.load_config_at_path.cache_clear()
    file.load_config_file_as_dict.cache_clear()
    file.load_config_string_as_dict.cache_clear()


def _config_files(directories: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for directory in directories:
        for name in CONFIG_FILES:
            candidate = directory / name
            if os.path.lexists(candidate):
                out.append(candidate)
    return out


def _searched_directories(project_dir: Path, nested: Iterable[Path]) -> list[Path]:
    home = Path.home()
    return [home, home / ".config" / "sqlfluff", *reversed(project_dir.parents), project_dir,
            *nested]


def _check_config_file(path: Path) -> None:
    """Raise a DBTLintError naming ``path`` when SQLFluff cannot read it."""
    from sqlfluff.core.config.file import load_config_file_as_dict

    if not path.is_file():
        what = "a folder" if path.is_dir() else "missing (a dangling link?)"
        raise DBTLintError(f"SQLFluff config file {path} is {what}", file_path=path,
                           hint="make it a readable config file or remove it")
    try:
        load_config_file_as_dict(str(path))
    except Exception as exc:
        detail = str(exc).replace("'<string>'", str(path)).strip()
        raise DBTLintError(
            f"SQLFluff config file {path} is malformed: {type(exc).__name__}: {detail}",
            file_path=path, line=getattr(exc, "lineno", None),
            hint="fix the file: sections look like [sqlfluff] or [sqlfluff:rules:...]",
        ) from exc


def check_config_files(settings: LintSettings, nested: Iterable[Path]) -> None:
    """Every config file SQLFluff will read for this lint must exist and parse."""
    if settings.config_path is not None:
        explicit = Path(settings.config_path)
        if not explicit.is_file():
            raise DBTLintError(
                f"SQLFluff config file not found: {explicit}", file_path=explicit,
                hint="pass the path of an existing .sqlfluff file",
            )
        _check_config_file(explicit)
    project_dir = Path(settings.project_dir)
    for path in _config_files(_searched_directories(project_dir, nested)):
        if path.name == ".sqlfluff" or path.is_file():
            _check_config_file(path)


def build_config(settings: LintSettings) -> FluffConfig:
    """The project's root SQLFluff config, our defaults underneath; errors name what is wrong."""
    from sqlfluff.core import FluffConfig
    from sqlfluff.core.errors import SQLFluffUserError

    try:
        return FluffConfig.from_path(
            settings.project_dir, extra_config_path=settings.config_path,
            plugin_manager=_plugin_manager(settings.defaults), require_dialect=False,
        )
    except SQLFluffUserError as exc:
        raise _user_error(exc, settings) from exc
    except KeyError as exc:
        raise DBTLintError(
            f"SQLFluff does not know the configured dialect: {exc}",
            hint="run 'sqlfluff dialects' for the list",
        ) from exc


def child_config(root: FluffConfig, directory: Path, settings: LintSettings) -> FluffConfig:
    """The config for files in ``directory`` (nested config files applied)."""
    from sqlfluff.core.errors import SQLFluffUserError

    try:
        return root.make_child_from_path(str(directory), require_dialect=False)
    except SQLFluffUserError as exc:
        raise _user_error(exc, settings) from exc


def _user_error(exc: Exception, settings: LintSettings) -> DBTLintError:
    text = str(exc)
    if "templater" in text and "'dbt'" in text:
        return DBTLintError(
            "the project's SQLFluff config asks for the dbt templater, which is not installed",
            original_message=text,
            hint="pip install 'floe-dbt-hooks[lint-dbt]' (sqlfluff-templater-dbt), or set "
            "'templater = jinja' in .sqlfluff",
        )
    return DBTLintError(f"invalid SQLFluff configuration: {text}", original_message=text,
                        file_path=settings.config_path,
                        hint="check the project's .sqlfluff / pyproject.toml [tool.sqlfluff]")


def check_rule_references(config: FluffConfig, where: Path) -> None:
    """Unknown rule codes in ``rules`` / ``exclude_rules`` are an error (SQLFluff only warns)."""
    from sqlfluff.core.rules import get_ruleset

    references = get_ruleset().rule_reference_map()
    for key in ("rules", "exclude_rules"):
        value = config.get(key)
        if not value or not isinstance(value, str) or value == "all":
            continue
        refs = [r.strip() for r in value.split(",") if r.strip()]
        unknown = [r for r in refs if not fnmatch.filter(references.keys(), r)]
        if unknown:
            codes = sorted(c for c in references if len(c) == 4 and c[:2].isalpha())
            raise DBTLintError(
                f"unknown SQLFluff rule {', '.join(repr(u) for u in unknown)} in '{key}'",
                file_path=where,
                hint=f"use rule codes, names or groups; known codes: {', '.join(codes)}",
            )


def config_digest(config: FluffConfig) -> str:
    """A digest of the effective config (every section, our defaults included)."""
    from sqlfluff.core import FluffConfig

    skip = set(FluffConfig.private_vals)

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in skip}
        if isinstance(value, (list, tuple)):
            return [scrub(v) for v in value]
        return value

    data = json.dumps(scrub(config._configs), sort_keys=True, default=str)
    return hashlib.blake2b(data.encode(), digest_size=16).hexdigest()
