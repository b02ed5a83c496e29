"""dbt-core's artifact writers, made atomic for invocations floe runs in-process.

dbt-core 1.11 writes manifest.json, run_results.json, semantic_manifest.json and perf_info.json by
opening the final path for writing and streaming JSON into it (``dbt_common.clients.system``
``write_json``/``write_file``), so a process killed mid-write leaves a truncated file where the
previous complete one was. :func:`install` points dbt's references to those two writers at versions
that write a temporary file in the same folder, fsync it and rename it over the target: a reader
then sees the previous complete artifact or the new complete one, never a mix. Two modules open
their outputs directly (``dbt.compilation``: graph_summary.json and graph.gpickle;
``dbt.parser.manifest``: partial_parse.msgpack); they get a module-level ``open`` that does the
same for write modes and is the built-in one otherwise. Compiled SQL files keep dbt's writer (they
are rewritten by every compile and one fsync per model would cost more than they are worth).
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from floe_dbt_hooks.fsutil import atomic_write_text, atomic_writer

WRITERS: dict[str, tuple[str, ...]] = {
    "dbt_common.clients.system": ("write_json", "write_file"),
    "dbt.artifacts.schemas.base": ("write_json",),
    "dbt.artifacts.schemas.run.v5.run": ("write_json",),
    "dbt.contracts.graph.semantic_manifest": ("write_file",),
    "dbt.compilation": ("open",),
    "dbt.parser.manifest": ("write_file", "open"),
}
"""Module -> the writer names it holds (dbt binds them with ``from ... import``), for dbt-core 1.11."""

_installed = False
_install_lock = threading.Lock()


def write_json(path: str, data: dict[str, Any]) -> bool:
    """dbt's ``write_json``, atomic: same encoder, same return value."""
    from dbt_common.utils.encoding import JSONEncoder

    atomic_write_text(Path(path), json.dumps(data, cls=JSONEncoder))
    return True


def write_file(path: str, contents: str = "") -> bool:
    """dbt's ``write_file``, atomic."""
    atomic_write_text(Path(path), str(contents))
    return True


def open_atomically(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    """The built-in ``open``, except that writing a whole file by path (``"w"``/``"wb"``) goes
    through :func:`~floe_dbt_hooks.fsutil.atomic_writer` (dbt uses these only in ``with``)."""
    if mode in ("w", "wb") and not args and isinstance(file, (str, os.PathLike)):
        return atomic_writer(Path(file), mode, **kwargs)
    handle: IO[Any] = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 - dbt's `with` closes it
    return handle


_OURS = {"write_json": write_json, "write_file": write_file, "open": open_atomically}


def install() -> None:
    """Swap the writers once per process; a module or name this dbt lacks is left alone (the test
    suite checks every one is found, so a dbt upgrade that moves them is noticed)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for module_name, names in WRITERS.items():
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for name in names:
                if hasattr(module, name) or name == "open":
                    setattr(module, name, _OURS[name])
        _installed = True


def installed_writers() -> dict[str, bool]:
    """``module.name`` -> whether dbt's reference now points at floe's atomic writer."""
    found = {}
    for module_name, names in WRITERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            found[f"{module_name}.{name}"] = getattr(module, name, None) is _OURS[name]
    return found
