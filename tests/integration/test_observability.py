"""Spans, log events and secret redaction, with the real OpenTelemetry SDK (in-memory exporter),
the real dbt-core and the real Fusion binary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from floe_dbt_hooks import (
    CompileRequest,
    LintRequest,
    RunRequest,
    create_plugin_manager,
    hookimpl,
)
from floe_dbt_hooks.models import to_dict
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
from tests.conftest import RunCLI

pytestmark = pytest.mark.integration

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _sdk() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [s for s in spans if s.name == name]
    assert len(matching) == 1, [s.name for s in spans]
    return matching[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan, name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and s.parent is not None
            and s.parent.span_id == parent.context.span_id]


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_compile_span_tree(project: Path, spans: InMemorySpanExporter, runtime: str) -> None:
    pm = create_plugin_manager(project, runtime=runtime, fallback=False)

    class AsksWhatIsInstalled:
        """A plugin that calls another hook from inside ``dbt_compile``."""

        @hookimpl(wrapper=True)
        def dbt_compile(self, request: CompileRequest) -> Iterator[None]:
            pm.hook.dbt_runtime_info()
            return (yield)

    pm.register(AsksWhatIsInstalled(), name="asks_what_is_installed")
    result = pm.hook.dbt_compile(request=CompileRequest(project_dir=project))
    finished = list(spans.get_finished_spans())
    root = _one(finished, "dbt_compile")
    attributes = dict(root.attributes or {})
    assert attributes["floe.dbt.runtime"] == runtime
    assert attributes["floe.dbt.command"] == "compile"
    assert attributes["floe.dbt.project"] == "contract"
    assert attributes["floe.dbt.target"] == "dev"
    assert attributes["floe.dbt.adapter_type"] == "duckdb"
    assert attributes["floe.dbt.invocation_id"] == result.invocation_id
    assert str(attributes["floe.dbt.engine_version"])[0] in "12"
    assert root.status.status_code != StatusCode.ERROR
    assert _children(finished, root, "dbt_runtime_info"), "nested hook calls are child spans"


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_build_with_failing_test_span_tree(project: Path, spans: InMemorySpanExporter,
                                           runtime: str) -> None:
    (project / "tests" / "no_minors.sql").write_text(
        "select * from {{ ref('base_people') }} where age < 18\n"
    )
    pm = create_plugin_manager(project, runtime=runtime, fallback=False)
    result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="build"))
    assert not result.success
    finished = list(spans.get_finished_spans())
    root = _one(finished, "dbt_run")
    assert root.status.status_code == StatusCode.ERROR
    attributes = dict(root.attributes or {})
    assert attributes["floe.dbt.nodes.fail"] == 1
    assert {k.rsplit(".", 1)[1]: v for k, v in attributes.items()
            if k.startswith("floe.dbt.nodes.")} == result.node_counts
    nodes = _children(finished, root, "dbt.node")
    assert {s.attributes["floe.dbt.node.unique_id"] for s in nodes} == {  # type: ignore[index]
        n.unique_id for n in result.nodes
    }
    failing = next(s for s in nodes if s.attributes["floe.dbt.node.name"] == "no_minors")  # type: ignore[index]
    assert failing.attributes["floe.dbt.node.status"] == "fail"  # type: ignore[index]
    assert failing.status.status_code == StatusCode.ERROR
    seed = next(s for s in nodes if s.attributes["floe.dbt.node.resource_type"] == "seed")  # type: ignore[index]
    assert seed.attributes["floe.dbt.node.rows_affected"] == 3  # type: ignore[index]
    assert seed.start_time is not None
    assert seed.end_time is not None
    assert seed.start_time <= seed.end_time
    assert all(s.context.trace_id == root.context.trace_id for s in nodes)


def test_fallback_is_recorded_on_the_span(project: Path, spans: InMemorySpanExporter) -> None:
    (project / "dbt_project.yml").write_text(
        "name: contract\nprofile: contract\nconfig-version: 2\nmodels:\n  contract:\n    materialized: view\n"
    )
    pm = create_plugin_manager(project, runtime="fusion")
    result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    assert result.runtime == "core"
    finished = list(spans.get_finished_spans())
    root = _one(finished, "dbt_run")
    assert dict(root.attributes or {})["floe.dbt.fallback.reason_code"] == ("parse-rejected",)
    assert [e.name for e in root.events] == ["fallback"]
    assert dict(root.events[0].attributes or {})["reason_code"] == "parse-rejected"
    fallback = _children(finished, root, "dbt_fallback")
    assert len(fallback) == 1
    assert dict(fallback[0].attributes or {})["floe.dbt.fallback.error_code"] == "FLOE-DBT-E001"


def test_strict_fallback_error_is_recorded_with_its_code(project: Path,
                                                         spans: InMemorySpanExporter) -> None:
    os.environ["FLOE_DBT_FUSION_BIN"], saved = str(project / "nowhere"), os.environ.get(
        "FLOE_DBT_FUSION_BIN", "")
    try:
        pm = create_plugin_manager(project, runtime="fusion", fallback=False)
        with pytest.raises(Exception, match=r"no dbt Fusion binary found"):
            pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    finally:
        os.environ["FLOE_DBT_FUSION_BIN"] = saved
    root = _one(list(spans.get_finished_spans()), "dbt_run")
    assert root.status.status_code == StatusCode.ERROR
    assert dict(root.attributes or {})["floe.dbt.error_code"] == "FLOE-DBT-E005"


def test_lint_span(project: Path, spans: InMemorySpanExporter) -> None:
    (project / "models" / "bad.sql").write_text("select id from {{ ref('people') }} where id = null\n")
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    result = pm.hook.dbt_lint(request=LintRequest(project_dir=project))
    root = _one(list(spans.get_finished_spans()), "dbt_lint")
    attributes = dict(root.attributes or {})
    assert attributes["floe.dbt.runtime"] == "fusion"
    assert attributes["floe.dbt.lint.violations"] == len(result.violations) > 0


def test_fusion_spans_join_our_trace(project: Path, spans: InMemorySpanExporter) -> None:
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    root = _one(list(spans.get_finished_spans()), "dbt_run")
    otel_file = result.target_path / "otel.jsonl"
    records = [json.loads(line) for line in otel_file.read_text().splitlines()]
    fusion_spans = [r for r in records if r.get("record_type") == "SpanStart"]
    assert fusion_spans
    our_trace = format(root.context.trace_id, "032x")
    assert {r["trace_id"] for r in fusion_spans} == {our_trace}
    ids = {r["span_id"] for r in fusion_spans}
    roots = [r for r in fusion_spans if r.get("parent_span_id") not in ids]
    assert roots
    assert {r["parent_span_id"] for r in roots} == {format(root.context.span_id, "016x")}
    assert any(r.get("event_type", "").endswith("NodeEvaluated") for r in records)
    assert result.metadata["engine_invocation_id"].replace("-", "") == our_trace


def test_log_events_carry_context_and_trace_ids(project: Path, spans: InMemorySpanExporter,
                                                caplog: pytest.LogCaptureFixture) -> None:
    pm = create_plugin_manager(project)
    tracer = trace.get_tracer("test")
    with caplog.at_level(logging.INFO, logger="floe_dbt_hooks"), tracer.start_as_current_span("app"):
        result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    nodes = [r for r in caplog.records if r.getMessage() == "node_finished"]
    assert len(nodes) == 1
    record = vars(nodes[0])
    assert record["invocation_id"] == result.invocation_id
    assert record["runtime"] == "core"
    assert record["node"] == "seed.contract.people"
    finished = [r for r in caplog.records if r.getMessage() == "invocation_finished"]
    assert vars(finished[0])["trace_id"] == format(
        _one(list(spans.get_finished_spans()), "app").context.trace_id, "032x"
    )


def test_no_sdk_means_no_opentelemetry_import(project: Path) -> None:
    """dbt-core itself imports opentelemetry.context; the tracing API is never imported by us."""
    code = (
        "import sys\n"
        "from floe_dbt_hooks import RunRequest, create_plugin_manager\n"
        f"pm = create_plugin_manager({str(project)!r})\n"
        f"r = pm.hook.dbt_run(request=RunRequest(project_dir={str(project)!r}, command='seed'))\n"
        "assert r.success\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.trace')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=300, check=True)
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_secret_from_env_var_never_appears_anywhere(runtime: str, project: Path,
                                                    spans: InMemorySpanExporter,
                                                    caplog: pytest.LogCaptureFixture,
                                                    floe_dbt: RunCLI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever runtime builds it, a secret that a failing node's error message carries is
    redacted in the result, the logs, the spans and every CLI output."""
    secret = "pw-Zq81-never-print-me"
    monkeypatch.setenv("FLOE_TEST_DB_PASSWORD", secret)
    (project / "profiles.yml").write_text(DUCKDB_PROFILES.replace(
        "      threads: 2\n", "      threads: 2\n      password: \"{{ env_var('FLOE_TEST_DB_PASSWORD') }}\"\n"
    ))
    (project / "models" / "leaky.sql").write_text(
        f"select '{secret}' as x, missing_column from {{{{ ref('people') }}}}\n"
    )
    pm = create_plugin_manager(project)
    with caplog.at_level(logging.DEBUG, logger="floe_dbt_hooks"):
        result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="build",
                                                    runtime=runtime, fallback=False))
    assert not result.success
    assert result.runtime == runtime
    assert result.run_results_path is not None
    assert secret in result.run_results_path.read_text(), "the engine's own artifact carries it"
    channels = {
        "result json": json.dumps(to_dict(result)),
        "log records": "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records),
        "span attributes and events": "\n".join(
            f"{dict(s.attributes or {})} {[dict(e.attributes or {}) for e in s.events]} "
            f"{s.status.description}" for s in spans.get_finished_spans()
        ),
    }
    cli_json = floe_dbt("build", "--project-dir", str(project), "--output", "json",
                        "--log-format", "json", "--log-level", "debug", "--runtime", runtime)
    cli_text = floe_dbt("build", "--project-dir", str(project), "--runtime", runtime)
    error = floe_dbt("build", "--project-dir", str(project), "--target", "missing", "--output", "json",
                     "--runtime", runtime)
    channels.update({
        "cli json stdout": cli_json.stdout, "cli json stderr": cli_json.stderr,
        "cli text stdout": cli_text.stdout, "cli text stderr": cli_text.stderr,
        "error output": error.stdout + error.stderr,
    })
    assert "missing_column" in channels["result json"], "the failing node's message is there"
    assert "*****" in channels["span attributes and events"]
    for name, text in channels.items():
        assert secret not in text, f"secret leaked through {name}"
