"""The common commands' argv read without argparse: ``compile``, ``run``, ``test``, ``build``,
``seed`` and ``snapshot`` with the flags people type.

Importing argparse and building one command's parser costs a CLI call ~10 ms (argparse, gettext,
locale, and shutil for every help formatter its ``add_argument`` checks make), as much as a
tenth of floe's overhead on a Fusion compile. This reader accepts only exact, well-formed uses
of the flags :func:`floe_dbt_hooks.cli.main.build_parser` defines for these commands and returns
the same namespace argparse would; anything else (help, an abbreviation, ``--flag=value``, an
unknown flag, a bad value, a flag twice where argparse would complain) returns None, and argparse
then parses, reports and exits as it always did. ``tests/unit/test_cli_fastargs.py`` holds the two
to the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from floe_dbt_hooks.models import FULL_REFRESH_COMMANDS, NODE_COMMANDS

COMMANDS = ("compile", *NODE_COMMANDS)
_VALUES = {
    "--project-dir": "project_dir", "--profiles-dir": "profiles_dir", "-t": "target",
    "--target": "target", "--target-path": "target_path", "--vars": "vars",
    "--runtime": "runtime", "--selector": "selector",
}
_CHOICES = {
    "--output": ("output", ("text", "json")),
    "--log-format": ("log_format", ("text", "json")),
    "--log-level": ("log_level", ("debug", "info", "warning", "error")),
}
_LISTS = {"-s": "select", "--select": "select", "-m": "select", "--models": "select",
          "--exclude": "exclude"}
_SWITCHES = {"--isolate": ("isolate", True), "--no-fallback": ("fallback", False),
             "--fallback": ("fallback", True)}


def defaults(command: str) -> dict[str, Any]:
    """What argparse puts in the namespace of ``command`` when no flag is given."""
    values: dict[str, Any] = {
        "version": False, "command": command, "project_dir": ".", "profiles_dir": None,
        "target": None, "target_path": None, "vars": None, "runtime": None, "output": "text",
        "log_format": "text", "log_level": None, "plugin_options": [], "fallback": None,
        "isolate": False, "select": [], "exclude": [], "selector": None, "threads": None,
    }
    if command in FULL_REFRESH_COMMANDS:
        values["full_refresh"] = False
    return values


def _is_value(word: str) -> bool:
    """Whether argparse would take ``word`` as a value rather than an option (no leading '-',
    and not empty: argparse's own rules for the rest are what the fallback is for)."""
    return bool(word) and not word.startswith("-")


def parse(argv: Sequence[str]) -> SimpleNamespace | None:
    """The namespace for ``argv`` when it is a plain use of a common command, else None."""
    if not argv or argv[0] not in COMMANDS:
        return None
    command = argv[0]
    values = defaults(command)
    seen: set[str] = set()
    i, n = 1, len(argv)
    while i < n:
        word = argv[i]
        if word in _LISTS:
            start = i + 1
            while i + 1 < n and _is_value(argv[i + 1]):
                i += 1
            if i + 1 == start:
                return None
            values[_LISTS[word]] = [*values[_LISTS[word]], *argv[start:i + 1]]
        elif word in _VALUES or word in _CHOICES or word in ("--threads", "-p"):
            if i + 1 >= n or not _is_value(argv[i + 1]):
                return None
            i += 1
            value = argv[i]
            if word in _VALUES:
                values[_VALUES[word]] = value
            elif word in _CHOICES:
                name, allowed = _CHOICES[word]
                if value not in allowed:
                    return None
                values[name] = value
            elif word == "--threads":
                if not value.isdigit():
                    return None
                values["threads"] = int(value)
            else:
                values["plugin_options"] = [*values["plugin_options"], value]
        elif word in _SWITCHES:
            name, switch = _SWITCHES[word]
            if name == "fallback" and seen & {"--fallback", "--no-fallback"} - {word}:
                return None
            values[name] = switch
        elif word in ("--full-refresh", "-f") and command in FULL_REFRESH_COMMANDS:
            values["full_refresh"] = True
        else:
            return None
        seen.add(word)
        i += 1
    return SimpleNamespace(**values)
