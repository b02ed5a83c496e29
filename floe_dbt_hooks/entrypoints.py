"""Discover ``floe.dbt`` entry points without paying for ``importlib.metadata`` on every start.

Scanning installed distributions imports ``importlib.metadata`` (and the email parser behind it) and
reads every ``entry_points.txt``: more than the rest of plugin discovery together. The scan's answer
is kept in a small cache file keyed by the interpreter and every ``sys.path`` folder's mtime; any
install, upgrade or removal changes a folder's mtime (dist-info folders are created and deleted),
so a changed environment is always scanned again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class PluginEntryPoint:
    """One entry point of the group: enough to load it and to say where it came from."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    def load(self) -> Any:
        """Import ``module[:attr.path]`` (extras in brackets are ignored, as pip does)."""
        module_name, _, attribute = self.value.split("[", 1)[0].partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _environment_key() -> str:
    digest = hashlib.sha256(sys.executable.encode())
    for entry in sys.path:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = -1
        digest.update(f"{entry}\0{mtime}\0".encode())
    return digest.hexdigest()


def _cache_file(group: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    tag = hashlib.sha256(f"{sys.executable}\0{group}".encode()).hexdigest()[:16]
    return Path(base) / "floe-dbt" / f"entry-points-{tag}.json"


def _scan(group: str) -> list[PluginEntryPoint]:
    from importlib.metadata import entry_points

    return [
        PluginEntryPoint(
            name=ep.name, value=ep.value,
            distribution=ep.dist.name if ep.dist is not None else None,
            version=ep.dist.version if ep.dist is not None else None,
        )
        for ep in entry_points(group=group)
    ]


def plugin_entry_points(group: str) -> list[PluginEntryPoint]:
    """The group's entry points in installation order, from the cache when nothing changed."""
    key = _environment_key()
    cache = _cache_file(group)
    try:
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            return [PluginEntryPoint(*row) for row in data["entry_points"]]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = _scan(group)
    from floe_dbt_hooks.fsutil import atomic_write_text

    with contextlib.suppress(OSError):
        atomic_write_text(cache, json.dumps({
            "key": key, "entry_points": [attrs.astuple(ep) for ep in found],
        }))
    return found
