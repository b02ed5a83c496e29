"""A cheap fingerprint of everything a parsed manifest depends on.

The warm manifest is reused only while the fingerprint is unchanged: every file under the project's
model, macro, seed, snapshot, test and analysis paths and its installed packages (path, size,
mtime) that .dbtignore does not leave out, dbt_project.yml, packages.yml, selectors.yml, .dbtignore,
profiles.yml, the target and the vars. The values of the
environment variables a parse read are checked separately (they are known only after parsing).
One ``stat`` per file; no file is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from floe_dbt_hooks.fsutil import walk_tree


def _walk(root: Path, ignored: Callable[[str], bool]) -> Iterator[tuple[str, int, int]]:
    for entry in walk_tree(root):
        if entry.is_dir() or ignored(entry.path):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue
        yield entry.path, stat.st_size, stat.st_mtime_ns


def _file(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (str(path), -1, -1)
    return (str(path), stat.st_size, stat.st_mtime_ns)


def project_fingerprint(
    *,
    source_paths: Iterable[Path],
    files: Iterable[Path | None],
    settings: Mapping[str, Any],
    ignored: Callable[[str], bool] = lambda path: False,
) -> str:
    """A hex digest that changes whenever anything the parse depends on changes; files
    ``ignored`` says dbt does not read (``.dbtignore``) are left out."""
    digest = hashlib.blake2b(digest_size=16)
    for root in sorted(set(source_paths)):
        for item in sorted(_walk(root, ignored)):
            digest.update(repr(item).encode())
    for file in files:
        digest.update(repr(_file(file)).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()
