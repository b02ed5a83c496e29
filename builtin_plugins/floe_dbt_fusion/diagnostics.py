"""Fusion's own diagnostics: the code, file and line inside its error and warning messages.

Fusion's ``--log-format json`` lines go through the shared parser (floe_dbt_hooks.runtime.events)
like every engine's events. What is Fusion's alone is the text of its errors and warnings, e.g.
``[error] [SerializationError (dbt1013)]: ... --> dbt_project.yml:24:21``: parsed here into
:class:`Diagnostic` so errors keep Fusion's code, file and line, and summarised one way everywhere.
"""

from __future__ import annotations

import re

import attrs

from floe_dbt_hooks.runtime.events import EventParser
from floe_dbt_hooks.secrets import redact

_DIAGNOSTIC = re.compile(
    r"^\[(?P<severity>error|warning)\]\s+\[(?P<name>\w+) \((?P<code>dbt\d+)\)\]:\s*(?P<text>.*?)"
    r"(?:\n\s*-->\s*(?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+))?\s*$",
    re.DOTALL,
)
_RULE = re.compile(r"\[([A-Z]{2}\d{2})\]\.?\s*$")
_PROJECT_FILE = re.compile(
    r"\b(selectors\.yml|dbt_project\.yml|profiles\.yml|packages\.yml|dependencies\.yml)\b")


def _named_file(text: str) -> str | None:
    """A project file an unlocated diagnostic names in its text ("Error parsing selectors.yml")."""
    match = _PROJECT_FILE.search(text)
    return match.group(1) if match else None


@attrs.frozen
class Diagnostic:
    """An error or warning Fusion reported, with its own code and source position."""

    severity: str
    name: str
    code: str
    text: str
    file_path: str | None = None
    line: int | None = None
    column: int | None = None
    unique_id: str | None = None

    @property
    def rule(self) -> str | None:
        """The SQLFluff-style rule code lint findings end with (``[CV05]``)."""
        match = _RULE.search(self.text)
        return match.group(1) if match else None


def parse_diagnostic(message: str, unique_id: str | None = None) -> Diagnostic | None:
    match = _DIAGNOSTIC.match(message.strip())
    if match is None:
        return None
    return Diagnostic(
        severity=match.group("severity"),
        name=match.group("name"),
        code=match.group("code"),
        text=match.group("text").strip(),
        file_path=match.group("file") or _named_file(match.group("text")),
        line=int(match.group("line")) if match.group("line") else None,
        column=int(match.group("column")) if match.group("column") else None,
        unique_id=unique_id,
    )


def diagnostics(parser: EventParser) -> list[Diagnostic]:
    """Fusion's located errors and warnings among the messages the shared parser kept."""
    found = (parse_diagnostic(m.text, m.unique_id) for m in parser.messages)
    return [d for d in found if d is not None]


def errors(parser: EventParser) -> list[Diagnostic]:
    return [d for d in diagnostics(parser) if d.severity == "error"]


def summarize(found: list[Diagnostic], stderr: str = "", *, limit: int = 5) -> str:
    """The first few diagnostics (code, name, place, text), else the tail of stderr, redacted."""
    if found:
        return "; ".join(
            f"{d.code} {d.name} at {d.file_path}{f':{d.line}' if d.line else ''}: {d.text}"
            if d.file_path
            else f"{d.code} {d.name}: {d.text}" for d in found[:limit]
        )
    return redact(stderr.strip()[-2000:])


@attrs.frozen
class Rejection:
    """Why Fusion stopped before its first node, as a fallback reason."""

    reason_code: str
    error_code: str
    what: str
    hint: str


_DOWNLOAD = re.compile(r"HTTP error|lookup address|download|dns", re.IGNORECASE)
_AUTHENTICATION = re.compile(r"auth|password|credential|permission denied", re.IGNORECASE)


def classify(rejected: list[Diagnostic]) -> Rejection:
    """Tell a driver Fusion could not load, a refused login and an unreachable database apart
    from a project it would not parse: each has its own reason code and fix."""
    text = " ".join(d.text for d in rejected)
    names = " ".join(d.name for d in rejected)
    if "DbDriverFailed" in names and _DOWNLOAD.search(text):
        return Rejection(
            "driver-unavailable", "FLOE-DBT-E006",
            "dbt Fusion could not load the adapter's driver (it tried to download it)",
            "Fusion downloads dbt Labs' driver build on first use: run it once with network "
            "access, or use --runtime core")
    if _AUTHENTICATION.search(f"{names} {text}"):
        return Rejection(
            "authentication-failed", "FLOE-DBT-E003",
            "the database refused dbt Fusion's login",
            "check the profile's user and password (and the env vars they come from)")
    if "DbDriverFailed" in names or re.search(r"connect", names, re.IGNORECASE):
        return Rejection(
            "connection-failed", "FLOE-DBT-E006",
            "dbt Fusion could not reach the database",
            "check the profile's host, port and database, and that the server is running")
    return Rejection(
        "parse-rejected", "FLOE-DBT-E001", "dbt Fusion rejected the project while parsing",
        "fix the reported config (dbt-autofix rewrites most older forms) or keep this project "
        "on --runtime core")
