"""Compare what the runtimes' compiled manifests say about each node."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from floe_dbt_hooks.compare.normalize import normalise_sql
from floe_dbt_hooks.compare.result import ConfigDifference, NodeComparison, Verdict

COMPARED_TYPES = ("model", "seed", "snapshot", "test", "analysis")
CONFIG_DEFAULTS: dict[str, Any] = {
    "materialized": None, "tags": [], "unique_key": None, "incremental_strategy": None,
    "on_schema_change": "ignore", "enabled": True, "full_refresh": None,
}
"""Config keys whose difference changes what gets built, with the value an unset key means (Fusion
writes null where dbt-core writes the default). The node's database, schema, alias and relation
name are compared too, with identifier quotes removed."""
DEFAULT_MATERIALIZATION = {"model": "view", "seed": "seed", "snapshot": "snapshot", "test": "test",
                           "analysis": "view"}


def _nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {uid: node for uid, node in manifest.get("nodes", {}).items()
            if node.get("resource_type") in COMPARED_TYPES}


def _config_values(node: Mapping[str, Any]) -> dict[str, str]:
    config = node.get("config") or {}
    defaults = {**CONFIG_DEFAULTS,
                "materialized": DEFAULT_MATERIALIZATION.get(str(node.get("resource_type")))}
    values = {
        key: json.dumps(default if config.get(key) is None else config[key], sort_keys=True)
        for key, default in defaults.items()
    }
    for key in ("database", "schema", "alias", "relation_name"):
        values[key] = json.dumps((node.get(key) or "").replace('"', "").replace("`", ""))
    return values


def _diff(runtimes: Sequence[str], codes: Sequence[str], uid: str) -> str:
    return "\n".join(difflib.unified_diff(
        codes[0].splitlines(), codes[1].splitlines(),
        fromfile=f"{runtimes[0]}/{uid}", tofile=f"{runtimes[1]}/{uid}", lineterm="",
    ))


def compare_manifests(
    runtimes: Sequence[str], manifests: Sequence[Mapping[str, Any]], selected: Iterable[str] | None
) -> list[NodeComparison]:
    """One NodeComparison per node any runtime knows (restricted to ``selected`` when given)."""
    per_runtime = [_nodes(m) for m in manifests]
    wanted = set(selected) if selected is not None else None
    ids = sorted(set().union(*per_runtime))
    out: list[NodeComparison] = []
    for uid in ids:
        if wanted is not None and uid not in wanted:
            continue
        present = tuple(rt for rt, nodes in zip(runtimes, per_runtime, strict=True) if uid in nodes)
        nodes = [n[uid] for n in per_runtime if uid in n]
        resource_type = str(nodes[0].get("resource_type"))
        if len(present) < len(runtimes):
            out.append(NodeComparison(unique_id=uid, resource_type=resource_type,
                                      verdict="only-in", present_in=present))
            continue
        codes = [n.get("compiled_code") for n in nodes]
        sql_same: bool | None = None
        sql_diff = None
        if all(isinstance(c, str) for c in codes):
            sql_same = len({normalise_sql(str(c)) for c in codes}) == 1
            if not sql_same:
                sql_diff = _diff(runtimes, [str(c) for c in codes], uid)
        configs = [_config_values(n) for n in nodes]
        differences = tuple(
            ConfigDifference(key=key, values=tuple(c[key] for c in configs))
            for key in configs[0] if len({c[key] for c in configs}) > 1
        )
        deps = [tuple(sorted((n.get("depends_on") or {}).get("nodes") or ())) for n in nodes]
        deps_same = len(set(deps)) == 1
        verdict: Verdict = (
            "same" if sql_same is not False and not differences and deps_same else "differs"
        )
        out.append(NodeComparison(
            unique_id=uid, resource_type=resource_type, verdict=verdict, present_in=present,
            sql_same=sql_same, sql_diff=sql_diff, config_differences=differences,
            dependencies_same=deps_same, dependency_difference=() if deps_same else tuple(deps),
        ))
    return out
