"""The common commands' argparse-free reader gives argparse's namespace or steps aside."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_dbt_hooks.cli import fastargs
from floe_dbt_hooks.cli.main import build_parser, command_of


def _argparse(argv: list[str]) -> dict[str, object] | None:
    """argparse's namespace, or None where it exits (help, an error)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return vars(build_parser(command_of(argv)).parse_args(argv))
        except SystemExit:
            return None


FAST = [
    ["compile"],
    ["compile", "--project-dir", "p", "--runtime", "fusion", "--no-fallback"],
    ["build", "-s", "a", "b", "--exclude", "c", "--select", "d", "-f", "-p", "no:x", "-p", "no:y"],
    ["run", "--vars", "{a: 1}", "--threads", "4", "--output", "json", "--log-format", "json",
     "--log-level", "debug", "-t", "prod", "--target-path", "t", "--profiles-dir", "pr"],
    ["seed", "--full-refresh", "--isolate", "--fallback", "--selector", "nightly"],
    ["test", "-m", "x", "--models", "y", "--target", "a", "--target", "b"],
    ["snapshot", "--runtime", "core", "--threads", "0"],
]
DECLINED = [
    ["compile", "--help"], ["compile", "-h"], ["compile", "--proj", "p"],
    ["compile", "--project-dir=p"], ["compile", "--output", "xml"], ["compile", "--threads", "x"],
    ["compile", "--full-refresh"], ["compile", "-s"], ["compile", "--no-fallback", "--fallback"],
    ["compile", "stray"], ["compile", "--threads", "-1"], ["compile", "--project-dir", ""],
    ["compile", "--", "x"], ["docs", "generate"], ["lint"], ["plugins"], ["--version"], [],
    ["compile", "-sx"], ["run", "--vars"],
]


@pytest.mark.parametrize("argv", FAST, ids=" ".join)
def test_plain_argv_gives_argparses_namespace(argv: list[str]) -> None:
    fast = fastargs.parse(argv)
    assert fast is not None
    assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "none")
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert fastargs.parse(argv) is None


@pytest.mark.parametrize("command", fastargs.COMMANDS)
def test_defaults_match_argparse(command: str) -> None:
    assert fastargs.defaults(command) == _argparse([command])


WORDS = st.sampled_from([
    "-s", "--select", "-m", "--models", "--exclude", "--project-dir", "--profiles-dir", "-t",
    "--target", "--target-path", "--vars", "--runtime", "--selector", "--output", "--log-format",
    "--log-level", "--threads", "-p", "--isolate", "--fallback", "--no-fallback", "--full-refresh",
    "-f", "json", "text", "debug", "7", "-1", "a", "b", "no:x", "", "--", "-", "--bogus", "-h",
])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(fastargs.COMMANDS), st.lists(WORDS, max_size=8))
def test_never_disagrees_with_argparse(command: str, words: list[str]) -> None:
    """Wherever the reader answers, argparse answers the same; it may only ever step aside."""
    argv = [command, *words]
    fast = fastargs.parse(argv)
    if fast is not None:
        assert vars(fast) == _argparse(argv)
