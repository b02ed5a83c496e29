"""What the CLI shows while a runtime works, the summary table at the end, and lint reports.

``ProgressReporter`` is an ordinary plugin implementing ``dbt_event``, so it works unchanged for
every runtime that emits node events. On a terminal each finished node gets a line with an overall
progress bar and a live line shows what is running; elsewhere (CI logs, pipes) it prints plain
START/OK/FAIL lines with no control characters.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.models import (
    FallbackEvent,
    InvocationResult,
    LintResult,
    NodeInfo,
    RuntimeEvent,
)
from floe_dbt_hooks.plugin.markers import hookimpl

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
            f"{prefix}{head} {self._colour(label)}{' ' * (5 - len(label))} {node.resource_type} {node.name} "
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


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def github_error(error: FloeDBTError) -> str:
    """A GitHub Actions ``::error`` annotation for an error that stopped the command."""
    where = f"file={_github_escape(error.file_path, prop=True)}," if error.file_path else ""
    line = f"line={error.line}," if error.line else ""
    return f"::error {where}{line}title={error.code}::{_github_escape(str(error))}"


def lint_report(result: LintResult, *, github_root: Path | None = None) -> str:
    """One line per violation (``file:line:col: CODE [severity] message``, or with
    ``github_root`` a GitHub Actions annotation with paths relative to the working directory),
    skipped files, then a summary; a clean result says "No issues found"."""
    lines: list[str] = []
    prefix = ""
    if github_root is not None:
        relative = os.path.relpath(github_root.resolve(), Path.cwd())
        prefix = "" if relative == "." else f"{relative}/"
    for v in result.violations:
        fixable = " (fixable)" if v.fixable else ""
        engine = f" ({v.engine_code})" if v.engine_code and v.engine_code != v.code else ""
        if github_root is not None:
            lines.append(
                f"::{_GITHUB_LEVEL[v.severity]} file={_github_escape(prefix + v.file_path, prop=True)},"
                f"line={v.line},col={v.column},title={_github_escape(v.code, prop=True)}::"
                f"{_github_escape(v.message + engine)}"
            )
        else:
            lines.append(f"{v.file_path}:{v.line}:{v.column}: {v.code} [{v.severity}] "
                         f"{v.message}{engine}{fixable}")
    reasons = result.metadata.get("skipped", {})
    for path in result.skipped_files:
        why = f": {reasons[path]}" if path in reasons else ""
        lines.append(f"::warning file={_github_escape(prefix + path, prop=True)},title=skipped::"
                     f"not linted{_github_escape(why)}" if github_root is not None
                     else f"skipped {path}{why}")
    for d in result.declined:
        lines.append(f"runtime '{d.runtime}' declined [{d.reason_code}]: {d.message}")
    if result.fixed_files:
        lines.append(f"Fixed {result.fixed_count} violation(s) in {len(result.fixed_files)} "
                     f"file(s): {', '.join(result.fixed_files)}")
    files = f"{result.files_checked} file(s)"
    how = f"runtime '{result.runtime}' in {result.elapsed_time:.2f}s"
    if result.violations:
        can_fix = sum(1 for v in result.violations if v.fixable)
        affected = len({v.file_path for v in result.violations})
        lines.append(f"Found {len(result.violations)} issue(s) ({can_fix} fixable) in {affected} of "
                     f"{files} on {how}")
    else:
        lines.append(f"No issues found in {files} on {how}")
    return "\n".join(lines)

