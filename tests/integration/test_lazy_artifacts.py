"""Lazily decoded artifacts written by the real engines (dbt-core and Fusion building the example
project into DuckDB) read exactly like the eagerly decoded ones, through every Mapping operation
and through floe's own consumers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.artifacts import LAZY_MIN_BYTES, is_lazy, load_artifact
from floe_dbt_hooks.runtime.results import run_results_nodes
from tests.conftest import RunCLI, copy_example
from tests.unit.test_lazy_artifact import assert_same_as_eager, load, manifest

pytestmark = pytest.mark.integration

RUNTIMES = ("core", "fusion")


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """runtime -> artifact file name -> where a build and a ``docs generate`` of
    examples/jaffle_shop wrote it."""
    assert Path(os.environ.get("FLOE_DBT_FUSION_BIN", "")).is_file(), (
        "FLOE_DBT_FUSION_BIN must point at the real Fusion binary; scripts/bootstrap.py test sets it")
    found: dict[str, dict[str, Path]] = {}
    for runtime in RUNTIMES:
        project = copy_example(tmp_path_factory.mktemp(runtime) / "jaffle_shop")
        facade = DBTFacade(runtime=runtime, fallback=False)
        result = facade.build(project)
        assert result.success, [(n.unique_id, n.message) for n in result.nodes]
        assert result.runtime == runtime
        docs = facade.invoke("docs", project)
        assert result.manifest_path is not None
        assert result.run_results_path is not None
        assert docs.catalog_path is not None
        found[runtime] = {"manifest.json": result.manifest_path,
                          "run_results.json": result.run_results_path,
                          "catalog.json": docs.catalog_path}
    return found


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", ["manifest.json", "catalog.json"])
def test_real_artifact_reads_like_eager(targets: dict[str, dict[str, Path]], runtime: str, name: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = targets[runtime][name]
    eager = load(path, lazy=False, monkeypatch=monkeypatch)
    lazy = load(path, lazy=True, monkeypatch=monkeypatch)
    assert len(eager["nodes"]) >= 8, sorted(eager["nodes"])
    assert_same_as_eager(lazy, eager)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_real_run_results_join_a_lazy_manifest(targets: dict[str, dict[str, Path]], runtime: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run_results = load(targets[runtime]["run_results.json"], lazy=True, monkeypatch=monkeypatch)
    assert not is_lazy(run_results)  # a list of results: decoded whole
    manifest = targets[runtime]["manifest.json"]
    lazy = run_results_nodes(run_results, load(manifest, lazy=True, monkeypatch=monkeypatch))
    eager = run_results_nodes(run_results, load(manifest, lazy=False, monkeypatch=monkeypatch))
    assert lazy == eager
    assert len(lazy) == 33
    assert {n.resource_type for n in lazy} >= {"model", "seed", "test"}


def test_artifacts_command_checks_every_node_of_a_lazy_manifest(
        example_project: Path, floe_dbt: RunCLI) -> None:
    """``floe-dbt artifacts`` prints a file only after checking it whole, lazily decoded or not."""
    data = manifest(3)
    data["nodes"]["model.shop.m0"]["raw_code"] = "-- padding\n" * (LAZY_MIN_BYTES // 10)
    data["nodes"]["model.shop.m2"]["tags"] = "nightly"
    path = example_project / "target" / "manifest.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data), encoding="utf-8")
    assert is_lazy(load_artifact(path))  # as the CLI will see it: large, msgspec installed
    result = floe_dbt("artifacts", "manifest", "--project-dir", str(example_project))
    assert result.code == 2, result
    assert "'nodes['model.shop.m2'].tags' should be a list" in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
