"""FLOE-DBT errors (codes, text, JSON form) and the process-wide secret redactor."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import pytest

from floe_dbt_hooks import secrets
from floe_dbt_hooks.errors import (
    ERROR_CLASSES,
    DBTAdapterUnavailableError,
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    DBTFusionNotFoundError,
    DBTLintError,
    FloeDBTError,
    error_for_code,
)

CODES = [
    (DBTCompilationError, "FLOE-DBT-E001"),
    (DBTExecutionError, "FLOE-DBT-E002"),
    (DBTConfigurationError, "FLOE-DBT-E003"),
    (DBTLintError, "FLOE-DBT-E004"),
    (DBTFusionNotFoundError, "FLOE-DBT-E005"),
    (DBTAdapterUnavailableError, "FLOE-DBT-E006"),
]


def _secret() -> str:
    """A value no other test registers (the registry is process-wide and only grows)."""
    return f"s3cr3t-{uuid.uuid4().hex}"


@pytest.mark.parametrize(("cls", "code"), CODES)
def test_each_error_class_has_its_code(cls: type[FloeDBTError], code: str) -> None:
    assert cls.code == code
    assert issubclass(cls, FloeDBTError)
    assert cls("x").code == code


def test_codes_are_unique_and_complete() -> None:
    assert sorted(ERROR_CLASSES) == [code for _, code in CODES]
    assert len({cls.code for cls, _ in CODES}) == len(CODES)


@pytest.mark.parametrize(("cls", "code"), CODES)
def test_str_contains_code_file_line_and_hint(cls: type[FloeDBTError], code: str) -> None:
    error = cls(
        "model failed to compile", file_path=Path("models/orders.sql"), line=12,
        hint="fix the SQL",
    )
    text = str(error)
    assert text.startswith(code)
    assert "models/orders.sql:12" in text
    assert "model failed to compile" in text
    assert "hint: fix the SQL" in text


def test_str_without_location_or_hint() -> None:
    error = DBTExecutionError("engine crashed")
    assert str(error) == "FLOE-DBT-E002: engine crashed"


def test_str_with_file_but_no_line() -> None:
    error = DBTConfigurationError("bad", file_path="/p/dbt_project.yml")
    assert str(error) == "FLOE-DBT-E003 (/p/dbt_project.yml): bad"


def test_attributes_and_to_dict() -> None:
    error = DBTCompilationError(
        "msg", file_path=Path("/p/models/a.sql"), line=3, original_message="dbt said so",
        hint="h", engine_codes=("dbt1001", "dbt1002"),
    )
    assert error.file_path == "/p/models/a.sql"
    assert error.args == ("msg",)
    data = error.to_dict()
    assert data == {
        "code": "FLOE-DBT-E001",
        "type": "DBTCompilationError",
        "message": "msg",
        "file_path": "/p/models/a.sql",
        "line": 3,
        "original_message": "dbt said so",
        "hint": "h",
        "engine_codes": ["dbt1001", "dbt1002"],
    }
    json.dumps(data)  # JSON-ready


def test_errors_pickle_with_their_details() -> None:
    error = DBTLintError("lint broke", file_path="a.sql", line=2, hint="h", engine_codes=("x",))
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is DBTLintError
    assert clone.to_dict() == error.to_dict()


@pytest.mark.parametrize(("cls", "code"), CODES)
def test_error_for_code(cls: type[FloeDBTError], code: str) -> None:
    assert error_for_code(code) is cls


@pytest.mark.parametrize("code", ["FLOE-DBT-E999", "", "FLOE-DBT-E000"])
def test_error_for_unknown_code_is_configuration_error(code: str) -> None:
    assert error_for_code(code) is DBTConfigurationError


def test_registered_secret_is_masked_in_message_original_message_and_to_dict() -> None:
    secret = _secret()
    secrets.register_secrets([secret])
    error = DBTExecutionError(
        f"connection failed for password={secret}",
        original_message=f"driver said: auth {secret} rejected",
    )
    assert secret not in error.message
    assert secret not in str(error)
    assert secret not in (error.original_message or "")
    assert secret not in json.dumps(error.to_dict())
    assert secrets.MASK in error.message
    assert error.original_message == f"driver said: auth {secrets.MASK} rejected"
    assert error.to_dict()["message"] == f"connection failed for password={secrets.MASK}"


def test_registered_secret_is_masked_in_hint() -> None:
    """The hint is printed by str() and to_dict() like the message; it must not leak a secret
    either (runtimes pass engine-provided hints through, e.g. a connection string)."""
    secret = _secret()
    secrets.register_secrets([secret])
    error = DBTAdapterUnavailableError("cannot connect", hint=f"check dsn postgres://u:{secret}@h")
    assert secret not in str(error)
    assert secret not in json.dumps(error.to_dict())


def test_redact_masks_every_registered_secret() -> None:
    first, second = _secret(), _secret()
    secrets.register_secrets([first, second])
    assert secrets.is_registered(first)
    assert secrets.is_registered(second)
    text = f"a={first} b={second} a again={first}"
    assert secrets.redact(text) == f"a={secrets.MASK} b={secrets.MASK} a again={secrets.MASK}"


def test_redact_prefers_the_longest_overlapping_secret() -> None:
    short = f"tok{uuid.uuid4().hex[:8]}"
    long = f"{short}-extended"
    secrets.register_secrets([short, long])
    # the whole long secret is masked, not its prefix leaving '-extended' behind
    assert secrets.redact(f"x {long} y") == f"x {secrets.MASK} y"


def test_short_and_non_string_values_are_not_registered() -> None:
    secrets.register_secrets(["ab", "", 12345])  # type: ignore[list-item]
    assert not secrets.is_registered("ab")
    assert secrets.redact("ab cd ab") == "ab cd ab"


def test_redact_handles_empty_and_unrelated_text() -> None:
    secrets.register_secrets([_secret()])
    assert secrets.redact("") == ""
    assert secrets.redact("nothing to hide") == "nothing to hide"


def test_secret_with_regex_characters_is_masked_literally() -> None:
    secret = f"p.a*s+s({uuid.uuid4().hex[:6]})"
    secrets.register_secrets([secret])
    assert secrets.redact(f"pw={secret};") == f"pw={secrets.MASK};"
    # a regex-looking value must not match other text
    assert secrets.redact("pXaaas") == "pXaaas"

