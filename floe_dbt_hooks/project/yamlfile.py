"""Read YAML files the way users need when they are wrong: the error names the file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from floe_dbt_hooks.errors import DBTConfigurationError


def load_yaml_mapping(
    path: Path, cacheable: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    """The top-level mapping of a YAML file; an empty file is an empty mapping.

    Parsed with libyaml's safe loader when PyYAML was built with it (several times faster than the
    pure-Python one, same errors and positions), else the pure-Python safe loader. With
    ``cacheable``, the parse of an unchanged file comes from :mod:`.yamlcache` (no PyYAML import),
    and a fresh parse is stored there when ``cacheable(data)`` says its content may be kept on disk.
    """
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
    except FileNotFoundError as exc:
        raise DBTConfigurationError(f"file not found: {path}", file_path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DBTConfigurationError(
            f"cannot read {path}: {exc}", file_path=path, hint="check the file's permissions "
            "and that it is UTF-8 text"
        ) from exc
    if cacheable is not None:
        from floe_dbt_hooks.project import yamlcache

        cached = yamlcache.load(path, content)
        if cached is not None:
            return cached
    import yaml

    safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=safe_loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DBTConfigurationError(
            f"{path.name} is not valid YAML: {problem}",
            file_path=path,
            line=line,
            original_message=str(exc),
            hint="fix the YAML syntax at the line shown (indentation, a missing ':' or quote)",
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DBTConfigurationError(
            f"{path.name} must contain a mapping at the top level, got {type(data).__name__}",
            file_path=path,
            line=1,
        )
    if cacheable is not None and cacheable(data):
        from floe_dbt_hooks.project import yamlcache

        yamlcache.store(path, content, data)
    return data
