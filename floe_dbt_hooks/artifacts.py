"""Read dbt's JSON artifacts back: fast, cached per file version, and clear when they are broken.

Both runtimes write the same artifact files (manifest.json, run_results.json, catalog.json). Reading
a 10 MB manifest is dominated by JSON decoding (run with the garbage collector paused: the
decoded objects are all new and live, and collecting them mid-decode costs about a fifth; done by
msgspec when the ``fast`` extra is installed, see :mod:`floe_dbt_hooks.jsondecode`), so a
decoded artifact is kept per (path, size, mtime) and served again while the file is unchanged.
A truncated or corrupt file raises an error naming the file and what to do, never a bare
JSONDecodeError.

With msgspec, an artifact of :data:`LAZY_MIN_BYTES` or more is decoded lazily
(:mod:`floe_dbt_hooks.lazy_artifact`): its sections keyed by unique id are read-only mappings whose
entries are decoded on first access. Its syntax is still checked whole at load time, so a broken
file fails here; a wrongly shaped node fails when first read, with the same error.
``FLOE_DBT_LAZY_ARTIFACTS=0`` turns this off; :func:`materialize` gives plain dicts.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, NoReturn

from floe_dbt_hooks.artifact_shape import check_entry, check_shape
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.jsondecode import fast_decoder, loads
from floe_dbt_hooks.lazy_artifact import LazySection, decode_lazy, is_lazy, materialize
from floe_dbt_hooks.models import ARTIFACT_FILES

__all__ = ["LAZY_ENV", "LAZY_MIN_BYTES", "LazySection", "artifact_file", "is_lazy",
           "load_artifact", "materialize"]

LAZY_MIN_BYTES = 2 * 1024 * 1024
"""Artifacts this large or larger are decoded lazily when msgspec is installed; below it, decoding
everything is already a few milliseconds."""
LAZY_ENV = "FLOE_DBT_LAZY_ARTIFACTS"

_CACHE_SIZE = 8
_cache: OrderedDict[Path, tuple[tuple[int, int], dict[str, Any]]] = OrderedDict()
_lock = threading.Lock()


def load_artifact(path: str | Path) -> dict[str, Any]:
    """The decoded artifact at ``path``; treat the returned mapping as read-only (it is shared).

    Its keyed sections may be :class:`LazySection` mappings rather than dicts (see the module
    docstring); pass the result to :func:`materialize` where real dicts are needed."""
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
    size = len(raw)  # the closures below outlive this call in lazy sections: not the bytes

    def broken(exc: Exception) -> NoReturn:
        raise DBTConfigurationError(
            f"{file.name} is corrupt or truncated ({size} bytes): {exc}",
            file_path=file,
            line=getattr(exc, "lineno", None),
            hint="delete it and re-run the dbt command that writes it; "
            "it was probably cut off by an interrupted run or a full disk",
        ) from None

    def check(section: str, key: str, entry: Any) -> None:
        check_entry(file, section, key, entry)

    collecting = gc.isenabled()
    gc.disable()
    try:
        data = decode_lazy(raw, check, broken) if _wants_lazy(size) else None
        if data is None:
            data = loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        broken(exc)
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


def _wants_lazy(size: int) -> bool:
    return (size >= LAZY_MIN_BYTES and os.environ.get(LAZY_ENV, "").strip() != "0"
            and fast_decoder() is not None)


def artifact_file(target_path: Path, kind: str) -> Path:
    """Where an artifact of ``kind`` lives in a target path."""
    try:
        return target_path / ARTIFACT_FILES[kind]
    except KeyError:
        raise DBTConfigurationError(
            f"unknown artifact kind {kind!r}",
            hint=f"use one of: {', '.join(ARTIFACT_FILES)}",
        ) from None
