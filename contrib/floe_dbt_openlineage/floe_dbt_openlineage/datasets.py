"""OpenLineage datasets from a dbt manifest: what a node reads and what it writes.

A dataset is a relation, named ``database.schema.alias`` (a source's ``identifier`` instead of an
alias) in the target's namespace, with the manifest's columns as its schema facet, its description
as its documentation facet and the namespace as its data source. Ephemeral models are not relations:
a node that selects from one reads what the ephemeral model reads. Inputs are sorted by name so the
same project gives the same events on every runtime.
"""

from __future__ import annotations

from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    data_quality_assertions_dataset,
    datasource_dataset,
    documentation_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)

from floe_dbt_openlineage.facets import PRODUCER
from floe_dbt_openlineage.nodes import ExecutedNode

RELATION_TYPES = ("model", "seed", "snapshot", "source")


class DatasetIndex:
    """The datasets of one manifest, in one namespace."""

    def __init__(self, manifest: dict[str, Any], namespace: str) -> None:
        self.namespace = namespace
        self._nodes: dict[str, Any] = manifest.get("nodes", {})
        self._sources: dict[str, Any] = manifest.get("sources", {})

    def node(self, unique_id: str) -> dict[str, Any] | None:
        found = self._nodes.get(unique_id) or self._sources.get(unique_id)
        return found if isinstance(found, dict) else None

    @staticmethod
    def relation_name(node: dict[str, Any]) -> str:
        table = node.get("identifier") if node.get("resource_type") == "source" else node.get("alias")
        return ".".join(str(part) for part in (node.get("database"), node.get("schema"),
                                                table or node.get("name")) if part)

    @staticmethod
    def _is_relation(node: dict[str, Any]) -> bool:
        if node.get("resource_type") not in RELATION_TYPES:
            return False
        return (node.get("config") or {}).get("materialized") != "ephemeral"

    def _facets(self, node: dict[str, Any]) -> dict[str, DatasetFacet]:
        facets: dict[str, DatasetFacet] = {
            "dataSource": datasource_dataset.DatasourceDatasetFacet(
                name=self.namespace, uri=self.namespace, producer=PRODUCER),
        }
        columns = [c for c in (node.get("columns") or {}).values() if c.get("name")]
        if columns:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(
                    name=c["name"], type=c.get("data_type") or None,
                    description=c.get("description") or None,
                ) for c in columns],
                producer=PRODUCER,
            )
        if node.get("description"):
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=node["description"], producer=PRODUCER)
        return facets

    def output(self, executed: ExecutedNode, *, statistics: bool) -> OutputDataset | None:
        """What the node writes (None for tests and ephemeral models)."""
        node = self.node(executed.unique_id)
        if node is None or not self._is_relation(node):
            return None
        output_facets: dict[str, OutputDatasetFacet] = {}
        if statistics and executed.rows_affected is not None and executed.rows_affected > 0:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=executed.rows_affected, producer=PRODUCER))
        return OutputDataset(namespace=self.namespace, name=self.relation_name(node),
                             facets=self._facets(node), outputFacets=output_facets)

    def _parents(self, unique_id: str) -> list[dict[str, Any]]:
        """The relations a node reads, looking through ephemeral models."""
        found: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        pending = list((self.node(unique_id) or {}).get("depends_on", {}).get("nodes", []))
        while pending:
            parent_id = pending.pop()
            if parent_id in seen:
                continue
            seen.add(parent_id)
            parent = self.node(parent_id)
            if parent is None:
                continue
            if self._is_relation(parent):
                found[parent_id] = parent
            elif parent.get("resource_type") == "model":
                pending += parent.get("depends_on", {}).get("nodes", [])
        return sorted(found.values(), key=self.relation_name)

    def inputs(self, executed: ExecutedNode) -> list[InputDataset]:
        """What the node reads; a test's tested relation carries the test as an assertion."""
        node = self.node(executed.unique_id) or {}
        tested = _tested_node(node) if executed.resource_type == "test" else None
        out = []
        for parent in self._parents(executed.unique_id):
            input_facets: dict[str, InputDatasetFacet] = {}
            if tested is not None and parent.get("unique_id") == tested:
                input_facets["dataQualityAssertions"] = (
                    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                        assertions=[assertion(node, executed)], producer=PRODUCER))
            out.append(InputDataset(namespace=self.namespace, name=self.relation_name(parent),
                                    facets=self._facets(parent), inputFacets=input_facets))
        return out


def _tested_node(test: dict[str, Any]) -> str | None:
    """The node a test is about: ``attached_node``, else its only relation parent."""
    if test.get("attached_node"):
        return str(test["attached_node"])
    parents = test.get("depends_on", {}).get("nodes", [])
    return str(parents[-1]) if len(parents) == 1 else None


def _expected(config: dict[str, Any], severity: str) -> str:
    """dbt's failure threshold as the expected value: ``0`` for the default ``!= 0``."""
    threshold = config.get("warn_if" if severity == "warn" else "error_if")
    if threshold is None or "".join(str(threshold).split()) == "!=0":
        return "0"
    return str(threshold)


def assertion(test: dict[str, Any], executed: ExecutedNode) -> data_quality_assertions_dataset.Assertion:
    """One dbt test as a data quality assertion: which check, on which column, and its outcome."""
    metadata = test.get("test_metadata") or {}
    config = test.get("config") or {}
    severity = str(config.get("severity") or "error").lower()
    return data_quality_assertions_dataset.Assertion(
        assertion=str(metadata.get("name") or test.get("name") or executed.unique_id),
        success=executed.status == "success",
        column=(metadata.get("kwargs") or {}).get("column_name") or test.get("column_name"),
        severity=severity,
        name=test.get("name"),
        actual=None if executed.failures is None else str(executed.failures),
        expected=None if executed.failures is None else _expected(config, severity),
    )
