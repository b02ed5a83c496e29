"""The project's ``.dbtignore``: files dbt leaves out of a parse (gitignore patterns, matched
against the path relative to the project folder, as dbt-core matches them).

Walks over a project's inputs (freshness, the warm-manifest fingerprint, linting) skip what dbt
skips, so an edit to an ignored file neither invalidates a warm manifest nor gets linted as a
model. The file itself is an input of every parse.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

DBTIGNORE_FILE = ".dbtignore"


def dbt_ignored(project_dir: Path) -> Callable[[str], bool]:
    """A test of an absolute file path: whether the project's ``.dbtignore`` leaves it out
    (always False when there is no such file)."""
    path = project_dir / DBTIGNORE_FILE
    try:
        stat = path.stat()
    except OSError:
        return _nothing
    return _matcher(str(project_dir), stat.st_size, stat.st_mtime_ns)


def _nothing(path: str) -> bool:
    return False


@functools.lru_cache(maxsize=64)
def _matcher(project_dir: str, size: int, mtime_ns: int) -> Callable[[str], bool]:
    """Keyed by the file's size and time, so an edited ``.dbtignore`` is read again."""
    import pathspec

    with open(os.path.join(project_dir, DBTIGNORE_FILE), encoding="utf-8",
              errors="replace") as handle:
        spec = pathspec.PathSpec.from_lines("gitwildmatch", handle)

    def ignored(path: str) -> bool:
        relative = os.path.relpath(path, project_dir)
        return not relative.startswith("..") and spec.match_file(relative)

    return ignored
