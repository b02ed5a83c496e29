"""The optional fast JSON decoder: msgspec and the standard library give the same objects and the
same errors, and load_artifact works on both paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec.json as msgspec_json
import pytest

from floe_dbt_hooks import jsondecode
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTConfigurationError

DOCUMENTS: list[bytes] = [
    b'{"metadata": {"dbt_version": "1.11.16"}, "nodes": {}}',
    b'{"a": [1, -2, 3.5, 1e-7, 12345678901234567890123, true, false, null]}',
    '{"name": "caf\\u00e9 \u00e9 \U0001f600", "esc": "a\\"b\\\\c\\n\\t"}'.encode(),
    b'{"dup": 1, "dup": 2}',
    b' \n\t[ {"deep": [[[{"x": {}}]]]} ]\n',
    b'{"neg_zero": -0.0, "small": 5e-324, "big": 1.7976931348623157e308}',
]
"""Documents both decoders accept, with the awkward parts of JSON in them."""

STDLIB_ONLY: list[bytes] = [
    b'{"x": NaN, "y": Infinity, "z": -Infinity}',
    b'{"huge": 1e400}',
    b'{"lone": "\\ud800"}',
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": "\u00e9"}'.encode("utf-16"),
]
"""Documents only the standard library accepts: msgspec rejects them, so they are decoded again."""

BROKEN: list[bytes] = [
    b'{"metadata": {"a": 1}, "nodes": {',
    b'[1, 2,]',
    b'{"a": 1} trailing',
    b"",
    b'{"a": "unterminated}',
]

@pytest.fixture(params=["msgspec", "stdlib"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every document goes through the chosen path, whatever its size."""
    if request.param == "stdlib":
        monkeypatch.setenv(jsondecode.DECODER_ENV, "stdlib")
    else:
        monkeypatch.delenv(jsondecode.DECODER_ENV, raising=False)
        monkeypatch.setattr(jsondecode, "FAST_MIN_BYTES", 0)
    assert jsondecode.decoder_name(0) == ("json" if request.param == "stdlib" else "msgspec")
    param: str = request.param
    return param


@pytest.mark.parametrize("raw", DOCUMENTS + STDLIB_ONLY)
def test_same_objects_as_json_loads(decoder: str, raw: bytes) -> None:
    decoded = jsondecode.loads(raw)
    expected = json.loads(raw)
    assert repr(decoded) == repr(expected)  # repr: NaN != NaN, and int vs float must match too


@pytest.mark.parametrize("raw", DOCUMENTS)
def test_msgspec_accepts_what_it_is_used_for(raw: bytes) -> None:
    assert repr(msgspec_json.decode(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize("raw", STDLIB_ONLY)
def test_msgspec_rejects_the_stdlib_extensions(raw: bytes) -> None:
    """What the fallback exists for: without it these documents would fail on the fast path."""
    with pytest.raises(Exception, match=r"malformed|truncated|out of range|invalid"):
        msgspec_json.decode(raw)


@pytest.mark.parametrize("raw", BROKEN)
def test_broken_documents_raise_the_stdlib_error(decoder: str, raw: bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        jsondecode.loads(raw)
    with pytest.raises(json.JSONDecodeError) as plain:
        json.loads(raw)
    assert (info.value.msg, info.value.lineno, info.value.colno) == (
        plain.value.msg, plain.value.lineno, plain.value.colno)


def test_small_documents_use_the_stdlib_until_msgspec_is_loaded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jsondecode.DECODER_ENV, raising=False)
    assert jsondecode.fast_decoder() is msgspec_json.decode
    monkeypatch.delitem(jsondecode.sys.modules, "msgspec.json")
    assert jsondecode.decoder_name(1000) == "json"
    assert jsondecode.decoder_name(jsondecode.FAST_MIN_BYTES) == "msgspec"
    monkeypatch.setitem(jsondecode.sys.modules, "msgspec.json", msgspec_json)
    assert jsondecode.decoder_name(1000) == "msgspec"


def test_without_msgspec_the_stdlib_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without the fast extra: the import fails and json.loads does the work."""
    monkeypatch.delenv(jsondecode.DECODER_ENV, raising=False)
    monkeypatch.setattr(jsondecode, "_fast", jsondecode._UNSET)
    monkeypatch.setitem(jsondecode.sys.modules, "msgspec.json", None)  # import raises ImportError
    monkeypatch.setattr(jsondecode, "FAST_MIN_BYTES", 0)
    assert jsondecode.fast_decoder() is None
    assert jsondecode.decoder_name(0) == "json"
    assert jsondecode.loads(DOCUMENTS[1]) == json.loads(DOCUMENTS[1])


def _manifest(nodes: int) -> dict[str, Any]:
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "nodes": {
            f"model.shop.m{i}": {"resource_type": "model", "name": f"m{i}", "raw_code": "select 1 as é",
                                 "depends_on": {"nodes": [f"model.shop.m{i - 1}"] if i else []},
                                 "config": {"materialized": "view", "tags": [], "meta": {"n": i}}}
            for i in range(nodes)
        },
        "parent_map": {f"model.shop.m{i}": [] for i in range(nodes)},
    }


def test_load_artifact_on_both_paths(decoder: str, tmp_path: Path) -> None:
    data = _manifest(200)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_artifact(path) == data


def test_load_artifact_of_a_truncated_file_on_both_paths(decoder: str, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    text = json.dumps(_manifest(50), indent=1)
    path.write_text(text[: len(text) * 2 // 3], encoding="utf-8")
    with pytest.raises(DBTConfigurationError, match=r"manifest\.json is corrupt or truncated") as info:
        load_artifact(path)
    assert info.value.file_path == str(path)
    assert isinstance(info.value.line, int)
    assert info.value.line > 1
    assert info.value.__cause__ is None
