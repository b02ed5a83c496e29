"""The shape floe relies on in dbt's artifacts, checked once when a file is loaded.

Consumers (the result builder, the dbt graph, lineage) read a handful of fields from every node
and result; a file that decodes as JSON but holds something else there (a hand edit, another tool's
file, a different schema) is reported here with the file and the field, instead of as an
AttributeError deep inside a consumer. Only the containers and the fields floe reads are checked,
each with one ``isinstance``, so a large manifest costs little more than its decoding. The entries
of a lazily decoded section (:mod:`floe_dbt_hooks.lazy_artifact`) are checked when first read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.lazy_artifact import LazySection

MAPPING_SECTIONS = ("nodes", "sources", "unit_tests", "groups", "exposures", "metrics",
                    "semantic_models", "saved_queries", "macros", "docs", "disabled",
                    "parent_map", "child_map", "group_map")
"""manifest.json sections that are objects keyed by unique id."""
NODE_SECTIONS = ("nodes", "sources", "unit_tests", "groups")
"""Sections whose entries must be objects (floe reads their fields)."""
_TEXT = (str, type(None))
_NUMBER = (int, float, type(None))
NODE_FIELDS: dict[str, tuple[type, ...]] = {
    "resource_type": _TEXT, "name": _TEXT, "package_name": _TEXT, "path": _TEXT,
    "original_file_path": _TEXT, "relation_name": _TEXT, "attached_node": _TEXT,
    "fqn": (list, type(None)), "tags": (list, type(None)), "config": (dict, type(None)),
    "depends_on": (dict, type(None)), "meta": (dict, type(None)), "columns": (dict, type(None)),
    "test_metadata": (dict, type(None)),
}
RESULT_FIELDS: dict[str, tuple[type, ...]] = {
    "unique_id": (str,), "status": _TEXT, "message": _TEXT, "execution_time": _NUMBER,
    "adapter_response": (dict, type(None)), "timing": (list, type(None)),
    "failures": _NUMBER, "relation_name": _TEXT, "thread_id": _TEXT,
}
_NODE_EXACT = tuple((key, frozenset(types)) for key, types in NODE_FIELDS.items())
_STR_ONLY = frozenset({str})
_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}


def check_shape(file: Path, data: Mapping[str, Any]) -> None:
    """Raise DBTConfigurationError naming ``file`` and the field when ``data`` (an artifact's
    decoded top level) is not shaped the way floe reads it."""
    _expect(file, "metadata", data.get("metadata"), (dict,))
    if file.name.endswith("run_results.json") or "results" in data:
        _check_results(file, data)
    else:
        _check_manifest(file, data)


def _check_manifest(file: Path, data: Mapping[str, Any]) -> None:
    for section in MAPPING_SECTIONS:
        value = data.get(section)
        if value is None:
            continue
        if isinstance(value, LazySection):
            continue  # its entries are checked by check_entry when first read
        _expect(file, section, value, (dict,))
        if section not in NODE_SECTIONS:
            continue
        for uid, node in value.items():
            if type(node) is not dict or not _node_ok(node):
                _explain_node(file, f"{section}[{uid!r}]", node)


def check_entry(file: Path, section: str, key: str, entry: Any) -> None:
    """The per-entry part of :func:`check_shape`, for an entry of a lazily decoded section."""
    if section in NODE_SECTIONS and (type(entry) is not dict or not _node_ok(entry)):
        _explain_node(file, f"{section}[{key!r}]", entry)


def _node_ok(node: dict[str, Any]) -> bool:
    """The fast path: JSON decoding makes exact types, so ``type(...) in`` suffices."""
    get = node.get
    for key, types in _NODE_EXACT:
        if type(get(key)) not in types:
            return False
    depends_on = get("depends_on")
    for value in (get("fqn"), get("tags"), depends_on.get("nodes") if depends_on else None):
        if value is not None and (type(value) is not list
                                  or not set(map(type, value)) <= _STR_ONLY):
            return False
    return True


def _explain_node(file: Path, where: str, node: Any) -> None:
    """The slow path, only for a node the fast path rejected: raise naming the field."""
    _expect(file, where, node, (dict,))
    _fields(file, where, node, NODE_FIELDS)
    depends_on = node.get("depends_on")
    if depends_on:
        _string_list(file, f"{where}.depends_on.nodes", depends_on.get("nodes"))
    for key in ("fqn", "tags"):
        _string_list(file, f"{where}.{key}", node.get(key))


def _check_results(file: Path, data: Mapping[str, Any]) -> None:
    results = data.get("results")
    if results is None:
        return
    _expect(file, "results", results, (list,))
    for index, item in enumerate(results):
        where = f"results[{index}]"
        _expect(file, where, item, (dict,))
        _fields(file, where, item, RESULT_FIELDS)
        for position, timing in enumerate(item.get("timing") or ()):
            _expect(file, f"{where}.timing[{position}]", timing, (dict,))


def _fields(file: Path, where: str, entry: Mapping[str, Any],
            fields: Mapping[str, tuple[type, ...]]) -> None:
    for key, types in fields.items():
        value = entry.get(key)
        if not isinstance(value, types):
            _expect(file, f"{where}.{key}", value, types)


def _string_list(file: Path, where: str, value: Any) -> None:
    if value is None:
        return
    _expect(file, where, value, (list,))
    if not all(isinstance(item, str) for item in value):
        raise _error(file, where, "a list of strings", value)


def _expect(file: Path, where: str, value: Any, types: tuple[type, ...]) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        wanted = " or ".join(dict.fromkeys(_NAMES.get(t, "null") for t in types))
        raise _error(file, where, wanted, value)


def _error(file: Path, where: str, wanted: str, value: Any) -> DBTConfigurationError:
    return DBTConfigurationError(
        f"{file.name}: '{where}' should be {wanted}, got {type(value).__name__}",
        file_path=file,
        hint="this is not a file dbt wrote (or it was edited); re-run the dbt command that "
        "writes it",
    )
