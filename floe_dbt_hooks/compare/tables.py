"""Compare the tables two builds left in their own DuckDB files: rows, columns and content.

The content checksum is ``sum(hash(row))`` over the table, which does not depend on row order and
counts duplicate rows; both files are read with the same DuckDB, so hashes are comparable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from floe_dbt_hooks.compare.result import TableComparison

BUILT_MATERIALIZATIONS = ("table", "view", "incremental", "seed", "snapshot")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _describe(db: Any, schema: str, alias: str) -> tuple[int | None, tuple[str, ...], str | None]:
    relation = f"{_quote(schema)}.{_quote(alias)}"
    try:
        columns = tuple(f"{name}:{kind}" for name, kind, *_ in
                        db.execute(f"describe {relation}").fetchall())
        row = db.execute(f"select count(*), sum(hash(t))::varchar from {relation} t").fetchone()
    except Exception:
        return None, (), None
    return (int(row[0]), columns, row[1] if row[0] else "empty") if row else (None, columns, None)


def compare_tables(
    databases: Sequence[Path], nodes: Mapping[str, Mapping[str, Any]]
) -> dict[str, TableComparison]:
    """For each built node (``unique_id`` -> manifest node), what every database holds for it."""
    import duckdb

    connections = [duckdb.connect(str(path), read_only=True) for path in databases]
    try:
        out: dict[str, TableComparison] = {}
        for uid, node in nodes.items():
            materialized = (node.get("config") or {}).get("materialized")
            if node.get("resource_type") not in ("model", "seed", "snapshot") or \
                    materialized not in BUILT_MATERIALIZATIONS:
                continue
            alias = str(node.get("alias") or node.get("name"))
            facts = [_describe(db, str(node.get("schema")), alias) for db in connections]
            out[uid] = TableComparison(
                row_counts=tuple(f[0] for f in facts),
                columns=tuple(f[1] for f in facts),
                checksums=tuple(f[2] for f in facts),
            )
        return out
    finally:
        for connection in connections:
            connection.close()
