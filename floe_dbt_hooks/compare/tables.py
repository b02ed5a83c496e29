"""Compare the tables two builds left behind: rows, columns and content, on the target's engine.

Each runtime builds into a place of its own: a DuckDB file of its own, or on a server (PostgreSQL,
Spark) a schema of its own. A :class:`TableReader` per place answers, in SQL its engine supports,
three facts per relation: the row count, the columns with their types, and a content checksum that
does not depend on row order and counts duplicate rows (the sum of a per-row hash). Both places are
read by the same engine, so their hashes are comparable:

- DuckDB: ``sum(hash(t))`` over the row, ``describe`` for the columns.
- PostgreSQL: ``sum(hashtext(t::text))`` over the row's text form, ``information_schema.columns``.
- Spark: ``sum(xxhash64(*))`` (as a 38-digit decimal so it cannot overflow), ``describe table``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from floe_dbt_hooks.compare.result import TableComparison

BUILT_MATERIALIZATIONS = ("table", "view", "incremental", "seed", "snapshot")
SERVER_ADAPTERS = ("postgres", "spark")
"""Adapters whose builds ``compare --execute`` separates by schema instead of by file."""

Facts = tuple[int | None, tuple[str, ...], str | None]


class TableReader(Protocol):
    """Reads the three facts of one relation; returns ``(None, (), None)`` when it is missing."""

    def describe(self, schema: str, alias: str) -> Facts: ...

    def close(self) -> None: ...


def _quote(name: str, mark: str = '"') -> str:
    return mark + name.replace(mark, mark + mark) + mark


def _facts(count: Any, columns: tuple[str, ...], checksum: Any) -> Facts:
    rows = int(count)
    return rows, columns, (str(checksum) if rows else "empty")


class DuckDBReader:
    def __init__(self, path: Path) -> None:
        import duckdb

        self._db = duckdb.connect(str(path), read_only=True)

    def describe(self, schema: str, alias: str) -> Facts:
        relation = f"{_quote(schema)}.{_quote(alias)}"
        try:
            columns = tuple(f"{name}:{kind}" for name, kind, *_ in
                            self._db.execute(f"describe {relation}").fetchall())
            row = self._db.execute(
                f"select count(*), sum(hash(t))::varchar from {relation} t").fetchone()
        except Exception:
            return None, (), None
        return _facts(row[0], columns, row[1]) if row else (None, columns, None)

    def close(self) -> None:
        self._db.close()


class PostgresReader:
    """One connection with the target's own settings (``connect_timeout`` bounds a dead server)."""

    def __init__(self, output: Mapping[str, Any]) -> None:
        import psycopg2

        self._db = psycopg2.connect(
            host=str(output.get("host", "localhost")), port=int(str(output.get("port", 5432))),
            user=str(output.get("user", "")), password=str(output.get("password", "")),
            dbname=str(output.get("dbname") or output.get("database") or ""),
            connect_timeout=int(str(output.get("connect_timeout", 10))),
        )
        self._db.autocommit = True

    def describe(self, schema: str, alias: str) -> Facts:
        relation = f"{_quote(schema)}.{_quote(alias)}"
        try:
            with self._db.cursor() as cursor:
                cursor.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, alias),
                )
                columns = tuple(f"{name}:{kind}" for name, kind in cursor.fetchall())
                if not columns:
                    return None, (), None
                cursor.execute(
                    f"select count(*), sum(hashtext(t::text)::numeric)::text from {relation} t")
                row = cursor.fetchone()
        except Exception:
            return None, (), None
        return _facts(row[0], columns, row[1]) if row else (None, columns, None)

    def close(self) -> None:
        self._db.close()


class SparkSessionReader:
    """The SparkSession dbt-spark's ``session`` method uses (the same one when dbt-core ran in this
    process, else a new one with the target's ``server_side_parameters``)."""

    def __init__(self, output: Mapping[str, Any]) -> None:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.enableHiveSupport()
        for key, value in (output.get("server_side_parameters") or {}).items():
            builder = builder.config(str(key), str(value))
        self._spark = builder.getOrCreate()

    def describe(self, schema: str, alias: str) -> Facts:
        relation = f"{_quote(schema, '`')}.{_quote(alias, '`')}"
        try:
            columns: list[str] = []
            for row in self._spark.sql(f"describe table {relation}").collect():
                name = str(row[0] or "")
                if not name or name.startswith("#"):
                    break
                columns.append(f"{name}:{row[1]}")
            facts = self._spark.sql(
                f"select count(*), cast(sum(cast(xxhash64(*) as decimal(38, 0))) as string) "
                f"from {relation}").collect()[0]
        except Exception:
            return None, (), None
        return _facts(facts[0], tuple(columns), facts[1])

    def close(self) -> None:
        """The session stays: dbt-spark and later invocations in this process share it."""


def open_reader(adapter_type: str, output: Mapping[str, Any], database_file: Path | None) -> TableReader:
    """The reader for one runtime's build of a target (``output`` with env_var() rendered)."""
    if adapter_type == "duckdb" and database_file is not None:
        return DuckDBReader(database_file)
    if adapter_type == "postgres":
        return PostgresReader(output)
    if adapter_type == "spark" and output.get("method") == "session":
        return SparkSessionReader(output)
    raise ValueError(f"compare --execute cannot read {adapter_type} tables")


def built_relations(nodes: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """``unique_id`` -> ``(schema, alias)`` of every node a build leaves a relation for."""
    out: dict[str, tuple[str, str]] = {}
    for uid, node in nodes.items():
        materialized = (node.get("config") or {}).get("materialized")
        if node.get("resource_type") not in ("model", "seed", "snapshot") or \
                materialized not in BUILT_MATERIALIZATIONS:
            continue
        out[uid] = (str(node.get("schema")), str(node.get("alias") or node.get("name")))
    return out


def compare_relations(
    readers: Sequence[TableReader], relations: Sequence[Mapping[str, tuple[str, str]]]
) -> dict[str, TableComparison]:
    """For each node of the first build, what each reader holds at that build's relation for it
    (``relations[i]``: the i-th build's ``unique_id`` -> ``(schema, alias)``)."""
    out: dict[str, TableComparison] = {}
    for uid in relations[0]:
        facts = [reader.describe(*where[uid]) if uid in where else (None, (), None)
                 for reader, where in zip(readers, relations, strict=True)]
        out[uid] = TableComparison(
            row_counts=tuple(f[0] for f in facts),
            columns=tuple(f[1] for f in facts),
            checksums=tuple(f[2] for f in facts),
        )
    return out


def compare_tables(
    databases: Sequence[Path], nodes: Mapping[str, Mapping[str, Any]]
) -> dict[str, TableComparison]:
    """For each built node (``unique_id`` -> manifest node), what every DuckDB file holds for it."""
    readers = [DuckDBReader(path) for path in databases]
    try:
        relations = built_relations(nodes)
        return compare_relations(readers, [relations] * len(readers))
    finally:
        for reader in readers:
            reader.close()
