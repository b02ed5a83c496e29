"""The CLI builds only the named command's parser: same namespaces, same help, same errors."""

from __future__ import annotations

import contextlib
import io

import pytest

from floe_dbt_hooks.cli.main import COMMANDS, build_parser, command_of

ARGVS = [
    ["compile", "--project-dir", "p", "--runtime", "fusion", "--no-fallback", "-s", "a", "b"],
    ["build", "--project-dir", "p", "-s", "x", "--exclude", "y", "--full-refresh", "-p", "no:z"],
    ["run", "--vars", "{a: 1}", "--threads", "4", "--output", "json", "--log-format", "json"],
    ["docs", "generate", "--project-dir", "p"],
    ["lint", "--fix", "--output", "github", "--no-cache"],
    ["compare", "--runtimes", "core,fusion", "--execute"],
    ["plugins", "--output", "json"],
    ["artifacts", "run-results", "--write", "out.json"],
    ["--version"],
    [],
]


def _outcome(argv: list[str], only: str | None) -> tuple[str, object]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(build_parser(only).parse_args(argv))
        except SystemExit as stop:
            result = stop.code
    return out.getvalue() + err.getvalue(), result


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a) or "none")
def test_same_namespace_as_the_whole_parser(argv: list[str]) -> None:
    assert _outcome(argv, command_of(argv)) == _outcome(argv, None)


@pytest.mark.parametrize("command", COMMANDS)
def test_same_help_and_errors_per_command(command: str) -> None:
    for argv in ([command, "--help"], [command, "--output", "xml"], [command, "--bogus"]):
        text, code = _outcome(argv, command_of(argv))
        assert (text, code) == _outcome(argv, None)
        assert code in (0, 2)
        assert "floe-dbt" in text


@pytest.mark.parametrize(("argv", "command"), [
    (["compile", "--project-dir", "run"], "compile"),
    (["--version", "build"], "build"),
    (["-h"], None),
    (["compil"], None),  # a typo gets the whole parser and its "invalid choice" error
    ([], None),
])
def test_command_of(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command
