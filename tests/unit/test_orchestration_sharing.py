"""The per-process pieces every orchestrator integration shares: the bounded per-configuration
cache, the floe config with per-plugin overrides, and the per-invocation event router."""

from __future__ import annotations

import threading
from pathlib import Path

from floe_dbt_hooks.models import EventKind, FallbackEvent, NodeInfo, RunRequest, RuntimeEvent
from floe_dbt_hooks.orchestration.sharing import (
    EventRouter,
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
