"""The per-process pieces every orchestrator integration shares: the bounded per-configuration
cache, the floe config with per-plugin overrides, and the per-invocation event router."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest

from floe_dbt_hooks.models import (
    DBTRunResult,
    EventKind,
    FallbackEvent,
    NodeInfo,
    RunRequest,
    RuntimeEvent,
)
from floe_dbt_hooks.orchestration.sharing import (
    EventRouter,
    RoutedInvocation,
    SharedPerConfiguration,
    integration_config,
)


def test_shared_values_are_built_once_per_key_and_the_least_recently_used_is_dropped() -> None:
    built: list[str] = []

    def build(key: str) -> object:
        built.append(key)
        return object()

    shared: SharedPerConfiguration[object] = SharedPerConfiguration(max_size=2)
    a = shared.get("a", lambda: build("a"))
    assert shared.get("a", lambda: build("a")) is a
    shared.get("b", lambda: build("b"))
    shared.get("a", lambda: build("a"))  # a is now the most recently used
    shared.get("c", lambda: build("c"))  # drops b
    assert shared.get("a", lambda: build("a")) is a
    shared.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]


def test_concurrent_first_use_builds_one_value() -> None:
    shared: SharedPerConfiguration[object] = SharedPerConfiguration()
    calls: list[int] = []
    barrier = threading.Barrier(8)
    seen: list[object] = []

    def build() -> object:
        calls.append(1)
        return object()

    def worker() -> None:
        barrier.wait()
        seen.append(shared.get("key", build))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(value) for value in seen}) == 1


def test_plugin_settings_merge_over_floe_yml_per_key(tmp_path: Path) -> None:
    (tmp_path / "floe.yml").write_text(
        "plugins:\n  fusion:\n    timeout: 60\n    binary: /opt/dbt\n")
    config = integration_config(tmp_path, runtime="fusion", fallback=False, disable=["guard"],
                                plugin_settings={"fusion": {"timeout": 600}})
    assert config.settings_for("fusion") == {"timeout": 600, "binary": "/opt/dbt"}
    assert config.runtime_for(None) == "fusion"
    assert config.fallback is False
    assert "guard" in config.disable


def test_router_hands_each_invocation_only_its_own_events(tmp_path: Path) -> None:
    router = EventRouter("test_router")
    mine = router.subscribe("inv-1")
    node = NodeInfo(unique_id="model.p.a", name="a", resource_type="model", status="success")

    def event(kind: EventKind, invocation_id: str) -> RuntimeEvent:
        return RuntimeEvent(kind=kind, name="NodeFinished", invocation_id=invocation_id,
                            runtime="core", node=node)

    router.dbt_event(event("node_finish", "inv-1"))
    router.dbt_event(event("node_finish", "inv-2"))
    router.dbt_event(event("node_start", "inv-1"))
    request = RunRequest(project_dir=tmp_path, invocation_id="inv-1")
    router.dbt_fallback(FallbackEvent(runtime="fusion", reason_code="binary-missing",
                                      error_code="FLOE-DBT-E010", message="no binary",
                                      request=request))
    kinds = [mine.get_nowait()[0] for _ in range(mine.qsize())]
    assert kinds == ["node", "fallback"]
    router.unsubscribe("inv-1")
    router.dbt_event(event("node_finish", "inv-1"))
    assert mine.empty()


class _Runtime:
    """A runtime that reports two nodes, then runs until cancelled (or ends when told to)."""

    def __init__(self, router: EventRouter, *, finish: bool, error: Exception | None = None) -> None:
        self.router = router
        self.finish = finish
        self.error = error
        self.cancelled: list[str] = []
        self.stop = threading.Event()
        self.threads: set[str] = set()

    @pluggy.HookimplMarker("floe.dbt")
    def dbt_run(self, request: RunRequest) -> DBTRunResult:
        self.threads.add(threading.current_thread().name)
        for name in ("a", "b"):
            node = NodeInfo(unique_id=f"model.p.{name}", name=name, resource_type="model",
                            status="success")
            self.router.dbt_event(RuntimeEvent(kind="node_finish", name="NodeFinished",
                                               invocation_id=request.invocation_id,
                                               runtime="test", node=node))
        if self.error is not None:
            raise self.error
        if not self.finish:
            assert self.stop.wait(10), "never cancelled"
        return DBTRunResult(success=True, command="build", runtime="test",
                            invocation_id=request.invocation_id, project_dir=request.project_dir,
                            interrupted=not self.finish)

    @pluggy.HookimplMarker("floe.dbt")
    def dbt_cancel(self, invocation_id: str) -> bool:
        self.cancelled.append(invocation_id)
        self.stop.set()
        return True


def _manager(runtime: _Runtime) -> Any:
    from floe_dbt_hooks.plugin import hookspecs

    pm = pluggy.PluginManager("floe.dbt")
    pm.add_hookspecs(hookspecs)
    pm.register(runtime)
    return pm


def test_routed_invocation_hands_items_to_the_caller_thread_and_returns_the_result(
        tmp_path: Path) -> None:
    router = EventRouter("test_router")
    runtime = _Runtime(router, finish=True)
    request = RunRequest(project_dir=tmp_path, command="build")
    with RoutedInvocation(_manager(runtime), router, request, thread_name="t") as invocation:
        names = [(kind, payload.node.name, threading.current_thread().name)
                 for kind, payload in invocation]
    result = invocation.result()
    assert names == [("node", "a", "MainThread"), ("node", "b", "MainThread")]
    assert runtime.threads == {f"t-{request.invocation_id[:8]}"}
    assert result.success
    assert result.invocation_id == request.invocation_id
    assert runtime.cancelled == []


def test_leaving_the_block_with_an_exception_cancels_the_running_invocation(
        tmp_path: Path) -> None:
    router = EventRouter("test_router")
    runtime = _Runtime(router, finish=False)
    request = RunRequest(project_dir=tmp_path, command="build")
    invocation = RoutedInvocation(_manager(runtime), router, request, thread_name="t")

    def stopped_by_the_orchestrator() -> None:
        with invocation:
            for _ in invocation:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped_by_the_orchestrator()
    assert runtime.cancelled == [request.invocation_id]
    assert invocation.result().interrupted
    router.dbt_event(RuntimeEvent(kind="node_finish", name="NodeFinished",
                                  invocation_id=request.invocation_id, runtime="test",
                                  node=NodeInfo(unique_id="model.p.c", name="c",
                                                resource_type="model", status="success")))
    assert router._queues == {}, "unsubscribed on the way out"


def test_the_runtime_error_is_raised_by_result(tmp_path: Path) -> None:
    router = EventRouter("test_router")
    runtime = _Runtime(router, finish=True, error=ValueError("engine broke"))
    request = RunRequest(project_dir=tmp_path, command="build")
    with RoutedInvocation(_manager(runtime), router, request, thread_name="t") as invocation:
        assert len(list(invocation)) == 2
    with pytest.raises(ValueError, match="engine broke"):
        invocation.result()
