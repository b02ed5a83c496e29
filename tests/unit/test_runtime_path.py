"""The shared runtime path: one parser for every engine's events, one result builder, the plugin
manager's delivery of notifications, and runtime selection."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from dbt.events import core_types_pb2
from floe_dbt_core.events import CoreCallback

from floe_dbt_hooks import RunRequest, RuntimeEvent, create_plugin_manager, hookimpl
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.runtime.base import addressed_to
from floe_dbt_hooks.runtime.events import EventParser
from floe_dbt_hooks.runtime.results import line_of, node_location, node_results
from floe_dbt_hooks.secrets import register_secrets

SECRET = "s3cr3t-Runtime-Path"
NODE_INFO = {
    "unique_id": "model.shop.orders", "resource_type": "model", "node_name": "orders",
    "node_path": "marts/orders.sql", "node_status": "success",
    "node_relation": {"relation_name": '"db"."main"."orders"'},
}


def _json_line(name: str, code: str, data: dict[str, Any], level: str = "debug",
               msg: str = "") -> str:
    return json.dumps({"info": {"name": name, "code": code, "level": level, "msg": msg,
                                "ts": "2026-12-03T07:21:26.525855Z", "invocation_id": "engine-1"},
                       "data": data})


def _proto(kind: str, **fields: Any) -> Any:
    message = getattr(core_types_pb2, f"{kind}Msg")()
    message.info.name, message.info.code, message.info.level = kind, fields.pop("code"), "debug"
    message.info.msg = fields.pop("msg", "")
    message.info.invocation_id = "engine-1"
    message.info.ts.FromJsonString("2026-12-03T07:21:26.525855Z")
    if "node_count" in fields:
        message.data.node_count = fields.pop("node_count")
    if kind in ("NodeStart", "NodeFinished"):
        info = message.data.node_info
        for key in ("unique_id", "resource_type", "node_name", "node_path", "node_status"):
            setattr(info, key, NODE_INFO[key])
        info.node_relation.relation_name = NODE_INFO["node_relation"]["relation_name"]
    if kind == "NodeFinished":
        result = message.data.run_result
        result.status, result.message = "error", fields.pop("message")
        result.execution_time = 0.25
        result.adapter_response.update({"rows_affected": 7})
    return message


def _collect() -> tuple[list[RuntimeEvent], EventParser]:
    events: list[RuntimeEvent] = []
    return events, EventParser("inv-1", "x", events.append)


@pytest.fixture(autouse=True)
def _secret() -> None:
    register_secrets([SECRET])


def test_core_callbacks_and_json_lines_become_the_same_events() -> None:
    """dbt-core's protobuf callbacks and an engine's JSON lines carrying the same envelope give
    identical events: total, rows affected and the (redacted) message included."""
    message = f"Database Error in model orders (marts/orders.sql) near line 3: {SECRET}"
    from_lines, parser = _collect()
    for line in (
        _json_line("ConcurrencyLine", "Q027", {"node_count": 4}, level="info"),
        _json_line("NodeStart", "Q024", {"node_info": NODE_INFO}),
        _json_line("NodeFinished", "Q025", {"node_info": NODE_INFO, "run_result": {
            "status": "error", "message": message, "execution_time": 0.25,
            "adapter_response": {"rows_affected": 7}}}),
    ):
        parser.feed_line(line)
    from_core, core_parser = _collect()
    callback = CoreCallback(core_parser)
    callback(_proto("ConcurrencyLine", code="Q027", node_count=4))
    callback(_proto("NodeStart", code="Q024"))
    callback(_proto("NodeFinished", code="Q025", message=message))

    assert [e.kind for e in from_lines] == ["log", "node_start", "node_finish"]
    assert [(e.kind, e.name, e.code, e.node) for e in from_core] == \
        [(e.kind, e.name, e.code, e.node) for e in from_lines]
    finished = from_lines[-1].node
    assert finished is not None
    assert (finished.total, finished.rows_affected, finished.status) == (4, 7, "error")
    assert finished.message is not None
    assert SECRET not in finished.message
    assert "*****" in finished.message
    assert from_core[-1].timestamp == from_lines[-1].timestamp
    assert parser.engine_invocation_id == core_parser.engine_invocation_id == "engine-1"


def test_info_level_streams_use_the_result_lines() -> None:
    """The dbt CLI at its default log level sends no NodeStart/NodeFinished: the start and result
    lines describe the nodes; a stream that has NodeStart never counts a node twice."""
    events, parser = _collect()
    parser.feed_line(_json_line("LogStartLine", "Q011", {"node_info": NODE_INFO, "index": 1,
                                                         "total": 2}, level="info"))
    parser.feed_line(_json_line("LogModelResult", "Q012", {
        "node_info": NODE_INFO, "status": "CREATE VIEW", "execution_time": 0.5, "total": 2},
        level="info"))
    assert [(e.kind, e.node.total if e.node else None) for e in events] == [
        ("node_start", 2), ("node_finish", 2)]
    assert parser.finished["model.shop.orders"].execution_time == 0.5
    assert parser.finished["model.shop.orders"].status == "success", "from node_info, not 'CREATE VIEW'"

    events, parser = _collect()
    for name, code in (("NodeStart", "Q024"), ("LogStartLine", "Q011"),
                       ("LogModelResult", "Q012"), ("NodeFinished", "Q025")):
        parser.feed_line(_json_line(name, code, {"node_info": NODE_INFO,
                                                 "run_result": {"status": "success"}}))
    assert [e.kind for e in events] == ["node_start", "log", "log", "node_finish"]


def test_engine_messages_and_unparsable_lines_are_kept_redacted() -> None:
    events, parser = _collect()
    parser.feed_line(_json_line("Generic", "", {"node_info": {"unique_id": "model.p.a"}},
                                level="error", msg=f"[error] boom {SECRET}"))
    parser.feed_line(f"thread panicked {SECRET}")
    parser.feed_line(_json_line("CommandCompleted", "Q039", {"success": False}, level="info"))
    parser.feed_line(_json_line("MainStackTrace", "Z003", {}, level="error",
                                msg="Traceback (most recent call last): ..."))
    assert parser.errors() == ["[error] boom *****"], "a stack trace is not an engine error"
    assert events[-1].level == "debug"
    assert parser.messages[0].unique_id == "model.p.a"
    assert parser.other_lines == ["thread panicked *****"]
    assert parser.success is False
    assert all(SECRET not in e.message for e in events)


def test_result_builder_redacts_and_locates_every_engines_errors() -> None:
    nodes = node_results(
        [{"unique_id": "model.p.a", "status": "error",
          "message": f"Compilation Error in model a (models/a.sql) line 4: {SECRET}"},
         {"unique_id": "model.p.b", "status": "runtime error",
          "message": f"column missing {SECRET}\n  --> models/b.sql:9:3"},
         {"unique_id": "test.p.c", "status": "fail", "message": "Got 2 results", "failures": 2}],
        {"model.p.a": {"original_file_path": "models/a.sql", "resource_type": "model"}},
    )
    assert [(n.status, n.line, n.file_path) for n in nodes] == [
        ("error", 4, "models/a.sql"), ("error", 9, None), ("fail", None, None)]
    assert all(SECRET not in (n.message or "") + (n.error_message or "") for n in nodes)
    assert nodes[2].failures == 2
    assert line_of("no position here") is None


def test_one_failing_event_observer_does_not_hide_events_from_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class Broken:
        name = "broken_observer"

        @hookimpl
        def dbt_event(self, event: RuntimeEvent) -> None:
            raise RuntimeError("observer bug")

    class Before:
        name = "before"

        @hookimpl
        def dbt_event(self, event: RuntimeEvent) -> None:
            seen.append(f"before:{event.name}")

    class After:
        name = "after"

        @hookimpl
        def dbt_event(self, event: RuntimeEvent) -> None:
            seen.append(f"after:{event.name}")

    pm = create_plugin_manager(plugins=[Before(), Broken(), After()], autoload=False)
    with caplog.at_level(logging.WARNING, logger="floe_dbt_hooks"):
        pm.hook.dbt_event(event=RuntimeEvent(invocation_id="i", runtime="x", kind="log",
                                             name="Generic"))
    assert sorted(seen) == ["after:Generic", "before:Generic"]
    assert any("broken_observer" in f"{record.getMessage()} {vars(record)}"
               for record in caplog.records)


def test_requests_are_addressed_by_their_runtime_else_the_configured_one(tmp_path: Any) -> None:
    configured = FloeConfig(runtime="dbt-cli")
    assert addressed_to("dbt-cli", RunRequest(project_dir=tmp_path), configured)
    assert not addressed_to("dbt-cli", RunRequest(project_dir=tmp_path, runtime="core"), configured)
    assert addressed_to("core", RunRequest(project_dir=tmp_path), FloeConfig())


def test_cancel_is_a_hook_nobody_claims_for_an_unknown_invocation() -> None:
    pm = create_plugin_manager(autoload=False)
    assert pm.hook.dbt_cancel(invocation_id="not-running") is None


def test_node_location_prefers_the_results_line_then_the_messages() -> None:
    assert node_location("models/a.sql", 4, "line 9") == "models/a.sql:4: "
    assert node_location("models/a.sql", None, "Database Error (line 9)") == "models/a.sql:9: "
    assert node_location("models/a.sql", None, "--> models/a.sql:7:3") == "models/a.sql:7: "
    assert node_location("models/a.sql", None, "no position") == "models/a.sql: "
    assert node_location(None, 4, "line 9") == ""


def test_a_failed_node_without_a_message_gets_the_error_logged_about_it() -> None:
    """Fusion logs a node's database error on a line of its own, then the node's result with no
    message: the node's event carries the logged error (redacted), so listeners that report
    node by node (the Airflow live reports) can say why it failed before the run ends."""
    events, parser = _collect()
    other = {**NODE_INFO, "unique_id": "model.shop.customers", "node_name": "customers"}
    for line in (
        _json_line("NodeStart", "Q024", {"node_info": NODE_INFO}),
        _json_line("Generic", "", {"node_info": {"unique_id": "model.shop.customers"}},
                   level="error", msg="Database Error in model customers: not this one"),
        _json_line("Generic", "", {"node_info": {"unique_id": "model.shop.orders"}},
                   level="error", msg=f"Database Error in model orders: Conversion Error {SECRET}"),
        _json_line("NodeFinished", "Q025", {"node_info": NODE_INFO, "run_result": {
            "status": "error", "execution_time": 0.5}}),
        _json_line("NodeFinished", "Q025", {"node_info": other, "run_result": {
            "status": "success", "execution_time": 0.5}}),
    ):
        parser.feed_line(line)
    finished = [e.node for e in events if e.kind == "node_finish" and e.node is not None]
    assert [(n.unique_id, n.status) for n in finished] == [
        ("model.shop.orders", "error"), ("model.shop.customers", "success")]
    assert finished[0].message is not None
    assert finished[0].message.startswith("Database Error in model orders: Conversion Error ")
    assert SECRET not in finished[0].message
    assert finished[1].message is None
    assert parser.finished["model.shop.orders"].message == finished[0].message
