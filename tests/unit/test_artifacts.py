"""Reading dbt artifacts: the per-version cache, clear errors, and run_results -> NodeResults."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from floe_dbt_hooks.artifacts import artifact_file, load_artifact
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.runtime.results import normalise_status, resource_type_of, run_results_nodes

MANIFEST: dict[str, Any] = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
    "nodes": {
        "model.shop.orders": {
            "resource_type": "model", "name": "orders",
            "original_file_path": "models/marts/orders.sql",
            "relation_name": '"shop"."main"."orders"',
        },
        "test.shop.not_null_orders_id.abc": {
            "resource_type": "test", "name": "not_null_orders_id",
            "original_file_path": "models/marts/schema.yml",
        },
    },
    "unit_tests": {
        "unit_test.shop.orders.test_totals": {
            "resource_type": "unit_test", "name": "test_totals",
            "original_file_path": "models/marts/unit.yml",
        },
    },
}


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _result(unique_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"unique_id": unique_id, "status": status, "execution_time": 0.5, "timing": [], **extra}


# --- load_artifact ------------------------------------------------------------------------------


def test_load_valid_artifact(tmp_path: Path) -> None:
    path = _write(tmp_path / "manifest.json", MANIFEST)
    data = load_artifact(path)
    assert data == MANIFEST
    assert load_artifact(str(path)) == MANIFEST  # str paths accepted


def test_cache_returns_same_object_while_unchanged(tmp_path: Path) -> None:
    path = _write(tmp_path / "run_results.json", {"metadata": {}, "results": []})
    first = load_artifact(path)
    second = load_artifact(path)
    assert first is second


def test_cache_returns_new_object_after_rewrite(tmp_path: Path) -> None:
    path = _write(tmp_path / "run_results.json", {"metadata": {}, "results": []})
    first = load_artifact(path)
    _write(path, {"metadata": {"invocation_id": "second"}, "results": [{"unique_id": "x"}]})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_artifact(path)
    assert second is not first
    assert second["metadata"] == {"invocation_id": "second"}
    assert load_artifact(path) is second


def test_cache_keeps_files_apart(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", {"metadata": {"n": "a"}})
    b = _write(tmp_path / "b.json", {"metadata": {"n": "b"}})
    assert load_artifact(a)["metadata"]["n"] == "a"
    assert load_artifact(b)["metadata"]["n"] == "b"
    assert load_artifact(a)["metadata"]["n"] == "a"


def test_truncated_json_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    full = json.dumps(MANIFEST, indent=2)
    path.write_text(full[: len(full) // 2], encoding="utf-8")
    with pytest.raises(DBTConfigurationError) as info:
        load_artifact(path)
    error = info.value
    assert not isinstance(error, json.JSONDecodeError)
    assert error.__cause__ is None  # the JSONDecodeError is not chained into tracebacks
    assert error.file_path == str(path)
    assert "manifest.json is corrupt or truncated" in error.message
    assert isinstance(error.line, int)
    assert error.hint is not None
    assert "re-run" in error.hint


def test_non_utf8_artifact_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DBTConfigurationError, match="corrupt or truncated") as info:
        load_artifact(path)
    assert info.value.file_path == str(path)


@pytest.mark.parametrize("data", [{"nodes": {}}, [1, 2, 3], "metadata", None])
def test_non_artifact_json_is_an_error(tmp_path: Path, data: Any) -> None:
    path = _write(tmp_path / "thing.json", data)
    with pytest.raises(DBTConfigurationError, match="is not a dbt artifact") as info:
        load_artifact(path)
    assert info.value.file_path == str(path)
    assert info.value.hint is not None


def test_missing_artifact_has_hint(tmp_path: Path) -> None:
    path = tmp_path / "target" / "catalog.json"
    with pytest.raises(DBTConfigurationError, match="artifact not found") as info:
        load_artifact(path)
    assert info.value.file_path == str(path)
    assert info.value.hint is not None
    assert "docs generate" in info.value.hint


def test_deleted_artifact_is_not_served_from_cache(tmp_path: Path) -> None:
    path = _write(tmp_path / "manifest.json", MANIFEST)
    load_artifact(path)
    path.unlink()
    with pytest.raises(DBTConfigurationError, match="artifact not found"):
        load_artifact(path)


@pytest.mark.parametrize(
    ("kind", "name"),
    [("manifest", "manifest.json"), ("run_results", "run_results.json"), ("catalog", "catalog.json")],
)
def test_artifact_file(tmp_path: Path, kind: str, name: str) -> None:
    assert artifact_file(tmp_path, kind) == tmp_path / name


def test_artifact_file_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(DBTConfigurationError, match="unknown artifact kind 'sources'") as info:
        artifact_file(tmp_path, "sources")
    assert info.value.hint is not None
    assert "manifest" in info.value.hint


# --- statuses and node results ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("success", "success"), ("pass", "success"), ("PASS", "success"), ("no-op", "success"),
        ("reused", "success"), ("error", "error"), ("runtime error", "error"), ("fail", "fail"),
        ("warn", "warn"), ("skipped", "skipped"), ("skip", "skipped"), (" Skipped ", "skipped"),
        (None, "error"), ("", "error"), ("something new", "error"),
    ],
)
def test_normalise_status(raw: str | None, expected: str) -> None:
    assert normalise_status(raw) == expected


def test_resource_type_of() -> None:
    assert resource_type_of("model.shop.orders") == "model"
    assert resource_type_of("unit_test.shop.orders.t") == "unit_test"


def test_node_results_map_statuses_and_enrich_from_manifest() -> None:
    run_results = {
        "metadata": {},
        "results": [
            _result(
                "model.shop.orders", "success", message="OK", adapter_response={"rows_affected": 7},
                timing=[
                    {"name": "compile", "started_at": "2025-01-02T03:04:05.000001Z",
                     "completed_at": "2025-01-02T03:04:06Z"},
                    {"name": "execute", "started_at": None, "completed_at": None},
                ],
            ),
            _result("test.shop.not_null_orders_id.abc", "fail", failures=3,
                    message="Got 3 results, configured to fail if != 0"),
            _result("test.shop.unique_orders_id.def", "pass", failures=0),
            _result("model.shop.broken", "error", message="Database Error in model broken"),
            _result("seed.shop.raw_orders", "skipped"),
            _result("unit_test.shop.orders.test_totals", "warn", message="close enough"),
        ],
    }
    nodes = {n.unique_id: n for n in run_results_nodes(run_results, MANIFEST)}
    assert [n.status for n in nodes.values()] == ["success", "fail", "success", "error", "skipped",
                                                   "warn"]

    orders = nodes["model.shop.orders"]
    assert orders.resource_type == "model"
    assert orders.name == "orders"
    assert orders.file_path == "models/marts/orders.sql"
    assert orders.relation_name == '"shop"."main"."orders"'
    assert orders.rows_affected == 7
    assert orders.execution_time == 0.5
    assert orders.error_message is None
    assert orders.timing[0].name == "compile"
    assert orders.timing[0].started_at == datetime(2025, 1, 2, 3, 4, 5, 1, tzinfo=timezone.utc)
    assert orders.timing[0].completed_at == datetime(2025, 1, 2, 3, 4, 6, tzinfo=timezone.utc)
    assert orders.timing[1].started_at is None

    failed_test = nodes["test.shop.not_null_orders_id.abc"]
    assert failed_test.resource_type == "test"
    assert failed_test.file_path == "models/marts/schema.yml"
    assert failed_test.failures == 3
    assert failed_test.error_message == "Got 3 results, configured to fail if != 0"

    # not in the manifest: type and name come from the unique_id, no file path
    broken = nodes["model.shop.broken"]
    assert (broken.resource_type, broken.name, broken.file_path) == ("model", "broken", None)
    assert broken.error_message == "Database Error in model broken"

    unit = nodes["unit_test.shop.orders.test_totals"]
    assert unit.file_path == "models/marts/unit.yml"
    assert unit.name == "test_totals"
    assert unit.error_message is None  # warnings are not errors
    assert nodes["seed.shop.raw_orders"].status == "skipped"


def test_node_results_without_manifest() -> None:
    run_results = {"results": [_result("snapshot.shop.orders_snap", "success")]}
    [node] = run_results_nodes(run_results)
    assert node.resource_type == "snapshot"
    assert node.name == "orders_snap"
    assert node.file_path is None
    assert node.rows_affected is None


def test_node_results_of_empty_run_results() -> None:
    assert run_results_nodes({"metadata": {}}) == ()
    assert run_results_nodes({"results": []}, MANIFEST) == ()
