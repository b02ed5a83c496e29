"""The lint cache: a file's violations, reused while nothing they depend on has changed.

An entry is stored per model file under a key that covers everything SQLFluff's answer depends on:

* the engine: SQLFluff's version and every installed SQLFluff plugin (a templater, extra rules) with
  its version, the templater and, for the dbt templater, dbt-core's version;
* the effective config of the file's folder (every section, project files and our defaults merged,
  see :func:`floe_dbt_core.lint.config.config_digest`), which includes the dialect and the rules;
* the file's path and the SHA-256 of its bytes (inline ``-- sqlfluff:`` directives are content);
* what its rendering can read besides itself. For the jinja templater that is every file in the
  macro folders it loads (``load_macros_from_path``, ``library_path``, ``loader_search_path``): we
  hash all of them rather than track which macros a model calls, so editing any macro re-lints every
  model. For the dbt templater it is the whole project (every model, macro, YAML and seed, installed
  packages, dbt_project.yml, profiles.yml, the vars and the environment variables the project
  reads), because dbt renders one model from the parsed manifest of all of them.

The cache lives in ``<target-path>/floe/lint-cache/``; it is rewritten atomically under a file lock,
merged with what other processes stored meanwhile, and holds one entry per file (the latest content).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from floe_dbt_hooks.fsutil import atomic_write_text, walk_tree
from floe_dbt_hooks.models import LintViolation
from floe_dbt_hooks.runtime.locks import file_lock

FORMAT = 1
CACHE_FILE = "sqlfluff.json"


def _digest(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def engine_digest(templater: str) -> str:
    """SQLFluff, its installed plugins (name and version) and, for the dbt templater, dbt-core."""
    parts = [f"format={FORMAT}", f"sqlfluff={metadata.version('sqlfluff')}", f"templater={templater}"]
    for entry_point in sorted(metadata.entry_points(group="sqlfluff"), key=lambda e: e.name):
        dist = entry_point.dist
        parts.append(f"plugin={entry_point.name}:{dist.name if dist else '?'}="
                     f"{dist.version if dist else '?'}")
    if templater == "dbt":
        parts.append(f"dbt-core={metadata.version('dbt-core')}")
    return _digest(*parts)


def tree_digest(roots: Iterable[Path]) -> str:
    """SHA-256 over the path and bytes of every file under ``roots`` (files or folders)."""
    digest = hashlib.sha256()
    for root in sorted(set(roots)):
        files = [root] if root.is_file() else [Path(e.path) for e in walk_tree(root) if not e.is_dir()]
        for file in files:
            try:
                data = file.read_bytes()
            except OSError:
                data = b"<unreadable>"
            digest.update(str(file).encode())
            digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def file_key(*, engine: str, config: str, context: str, relative: str, content: str) -> str:
    """The key one file's cached violations are stored under."""
    return _digest(engine, config, context, relative, content)


def _violation_from(data: Mapping[str, Any]) -> LintViolation:
    return LintViolation(**data)


class LintCache:
    """Violations per model file, keyed by :func:`file_key`; read once, saved once per lint."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CACHE_FILE
        self._entries = self._read()
        self._updates: dict[str, dict[str, Any]] = {}

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def get(self, relative: str, key: str) -> tuple[LintViolation, ...] | None:
        """The stored violations for this exact key, or None (a miss)."""
        entry = self._updates.get(relative) or self._entries.get(relative)
        if not entry or entry.get("key") != key:
            return None
        try:
            return tuple(_violation_from(v) for v in entry["violations"])
        except (KeyError, TypeError):
            return None

    def put(self, relative: str, key: str, violations: Iterable[LintViolation]) -> None:
        self._updates[relative] = {
            "key": key, "violations": [attrs.asdict(v) for v in violations],
        }

    def save(self) -> None:
        """Merge this lint's entries into the file as it is now, atomically, under a lock."""
        if not self._updates:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.with_name(f".{CACHE_FILE}.lock")):
            entries = {**self._read(), **self._updates}
            atomic_write_text(self.path, json.dumps({"format": FORMAT, "entries": entries},
                                                    sort_keys=True))
        self._entries = entries
        self._updates = {}
