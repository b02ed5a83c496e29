"""The plan on a small hand-written manifest: units, waves, tests and their exclusions."""

from __future__ import annotations

from typing import Any

import pytest
from floe_dbt_prefect.plan import BuildPlan, build_plan

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.orchestration.graph import DBTGraph


def _node(kind: str, name: str, parents: list[str], materialized: str = "table",
          **extra: Any) -> tuple[str, dict[str, Any]]:
    uid = f"{kind}.shop.{name}"
    node = {"resource_type": kind, "name": name, "package_name": "shop", "fqn": ["shop", name],
            "depends_on": {"nodes": parents}, "config": {"materialized": materialized},
            "relation_name": None if kind == "test" or materialized == "ephemeral"
            else f'"db"."main"."{name}"', **extra}
    return uid, node


MANIFEST = {
    "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
    "sources": {"source.shop.raw.events": {
        "resource_type": "source", "name": "events", "source_name": "raw", "package_name": "shop",
        "fqn": ["shop", "raw", "events"], "relation_name": '"db"."raw"."events"'}},
    "nodes": dict([
        _node("seed", "s1", []),
        _node("model", "a", ["seed.shop.s1", "source.shop.raw.events"],
              config={"materialized": "view", "meta": {"owner": "data@example.com"}}),
        _node("model", "e", ["model.shop.a"], materialized="ephemeral"),
        _node("model", "b", ["model.shop.e"]),
        _node("model", "c", ["model.shop.a", "model.shop.b"]),
        _node("test", "t_a", ["model.shop.a"], attached_node="model.shop.a"),
        _node("test", "t_rel", ["model.shop.b", "model.shop.a"]),
        _node("test", "t_c", ["model.shop.c"], attached_node="model.shop.c"),
    ]),
}


def plan(**options: Any) -> BuildPlan:
    return build_plan(DBTGraph(MANIFEST), **options)


def test_per_node_units_waves_and_attached_tests() -> None:
    built = plan()
    assert [[u.key for u in wave] for wave in built.waves] == [
        ["seed.shop.s1"], ["model.shop.a"], ["model.shop.b"], ["test.shop.t_rel"],
        ["model.shop.c"]]
    a = built.unit("model.shop.a")
    assert a.kind == "node"
    assert a.tests == ("test.shop.t_a",)
    assert a.select == ("fqn:shop.a", "fqn:shop.t_a")
    assert a.exclude == ("fqn:shop.t_rel",)  # eager selection would add it; it runs after b
    # b reads a through the ephemeral e.
    assert built.unit("model.shop.b").depends_on == ("model.shop.a",)
    assert built.unit("test.shop.t_rel").depends_on == ("model.shop.b", "model.shop.a")
    (spec,) = a.assets
    assert spec.key == "duckdb://db/main/a"
    assert spec.owners == ("data@example.com",)
    assert set(spec.upstream) == {"duckdb://db/main/s1", "duckdb://db/raw/events"}
    assert "model.shop.e" not in {u.key for u in built.units}


def test_per_wave_and_separate_tests() -> None:
    waves = plan(mode="per_wave")
    assert [(u.key, u.nodes, u.tests) for u in waves.units] == [
        ("wave-0", ("seed.shop.s1",), ()),
        ("wave-1", ("model.shop.a",), ("test.shop.t_a",)),
        ("wave-2", ("model.shop.b",), ("test.shop.t_rel",)),
        ("wave-3", ("model.shop.c",), ("test.shop.t_c",)),
    ]
    separate = plan(mode="per_wave", tests="separate")
    assert [u.key for u in separate.units] == [
        "wave-0", "wave-1", "wave-1-tests", "wave-2", "wave-2-tests", "wave-3", "wave-3-tests"]
    assert separate.unit("wave-2").depends_on == ("wave-1-tests",)
    per_node = plan(tests="separate")
    assert per_node.unit("model.shop.a").tests == ()
    assert per_node.unit("model.shop.a").exclude == ("fqn:shop.t_a", "fqn:shop.t_rel")


def test_selection_single_mode_and_round_trip() -> None:
    selected = plan(select="a+", exclude="c")
    assert {u.key for u in selected.units} == {"model.shop.a", "model.shop.b", "test.shop.t_rel"}
    single = plan(mode="single", select="+b", tests="none")
    (unit,) = single.units
    assert unit.select == ("+b",)
    assert unit.exclude == ("resource_type:test",)
    assert set(unit.nodes) == {"seed.shop.s1", "model.shop.a", "model.shop.b"}
    assert BuildPlan.from_json(single.to_json()) == single


def test_bad_mode_names_the_choices() -> None:
    with pytest.raises(DBTConfigurationError, match="per_node, per_wave, single"):
        plan(mode="per_model")
