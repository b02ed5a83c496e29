"""The task plan: which Airflow tasks a dbt selection becomes, and what each one runs.

Built from :class:`~floe_dbt_hooks.orchestration.graph.DBTGraph` (selection in dbt syntax,
dependencies through ephemeral models). One :class:`PlannedNode` per model, seed and snapshot
that is selected and not ephemeral; each selected test goes with the node it checks (after-each)
or, when it reads several planned nodes and none of them comes after all the others (a
relationships test between siblings), into a :class:`PlannedTest` task of its own after all of
them.

A node task's dbt selection is the node and its tests by ``fqn:`` plus, as excludes, the tests that
dbt's eager indirect selection would otherwise add (a relationships test that belongs to another
task): a handful of words whatever the project's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from floe_dbt_hooks.orchestration.graph import DBTGraph

TestBehavior = Literal["after_each", "separate", "none"]
TEST_BEHAVIORS: tuple[str, ...] = ("after_each", "separate", "none")
PLAN_VERSION = 1
_TASK_ID = re.compile(r"[^A-Za-z0-9_.-]+")


@attrs.frozen(kw_only=True)
class PlannedNode:
    """One model, seed or snapshot task."""

    unique_id: str
    resource_type: str
    name: str
    task_id: str
    selector: str
    """``fqn:...``: the node alone, in any runtime's syntax."""
    upstream: tuple[str, ...] = ()
    """Task ids of planned nodes this one reads (through ephemeral and unselected models)."""
    tests: tuple[str, ...] = ()
    """Unique ids of the tests that run with (or right after) this node."""
    test_selectors: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    """Tests dbt would add to ``build -s <node> <tests>`` that belong elsewhere."""
    file_path: str | None = None
    relation_name: str | None = None
    database: str | None = None
    schema: str | None = None
    alias: str | None = None


@attrs.frozen(kw_only=True)
class PlannedTest:
    """A test reading several planned nodes, none of which comes after all the others."""

    unique_id: str
    name: str
    task_id: str
    selector: str
    upstream: tuple[str, ...]
    file_path: str | None = None


@attrs.frozen(kw_only=True)
class TaskPlan:
    """Everything the DAG factory needs; JSON-serialisable so a re-parse reads it from disk."""

    project_name: str | None
    adapter_type: str | None
    select: tuple[str, ...]
    exclude: tuple[str, ...]
    test_behavior: str
    nodes: tuple[PlannedNode, ...]
    tests: tuple[PlannedTest, ...] = ()
    manifest_path: str | None = None
    manifest_how: str | None = None
    runtime: str | None = None
    """The runtime that compiled the manifest (None when a fresh manifest was reused)."""

    def node(self, unique_id: str) -> PlannedNode | None:
        return next((n for n in self.nodes if n.unique_id == unique_id), None)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskPlan:
        """The plan :meth:`to_json` wrote. Plain constructors, not the project's cattrs converter:
        building that converter costs ~0.2 s on first use, and this runs on every DAG-file parse."""
        return cls(**{**_tuples(data),
                      "nodes": tuple(PlannedNode(**_tuples(n)) for n in data["nodes"]),
                      "tests": tuple(PlannedTest(**_tuples(t)) for t in data["tests"])})


def _task_id(node: Mapping[str, Any], taken: set[str]) -> str:
    name = str(node.get("name") or node.get("unique_id"))
    if node.get("version") is not None:
        name = f"{name}_v{node['version']}"
    candidate = _TASK_ID.sub("_", name)[:200]
    if candidate in taken:
        candidate = _TASK_ID.sub("_", f"{node.get('package_name')}__{name}")[:200]
    index = 2
    base = candidate
    while candidate in taken:
        candidate, index = f"{base}_{index}", index + 1
    taken.add(candidate)
    return candidate


def build_plan(
    graph: DBTGraph,
    *,
    select: Iterable[str] = (),
    exclude: Iterable[str] = (),
    test_behavior: str = "after_each",
) -> TaskPlan:
    """The tasks for ``select``/``exclude`` (dbt syntax) on ``graph``."""
    select, exclude = tuple(select), tuple(exclude)
    chosen = graph.select(select or None, exclude or None)
    planned_ids = [uid for uid in graph.asset_ids() if uid in chosen]
    planned = set(planned_ids)
    taken: set[str] = set()
    task_ids = {uid: _task_id(graph.props(uid), taken) for uid in planned_ids}
    upstream = {uid: _planned_upstream(graph, uid, planned) for uid in planned_ids}
    ancestors: dict[str, set[str]] = {}

    def ancestors_of(uid: str) -> set[str]:
        if uid not in ancestors:
            found: set[str] = set()
            for parent in upstream[uid]:
                found |= {parent} | ancestors_of(parent)
            ancestors[uid] = found
        return ancestors[uid]

    owned: dict[str, list[str]] = {uid: [] for uid in planned_ids}
    loose: list[tuple[str, list[str]]] = []
    if test_behavior != "none":
        for test in sorted(uid for uid in chosen if uid in graph.nodes
                           and graph.nodes[uid].get("resource_type") == "test"):
            parents = [p for p in graph.upstream(test) if p in planned]
            if not parents:
                continue
            owner = next((p for p in parents
                          if all(q == p or q in ancestors_of(p) for q in parents)), None)
            if owner is not None:
                owned[owner].append(test)
            else:
                loose.append((test, parents))
    nodes = []
    for uid in planned_ids:
        props = graph.props(uid)
        tests = tuple(owned[uid])
        touching = {t for t in graph.children.get(uid, ()) if t in graph.nodes
                    and graph.nodes[t].get("resource_type") == "test"}
        nodes.append(PlannedNode(
            unique_id=uid, resource_type=str(props.get("resource_type")),
            name=str(props.get("name")), task_id=task_ids[uid], selector=graph.fqn_selector(uid),
            upstream=tuple(task_ids[p] for p in upstream[uid]), tests=tests,
            test_selectors=tuple(graph.fqn_selector(t) for t in tests),
            exclude=tuple(sorted(graph.fqn_selector(t) for t in touching - set(tests))),
            file_path=_str(props.get("original_file_path")),
            relation_name=_str(props.get("relation_name")), database=_str(props.get("database")),
            schema=_str(props.get("schema")), alias=_str(props.get("alias") or props.get("name")),
        ))
    loose_tests = []
    for test, parents in loose:
        props = graph.props(test)
        loose_tests.append(PlannedTest(
            unique_id=test, name=str(props.get("name")),
            task_id=_task_id({"name": f"test_{props.get('name')}"}, taken),
            selector=graph.fqn_selector(test), upstream=tuple(task_ids[p] for p in parents),
            file_path=_str(props.get("original_file_path")),
        ))
    return TaskPlan(project_name=graph.project_name, adapter_type=graph.adapter_type,
                    select=select, exclude=exclude, test_behavior=test_behavior,
                    nodes=tuple(nodes), tests=tuple(loose_tests))


def _planned_upstream(graph: DBTGraph, uid: str, planned: set[str]) -> list[str]:
    """Planned nodes ``uid`` reads, looking through unplanned assets as well as ephemerals."""
    found: dict[str, None] = {}
    stack = list(graph.upstream(uid))
    seen: set[str] = set()
    while stack:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if parent in planned:
            found[parent] = None
        elif parent in graph.nodes:
            stack.extend(graph.upstream(parent))
    return sorted(found)


def _tuples(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
