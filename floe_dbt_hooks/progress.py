"""What the CLI shows while a runtime works, and the summary table at the end.

``ProgressReporter`` is an ordinary plugin implementing ``dbt_event``, so it works unchanged for
every runtime that emits node events. On a terminal each finished node gets a line with an overall
progress bar and a live line shows what is running; elsewhere (CI logs, pipes) it prints plain
START/OK/FAIL lines with no control characters.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from floe_dbt_hooks._markers import hookimpl
from floe_dbt_hooks.models import (
    FallbackEvent,
    InvocationResult,
    NodeInfo,
    RuntimeEvent,
)

_LABEL = {
    "success": "OK",
    "error": "ERROR",
    "fail": "FAIL",
    "warn": "WARN",
    "skipped": "SKIP",
}
_COLOUR = {"OK": "32", "ERROR": "31", "FAIL": "31", "WARN": "33", "SKIP": "33"}
_BAR_WIDTH = 20


class ProgressReporter:
    """Prints node progress for the CLI; plain lines unless ``stream`` is a terminal."""

    name = "floe_dbt_progress"

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        self._finished = 0

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _colour(self, label: str) -> str:
        code = _COLOUR.get(label)
        return f"\x1b[{code}m{label}\x1b[0m" if self._tty and code else label

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return f"{done:>4}"
        filled = min(_BAR_WIDTH, round(_BAR_WIDTH * done / total))
        return f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done:>{len(str(total))}}/{total}"

    def _live_line(self, total: int | None) -> None:
        if not self._tty:
            return
        names = ", ".join(sorted(self._running.values()))
        text = f"  {self._bar(self._finished, total)} running: {names}" if names else ""
        self._write(f"\r\x1b[K{text[:160]}")

    @hookimpl
    def dbt_event(self, event: RuntimeEvent) -> None:
        node = event.node
        with self._lock:
            if event.kind == "node_start" and node is not None:
                self._running[node.unique_id] = node.name
                if self._tty:
                    self._live_line(node.total)
                else:
                    self._write(f"{self._position(node)} START {node.resource_type} {node.name}\n")
            elif event.kind == "node_finish" and node is not None:
                self._running.pop(node.unique_id, None)
                self._finished += 1
                self._print_finish(node)
            elif event.kind == "log" and event.level in ("warn", "error") and event.message:
                prefix = "\r\x1b[K" if self._tty else ""
                self._write(f"{prefix}{event.level.upper()}: {event.message}\n")
                self._live_line(None)

    def _position(self, node: NodeInfo) -> str:
        total = node.total or "?"
        return f"{node.index or self._finished:>3}/{total}"

    def _print_finish(self, node: NodeInfo) -> None:
        label = _LABEL.get(node.status or "error", "ERROR")
        seconds = f"{node.execution_time:.2f}s" if node.execution_time is not None else ""
        rows = f" rows={node.rows_affected}" if node.rows_affected is not None else ""
        head = self._bar(self._finished, node.total) if self._tty else f"{self._finished:>3}/" \
            f"{node.total or '?'}"
        prefix = "\r\x1b[K" if self._tty else ""
        self._write(
            f"{prefix}{head} {self._colour(label):<5} {node.resource_type} {node.name} "
            f"[{seconds}{rows}]\n"
        )
        self._live_line(node.total)

    @hookimpl
    def dbt_fallback(self, event: FallbackEvent) -> None:
        with self._lock:
            hint = f" ({event.hint})" if event.hint else ""
            self._write(
                f"FALLBACK: runtime '{event.runtime}' declined [{event.reason_code}]: "
                f"{event.message}{hint}\n"
            )

    def finish(self) -> None:
        """Clear the live line before the summary is printed."""
        with self._lock:
            if self._tty:
                self._write("\r\x1b[K")


def summary_table(result: InvocationResult, elapsed: float | None = None) -> str:
    """A table of node counts by resource type and status, then every failure with its file."""
    statuses = ["success", "warn", "fail", "error", "skipped"]
    types = sorted({n.resource_type for n in result.nodes})
    rows = [["resource", *[_LABEL[s] for s in statuses], "total"]]
    for resource_type in types:
        nodes = [n for n in result.nodes if n.resource_type == resource_type]
        rows.append(
            [resource_type, *[str(sum(1 for n in nodes if n.status == s)) for s in statuses],
             str(len(nodes))]
        )
    counts = result.node_counts
    rows.append(["total", *[str(counts.get(s, 0)) for s in statuses], str(len(result.nodes))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for node in result.nodes:
        if node.status in ("error", "fail", "warn"):
            where = f" ({node.file_path}{f':{node.line}' if node.line else ''})" if \
                node.file_path else ""
            lines.append(f"{_LABEL[node.status]} {node.unique_id}{where}: "
                         f"{(node.message or '').strip()}")
    declined = "".join(
        f"\nruntime '{d.runtime}' declined [{d.reason_code}]: {d.message}" for d in result.declined
    )
    took = elapsed if elapsed is not None else result.elapsed_time
    verdict = "Completed successfully" if result.success else (
        f"Completed with {result.failures} failure(s)" if result.failures else "Failed"
    )
    return (
        "\n".join(lines)
        + declined
        + f"\n{verdict}: {result.command} on runtime '{result.runtime}' in {took:.2f}s"
        + (f"\nartifacts: {result.target_path}" if result.target_path else "")
    )

