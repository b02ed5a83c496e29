"""dbt-core's callback messages in the form Fusion's JSON lines have, for the shared parser.

dbtRunner calls back with protobuf ``EventMsg`` objects. Converting every message with protobuf's
generic JSON conversion would cost more than the rest of the event handling together (a 50-model
build fires ~2,600 events), so this reads the envelope (``info``) directly and converts ``data`` only
for the events whose data the parser reads; the parser (floe_dbt_hooks.runtime.events) does the rest,
exactly as for Fusion and the dbt CLI.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from floe_dbt_hooks.builtin.log import stdlib_logger
from floe_dbt_hooks.runtime.events import EventParser


def _timestamp(info: Any) -> datetime | None:
    try:
        ts = info.ts
        return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)
    except (AttributeError, ValueError, OverflowError):
        return None


def _node_info(node_info: Any) -> dict[str, Any]:
    return {
        "unique_id": node_info.unique_id,
        "resource_type": node_info.resource_type,
        "node_name": node_info.node_name,
        "node_path": node_info.node_path,
        "node_status": node_info.node_status,
        "node_relation": {"relation_name": node_info.node_relation.relation_name},
    }


def _run_result(run_result: Any) -> dict[str, Any]:
    response = run_result.adapter_response
    return {
        "status": run_result.status,
        "message": run_result.message,
        "execution_time": run_result.execution_time,
        "adapter_response": {key: response[key] for key in response},
    }


def _data(name: str, data: Any) -> dict[str, Any]:
    if name == "NodeStart":
        return {"node_info": _node_info(data.node_info)}
    if name == "NodeFinished":
        return {"node_info": _node_info(data.node_info), "run_result": _run_result(data.run_result)}
    if name == "ConcurrencyLine":
        return {"node_count": data.node_count}
    if name == "CommandCompleted":
        return {"success": data.success}
    return {}


class CoreCallback:
    """A dbtRunner callback feeding one invocation's parser; dbt calls it from its worker threads."""

    def __init__(self, parser: EventParser) -> None:
        self.parser = parser

    def __call__(self, msg: Any) -> None:
        info = msg.info
        try:
            envelope = {"name": info.name, "code": info.code, "level": info.level,
                        "msg": info.msg, "ts": _timestamp(info),
                        "invocation_id": info.invocation_id}
            data = _data(info.name, msg.data)
        except (AttributeError, TypeError, ValueError) as exc:
            stdlib_logger().warning("unreadable dbt event %s: %s", getattr(info, "name", "?"),
                         type(exc).__name__)
            return
        self.parser.feed(envelope, data)
