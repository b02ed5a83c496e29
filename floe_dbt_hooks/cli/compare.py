"""``floe-dbt compare``: the command-line face of :func:`compare_runtimes`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from floe_dbt_hooks.errors import DBTConfigurationError


def add_parser(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
               add_project_flags: Callable[..., None]) -> None:
    compare = commands.add_parser(
        "compare", help="compare what two runtimes do with the project (shadow run)"
    )
    add_project_flags(compare, outputs=("text", "json", "html"))
    compare.add_argument("--runtimes", default="core,fusion",
                         help="two runtimes, comma-separated (default: core,fusion)")
    compare.add_argument("-s", "--select", nargs="+", action="extend", default=[])
    compare.add_argument("--exclude", nargs="+", action="extend", default=[])
    compare.add_argument("--execute", action="store_true",
                         help="also build under each runtime (own DuckDB file) and compare tables")
    compare.add_argument("--report", metavar="PATH", default=None,
                         help="with --output html: write the page here instead of stdout")


def _text(result: object) -> str:
    from floe_dbt_hooks.compare.result import CompareResult

    assert isinstance(result, CompareResult)
    lines = []
    for outcome in result.outcomes:
        if not outcome.ok:
            where = f" at {outcome.file_path}:{outcome.line}" if outcome.file_path else ""
            lines.append(f"{outcome.runtime} could not compile the project ({outcome.error_code}"
                         f"{', ' + ', '.join(outcome.engine_codes) if outcome.engine_codes else ''})"
                         f"{where}: {outcome.message}")
            lines += [f"  fix: {fix}" for fix in outcome.fixes]
    for node in sorted(result.nodes, key=lambda n: (n.verdict == "same", n.unique_id)):
        if node.verdict == "same":
            continue
        extra = ", ".join(node.reasons) or ", ".join(node.present_in or node.failed_in)
        lines.append(f"{node.verdict:<9} {node.unique_id}: {extra}")
        if node.sql_diff:
            lines += ["    " + line for line in node.sql_diff.splitlines()]
    lines.append(result.summary())
    return "\n".join(lines)


def run(args: argparse.Namespace, disable: list[str]) -> int:
    from floe_dbt_hooks.compare.html import render_html
    from floe_dbt_hooks.compare.runner import compare_runtimes
    from floe_dbt_hooks.models import to_dict
    from floe_dbt_hooks.plugin.manager import create_plugin_manager

    runtimes = tuple(r.strip() for r in args.runtimes.split(",") if r.strip())
    if args.report and args.output != "html":
        raise DBTConfigurationError("--report writes the HTML page", hint="add --output html")
    pm = create_plugin_manager(args.project_dir, disable=disable)
    result = compare_runtimes(
        args.project_dir, runtimes, select=args.select, exclude=args.exclude,
        profiles_dir=args.profiles_dir, target=args.target, execute=args.execute, pm=pm,
    )
    if args.output == "json":
        data = to_dict(result)
        data.update(agree=result.agree, exit_code=result.exit_code, summary=result.summary(),
                    counts=result.counts)
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "html":
        page = render_html(result)
        if args.report:
            from floe_dbt_hooks.fsutil import atomic_write_text

            atomic_write_text(Path(args.report), page)
            print(f"wrote {args.report}: {result.summary()}", file=sys.stderr)
        else:
            sys.stdout.write(page)
    else:
        print(_text(result))
    return result.exit_code
