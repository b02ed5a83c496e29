"""The Dagster integration's manifest side without an engine: selection, assets and checks from the
graph, the translator's defaults and overrides, and artifact freshness."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey
from floe_dbt_dagster.translator import UNIQUE_ID_KEY, DBTTranslator, TranslatorSettings

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.project import load_project
from floe_dbt_hooks.project.freshness import artifact_freshness
from floe_dbt_hooks.testing import write_project


def node(uid: str, *, parents: tuple[str, ...] = (), path: str = "", materialized: str = "view",
         tags: tuple[str, ...] = (), meta: dict[str, Any] | None = None, group: str | None = None,
         **extra: Any) -> dict[str, Any]:
    kind, package, name = uid.split(".")[:3]
    folder = [p for p in Path(path).parent.parts[1:]] if path else []
    return {
        "unique_id": uid, "resource_type": kind, "name": name, "package_name": package,
        "fqn": [package, *folder, name], "original_file_path": path, "tags": list(tags),
        "depends_on": {"nodes": list(parents)}, "meta": meta or {},
        "config": {"materialized": materialized, "group": group, "meta": meta or {},
                   "tags": list(tags), **extra.pop("config", {})},
        "relation_name": f'"db"."main"."{name}"', "raw_code": f"select 1 -- {name}", **extra,
    }


def data_test(uid: str, parents: tuple[str, ...], attached: str | None, path: str = "",
              **extra: Any) -> dict[str, Any]:
    data = node(uid, parents=parents, path=path or "models/schema.yml", materialized="test",
                **extra)
    data["attached_node"] = attached
    return data




@pytest.fixture
def manifest() -> dict[str, Any]:
    nodes = [
        node("seed.shop.raw", path="seeds/raw.csv", materialized="seed"),
        node("model.shop.base", parents=("seed.shop.raw",), path="models/staging/base.sql",
             tags=("daily",)),
        node("model.shop.eph", parents=("model.shop.base", "source.shop.app.events"),
             path="models/staging/eph.sql", materialized="ephemeral"),
        node("model.shop.wide", parents=("model.shop.eph",), path="models/marts/wide.sql",
             materialized="table", group="finance",
             meta={"dagster": {"owners": ["ana@example.com"], "tags": {"tier": "gold"}}},
             config={"schema": "analytics"}),
        node("model.shop.keyed", parents=("model.shop.base",), path="models/marts/keyed.sql",
             meta={"owner": "data platform", "dagster": {"asset_key": ["custom", "keyed"],
                                                           "group": "special"}}),
        node("snapshot.shop.snap", parents=("model.shop.base",), path="snapshots/snap.sql",
             materialized="snapshot"),
        data_test("test.shop.not_null_base_id.abc", ("model.shop.base",), "model.shop.base",
                  config={"severity": "warn"}),
        data_test("test.shop.rel_wide_base.def", ("model.shop.wide", "model.shop.base"),
                  "model.shop.wide"),
        data_test("test.shop.singular_two", ("model.shop.wide", "model.shop.keyed"), None,
                  path="tests/singular_two.sql"),
        data_test("test.shop.singular_ref", ("model.shop.wide", "model.shop.keyed"), None,
                  path="tests/singular_ref.sql",
                  meta={"dagster": {"ref": {"name": "keyed"}}}),
    ]
    return {
        "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
        "nodes": {n["unique_id"]: n for n in nodes},
        "sources": {"source.shop.app.events": {
            "unique_id": "source.shop.app.events", "resource_type": "source", "name": "events",
            "source_name": "app", "package_name": "shop", "fqn": ["shop", "app", "events"],
            "original_file_path": "models/sources.yml", "tags": [], "config": {}}},
        "groups": {"group.shop.finance": {"name": "finance",
                                          "owner": {"email": "fin@example.com"}}},
    }


def test_assets_and_dependencies_through_ephemeral_models(manifest: dict[str, Any]) -> None:
    graph = DBTGraph(manifest)
    assert set(graph.asset_ids()) == {"seed.shop.raw", "model.shop.base", "model.shop.wide",
                                      "model.shop.keyed", "snapshot.shop.snap"}
    assert graph.upstream("model.shop.wide") == ["model.shop.base", "source.shop.app.events"]
    assert graph.attached_asset("test.shop.not_null_base_id.abc") == "model.shop.base"
    assert graph.attached_asset("test.shop.singular_two") is None  # two parents, no meta ref
    assert graph.attached_asset("test.shop.singular_ref") == "model.shop.keyed"
    assert graph.fqn_selector("model.shop.wide") == "fqn:shop.marts.wide"


@pytest.mark.parametrize(("select", "exclude", "expected"), [
    ("base", None, {"model.shop.base", "test.shop.not_null_base_id.abc",
                    "test.shop.rel_wide_base.def"}),
    ("staging", None, {"model.shop.base", "model.shop.eph", "test.shop.not_null_base_id.abc",
                       "test.shop.rel_wide_base.def"}),
    # eager indirect selection adds the tests of the intersection, as dbt does
    ("tag:daily,resource_type:model", None, {"model.shop.base", "test.shop.not_null_base_id.abc",
                                             "test.shop.rel_wide_base.def"}),
    ("+wide", "resource_type:test", {"seed.shop.raw", "model.shop.base", "model.shop.eph",
                                     "model.shop.wide", "source.shop.app.events"}),
    ("base+1", "resource_type:test", {"model.shop.base", "model.shop.eph", "model.shop.keyed",
                                      "snapshot.shop.snap"}),
    ("path:models/marts", "resource_type:test", {"model.shop.wide", "model.shop.keyed"}),
    ("keyed.sql wide", "resource_type:test", {"model.shop.wide", "model.shop.keyed"}),
    ("config.materialized:table group:fin*", "resource_type:test", {"model.shop.wide"}),
    ("source:app.events+1", "resource_type:test", {"source.shop.app.events", "model.shop.eph"}),
    # @: the descendants (tests too) and all their ancestors: keyed via the singular tests
    ("@eph", "resource_type:test", {"seed.shop.raw", "model.shop.base", "model.shop.eph",
                                    "model.shop.wide", "model.shop.keyed",
                                    "source.shop.app.events"}),
    ("fqn:shop.*.keyed", None, {"model.shop.keyed", "test.shop.singular_two",
                                "test.shop.singular_ref"}),
    ("fqn:*", "staging marts", {"seed.shop.raw", "snapshot.shop.snap"}),
])
def test_selection(manifest: dict[str, Any], select: str, exclude: str | None,
                   expected: set[str]) -> None:
    assert DBTGraph(manifest).select(select, exclude) == expected


def test_unsupported_selection_is_a_clear_error(manifest: dict[str, Any]) -> None:
    with pytest.raises(DBTConfigurationError, match="state"):
        DBTGraph(manifest).select("state:modified")
    with pytest.raises(DBTConfigurationError, match="YAML selector"):
        DBTGraph(manifest).select(selector="nightly")


def test_translator_defaults(manifest: dict[str, Any], tmp_path: Path) -> None:
    graph = DBTGraph(manifest, tmp_path)
    translator = DBTTranslator()
    wide = translator.get_asset_spec(graph, "model.shop.wide")
    assert wide.key == AssetKey(["analytics", "wide"])  # configured schema, as dagster-dbt
    assert wide.group_name == "finance"
    assert wide.owners == ["ana@example.com"]
    assert {k: v for k, v in wide.tags.items() if not k.startswith("dagster/kind/")} == {
        "tier": "gold"}
    assert wide.kinds == {"dbt", "duckdb"}
    assert {d.asset_key for d in wide.deps} == {AssetKey("base"), AssetKey(["app", "events"])}
    assert wide.metadata[UNIQUE_ID_KEY] == "model.shop.wide"
    assert wide.metadata["dagster/table_name"] == '"db"."main"."wide"'
    refs = wide.metadata["dagster/code_references"].code_references
    assert refs[0].file_path == str(tmp_path / "models" / "marts" / "wide.sql")
    assert wide.skippable
    keyed = translator.get_asset_spec(graph, "model.shop.keyed")
    assert keyed.key == AssetKey(["custom", "keyed"])
    assert keyed.group_name == "special"
    assert keyed.owners == ["team:data_platform"]
    base = translator.get_asset_spec(graph, "model.shop.base")
    assert base.group_name == "staging"  # the folder
    assert base.tags["daily"] == ""
    assert translator.get_asset_spec(graph, "seed.shop.raw").group_name is None
    assert "select 1 -- base" in (base.description or "")

    keys = {uid: translator.get_asset_spec(graph, uid).key for uid in graph.asset_ids()}
    warn = translator.get_check_spec(graph, "test.shop.not_null_base_id.abc", keys)
    assert warn is not None
    assert (warn.asset_key, warn.name, warn.blocking) == (AssetKey("base"), "not_null_base_id",
                                                          False)
    rel = translator.get_check_spec(graph, "test.shop.rel_wide_base.def", keys)
    assert rel is not None
    assert rel.blocking
    assert {d.asset_key for d in rel.additional_deps} == {AssetKey("base")}
    assert translator.get_check_spec(graph, "test.shop.singular_two", keys) is None


def test_translator_settings_and_overrides(manifest: dict[str, Any]) -> None:
    class Prefixed(DBTTranslator):
        def get_asset_key(self, props: Any) -> AssetKey:
            return super().get_asset_key(props).with_prefix("shop")

    graph = DBTGraph(manifest)
    settings = TranslatorSettings(group_from_folder=False, include_raw_sql=False,
                                  asset_checks=False)
    spec = Prefixed(settings).get_asset_spec(graph, "model.shop.base")
    assert spec.key == AssetKey(["shop", "base"])
    assert spec.group_name is None
    assert spec.description == "dbt model base"
    assert {d.asset_key for d in Prefixed().get_asset_spec(graph, "model.shop.wide").deps} == {
        AssetKey(["shop", "base"]), AssetKey(["shop", "app", "events"])}
    assert Prefixed(settings).get_check_spec(graph, "test.shop.not_null_base_id.abc", {}) is None


def test_artifact_freshness(tmp_path: Path) -> None:
    project_dir = write_project(tmp_path / "p", {
        "dbt_project.yml": "name: p\nprofile: p\n",
        "models/a.sql": "select 1\n",
        "models/sub/b.sql": "select 2\n",
    })
    project = load_project(project_dir)
    artifact = project_dir / "target" / "manifest.json"
    assert not artifact_freshness(artifact, project).fresh
    assert "does not exist" in artifact_freshness(artifact, project).reason

    past = 1_600_000_000
    for path in [project_dir / "dbt_project.yml", *project_dir.rglob("*")]:
        os.utime(path, (past, past))
    artifact.parent.mkdir()
    artifact.write_text("{}")
    fresh = artifact_freshness(artifact, project)
    assert fresh.fresh, fresh.reason
    assert fresh.inputs_checked >= 5  # two files, two folders, dbt_project.yml

    os.utime(project_dir / "models" / "sub" / "b.sql", None)
    stale = artifact_freshness(artifact, project)
    assert not stale.fresh
    assert stale.newest_input == project_dir / "models" / "sub" / "b.sql"

    os.utime(project_dir / "models" / "sub" / "b.sql", (past, past))
    (project_dir / "models" / "a.sql").unlink()  # removing a file changes its folder
    assert artifact_freshness(artifact, project).newest_input == project_dir / "models"


def test_two_definitions_with_one_op_name_keep_their_own_manifest(manifest: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    import copy

    from floe_dbt_dagster import build_dbt_asset_selection, floe_dbt_assets, loaded_manifest

    other = copy.deepcopy(manifest)
    other["nodes"]["model.shop.keyed"]["tags"] = ["daily"]
    other["nodes"]["model.shop.keyed"]["config"]["tags"] = ["daily"]
    built = []
    for graph_manifest in (manifest, other):
        @floe_dbt_assets(project_dir=tmp_path, manifest=graph_manifest, name="shop")
        def shop() -> None: ...
        built.append(shop)
    first, second = built
    assert first.op.name == second.op.name == "shop"
    assert loaded_manifest(first).manifest is manifest  # type: ignore[union-attr]
    assert loaded_manifest(second).manifest is other  # type: ignore[union-attr]
    picked = {k.to_user_string() for k in build_dbt_asset_selection([first], "tag:daily")
              .resolve(built[:1])}
    assert picked == {"base"}
    picked = {k.to_user_string() for k in build_dbt_asset_selection([second], "tag:daily")
              .resolve(built[1:])}
    assert picked == {"base", "custom/keyed"}


def test_facades_are_bounded_and_reused(tmp_path: Path) -> None:
    from floe_dbt_dagster import resource as resource_module

    from floe_dbt_hooks.orchestration.sharing import MAX_SHARED

    resources = [resource_module.DBTResource(project_dir=str(tmp_path / f"p{i}"))
                 for i in range(MAX_SHARED + 2)]
    first = resources[0].facade
    assert resources[0].facade is first
    assert resource_module.DBTResource(project_dir=str(tmp_path / "p0")).facade is first
    for item in resources[1:]:
        _ = item.facade
    assert resources[0].facade is not first  # dropped as least recently used, then rebuilt


def test_artifact_freshness_follows_dbtignore(tmp_path: Path) -> None:
    project_dir = write_project(tmp_path / "p", {
        "dbt_project.yml": "name: p\nprofile: p\n",
        ".dbtignore": "models/scratch/*.sql\n",
        "models/a.sql": "select 1\n",
        "models/scratch/wip.sql": "select 2\n",
    })
    project = load_project(project_dir)
    artifact = project_dir / "target" / "manifest.json"
    past = 1_600_000_000
    for path in [project_dir / "dbt_project.yml", project_dir / ".dbtignore",
                 *project_dir.rglob("*")]:
        os.utime(path, (past, past))
    artifact.parent.mkdir()
    artifact.write_text("{}")
    os.utime(project_dir / "models" / "scratch" / "wip.sql", None)
    assert artifact_freshness(artifact, project).fresh, "dbt does not read an ignored file"
    os.utime(project_dir / ".dbtignore", None)
    assert artifact_freshness(artifact, project).newest_input == project_dir / ".dbtignore"
