"""Read dbt's JSON artifacts back: fast, cached per file version, and clear when they are broken.

Both runtimes write the same artifact files (manifest.json, run_results.json, catalog.json). Reading
a 10 MB manifest is dominated by JSON decoding (run with the garbage collector paused: the
decoded objects are all new and live, and collecting them mid-decode costs about a fifth), so a
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

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.models import ARTIFACT_FILES, NodeResult, NodeStatus, NodeTiming

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
        data = json.loads(raw)
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


_STATUS: dict[str, NodeStatus] = {
    "success": "success",
    "pass": "success",
    "error": "error",
    "runtime error": "error",
    "fail": "fail",
    "warn": "warn",
    "skipped": "skipped",
    "skip": "skipped",
    "no-op": "success",
    "reused": "success",
}


def normalise_status(raw: str | None) -> NodeStatus:
    """Fold dbt's and Fusion's node statuses into the framework's vocabulary."""
    return _STATUS.get((raw or "").strip().lower(), "error")


def resource_type_of(unique_id: str) -> str:
    return unique_id.split(".", 1)[0]


def node_results_from_run_results(
    run_results: dict[str, Any], manifest: dict[str, Any] | None = None
) -> tuple[NodeResult, ...]:
    """NodeResults from a run_results.json payload, enriched with paths from the manifest."""
    from datetime import datetime

    nodes_index: dict[str, Any] = {}
    if manifest is not None:
        nodes_index = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    out: list[NodeResult] = []
    for item in run_results.get("results", []):
        unique_id = item.get("unique_id", "")
        node = nodes_index.get(unique_id, {})
        status = normalise_status(item.get("status"))
        message = item.get("message")
        timings = tuple(
            NodeTiming(
                name=t.get("name", ""),
                started_at=datetime.fromisoformat(t["started_at"].replace("Z", "+00:00"))
                if t.get("started_at")
                else None,
                completed_at=datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00"))
                if t.get("completed_at")
                else None,
            )
            for t in item.get("timing", [])
        )
        response = item.get("adapter_response") or {}
        out.append(
            NodeResult(
                unique_id=unique_id,
                resource_type=node.get("resource_type") or resource_type_of(unique_id),
                name=node.get("name") or unique_id.rsplit(".", 1)[-1],
                status=status,
                execution_time=float(item.get("execution_time") or 0.0),
                rows_affected=response.get("rows_affected"),
                failures=item.get("failures"),
                message=message,
                error_message=message if status in ("error", "fail") else None,
                file_path=node.get("original_file_path"),
                relation_name=item.get("relation_name") or node.get("relation_name"),
                timing=timings,
            )
        )
    return tuple(out)
