"""One dbt Cloud run from trigger to result: poll, follow the step logs, download, build.

The run is polled with ``GET runs/{id}/?include_related=["run_steps"]``, one request per poll; the
interval starts at ``poll_interval`` and grows with the run's age (a tenth of it, at most
``max_poll_interval``), so a long run costs a few requests a minute. New lines of the step logs go
to the shared event parser (dbt writes them as JSON with ``--log-format json``); nodes the logs did
not report get their events from run_results.json when the run ends. The run's run_results.json and
manifest.json (and catalog.json for ``docs``) are written atomically into the invocation's own
target path and read by the shared result builder.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from floe_dbt_hooks.errors import (
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    FloeDBTError,
)
from floe_dbt_hooks.fsutil import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from floe_dbt_cloud.client import CloudClient
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.models import NodeResult, RuntimeEvent
    from floe_dbt_hooks.runtime.events import EventParser

QUEUED, STARTING, RUNNING, SUCCESS, ERROR, CANCELLED = 1, 2, 3, 10, 20, 30
TERMINAL = (SUCCESS, ERROR, CANCELLED)
RUN_MARKER = "dbt_cloud_run.json"
"""Written beside the downloaded artifacts: which run they came from (for dbt_artifact_path)."""
_FILE_IN_MESSAGE = re.compile(r"\(([^()\s]+\.(?:sql|yml|yaml|py|csv|md))\)")
_COMPILE_WORDS = ("Compilation Error", "Parsing Error", "Syntax error")


@attrs.define
class LiveRun:
    """A run this process triggered and has not finished with; ``dbt_cancel`` sets ``cancelled``."""

    client: CloudClient
    run_id: int | None = None
    cancelled: threading.Event = attrs.field(factory=threading.Event)
    cancel_sent: bool = False
    """Only the thread serving the run talks to dbt Cloud; it sends the cancel once."""
    finished_at: float | None = None
    """Monotonic time at which the poll first saw the run complete (for the overhead benchmark)."""


def poll_interval(settings: CloudSettings, elapsed: float) -> float:
    return min(settings.max_poll_interval, max(settings.poll_interval, elapsed / 10))


class StepLogs:
    """Feeds each run step's new log lines to the parser once (logs grow between polls)."""

    def __init__(self, parser: EventParser) -> None:
        self._parser = parser
        self._seen: dict[int, int] = {}

    def feed(self, steps: Iterable[Mapping[str, Any]]) -> None:
        for step in sorted(steps, key=lambda s: int(s.get("index") or 0)):
            logs = str(step.get("logs") or "")
            index = int(step.get("index") or 0)
            start = self._seen.get(index, 0)
            end = len(logs) if step.get("status") in TERMINAL else logs.rfind("\n") + 1
            if end <= start:
                continue
            self._seen[index] = end
            for line in logs[start:end].splitlines():
                self._parser.feed_line(line)


def wait_for_run(live: LiveRun, run: Mapping[str, Any], settings: CloudSettings,
                 logs: StepLogs, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll until the run is complete; on our timeout cancel it remotely and raise E002."""
    assert live.run_id is not None
    started = clock()
    current = dict(run)
    pause = threading.Event()
    while not current.get("is_complete") and current.get("status") not in TERMINAL:
        elapsed = clock() - started
        if elapsed >= timeout:
            cancel_quietly(live)
            raise DBTExecutionError(
                f"dbt Cloud run {live.run_id} did not finish within {timeout:g}s "
                f"(last status: {current.get('status_humanized') or current.get('status')}); "
                "it was cancelled in dbt Cloud",
                hint=f"raise plugins.cloud.timeout or the request's timeout; run: "
                     f"{current.get('href') or live.run_id}",
            )
        interval = min(poll_interval(settings, elapsed), timeout - elapsed)
        (pause if live.cancelled.is_set() else live.cancelled).wait(interval)
        if live.cancelled.is_set():
            cancel_quietly(live)
        current = live.client.run(live.run_id)
        logs.feed(current.get("run_steps") or ())
    live.finished_at = clock()
    return current


def cancel_quietly(live: LiveRun) -> None:
    """Ask dbt Cloud to cancel the run (retried like every request); a failure is not raised:
    the caller is already ending the invocation with an error."""
    from floe_dbt_cloud.client import CloudAPIError

    if live.run_id is None or live.cancel_sent:
        return
    live.cancel_sent = True
    with contextlib.suppress(CloudAPIError):
        live.client.cancel(live.run_id)


def download(client: CloudClient, run: Mapping[str, Any], target_path: Path,
             names: Iterable[str]) -> dict[str, Any]:
    """Download the run's artifacts among ``names`` into ``target_path``; their parsed payloads."""
    from floe_dbt_cloud.client import CloudNotFound

    run_id = int(run["id"])
    available = set(client.artifacts(run_id))
    steps = [int(s["index"]) for s in run.get("run_steps") or () if s.get("index") is not None]
    step = max(steps) if steps else None
    payloads: dict[str, Any] = {}
    for name in names:
        if name not in available:
            continue
        try:
            data = client.artifact(run_id, name, step=step)
        except CloudNotFound:
            continue
        atomic_write_bytes(target_path / name, data)
        payloads[name] = json.loads(data)
    atomic_write_text(target_path / RUN_MARKER, json.dumps(
        {"run_id": run_id, "href": run.get("href"), "step": step}, indent=2))
    return payloads


def run_failure(run: Mapping[str, Any], errors: list[str]) -> FloeDBTError:
    """The error for a run that ended in error before any node produced a result."""
    text = "\n".join(errors) or str(run.get("status_message") or "the run failed")
    found = _FILE_IN_MESSAGE.search(text)
    where = f"dbt Cloud run {run.get('id')} failed before any node ran"
    first = text.strip().splitlines()[0] if text.strip() else text
    if any(word in text for word in _COMPILE_WORDS):
        from floe_dbt_hooks.runtime.results import line_of

        return DBTCompilationError(
            text.strip() if len(text) <= 400 else first, original_message=text,
            file_path=found.group(1) if found else None, line=line_of(text),
            hint=f"fix the Jinja/SQL or YAML at the file and line shown; {where}: "
                 f"{run.get('href') or ''}",
        )
    return DBTExecutionError(f"{where}: {first}", original_message=text,
                             hint=f"see the run in dbt Cloud: {run.get('href') or run.get('id')}")


def cancelled_error(run: Mapping[str, Any], by_us: bool) -> DBTExecutionError:
    if by_us:
        return DBTExecutionError(
            f"dbt Cloud run {run.get('id')} was cancelled at this invocation's request",
            hint="the invocation was stopped (dbt_cancel); nothing falls back to another runtime")
    return DBTExecutionError(
        f"dbt Cloud run {run.get('id')} was cancelled in dbt Cloud",
        hint=f"someone or something cancelled it there: {run.get('href') or ''}")


class JobNotFound(DBTConfigurationError):
    """The trigger's job does not exist (404): nothing ran, so it is safe to find the job anew."""

    def __init__(self, exc: Exception, settings: CloudSettings) -> None:
        super().__init__(
            f"dbt Cloud job {settings.job_id} not found in account {settings.account_id} ({exc})",
            hint="check plugins.cloud.job_id / FLOE_DBT_CLOUD_JOB_ID and plugins.cloud.account_id")


def configuration_error(exc: Exception, settings: CloudSettings) -> DBTConfigurationError:
    from floe_dbt_cloud.client import CloudAuthError

    job = f"run job {settings.job_id}" if settings.job_id is not None \
        else f"list, create and run jobs of project {settings.project_id}"
    if isinstance(exc, CloudAuthError):
        return DBTConfigurationError(
            f"dbt Cloud refused the API token for account {settings.account_id} "
            f"({exc.status}: {exc})",
            hint=f"set the environment variable {settings.token_env} to a service or personal "
                 f"token that may {job} in account {settings.account_id}")
    return JobNotFound(exc, settings)


def report_missing_events(parser: EventParser, nodes: tuple[NodeResult, ...],
                          emit: Callable[[RuntimeEvent], None], invocation_id: str,
                          runtime: str) -> None:
    """Node events, from the results, for every node the run's logs did not report."""
    from floe_dbt_hooks.models import NodeInfo, RuntimeEvent

    started = set(parser.started)
    total = len(nodes)
    for index, node in enumerate(nodes, start=1):
        if node.unique_id in parser.finished:
            continue
        base = NodeInfo(unique_id=node.unique_id, resource_type=node.resource_type,
                        name=node.name, index=index, total=total, file_path=node.file_path,
                        relation_name=node.relation_name)
        if node.unique_id not in started:
            emit(RuntimeEvent(invocation_id=invocation_id, runtime=runtime, kind="node_start",
                              name="NodeStart", node=base))
        emit(RuntimeEvent(
            invocation_id=invocation_id, runtime=runtime, kind="node_finish", name="NodeFinished",
            level="error" if node.status in ("error", "fail") else "info",
            message=node.message or "",
            node=attrs.evolve(base, status=node.status, execution_time=node.execution_time,
                              rows_affected=node.rows_affected, message=node.message),
        ))
