"""ProgressReporter (plain vs terminal output) and the end-of-run summary table."""

from __future__ import annotations

import io
from pathlib import Path

from floe_dbt_hooks import create_plugin_manager
from floe_dbt_hooks.cli.progress import ProgressReporter, summary_table
from floe_dbt_hooks.models import (
    DBTRunResult,
    Declined,
    FallbackEvent,
    NodeInfo,
    NodeResult,
    NodeStatus,
    RunRequest,
    RuntimeEvent,
)

ESC = "\x1b"


def _node(name: str, index: int, total: int = 3, **extra: object) -> NodeInfo:
    return NodeInfo(
        unique_id=f"model.shop.{name}", resource_type="model", name=name, index=index, total=total,
        **extra,  # type: ignore[arg-type]
    )


def _start(node: NodeInfo) -> RuntimeEvent:
    return RuntimeEvent(invocation_id="i", runtime="core", kind="node_start", name="NodeStart",
                        node=node)


def _finish(node: NodeInfo) -> RuntimeEvent:
    return RuntimeEvent(invocation_id="i", runtime="core", kind="node_finish",
                        name="NodeFinished", node=node)


def _log(level: str, message: str) -> RuntimeEvent:
    return RuntimeEvent(invocation_id="i", runtime="core", kind="log", name="Note", level=level,
                        message=message)


def _play(reporter: ProgressReporter) -> None:
    a = _node("orders", 1)
    b = _node("customers", 2)
    c = _node("payments", 3)
    reporter.dbt_event(_start(a))
    reporter.dbt_event(_finish(_node("orders", 1, status="success", execution_time=0.25,
                                     rows_affected=10)))
    reporter.dbt_event(_start(b))
    reporter.dbt_event(_finish(_node("customers", 2, status="error", execution_time=1.0)))
    reporter.dbt_event(_start(c))
    reporter.dbt_event(_log("warn", "deprecated config"))
    reporter.dbt_event(_log("info", "chatter that is not shown"))
    reporter.dbt_event(_finish(_node("payments", 3, status="fail", execution_time=0.5)))
    reporter.finish()


def test_plain_output_has_start_ok_fail_lines_and_no_escapes() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, tty=False)
    _play(reporter)
    text = stream.getvalue()
    assert ESC not in text
    assert "\r" not in text
    lines = text.splitlines()
    assert "  1/3 START model orders" in lines
    assert "  2/3 START model customers" in lines
    assert any(line.startswith("  1/3 OK") and "model orders" in line and "[0.25s rows=10]" in line
               for line in lines)
    assert any(line.startswith("  2/3 ERROR") and "model customers" in line for line in lines)
    assert any(line.startswith("  3/3 FAIL") and "model payments" in line for line in lines)
    assert "WARN: deprecated config" in lines
    assert "chatter" not in text
    assert "[" + "#" not in text  # no progress bar in plain mode


def test_stream_that_is_not_a_terminal_defaults_to_plain() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream)
    reporter.dbt_event(_finish(_node("orders", 1, status="success", execution_time=0.1)))
    assert ESC not in stream.getvalue()
    assert "OK" in stream.getvalue()


def test_tty_output_has_progress_bar_and_colours() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, tty=True)
    _play(reporter)
    text = stream.getvalue()
    assert "[#######.............] 1/3" in text
    assert "[####################] 3/3" in text
    assert "running: orders" in text
    assert f"{ESC}[32mOK{ESC}[0m" in text
    assert f"{ESC}[31mFAIL{ESC}[0m" in text
    assert "START" not in text  # a terminal gets a live line instead of START lines
    assert text.endswith("\r\x1b[K")  # finish() clears the live line


def test_fallback_is_reported() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, tty=False)
    reporter.dbt_fallback(FallbackEvent(
        runtime="fusion", reason_code="binary-missing", error_code="FLOE-DBT-E005",
        message="no binary", request=RunRequest(project_dir="/p"), hint="install it",
    ))
    assert stream.getvalue() == (
        "FALLBACK: runtime 'fusion' declined [binary-missing]: no binary (install it)\n"
    )


def test_reporter_is_an_ordinary_plugin() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, tty=False)
    pm = create_plugin_manager(plugins=[reporter], autoload=False, disable=["floe_dbt_core"])
    assert pm.origins["floe_dbt_progress"].kind == "api"
    pm.hook.dbt_event(event=_start(_node("orders", 1)))
    assert stream.getvalue() == "  1/3 START model orders\n"


def _nr(uid: str, status: NodeStatus, **extra: object) -> NodeResult:
    kind, _, name = uid.split(".", 2)
    return NodeResult(unique_id=uid, resource_type=kind, name=name, status=status,
                      **extra)  # type: ignore[arg-type]


def _result(success: bool, nodes: tuple[NodeResult, ...], **extra: object) -> DBTRunResult:
    return DBTRunResult(
        success=success, command="build", runtime="core", invocation_id="i",
        project_dir=Path("/p"), nodes=nodes, elapsed_time=3.5, **extra,  # type: ignore[arg-type]
    )


def test_summary_table_counts_per_resource_type_and_lists_failures() -> None:
    nodes = (
        _nr("model.shop.orders", "success"),
        _nr("model.shop.customers", "error", message="Database Error: boom\n",
            file_path="models/customers.sql", line=4),
        _nr("model.shop.skipped_one", "skipped"),
        _nr("test.shop.not_null", "fail", message="Got 3 results", file_path="models/schema.yml"),
        _nr("test.shop.unique", "success"),
        _nr("seed.shop.raw", "warn", message="careful"),
    )
    table = summary_table(_result(False, nodes, target_path=Path("/p/target/floe/i")))
    lines = table.splitlines()
    header = lines[0].split()
    assert header == ["resource", "OK", "WARN", "FAIL", "ERROR", "SKIP", "total"]
    assert set(lines[1]) <= {"-", " "}
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:6]}
    assert rows["model"] == ["1", "0", "0", "1", "1", "3"]
    assert rows["seed"] == ["0", "1", "0", "0", "0", "1"]
    assert rows["test"] == ["1", "0", "1", "0", "0", "2"]
    assert rows["total"] == ["2", "1", "1", "1", "1", "6"]
    assert "ERROR model.shop.customers (models/customers.sql:4): Database Error: boom" in lines
    assert "FAIL test.shop.not_null (models/schema.yml): Got 3 results" in lines
    assert "WARN seed.shop.raw: careful" in lines
    assert not any("model.shop.orders" in line for line in lines)
    assert "Completed with 2 failure(s): build on runtime 'core' in 3.50s" in lines
    assert lines[-1] == "artifacts: /p/target/floe/i"


def test_summary_table_success_and_declined() -> None:
    declined = Declined(runtime="fusion", reason_code="binary-missing",
                        error_code="FLOE-DBT-E005", message="no binary")
    table = summary_table(_result(True, (_nr("model.shop.a", "success"),), declined=(declined,)),
                          elapsed=1.0)
    assert "runtime 'fusion' declined [binary-missing]: no binary" in table
    assert table.splitlines()[-1] == "Completed successfully: build on runtime 'core' in 1.00s"


def test_summary_table_failure_without_failed_nodes() -> None:
    table = summary_table(_result(False, ()))
    assert "Failed: build on runtime 'core' in 3.50s" in table
    assert "total" in table.splitlines()[2]
