"""Fusion's partial-parse state on the real binary: runs into a persistent target path start from
the state the last clean run published and still see every change a full parse sees; a parse
error is reported every time; isolated invocations parse in full."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from floe_dbt_fusion import parse_cache

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert Path(os.environ.get("FLOE_DBT_FUSION_BIN", "")).is_file(), \
        "FLOE_DBT_FUSION_BIN must point at the real Fusion binary"
    return write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


def _generations(project: Path) -> list[Path]:
    return sorted(p for p in (project / "target" / "floe" / "fusion-parse").glob("*/gen-*"))


def _query(project: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(project / "contract.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def test_runs_share_the_parse_state_and_see_every_change(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facade = DBTFacade(runtime="fusion", fallback=False, isolate=False)
    first = facade.build(project)
    assert first.success
    generations = _generations(project)
    assert len(generations) == 1, "the first full parse is published"
    assert (generations[0] / "filestamps.parquet").is_file()

    second = facade.build(project, select="adults")
    assert second.success
    assert [n.name for n in second.nodes if n.resource_type == "test"], "generic tests still run"
    assert _generations(project) == generations, "nothing changed: nothing new to publish"

    (project / "models" / "adults.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select id, name, '{{ env_var(\"MARKER\", \"none\") }}' as marker "
        "from {{ ref('base_people') }} where age >= {{ var('min_age', 18) }}\n")
    monkeypatch.setenv("MARKER", "one")
    assert facade.run_models(project, select="adults").success
    assert _query(project, "select distinct marker from adults") == [("one",)]
    assert len(_generations(project)) == 2, "an edited model is a new state"

    monkeypatch.setenv("MARKER", "two")
    assert facade.run_models(project, select="adults").success
    assert _query(project, "select distinct marker from adults") == [("two",)]

    (project / "models" / "late.sql").write_text("select 42 as answer\n")
    added = facade.run_models(project, select="late")
    assert [n.name for n in added.nodes] == ["late"]
    assert _query(project, "select answer from late") == [(42,)]
    manifest = added.manifest_path
    assert manifest is not None
    assert "model.contract.adults" in manifest.read_text(), "the manifest is the whole project"


def test_without_partial_parse_nothing_is_kept(project: Path) -> None:
    (project / "floe.yml").write_text("plugins:\n  fusion:\n    partial_parse: false\n")
    result = DBTFacade(runtime="fusion", fallback=False, isolate=False).build(project)
    assert result.success
    assert _generations(project) == []


def test_isolated_invocations_reuse_a_work_slots_parse(project: Path) -> None:
    """Fusion's state names the generic-test files under the target path it was written from,
    and an isolated folder is removed later: isolated runs write into a persistent work slot and
    get their artifacts moved into their own folder."""
    facade = DBTFacade(runtime="fusion", fallback=False)
    results = [facade.build(project), facade.build(project, select="adults")]
    for result in results:
        assert result.success
        assert result.target_path == project / "target" / "floe" / result.invocation_id
        assert [n.name for n in result.nodes if n.resource_type == "test"]
        run_results = result.target_path / "run_results.json"
        assert result.invocation_id in run_results.read_text()
        assert (result.target_path / "manifest.json").is_file()
        assert list((result.target_path / "compiled").rglob("*.sql"))
        assert not (result.target_path / "metadata").exists(), "the parse state stays in the slot"
    slots = list((project / "target" / "floe" / "fusion-slots").glob("*/0"))
    assert len(slots) == 1
    assert not (slots[0] / "run_results.json").exists(), "handed over, not copied"
    assert (slots[0] / "metadata" / "parse" / "filestamps.parquet").is_file()
    assert len(_generations(project)) == 1, "one full parse, published once"
    assert {n.name for n in results[1].nodes} == {"adults", "unique_adults_id",
                                                  "not_null_adults_id", "adults_have_names"}


def test_when_every_slot_is_busy_an_isolated_run_parses_in_its_own_folder(
        project: Path) -> None:
    (project / "floe.yml").write_text("plugins:\n  fusion:\n    partial_parse_slots: 0\n")
    result = DBTFacade(runtime="fusion", fallback=False).build(project)
    assert result.success
    assert result.target_path is not None
    assert (result.target_path / "run_results.json").is_file()
    assert _generations(project) == []


def test_a_run_in_the_project_target_is_handed_over_whole_and_merged(project: Path) -> None:
    """Fusion writes in a work slot; target/ gets each artifact by a rename, so a run killed
    before that leaves target/ as it was, and compiled SQL of other nodes stays, as dbt leaves it."""
    facade = DBTFacade(runtime="fusion", fallback=False, isolate=False)
    assert facade.build(project).success
    compiled = project / "target" / "compiled" / "contract" / "models"
    assert (compiled / "base_people.sql").is_file()
    one = facade.run_models(project, select="adults")
    assert one.success
    assert (compiled / "base_people.sql").is_file(), "other nodes' compiled SQL stays"
    assert one.invocation_id in (project / "target" / "run_results.json").read_text()
    assert not (project / "target" / "metadata").exists(), "the parse state stays in the slot"
    (slot,) = (project / "target" / "floe" / "fusion-slots").glob("*/0")
    assert not (slot / "manifest.json").exists()
    assert not (slot / "compiled").exists()


def test_with_every_slot_busy_the_project_target_holds_only_published_state(
        project: Path) -> None:
    (project / "floe.yml").write_text("plugins:\n  fusion:\n    partial_parse_slots: 0\n")
    facade = DBTFacade(runtime="fusion", fallback=False, isolate=False)
    assert facade.build(project).success
    state = project / "target" / "metadata" / "parse"
    (generation,) = _generations(project)
    (state / "filestamps.parquet").write_bytes(b"left by some other run")
    assert facade.build(project).success
    assert (state / "filestamps.parquet").read_bytes() == \
        (generation / "filestamps.parquet").read_bytes(), "replaced by the published state"


def test_a_parse_error_is_reported_on_every_run_not_only_the_first(project: Path) -> None:
    """Fusion writes its state after a parse with errors and a run from it then succeeds
    silently; floe publishes only clean runs' state and clears what a failed run left."""
    (project / "dbt_project.yml").write_text(
        "name: contract\nprofile: contract\nconfig-version: 2\nmodels:\n  contract:\n"
        "    materialized: view\n")
    for _ in range(3):
        with pytest.raises(FloeDBTError, match="dbt1013"):
            DBTFacade(runtime="fusion", fallback=False, isolate=False).invoke("seed", project)
    assert _generations(project) == []


def test_a_damaged_generation_costs_a_full_parse_not_a_failure(project: Path) -> None:
    facade = DBTFacade(runtime="fusion", fallback=False, isolate=False)
    assert facade.build(project).success
    (generation,) = _generations(project)
    for parquet in generation.rglob("*.parquet"):
        parquet.write_bytes(b"not parquet")
    again = facade.build(project)
    assert again.success, [n.message for n in again.nodes if n.status != "success"]
    assert {n.name for n in again.nodes} >= {"people", "base_people", "adults"}
    newest = _generations(project)[-1]
    assert newest != generation, "Fusion parsed in full and its state was published"
    assert (project / "target" / "floe" / "fusion-parse" / generation.parent.name /
            parse_cache.POINTER).read_text() == newest.name


@pytest.mark.parametrize("isolate", [True, False])
def test_requests_with_vars_parse_in_full(project: Path, isolate: bool) -> None:
    """From a state a run with the same --vars wrote, Fusion renders var() with its default:
    seed one node, then run another, both with the var; the second must see the var."""
    (project / "models" / "filtered.sql").write_text(
        "select * from {{ ref('base_people') }} where {{ var('people_filter', 'true') }}\n")
    facade = DBTFacade(runtime="fusion", fallback=False, isolate=isolate)
    assert facade.build(project).success
    generations = _generations(project)
    wanted = {"people_filter": "no_such_column = 1"}
    assert facade.invoke("seed", project, vars=wanted).success
    failing = facade.run_models(project, select="filtered", vars=wanted)
    assert [n.status for n in failing.nodes] == ["error"]
    assert "no_such_column" in (failing.nodes[0].message or "")
    assert _generations(project) == generations, "runs with vars publish nothing"
    assert facade.run_models(project, select="filtered").success
    assert _generations(project) == generations
