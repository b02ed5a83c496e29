"""The execution plan of a dbt project for Prefect: which units of work run, in which order.

Built once per flow run from the manifest (:func:`build_plan`) and handed to every task as plain
data, so a task never parses the project again and can run in another process or on another
worker. A unit is what one Prefect task runs with one ``dbt build``:

* ``per_node``: one unit per model, seed and snapshot (ephemeral models are compiled into their
  children, as dbt does), with the data tests that check only that node; a test reading several
  nodes (``relationships``) gets a unit of its own after all of them.
* ``per_wave``: one unit per wave, every node whose upstream is in earlier waves, with the tests
  whose last parent is in that wave.
* ``single``: one unit, the whole selection.

``tests="separate"`` gives each node's tests a unit of their own after the node; ``"none"`` leaves
tests out. Each unit selects its nodes by ``fqn:`` and excludes the tests that dbt's eager indirect
selection would add but that belong to another unit. Nothing here imports Prefect or dbt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.models import Declined, from_dict, to_dict
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.runtime.selection import selection_words

Mode = Literal["per_node", "per_wave", "single"]
TestStrategy = Literal["attached", "separate", "none"]
MODES: tuple[str, ...] = ("per_node", "per_wave", "single")
TEST_STRATEGIES: tuple[str, ...] = ("attached", "separate", "none")


@attrs.frozen(kw_only=True)
class AssetSpec:
    """A model, seed or snapshot as a Prefect asset: the key prefect-dbt gives the same relation
    (``<adapter>://<database>/<schema>/<name>``) and the keys of what it reads."""

    unique_id: str
    key: str
    name: str
    description: str | None = None
    owners: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PlanUnit:
    """One Prefect task's work: ``select``/``exclude`` for ``dbt build``, and what it covers."""

    key: str
    name: str
    kind: str
    """``node`` (one model, seed or snapshot), ``tests``, ``wave`` or ``all``."""
    wave: int
    nodes: tuple[str, ...]
    tests: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    assets: tuple[AssetSpec, ...] = ()


@attrs.frozen(kw_only=True)
class BuildPlan:
    """Every unit of one flow run, in wave order, and where the manifest came from."""

    project_name: str
    mode: str
    tests: str
    units: tuple[PlanUnit, ...]
    manifest_path: str
    manifest_how: str
    manifest_runtime: str | None = None
    parse_seconds: float = 0.0
    declined: tuple[Declined, ...] = ()

    @property
    def waves(self) -> list[list[PlanUnit]]:
        grouped: dict[int, list[PlanUnit]] = {}
        for unit in self.units:
            grouped.setdefault(unit.wave, []).append(unit)
        return [grouped[w] for w in sorted(grouped)]

    def unit(self, key: str) -> PlanUnit:
        for unit in self.units:
            if unit.key == key:
                return unit
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_dict(self)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BuildPlan:
        return from_dict(dict(data), cls)


def asset_key(adapter_type: str, relation_name: str) -> str:
    """prefect-dbt's key for a relation: quotes dropped, dots become path separators."""
    return f"{adapter_type}://" + relation_name.replace('"', "").replace("`", "").replace(".", "/")


def asset_spec(graph: DBTGraph, unique_id: str) -> AssetSpec | None:
    """The asset of a model, seed, snapshot or source, or None without a relation name."""
    props = graph.props(unique_id)
    relation = props.get("relation_name")
    if not relation or not graph.adapter_type:
        return None
    meta = (props.get("config") or {}).get("meta") or props.get("meta") or {}
    owner = meta.get("owner") if isinstance(meta, Mapping) else None
    upstream = [asset_key(graph.adapter_type, str(graph.props(p)["relation_name"]))
                for p in graph.upstream(unique_id) if graph.props(p).get("relation_name")]
    return AssetSpec(unique_id=unique_id, key=asset_key(graph.adapter_type, str(relation)),
                     name=str(props.get("name") or unique_id),
                     description=(str(props.get("description") or "") or None),
                     owners=(owner,) if isinstance(owner, str) and owner else (),
                     upstream=tuple(upstream))


def build_plan(
    graph: DBTGraph,
    *,
    mode: str = "per_node",
    tests: str = "attached",
    select: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    manifest_path: str = "",
    manifest_how: str = "given",
    manifest_runtime: str | None = None,
    parse_seconds: float = 0.0,
    declined: Iterable[Declined] = (),
) -> BuildPlan:
    """The plan for ``select``/``exclude`` (dbt syntax) over ``graph``."""
    if mode not in MODES:
        raise DBTConfigurationError(f"unknown execution mode {mode!r}",
                                    hint=f"use one of: {', '.join(MODES)}")
    if tests not in TEST_STRATEGIES:
        raise DBTConfigurationError(f"unknown test strategy {tests!r}",
                                    hint=f"use one of: {', '.join(TEST_STRATEGIES)}")
    chosen = graph.select(select, exclude)
    nodes = [uid for uid in graph.nodes if uid in chosen and graph.is_asset(uid)]
    chosen_tests = [] if tests == "none" else [uid for uid in graph.test_ids() if uid in chosen]
    level = _levels(graph, nodes)
    common: dict[str, Any] = {"project_name": graph.project_name or "", "mode": mode, "tests": tests,
              "manifest_path": manifest_path, "manifest_how": manifest_how,
              "manifest_runtime": manifest_runtime, "parse_seconds": parse_seconds,
              "declined": tuple(declined)}
    if mode == "single":
        # One invocation: dbt evaluates the user's own selection (no per-node argument list).
        unit = attrs.evolve(_unit(graph, "all", "dbt build", "all", 0, nodes, chosen_tests, ()),
                            select=tuple(selection_words(select)),
                            exclude=(*selection_words(exclude),
                                     *(("resource_type:test",) if tests == "none" else ())))
        units: list[PlanUnit] = [unit] if nodes or chosen_tests else []
        return BuildPlan(units=tuple(units), **common)
    if mode == "per_wave":
        return BuildPlan(units=tuple(_waves(graph, nodes, chosen_tests, level, tests)), **common)
    return BuildPlan(units=tuple(_per_node(graph, nodes, chosen_tests, level, tests)), **common)


def _asset_parents(graph: DBTGraph, test_id: str) -> list[str]:
    return [p for p in graph.upstream(test_id) if graph.is_asset(p)]


def _levels(graph: DBTGraph, nodes: list[str]) -> dict[str, int]:
    """Each node's wave: one more than its deepest selected upstream node."""
    node_set = set(nodes)
    level: dict[str, int] = {}

    def depth(uid: str, stack: tuple[str, ...] = ()) -> int:
        if uid in level:
            return level[uid]
        if uid in stack:
            raise DBTConfigurationError(f"the dbt graph has a cycle through {uid}")
        ups = [p for p in graph.upstream(uid) if p in node_set]
        level[uid] = 1 + max((depth(p, (*stack, uid)) for p in ups), default=-1)
        return level[uid]

    for uid in nodes:
        depth(uid)
    return level


def _unit(graph: DBTGraph, key: str, name: str, kind: str, wave: int, nodes: Iterable[str],
          tests: Iterable[str], depends_on: Iterable[str]) -> PlanUnit:
    node_ids = tuple(nodes)
    test_ids = tuple(tests)
    covered = set(node_ids) | set(test_ids)
    select = tuple(graph.fqn_selector(uid) for uid in (*node_ids, *test_ids))
    # dbt's eager indirect selection adds every test touching a selected node; leave out the
    # ones another unit runs (or that were not chosen at all).
    exclude = tuple(sorted({graph.fqn_selector(t) for t in graph.test_ids() if t not in covered
                            and set(graph.parents.get(t, ())) & set(node_ids)}))
    assets = tuple(spec for uid in node_ids if (spec := asset_spec(graph, uid)) is not None)
    return PlanUnit(key=key, name=name, kind=kind, wave=wave, nodes=node_ids, tests=test_ids, select=select,
                    exclude=exclude, depends_on=tuple(dict.fromkeys(depends_on)), assets=assets)


def _label(graph: DBTGraph, uid: str) -> str:
    props = graph.props(uid)
    return f"{props.get('resource_type', 'node')} {props.get('name') or uid}"


def _per_node(graph: DBTGraph, nodes: list[str], tests: list[str], level: dict[str, int],
              strategy: str) -> list[PlanUnit]:
    node_set = set(nodes)
    own: dict[str, list[str]] = {uid: [] for uid in nodes}
    shared: list[str] = []
    for test in tests:
        parents = [p for p in _asset_parents(graph, test) if p in node_set]
        if len(parents) == 1 and strategy == "attached":
            own[parents[0]].append(test)
        else:
            shared.append(test)
    units = []
    for uid in nodes:
        ups = [p for p in graph.upstream(uid) if p in node_set]
        units.append(_unit(graph, uid, _label(graph, uid), "node", 2 * level[uid], [uid], own[uid], ups))
    if strategy == "separate":
        by_parents: dict[tuple[str, ...], list[str]] = {}
        for test in shared:
            key = tuple(sorted(p for p in _asset_parents(graph, test) if p in node_set))
            by_parents.setdefault(key, []).append(test)
        for key, group in by_parents.items():
            units.append(_test_unit(graph, group, key, level))
    else:
        for test in shared:
            inside = tuple(p for p in _asset_parents(graph, test) if p in node_set)
            units.append(_test_unit(graph, [test], inside, level))
    return sorted(units, key=lambda u: (u.wave, u.key))


def _test_unit(graph: DBTGraph, tests: list[str], parents: tuple[str, ...],
               level: dict[str, int]) -> PlanUnit:
    wave = 2 * max((level[p] for p in parents), default=0) + 1
    if len(tests) == 1:
        key, name = tests[0], _label(graph, tests[0])
    else:
        key = "tests:" + ",".join(parents)
        name = "tests of " + ", ".join(str(graph.props(p).get("name")) for p in parents)
    return _unit(graph, key, name, "tests", wave, [], tests, parents)


def _waves(graph: DBTGraph, nodes: list[str], tests: list[str], level: dict[str, int],
           strategy: str) -> list[PlanUnit]:
    node_set = set(nodes)
    count = 1 + max(level.values(), default=-1)
    wave_nodes: list[list[str]] = [[] for _ in range(count)]
    for uid in nodes:
        wave_nodes[level[uid]].append(uid)
    wave_tests: list[list[str]] = [[] for _ in range(max(count, 1))]
    for test in tests:
        parents = [p for p in _asset_parents(graph, test) if p in node_set]
        wave_tests[max((level[p] for p in parents), default=0)].append(test)
    units: list[PlanUnit] = []
    for index in range(count):
        deps = [units[-1].key] if units else []
        if strategy == "separate":
            units.append(_unit(graph, f"wave-{index}", f"dbt wave {index}", "wave", 2 * index,
                               wave_nodes[index], [], deps))
            if wave_tests[index]:
                units.append(_unit(graph, f"wave-{index}-tests", f"dbt wave {index} tests",
                                   "tests", 2 * index + 1, [], wave_tests[index], [f"wave-{index}"]))
        else:
            units.append(_unit(graph, f"wave-{index}", f"dbt wave {index}", "wave", 2 * index,
                               wave_nodes[index], wave_tests[index], deps))
    return units
