"""Models: frozen attrs classes and the one cattrs converter (to_dict / from_dict)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import cattrs
import pytest

from floe_dbt_hooks.models import (
    ArtifactRequest,
    CompileRequest,
    CompileResult,
    DBTRunResult,
    Declined,
    FallbackEvent,
    InvocationRequest,
    LintRequest,
    LintResult,
    LintViolation,
    NodeInfo,
    NodeResult,
    NodeTiming,
    ParentRun,
    RunRequest,
    RuntimeEvent,
    RuntimeInfo,
    from_dict,
    to_dict,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
T1 = T0 + timedelta(seconds=2)


def _declined() -> Declined:
    return Declined(
        runtime="fusion",
        reason_code="binary-missing",
        error_code="FLOE-DBT-E005",
        message="no dbt binary on PATH",
        hint="install dbt Fusion",
        engine_codes=("dbt1000",),
    )


def _nodes() -> tuple[NodeResult, ...]:
    timing = (
        NodeTiming(name="compile", started_at=T0, completed_at=T1),
        NodeTiming(name="execute"),
    )
    return (
        NodeResult(
            unique_id="model.shop.orders", resource_type="model", name="orders", status="success",
            execution_time=1.5, rows_affected=10, file_path="models/orders.sql",
            relation_name='"db"."main"."orders"', timing=timing,
        ),
        NodeResult(
            unique_id="model.shop.customers", resource_type="model", name="customers",
            status="error", message="boom", error_message="boom", file_path="models/c.sql", line=3,
        ),
        NodeResult(
            unique_id="model.shop.skipped", resource_type="model", name="skipped", status="skipped",
        ),
        NodeResult(
            unique_id="test.shop.not_null", resource_type="test", name="not_null", status="fail",
            failures=2,
        ),
        NodeResult(
            unique_id="unit_test.shop.orders.ut", resource_type="unit_test", name="ut",
            status="success",
        ),
        NodeResult(unique_id="seed.shop.raw", resource_type="seed", name="raw", status="warn"),
    )


def _run_result() -> DBTRunResult:
    return DBTRunResult(
        success=False,
        command="build",
        runtime="core",
        invocation_id="inv-1",
        project_dir=Path("/proj"),
        target="dev",
        target_path=Path("/proj/target/floe/inv-1"),
        manifest_path=Path("/proj/target/floe/inv-1/manifest.json"),
        run_results_path=Path("/proj/target/floe/inv-1/run_results.json"),
        catalog_path=None,
        elapsed_time=4.25,
        nodes=_nodes(),
        declined=(_declined(),),
        metadata={"adapter_type": "duckdb", "warnings": ["w1"]},
    )


MODELS = [
    pytest.param(
        InvocationRequest(
            project_dir="/proj", profiles_dir="/profiles", target="dev", select="a b",
            exclude=["c"], selector="nightly", vars={"k": 1, "nested": {"x": [1, 2]}}, threads=4,
            runtime="fusion", fallback=False, isolate=False, target_path="out", timeout=30.0,
            reuse_manifest=False,
        ),
        id="InvocationRequest",
    ),
    pytest.param(CompileRequest(project_dir="/proj", select=["x"]), id="CompileRequest"),
    pytest.param(
        RunRequest(project_dir="/proj", command="build", full_refresh=True, vars={"a": "b"}),
        id="RunRequest",
    ),
    pytest.param(LintRequest(project_dir="/proj", fix=True), id="LintRequest"),
    pytest.param(ParentRun(namespace="airflow", job_name="dag.task", run_id="r1",
                           root_job_name="dag", root_run_id="r0"), id="ParentRun"),
    pytest.param(RunRequest(project_dir="/proj", parent_run=ParentRun(
        namespace="airflow", job_name="dag.task", run_id="r1")), id="RunRequest-parent"),
    pytest.param(
        ArtifactRequest(kind="run_results", project_dir="/proj", target_path="/t", runtime="core"),
        id="ArtifactRequest",
    ),
    pytest.param(NodeTiming(name="execute", started_at=T0, completed_at=T1), id="NodeTiming"),
    pytest.param(_nodes()[0], id="NodeResult"),
    pytest.param(_declined(), id="Declined"),
    pytest.param(
        LintViolation(file_path="models/a.sql", line=3, column=7, code="LT01", message="ws"),
        id="LintViolation",
    ),
    pytest.param(
        NodeInfo(unique_id="model.p.a", resource_type="model", name="a", index=2, total=5),
        id="NodeInfo",
    ),
    pytest.param(
        CompileResult(
            success=True, command="compile", runtime="core", invocation_id="c1",
            project_dir=Path("/proj"), manifest_path=Path("/proj/target/manifest.json"),
            nodes=_nodes()[:1], metadata={"dbt_version": "1.11"},
        ),
        id="CompileResult",
    ),
    pytest.param(_run_result(), id="DBTRunResult"),
    pytest.param(
        LintResult(
            passed=False, runtime="fusion", invocation_id="l1",
            violations=(
                LintViolation(file_path="models/a.sql", line=3, column=7, code="LT01",
                              message="trailing whitespace", severity="error", fixable=True,
                              engine_code="dbt0101"),
                LintViolation(file_path="models/b.sql", line=1, column=1, code="CP01",
                              message="keywords upper"),
            ),
            files_checked=2, fixed_count=1, fixed_files=("models/a.sql",),
            skipped_files=("models/c.sql",), declined=(_declined(),), elapsed_time=0.5,
        ),
        id="LintResult",
    ),
    pytest.param(
        FallbackEvent(
            runtime="fusion", reason_code="binary-missing", error_code="FLOE-DBT-E005",
            message="no binary", request=InvocationRequest(project_dir="/proj", select="a"),
            hint="install it", engine_codes=("x1",),
        ),
        id="FallbackEvent",
    ),
    pytest.param(
        RuntimeEvent(
            invocation_id="inv-1", runtime="core", kind="node_finish", name="NodeFinished",
            level="info", code="Q025", message="OK", timestamp=T1,
            node=NodeInfo(
                unique_id="model.shop.orders", resource_type="model", name="orders", index=1,
                total=3, status="success", execution_time=0.2, rows_affected=5, message="OK",
                file_path="models/orders.sql", relation_name="main.orders",
            ),
        ),
        id="RuntimeEvent",
    ),
    pytest.param(
        RuntimeInfo(
            name="core", plugin="floe_dbt_core", version="1.11.0", available=True,
            supports_parallel_execution=True, adapters=("duckdb", "postgres"),
            details={"execution": "in-process"},
        ),
        id="RuntimeInfo",
    ),
    pytest.param(
        RuntimeInfo(name="fusion", plugin="p", version=None, available=False, reason="missing"),
        id="RuntimeInfo-unavailable",
    ),
]


@pytest.mark.parametrize("model", MODELS)
def test_round_trip_through_json(model: object) -> None:
    data = to_dict(model)
    # JSON-ready: survives a real JSON encode/decode without a default= hook
    decoded = json.loads(json.dumps(data))
    back = from_dict(decoded, type(model))
    assert back == model
    assert type(back) is type(model)


def test_every_model_class_is_covered_by_round_trip() -> None:
    import floe_dbt_hooks.models as models

    classes = {
        obj for obj in vars(models).values()
        if isinstance(obj, type) and attrs.has(obj) and obj.__module__ == models.__name__
    }
    covered = {type(p.values[0]) for p in MODELS}
    # InvocationResult is the abstract base of CompileResult/DBTRunResult
    assert classes - covered <= {models.InvocationResult}


def test_paths_and_datetimes_are_unstructured_as_strings() -> None:
    data = to_dict(_run_result())
    assert data["project_dir"] == "/proj"
    assert data["target_path"] == "/proj/target/floe/inv-1"
    assert data["catalog_path"] is None
    timing = data["nodes"][0]["timing"][0]
    assert timing == {
        "name": "compile",
        "started_at": T0.isoformat(),
        "completed_at": T1.isoformat(),
    }
    assert data["declined"][0]["engine_codes"] == ["dbt1000"]


def test_computed_fields_appear_in_result_dict() -> None:
    result = _run_result()
    data = to_dict(result)
    assert data["models_run"] == 2  # orders + customers; the skipped model does not count
    assert data["tests_run"] == 2  # data test + unit test
    assert data["failures"] == 2  # one error, one fail
    assert data["node_counts"] == {"success": 2, "error": 1, "skipped": 1, "fail": 1, "warn": 1}
    assert data["execution_time_seconds"] == 4.25
    assert result.models_run == 2
    assert result.execution_time_seconds == result.elapsed_time


def test_computed_fields_in_compile_result_and_empty_result() -> None:
    result = CompileResult(
        success=True, command="compile", runtime="core", invocation_id="x", project_dir=Path("/p")
    )
    data = to_dict(result)
    assert {k: data[k] for k in ("models_run", "tests_run", "failures", "node_counts")} == {
        "models_run": 0, "tests_run": 0, "failures": 0, "node_counts": {},
    }


def test_computed_fields_are_not_part_of_lint_result() -> None:
    data = to_dict(LintResult(passed=True, runtime="fusion", invocation_id="x"))
    assert "models_run" not in data
    assert data["passed"] is True


def test_from_dict_ignores_computed_keys() -> None:
    data = to_dict(_run_result())
    data["failures"] = 999  # computed keys are output-only
    back = from_dict(data, DBTRunResult)
    assert back.failures == 2


def test_run_request_rejects_unknown_command() -> None:
    with pytest.raises(ValueError, match=r"command must be one of .*'deploy'"):
        RunRequest(project_dir="/p", command="deploy")  # type: ignore[arg-type]


def test_run_request_rejects_unknown_command_from_dict_and_evolve() -> None:
    data = to_dict(RunRequest(project_dir="/p", command="test"))
    data["command"] = "deploy"
    with pytest.raises(cattrs.BaseValidationError) as info:
        from_dict(data, RunRequest)
    assert any("deploy" in str(exc) for exc in info.value.exceptions)
    with pytest.raises(ValueError, match="deploy"):
        attrs.evolve(RunRequest(project_dir="/p"), command="deploy")


@pytest.mark.parametrize("command", ["run", "test", "build", "seed", "snapshot", "docs"])
def test_run_request_accepts_every_run_command(command: str) -> None:
    assert RunRequest(project_dir="/p", command=command).command == command  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a b", ("a", "b")),
        ("  tag:nightly   model_x ", ("tag:nightly", "model_x")),
        (["a", "b c"], ("a", "b c")),
        (("x",), ("x",)),
        (None, ()),
        ("", ()),
    ],
)
def test_select_and_exclude_accept_str_or_list(value: object, expected: tuple[str, ...]) -> None:
    request = RunRequest(project_dir="/p", select=value, exclude=value)  # type: ignore[arg-type]
    assert request.select == expected
    assert request.exclude == expected


def test_paths_are_converted() -> None:
    request = InvocationRequest(project_dir="rel/proj", profiles_dir="~/.dbt", target_path="t")
    assert request.project_dir == Path("rel/proj")
    assert request.profiles_dir == Path("~/.dbt")
    assert request.target_path == Path("t")
    assert InvocationRequest(project_dir="p").profiles_dir is None


def test_each_request_gets_a_fresh_invocation_id() -> None:
    a = RunRequest(project_dir="/p")
    b = RunRequest(project_dir="/p")
    assert a.invocation_id != b.invocation_id
    assert len(a.invocation_id) == 36


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (RunRequest(project_dir="/p"), "command", "test"),
        (RunRequest(project_dir="/p"), "select", ("x",)),
        (_run_result(), "success", True),
        (_nodes()[0], "status", "error"),
        (RuntimeInfo(name="a", plugin="b", version=None, available=True), "available", False),
        (_declined(), "message", "changed"),
    ],
)
def test_models_are_frozen(model: object, field: str, value: object) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(model, field, value)
    assert getattr(model, field) != value


def test_fallback_event_as_declined() -> None:
    event = FallbackEvent(
        runtime="fusion", reason_code="adapter-unsupported", error_code="FLOE-DBT-E006",
        message="no adapter", request=RunRequest(project_dir="/p"), hint="h", engine_codes=("e",),
    )
    assert event.as_declined() == Declined(
        runtime="fusion", reason_code="adapter-unsupported", error_code="FLOE-DBT-E006",
        message="no adapter", hint="h", engine_codes=("e",),
    )


def test_fallback_event_keeps_the_concrete_request_in_to_dict() -> None:
    """Runtimes send FallbackEvents carrying the RunRequest/LintRequest they declined; an observer
    that serialises the event must not lose the command (or get a different class back)."""
    event = FallbackEvent(
        runtime="fusion", reason_code="binary-missing", error_code="FLOE-DBT-E005",
        message="no binary", request=RunRequest(project_dir="/p", command="build", full_refresh=True),
    )
    data = to_dict(event)
    assert data["request"].get("command") == "build"
    assert data["request"].get("full_refresh") is True
    assert from_dict(data, FallbackEvent) == event
