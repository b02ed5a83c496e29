"""Read dbt's JSON artifacts back: fast, cached per file version, and clear when they are broken.

Both runtimes write the same artifact files (manifest.json, run_results.json, catalog.json). Reading
a 10 MB manifest is dominated by JSON decoding (run with the garbage collector paused: the
decoded objects are all new and live, and collecting them mid-decode costs about a fifth; done by
msgspec when the ``fast`` extra is installed, see :mod:`floe_dbt_hooks.jsondecode`), so a
decoded artifact is kept per (path, size, mtime) and served again while the file is unchanged.
A truncated or corrupt file raises an error naming the file and what to do, never a bare
JSONDecodeError.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from floe_dbt_hooks.artifact_shape import check_shape
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.jsondecode import loads
from floe_dbt_hooks.models import ARTIFACT_FILES

_CACHE_SIZE = 8
_cache: OrderedDict[Path, tuple[tuple[int, int], dict[str, Any]]] = OrderedDict()
_lock = threading.Lock()


def load_artifact(path: str | Path) -> dict[str, Any]:
    """The decoded artifact at ``path``; treat the returned mapping as read-only (it is shared)."""
    file = Path(path)
    try:
        stat = os.stat(file)
    except FileNotFoundError as exc:
        raise DBTConfigurationError(
            f"artifact not found: {file}",
            file_path=file,
            hint="run the dbt command that writes it first (compile/run/build, or docs generate "
            "for catalog.json)",
        ) from exc
    version = (stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(file)
        if cached is not None and cached[0] == version:
            _cache.move_to_end(file)
            return cached[1]
    data = _decode(file)
    with _lock:
        _cache[file] = (version, data)
        _cache.move_to_end(file)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def _decode(file: Path) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DBTConfigurationError(f"cannot read artifact {file}: {exc}", file_path=file) from exc
    collecting = gc.isenabled()
    gc.disable()
    try:
        data = loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DBTConfigurationError(
            f"{file.name} is corrupt or truncated ({len(raw)} bytes): {exc}",
            file_path=file,
            line=line,
            hint="delete it and re-run the dbt command that writes it; "
            "it was probably cut off by an interrupted run or a full disk",
        ) from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(data, dict) or "metadata" not in data:
        raise DBTConfigurationError(
            f"{file.name} is not a dbt artifact (no 'metadata' object)",
            file_path=file,
            hint="point at the file dbt wrote into its target path",
        )
    check_shape(file, data)
    return data


def artifact_file(target_path: Path, kind: str) -> Path:
    """Where an artifact of ``kind`` lives in a target path."""
    try:
        return target_path / ARTIFACT_FILES[kind]
    except KeyError:
        raise DBTConfigurationError(
            f"unknown artifact kind {kind!r}",
            hint=f"use one of: {', '.join(ARTIFACT_FILES)}",
        ) from None
