"""Run Fusion's ``dbt lint --fix`` on a scratch copy, then bring back only safe, whole changes.

Fusion rewrites files in place, wherever its linter looks. To keep the framework's promise for
``--fix`` (atomic replacement, never a half-written file, nothing outside the model paths), Fusion
fixes a copy of the project; afterwards each changed ``.sql`` file under the model paths is written
back atomically, and only if the original is still byte-for-byte what was copied.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from floe_dbt_hooks.fsutil import atomic_write_bytes
from floe_dbt_hooks.project import DBTProject

_IGNORED = shutil.ignore_patterns("target", "logs", "*.duckdb", "*.duckdb.wal", ".git", ".user.yml")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_files(project_dir: Path, model_paths: list[Path]) -> dict[Path, str]:
    found = {}
    for root in model_paths:
        if root.is_dir():
            for path in root.rglob("*.sql"):
                if path.is_file() and not path.is_symlink():
                    found[path.relative_to(project_dir)] = _digest(path.read_bytes())
    return found


@contextmanager
def shadow_project(project: DBTProject) -> Iterator[Path]:
    """A scratch copy of the project (without build output), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="floe-lint-fix-") as scratch:
        copy = Path(scratch) / project.project_dir.name
        shutil.copytree(project.project_dir, copy, ignore=_IGNORED, symlinks=True)
        yield copy


def copy_back(project: DBTProject, shadow: Path, before: dict[Path, str]) -> tuple[str, ...]:
    """Write each fixed model file back atomically; returns the project-relative paths written."""
    shadow_roots = [shadow / root.relative_to(project.project_dir) for root in project.model_paths]
    written = []
    for relative, digest in sorted(_model_files(shadow, shadow_roots).items()):
        original = project.project_dir / relative
        if relative not in before or digest == before[relative]:
            continue
        if not original.is_file() or _digest(original.read_bytes()) != before[relative]:
            continue
        atomic_write_bytes(original, (shadow / relative).read_bytes())
        written.append(str(relative))
    return tuple(written)


def snapshot(project: DBTProject) -> dict[Path, str]:
    """Content digests of the model files, taken before the scratch copy is fixed."""
    return _model_files(project.project_dir, list(project.model_paths))
