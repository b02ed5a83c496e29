"""Which files a lint covers: the SQL models under the project's model paths, as selected.

Only ``.sql`` files under ``model-paths`` are linted (and, with ``--fix``, ever written). A file that
is binary or not UTF-8 is skipped with its reason rather than handed to SQLFluff, whose encoding
guess would otherwise lint (and fix) mojibake. Plain selections (model names, file or folder paths,
``path:``) are resolved here without dbt; anything else (graph operators, tags, ``--exclude``, named
selectors) asks dbt itself (``dbt ls``), so the selection means exactly what it means to dbt.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import attrs

from floe_dbt_hooks.fsutil import walk_tree
from floe_dbt_hooks.models import LintRequest
from floe_dbt_hooks.project import DBTProject, ProfileTarget
from floe_dbt_hooks.project.dbtignore import dbt_ignored

SQL_SUFFIX = ".sql"
_SIMPLE_SELECTOR = re.compile(r"^(?:path:)?[\w./-]+$")


@attrs.frozen
class SourceFile:
    """One model file as read for this lint: its bytes decoded and their digest."""

    path: Path
    relative: str
    text: str
    digest: str


@attrs.frozen
class FileSet:
    """The files a lint covers, and those it skipped with the reason for each."""

    files: tuple[SourceFile, ...]
    skipped: tuple[tuple[str, str], ...]


def inside(path: Path, roots: Iterable[Path]) -> bool:
    """True when ``path`` lies under one of ``roots``, symlinks resolved on both sides: a link
    from a model folder to a file elsewhere is outside."""
    real = path.resolve()
    return any(real.is_relative_to(root.resolve()) for root in roots)


def _all_sql(roots: Iterable[Path], project: DBTProject) -> list[Path]:
    """The .sql files under ``roots`` that dbt reads (``.dbtignore`` applied)."""
    ignored = dbt_ignored(project.project_dir)
    found: list[Path] = []
    for root in roots:
        if root.is_file() and root.suffix == SQL_SUFFIX:
            found.append(root)
        else:
            found += [Path(e.path) for e in walk_tree(root)
                      if e.name.endswith(SQL_SUFFIX) and not e.is_dir() and not ignored(e.path)]
    return found


def _is_simple(request: LintRequest) -> bool:
    return not request.exclude and request.selector is None and all(
        _SIMPLE_SELECTOR.match(token) for token in request.select
    )


def _resolve_simple(project: DBTProject, roots: tuple[Path, ...], tokens: Iterable[str],
                    candidates: list[Path]) -> list[Path]:
    chosen: dict[Path, None] = {}
    for token in tokens:
        name = token.removeprefix("path:")
        as_path = (project.project_dir / name)
        if as_path.exists():
            chosen.update(dict.fromkeys(p for p in _all_sql([as_path], project) if inside(p, roots)))
            continue
        chosen.update(dict.fromkeys(p for p in candidates if p.stem == name))
    return list(chosen)


def _resolve_with_dbt(request: LintRequest, project: DBTProject, profile: ProfileTarget,
                      roots: tuple[Path, ...]) -> list[Path]:
    """The model files ``dbt ls`` selects for the request's selection."""
    from floe_dbt_core.lint.select import dbt_list_paths

    listed = dbt_list_paths(request, project, profile)
    return [p for p in (project.project_dir / rel for rel in listed)
            if p.suffix == SQL_SUFFIX and p.is_file() and inside(p, roots)]


def read_source(path: Path, project_dir: Path) -> SourceFile | str:
    """The file decoded as UTF-8, or why it cannot be linted (binary, not UTF-8, unreadable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if b"\x00" in data:
        return "binary file (contains NUL bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return SourceFile(
        path=path, relative=Path(os.path.relpath(path, project_dir)).as_posix(), text=text,
        digest=hashlib.sha256(data).hexdigest(),
    )


def select_files(request: LintRequest, project: DBTProject, profile: ProfileTarget) -> FileSet:
    """The selected, readable model files; unreadable ones are listed with their reason."""
    roots = project.model_paths
    candidates = _all_sql(roots, project)
    if not request.select and not request.exclude and request.selector is None:
        chosen = candidates
    elif _is_simple(request):
        chosen = _resolve_simple(project, roots, request.select, candidates)
    else:
        chosen = _resolve_with_dbt(request, project, profile, roots)
    files: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    for path in chosen:
        if not inside(path, roots):
            skipped.append((Path(os.path.relpath(path, project.project_dir)).as_posix(),
                            "links outside the model paths"))
            continue
        outcome = read_source(path, project.project_dir)
        if isinstance(outcome, str):
            skipped.append((Path(os.path.relpath(path, project.project_dir)).as_posix(), outcome))
        else:
            files.append(outcome)
    return FileSet(files=tuple(files), skipped=tuple(skipped))
