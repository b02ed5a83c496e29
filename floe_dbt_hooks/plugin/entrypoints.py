"""Discover ``floe.dbt`` entry points and installed versions without ``importlib.metadata``'s cost.

Scanning installed distributions imports ``importlib.metadata`` (and the email parser behind it) and
reads every ``entry_points.txt``: more than the rest of plugin discovery together. The scan's answer
(the group's entry points, and every distribution's name and version) is kept in a small cache file
keyed by the interpreter and the mtime of every ``sys.path`` folder that holds distributions; any
install, upgrade or removal changes such a folder's mtime (dist-info folders are created and
deleted), so a changed environment is always scanned again. Folders without distributions (the
working directory a script runs from, say) are left out of the key, so writing files there does not
force a rescan. The file is in ``marshal`` format (built in, where importing ``json`` alone costs
more than reading the cache); anything unreadable in it means a rescan.
"""

from __future__ import annotations

import contextlib
import importlib
import marshal
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


_METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def _holds_distributions(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(entry.name.endswith(_METADATA_SUFFIXES) for entry in entries)
    except OSError:
        return False


def _environment_key() -> str:
    """The interpreter and every distribution folder with its mtime, as one string (compared
    whole, so no hash library needs importing)."""
    parts = [sys.executable]
    for entry in sys.path:
        folder = entry or "."
        if not _holds_distributions(folder):
            continue
        parts.append(f"{entry}\0{os.stat(folder).st_mtime_ns}")
    return "\n".join(parts)


def _fnv1a_64(text: str) -> str:
    """A short, stable name for ``text`` (FNV-1a): ``hashlib`` costs more to import than the whole
    cache read."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _cache_file(group: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    tag = _fnv1a_64(f"{sys.executable}\0{group}")
    return Path(base) / "floe-dbt" / f"entry-points-{tag}.marshal"


def _scan(group: str) -> tuple[list[PluginEntryPoint], dict[str, str]]:
    from importlib.metadata import distributions, entry_points

    found = [
        PluginEntryPoint(
            name=ep.name, value=ep.value,
            distribution=ep.dist.name if ep.dist is not None else None,
            version=ep.dist.version if ep.dist is not None else None,
        )
        for ep in entry_points(group=group)
    ]
    versions: dict[str, str] = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        versions.setdefault(name, dist.version)
    return found, versions


def _environment(group: str) -> tuple[list[PluginEntryPoint], dict[str, str]]:
    key = _environment_key()
    cache = _cache_file(group)
    try:
        data = marshal.loads(cache.read_bytes())
        if data.get("key") == key and isinstance(data["versions"], dict):
            return [PluginEntryPoint(*row) for row in data["entry_points"]], data["versions"]
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
        pass
    found, versions = _scan(group)
    from floe_dbt_hooks.fsutil import atomic_write_bytes

    with contextlib.suppress(OSError):
        atomic_write_bytes(cache, marshal.dumps({
            "key": key, "entry_points": [attrs.astuple(ep) for ep in found], "versions": versions,
        }))
    return found, versions


def plugin_entry_points(group: str) -> list[PluginEntryPoint]:
    """The group's entry points in installation order, from the cache when nothing changed."""
    return _environment(group)[0]


def installed_versions() -> dict[str, str]:
    """Every installed distribution's version by normalised name (``dbt-core`` -> ``1.11.16``)."""
    from floe_dbt_hooks.plugin.markers import NAME

    return _environment(NAME)[1]
