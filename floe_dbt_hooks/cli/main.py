"""``floe-dbt``: dbt's commands and flags, served through the hook framework.

Exit codes follow dbt: 0 when everything succeeded, 1 when a model or test failed, 2 when the
invocation could not run (bad project, profile, config, plugin, runtime, or an engine crash).
With ``--output json`` stdout holds exactly one JSON document (the whole result model, or
``{"error": ...}``); progress and warnings always go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from floe_dbt_hooks.errors import DBTConfigurationError, FloeDBTError
from floe_dbt_hooks.models import FULL_REFRESH_COMMANDS, NODE_COMMANDS

if TYPE_CHECKING:
    import argparse
    import logging

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2


def _add_project_flags(parser: argparse.ArgumentParser,
                       outputs: tuple[str, ...] = ("text", "json")) -> None:
    parser.add_argument("--project-dir", default=".", help="folder holding dbt_project.yml")
    parser.add_argument("--profiles-dir", default=None, help="folder holding profiles.yml")
    parser.add_argument("-t", "--target", default=None, help="profile target to use")
    parser.add_argument("--target-path", default=None, help="where artifacts are written")
    parser.add_argument("--vars", default=None, help="YAML mapping of project variables")
    parser.add_argument("--runtime", default=None, help="runtime to use: core, fusion, ...")
    parser.add_argument("--output", choices=outputs, default="text")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: log events (nodes included) as JSON lines on stderr")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=None,
                        help="default: warning for text, info for json")
    parser.add_argument(
        "-p", dest="plugin_options", action="append", default=[], metavar="no:NAME",
        help="disable a plugin by name (repeatable)",
    )
    fallback = parser.add_mutually_exclusive_group()
    fallback.add_argument("--no-fallback", dest="fallback", action="store_false", default=None,
                          help="strict: fail instead of falling back to another runtime")
    fallback.add_argument("--fallback", dest="fallback", action="store_true",
                          help="allow falling back to dbt-core (the default)")
    parser.add_argument("--isolate", action="store_true",
                        help="write artifacts under <target>/floe/<invocation-id>")


def _add_selection_flags(parser: argparse.ArgumentParser, *, full_refresh: bool) -> None:
    parser.add_argument("-s", "--select", "-m", "--models", dest="select", nargs="+",
                        action="extend", default=[], help="node selection (dbt syntax)")
    parser.add_argument("--exclude", nargs="+", action="extend", default=[])
    parser.add_argument("--selector", default=None, help="a named selector from selectors.yml")
    parser.add_argument("--threads", type=int, default=None)
    if full_refresh:
        parser.add_argument("--full-refresh", "-f", action="store_true")


COMMANDS = ("compile", *NODE_COMMANDS, "docs", "lint", "compare", "plugins", "artifacts",
            "server")


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (the top-level options,
    ``--version`` and ``-h``, take no value), when that word is a known command."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` just that command's: argparse never shows the other
    commands' parsers once one is named, and building all of them is most of its cost."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="floe-dbt",
        description="Run dbt projects through interchangeable runtimes (dbt-core, dbt Fusion).",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def wanted(name: str) -> bool:
        return only is None or only == name

    if wanted("compile"):
        compile_ = commands.add_parser("compile", help="parse and compile the project")
        _add_project_flags(compile_)
        _add_selection_flags(compile_, full_refresh=False)
    for name in filter(wanted, NODE_COMMANDS):
        sub = commands.add_parser(name, help=f"dbt {name}")
        _add_project_flags(sub)
        _add_selection_flags(sub, full_refresh=name in FULL_REFRESH_COMMANDS)
    if wanted("docs"):
        docs = commands.add_parser("docs", help="dbt docs generate (writes catalog.json)")
        docs.add_argument("action", choices=("generate",))
        _add_project_flags(docs)
        docs.add_argument("--threads", type=int, default=None)
    if wanted("lint"):
        lint = commands.add_parser("lint", help="lint (and with --fix, fix) the models' SQL")
        _add_project_flags(lint, outputs=("text", "json", "github"))
        _add_selection_flags(lint, full_refresh=False)
        lint.add_argument("--fix", action="store_true", help="rewrite fixable violations in place")
        lint.add_argument("--config", dest="lint_config", default=None, metavar="PATH",
                          help="an extra SQLFluff config file, applied over the project's")
        lint.add_argument("--no-cache", dest="lint_cache", action="store_false",
                          help="lint every file, ignoring cached results")
    if wanted("compare"):
        from floe_dbt_hooks.cli import compare as compare_command

        compare_command.add_parser(commands, _add_project_flags)
    if wanted("plugins"):
        plugins = commands.add_parser("plugins", help="list plugins and runtimes")
        _add_project_flags(plugins)
    if wanted("artifacts"):
        artifacts = commands.add_parser("artifacts", help="print or write an artifact")
        artifacts.add_argument("kind", choices=("manifest", "run-results", "catalog"))
        artifacts.add_argument("--write", metavar="PATH", default=None,
                               help="write the artifact to PATH (atomically) instead of printing it")
        _add_project_flags(artifacts)
    if wanted("server"):
        server = commands.add_parser("server", help="the warm dbt-core servers: status or stop")
        server.add_argument("action", choices=("status", "stop"))
    return parser


def _disabled(options: Sequence[str]) -> list[str]:
    names = []
    for option in options:
        if not option.startswith("no:") or len(option) == 3:
            raise DBTConfigurationError(
                f"unknown -p option {option!r}", hint="use -p no:NAME to disable plugin NAME"
            )
        names.append(option[3:])
    return names


def _parse_vars(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DBTConfigurationError(
            f"--vars is not valid YAML: {exc}", hint="pass a mapping, e.g. --vars '{key: value}'"
        ) from exc
    if not isinstance(value, dict):
        raise DBTConfigurationError(
            "--vars must be a YAML mapping", hint="pass a mapping, e.g. --vars '{key: value}'"
        )
    return value


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _run(args: argparse.Namespace) -> int:
    from floe_dbt_hooks.cli.progress import ProgressReporter, summary_table
    from floe_dbt_hooks.models import CompileRequest, RunRequest, to_dict
    from floe_dbt_hooks.plugin.manager import create_plugin_manager
    from floe_dbt_hooks.runtime.signals import cancel_on_signals

    if args.command == "server":
        return _server(args.action)
    disable = _disabled(args.plugin_options)
    project_dir = Path(args.project_dir)
    if args.command == "plugins":
        return _plugins(args, create_plugin_manager(
            project_dir if project_dir.is_dir() else None, runtime=args.runtime,
            fallback=args.fallback, disable=disable,
        ))
    if args.command == "artifacts":
        return _artifacts(args, disable)
    if args.command == "lint":
        return _lint(args, disable)
    if args.command == "compare":
        from floe_dbt_hooks.cli import compare as compare_command

        return compare_command.run(args, disable)

    reporter = ProgressReporter() if args.log_format == "text" else None
    pm = create_plugin_manager(
        project_dir, runtime=args.runtime, fallback=args.fallback, disable=disable,
        plugins=[reporter] if reporter is not None else [],
    )
    common: dict[str, Any] = {
        "project_dir": project_dir,
        "profiles_dir": args.profiles_dir,
        "target": args.target,
        "target_path": args.target_path,
        "vars": _parse_vars(args.vars),
        "threads": args.threads,
        "runtime": args.runtime,
        "fallback": args.fallback,
        "isolate": args.isolate,
        "reuse_manifest": False,
    }
    if args.command != "docs":
        common.update(select=args.select, exclude=args.exclude, selector=args.selector)
    request = CompileRequest(**common) if args.command == "compile" else RunRequest(
        command=args.command, full_refresh=getattr(args, "full_refresh", False), **common)
    with cancel_on_signals(pm.hook, request.invocation_id, restore=False) as interruption:
        try:
            if isinstance(request, RunRequest):
                result = pm.hook.dbt_run(request=request)
            else:
                result = pm.hook.dbt_compile(request=request)
        except KeyboardInterrupt:
            print("interrupted before any node ran", file=sys.stderr)
            return interruption.exit_code
    if reporter is not None:
        reporter.finish()
    if args.output == "json":
        _emit_json(to_dict(result))
    else:
        print(summary_table(result))
    if result.interrupted:
        print(f"interrupted after {len(result.nodes)} of {result.nodes_total or '?'} nodes",
              file=sys.stderr)
        return interruption.exit_code
    if result.success:
        return EXIT_OK
    return EXIT_FAILURES if result.failures else EXIT_ERROR


def _lint(args: argparse.Namespace, disable: list[str]) -> int:
    """``floe-dbt lint``: 0 when no violations remain, 1 when some do (2 is the linter failing)."""
    from floe_dbt_hooks.cli.progress import lint_report
    from floe_dbt_hooks.models import LintRequest, to_dict
    from floe_dbt_hooks.plugin.manager import create_plugin_manager

    project_dir = Path(args.project_dir)
    pm = create_plugin_manager(project_dir, runtime=args.runtime, fallback=args.fallback,
                               disable=disable)
    result = pm.hook.dbt_lint(request=LintRequest(
        project_dir=project_dir, profiles_dir=args.profiles_dir, target=args.target,
        target_path=args.target_path, vars=_parse_vars(args.vars), threads=args.threads,
        runtime=args.runtime, fallback=args.fallback, isolate=args.isolate, select=args.select,
        exclude=args.exclude, selector=args.selector, fix=args.fix, config_path=args.lint_config,
        use_cache=args.lint_cache,
    ))
    if args.output == "json":
        _emit_json(to_dict(result))
    else:
        print(lint_report(result, github_root=project_dir if args.output == "github" else None))
    return EXIT_OK if result.passed else EXIT_FAILURES


def _plugins(args: argparse.Namespace, pm: Any) -> int:
    from floe_dbt_hooks.models import to_dict

    runtimes = sorted(pm.hook.dbt_runtime_info(), key=lambda info: info.name)
    origins = [pm.origins[name] for name in sorted(pm.origins)]
    if args.output == "json":
        _emit_json({
            "plugins": [to_dict(origin) for origin in origins],
            "runtimes": [to_dict(info) for info in runtimes],
            "load_errors": [to_dict(error) for error in pm.load_errors],
            "config": {"runtime": pm.config.runtime, "fallback": pm.config.fallback,
                       "disable": list(pm.config.disable), "source": pm.config.source},
        })
        return EXIT_OK
    print("plugins:")
    for origin in origins:
        print(f"  {origin.name:<28} {origin.describe()}")
    for error in pm.load_errors:
        print(f"  {error.name:<28} FAILED: {error.describe()}")
    print("runtimes:")
    for info in runtimes:
        state = "available" if info.available else f"unavailable: {info.reason}"
        selected = " (selected)" if info.name == pm.config.runtime else ""
        print(f"  {info.name}{selected}: {info.version or '-'}, {state}")
        print(f"    parallel execution: {'yes' if info.supports_parallel_execution else 'no'}, "
              f"SQL linting: {'yes' if info.supports_sql_linting else 'no'}, "
              f"adapters: {', '.join(info.adapters) or '-'}")
    return EXIT_OK


def _artifacts(args: argparse.Namespace, disable: list[str]) -> int:
    from floe_dbt_hooks.api import DBTFacade
    from floe_dbt_hooks.fsutil import atomic_write_bytes

    facade = DBTFacade(runtime=args.runtime, disable=disable)
    kind = args.kind.replace("-", "_")
    path = facade.artifact_path(kind, args.project_dir, args.target_path)
    from floe_dbt_hooks.artifacts import load_artifact, materialize

    materialize(load_artifact(path))  # every node decoded: its shape checked before printing it
    if args.write:
        atomic_write_bytes(Path(args.write), path.read_bytes())
        print(f"wrote {args.write} from {path}", file=sys.stderr)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
        sys.stdout.write("\n")
    return EXIT_OK


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def configure_cli_logging(log_format: str, level: str) -> None:
    """Send ``floe_dbt_hooks`` records to stderr in ``log_format`` at ``level`` and above, set up
    when the first record is due: a command that logs nothing never imports :mod:`logging`."""
    from floe_dbt_hooks.builtin.log import configure_on_first_use

    def setup(logger: logging.Logger) -> None:
        from floe_dbt_hooks.cli.log_format import attach

        attach(logger, log_format, level)

    configure_on_first_use(_LEVELS[level], setup)


def _server(action: str) -> int:
    """List this user's warm dbt-core servers, or stop them all (busy ones after their run)."""
    from floe_dbt_core.server.control import servers

    found = servers(action)
    for entry in found:
        if entry["state"] in ("stale", "busy"):
            print(f"{entry['state']:<7} {entry['socket']}")
        else:
            print(f"{entry['state']:<7} pid {entry['pid']}  served {entry['served'] or 0}  "
                  f"{entry['socket']}  log {entry['log']}")
    if not found:
        print("no dbt-core server")
    return EXIT_OK


def _version() -> int:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("floe-dbt-hooks", "dbt-core", "pluggy"):
        try:
            print(f"{name} {version(name)}")
        except PackageNotFoundError:
            print(f"{name} not installed")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``floe-dbt``; returns the exit code (the console script exits with it).

    Called without ``argv``, as the console script calls it, the process ends when the command
    is done (see :func:`_end_process`); with ``argv`` (tests, embedding code) it only returns."""
    if argv is not None:
        return _main(argv)
    _end_process(_main(sys.argv[1:]))


def _end_process(code: int) -> NoReturn:
    """End the process as Python's own exit would, minus its teardown of every module and object
    (~25 ms of a ``compile``): wait for non-daemon threads, run every exit function (a plugin's
    span export, logging's flush, coverage's data), flush stdout and stderr, then exit with
    ``code``. A command that raised never gets here: Python's normal exit reports it."""
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            continue
    os._exit(code)


def _main(argv: Sequence[str]) -> int:
    from floe_dbt_hooks.cli import fastargs

    args: Any = fastargs.parse(argv)
    if args is None:
        parser = build_parser(command_of(argv))
        args = parser.parse_args(argv)
        if args.version:
            return _version()
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
    from floe_dbt_hooks.builtin.log import discard_deferred_configuration

    log_format = getattr(args, "log_format", "text")
    default_level = "info" if log_format == "json" else "warning"
    configure_cli_logging(log_format, getattr(args, "log_level", None) or default_level)
    try:
        return _run(args)
    except FloeDBTError as error:
        if getattr(args, "output", "text") == "json":
            _emit_json({"error": error.to_dict()})
        elif getattr(args, "output", "text") == "github":
            from floe_dbt_hooks.cli.progress import github_error

            print(github_error(error))
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        discard_deferred_configuration()


if __name__ == "__main__":
    sys.exit(main())
