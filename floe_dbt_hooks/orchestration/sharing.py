"""What the orchestrator integrations keep per process: one facade per configuration, the floe
config with the integration's per-plugin overrides, and a router that hands each runtime event to
the invocation (task, asset step) that asked for it.

An orchestrator runs many invocations of one project in one worker process; building a facade
(plugin discovery, project hooks, the runtimes' warm state) once per configuration is what makes
the second task cheap, and bounding the cache keeps a long-lived worker's memory flat.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from floe_dbt_hooks.config import FloeConfig, load_config
from floe_dbt_hooks.models import FallbackEvent, RuntimeEvent
from floe_dbt_hooks.plugin.markers import hookimpl

T = TypeVar("T")
MAX_SHARED = 8
"""Configurations kept per process and integration, least recently used dropped first. A dropped
facade still serves the invocations holding it; the next one with its configuration builds anew."""


def integration_config(
    project_dir: str | Path, *, runtime: str | None, fallback: bool | None,
    disable: Sequence[str], plugin_settings: Mapping[str, Mapping[str, Any]],
) -> FloeConfig:
    """The project's floe config (floe.yml, environment) with the integration's own settings on
    top: ``runtime``/``fallback``/``disable`` when given, and ``plugin_settings`` merged per plugin
    over floe.yml's (a key set here wins, the others stay)."""
    import attrs

    config = load_config(Path(project_dir), runtime=runtime, fallback=fallback,
                         disable=list(disable))
    if not plugin_settings:
        return config
    merged = {name: dict(values) for name, values in config.plugin_settings.items()}
    for name, values in plugin_settings.items():
        merged[name] = {**merged.get(name, {}), **values}
    return attrs.evolve(config, plugin_settings=merged)


class SharedPerConfiguration(Generic[T]):
    """A bounded, thread-safe LRU of values (a facade, a facade and its router) by configuration
    key; ``get`` builds a missing one under the lock, so one configuration never gets two."""

    def __init__(self, max_size: int = MAX_SHARED) -> None:
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()
        self._max_size = max_size

    def get(self, key: str, build: Callable[[], T]) -> T:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                return value
            value = build()
            self._values[key] = value
            while len(self._values) > self._max_size:
                self._values.popitem(last=False)
            return value


class EventRouter:
    """A plugin putting each finished node (``("node", RuntimeEvent)``) and each runtime's
    decline (``("fallback", FallbackEvent)``) on the queue of the invocation it belongs to.
    Runtimes report from whatever thread the engine runs on; the subscriber reads its queue on
    its own. Quick and never raises, as a ``dbt_event`` observer must be."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queues: dict[str, queue.Queue[tuple[str, Any]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, invocation_id: str) -> queue.Queue[tuple[str, Any]]:
        channel: queue.Queue[tuple[str, Any]] = queue.Queue()
        with self._lock:
            self._queues[invocation_id] = channel
        return channel

    def unsubscribe(self, invocation_id: str) -> None:
        with self._lock:
            self._queues.pop(invocation_id, None)

    def _send(self, invocation_id: str, item: tuple[str, Any]) -> None:
        with self._lock:
            channel = self._queues.get(invocation_id)
        if channel is not None:
            channel.put(item)

    @hookimpl
    def dbt_event(self, event: RuntimeEvent) -> None:
        if event.kind == "node_finish" and event.node is not None:
            self._send(event.invocation_id, ("node", event))

    @hookimpl
    def dbt_fallback(self, event: FallbackEvent) -> None:
        self._send(event.request.invocation_id, ("fallback", event))


class RoutedInvocation:
    """``dbt_run`` of one request on a worker thread, its routed items read in the caller's thread.

    Orchestrators keep their run context (step, task, flow run) in the thread that calls them, while
    a runtime reports from the engine's thread; this hands every ``("node", RuntimeEvent)`` and
    ``("fallback", FallbackEvent)`` over in order. Use it as a context manager and iterate it: if
    the block ends with an exception (the orchestrator stops the step, or closes a generator) while
    the run is going, the runtime is asked to cancel it. :meth:`result` then waits for the run and
    returns its result or re-raises its error."""

    def __init__(self, pm: Any, router: EventRouter, request: Any, *, thread_name: str) -> None:
        import contextvars

        self._pm = pm
        self._router = router
        self.request = request
        self._channel = router.subscribe(request.invocation_id)
        self._outcome: dict[str, Any] = {}
        self._worker = threading.Thread(target=contextvars.copy_context().run, args=(self._work,),
                                        name=f"{thread_name}-{request.invocation_id[:8]}",
                                        daemon=True)

    def _work(self) -> None:
        try:
            self._outcome["result"] = self._pm.hook.dbt_run(request=self.request)
        except BaseException as exc:
            self._outcome["error"] = exc
        finally:
            self._channel.put(("done", None))

    @property
    def running(self) -> bool:
        """Whether the run has not ended yet (items read now arrived while it was going)."""
        return self._worker.is_alive()

    def __enter__(self) -> RoutedInvocation:
        self._worker.start()
        return self

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while True:
            item = self._channel.get()
            if item[0] == "done":
                return
            yield item

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is not None and self._worker.is_alive():
                self._pm.hook.dbt_cancel(invocation_id=self.request.invocation_id)
        finally:
            self._router.unsubscribe(self.request.invocation_id)

    def result(self) -> Any:
        """The run's result once it has ended; its exception, re-raised, if it failed."""
        self._worker.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["result"]
