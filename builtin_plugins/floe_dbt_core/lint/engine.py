"""Run SQLFluff over model texts and turn what it finds into the framework's LintViolations.

SQLFluff lints the exact text the caller read and hashed (``Linter.lint_string`` with the config
SQLFluff itself would build for that file: nested config files and inline ``-- sqlfluff:``
directives applied), so a cached result always belongs to the content it is stored under, and a fix
is computed from the same bytes it will replace. Fixes are returned as text, never written here.

:func:`lint_texts` runs the same way in this process or in a worker process (its arguments and
results pickle), which is how :func:`lint_parallel` spreads a large lint over several processes.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from floe_dbt_core.lint.config import LintSettings, build_config, child_config
from floe_dbt_hooks.models import LintViolation, Severity

if TYPE_CHECKING:
    from sqlfluff.core import FluffConfig, Linter


@attrs.frozen
class FileTask:
    """One file to lint: where it is and the text read from it."""

    path: str
    relative: str
    text: str


@attrs.frozen
class FileOutcome:
    """What SQLFluff found in one file; ``fixed_text`` is set when a fix would change it."""

    relative: str
    violations: tuple[LintViolation, ...]
    fixed_text: str | None = None
    skipped: str | None = None


def _severity(error: Any) -> Severity:
    from sqlfluff.core.errors import SQLLintError

    if getattr(error, "warning", False):
        return "info"
    return "warning" if isinstance(error, SQLLintError) else "error"


def _violation(error: Any, relative: str) -> LintViolation:
    name = error.rule_name()
    return LintViolation(
        file_path=relative, line=int(error.line_no or 1), column=int(error.line_pos or 1),
        code=error.rule_code(), message=error.desc(), severity=_severity(error),
        fixable=bool(error.fixable), engine_code=name if "." in name else None,
    )


def _file_config(directory_config: FluffConfig, task: FileTask) -> FluffConfig:
    config = directory_config.copy()
    config.process_raw_file_for_config(task.text, task.path)
    return config


def _too_large(config: FluffConfig, text: str) -> str | None:
    limit = int(config.get("large_file_skip_byte_limit") or 0)
    size = len(text.encode("utf-8"))
    if limit and size > limit:
        return (f"larger than SQLFluff's large_file_skip_byte_limit ({size} > {limit} bytes); "
                "raise the limit in .sqlfluff to lint it")
    return None


def _fixed_text(linted: Any, config: FluffConfig, original: str) -> str | None:
    from sqlfluff.core.errors import SQLParseError, SQLTemplaterError

    if not linted.num_violations(fixable=True, filter_warning=False):
        return None
    broken = linted.num_violations(types=(SQLParseError, SQLTemplaterError), filter_ignore=False,
                                   filter_warning=False)
    if broken and not config.get("fix_even_unparsable"):
        return None
    text, changed = linted.fix_string()
    if not changed:
        return None
    if "\r\n" in original:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text if text != original else None


def _lint_one(linter: Linter, directory_config: FluffConfig, task: FileTask,
              fix: bool) -> FileOutcome:
    config = _file_config(directory_config, task)
    too_large = _too_large(config, task.text)
    if too_large:
        return FileOutcome(relative=task.relative, violations=(), skipped=too_large)
    linted = linter.lint_string(task.text, fname=task.path, fix=fix, config=config)
    violations = tuple(_violation(v, task.relative)
                       for v in linted.get_violations(filter_warning=False))
    if any(v.severity == "error" for v in violations) and not config.get("fix_even_unparsable"):
        # SQLFluff does not fix a file it cannot template or parse: nothing in it is fixable now.
        violations = tuple(attrs.evolve(v, fixable=False) for v in violations)
    return FileOutcome(
        relative=task.relative, violations=violations,
        fixed_text=_fixed_text(linted, config, task.text) if fix else None,
    )


def lint_texts(settings: LintSettings, tasks: Sequence[FileTask], fix: bool) -> list[FileOutcome]:
    """Lint ``tasks`` in this process, in order."""
    from sqlfluff.core import Linter

    root = build_config(settings)
    linter = Linter(config=root)
    directories: dict[Path, FluffConfig] = {}
    outcomes = []
    for task in tasks:
        directory = Path(task.path).parent
        if directory not in directories:
            directories[directory] = child_config(root, directory, settings)
        outcomes.append(_lint_one(linter, directories[directory], task, fix))
    return outcomes


def _worker(settings: LintSettings, tasks: Sequence[FileTask], fix: bool) -> list[FileOutcome]:
    from floe_dbt_core.lint.config import clear_sqlfluff_caches

    clear_sqlfluff_caches()
    return lint_texts(settings, tasks, fix)


def lint_parallel(settings: LintSettings, tasks: Sequence[FileTask], fix: bool,
                  processes: int, timeout: float) -> list[FileOutcome]:
    """Lint ``tasks`` in ``processes`` fresh worker processes (``forkserver``: safe with threads
    in this process); each worker builds the config once and lints a contiguous share."""
    size = -(-len(tasks) // processes)
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(chunks),
                                                mp_context=context) as pool:
        futures = [pool.submit(_worker, settings, chunk, fix) for chunk in chunks]
        results: list[FileOutcome] = []
        for future in futures:
            results += future.result(timeout=timeout)
    return results
