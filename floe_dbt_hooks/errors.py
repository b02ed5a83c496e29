"""Errors raised by the framework and its runtimes, each with a stable FLOE-DBT code.

Every error keeps dbt's (or Fusion's) original message and, where the engine names one, the file and
line, so a user can go straight to the problem. Messages pass through the secret redactor before they
are stored, so no credential resolved from a profile can leak through an exception.
"""

from __future__ import annotations

from pathlib import Path

from floe_dbt_hooks.secrets import redact


class FloeDBTError(Exception):
    """Base class: ``code`` is stable across releases; ``hint`` says what to do about it."""

    code = "FLOE-DBT-E000"

    def __init__(
        self,
        message: str,
        *,
        file_path: str | Path | None = None,
        line: int | None = None,
        original_message: str | None = None,
        hint: str | None = None,
        engine_codes: tuple[str, ...] = (),
    ) -> None:
        self.message = redact(message)
        self.file_path = str(file_path) if file_path is not None else None
        self.line = line
        self.original_message = redact(original_message) if original_message else None
        self.hint = redact(hint) if hint else None
        self.engine_codes = engine_codes
        super().__init__(self.message)

    def __str__(self) -> str:
        where = ""
        if self.file_path:
            where = f" ({self.file_path}{f':{self.line}' if self.line else ''})"
        text = f"{self.code}{where}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description, used by ``--output json`` and by observers."""
        return {
            "code": self.code,
            "type": type(self).__name__,
            "message": self.message,
            "file_path": self.file_path,
            "line": self.line,
            "original_message": self.original_message,
            "hint": self.hint,
            "engine_codes": list(self.engine_codes),
        }


class DBTCompilationError(FloeDBTError):
    """The project could not be parsed or compiled (Jinja, YAML, refs, Fusion parse rejections)."""

    code = "FLOE-DBT-E001"


class DBTExecutionError(FloeDBTError):
    """The engine failed outside of any node: crashed, timed out, was cancelled or killed."""

    code = "FLOE-DBT-E002"


class DBTConfigurationError(FloeDBTError):
    """The project, profile, floe config or plugin set-up is missing or invalid."""

    code = "FLOE-DBT-E003"


class DBTLintError(FloeDBTError):
    """A linter could not run (as opposed to finding violations)."""

    code = "FLOE-DBT-E004"


class DBTFusionNotFoundError(FloeDBTError):
    """No usable dbt Fusion binary was found, or it is older than the supported minimum."""

    code = "FLOE-DBT-E005"


class DBTAdapterUnavailableError(FloeDBTError):
    """The profile's adapter is unknown to the runtime or its driver cannot be loaded here."""

    code = "FLOE-DBT-E006"


ERROR_CLASSES: dict[str, type[FloeDBTError]] = {
    cls.code: cls
    for cls in (
        DBTCompilationError,
        DBTExecutionError,
        DBTConfigurationError,
        DBTLintError,
        DBTFusionNotFoundError,
        DBTAdapterUnavailableError,
    )
}


def error_for_code(code: str) -> type[FloeDBTError]:
    """The error class for a FLOE-DBT code; unknown codes map to the configuration error."""
    return ERROR_CLASSES.get(code, DBTConfigurationError)
