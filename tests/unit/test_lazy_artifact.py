"""Lazily decoded artifacts behave like the eagerly decoded JSON for every way callers read them,
and broken files fail at load time with the same error either way."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import random
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from floe_dbt_hooks import artifacts, jsondecode, lazy_artifact
from floe_dbt_hooks.artifacts import LazySection, is_lazy, load_artifact, materialize
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.runtime.results import manifest_nodes

MISSING = "model.nowhere.missing"


def manifest(nodes: int = 30) -> dict[str, Any]:
    """A small manifest with every kind of keyed section and awkward JSON in its nodes."""
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "project_name": "shop", "invocation_id": "i"},
        "nodes": {
            f"model.shop.m{i}": {
                "resource_type": "model", "name": f"m{i}", "package_name": "shop",
                "fqn": ["shop", f"m{i}"], "tags": ["nightly"] if i % 2 else [],
                "original_file_path": f"models/m{i}.sql", "raw_code": "select 1 as \u00e9 -- \U0001f600",
                "config": {"materialized": "table" if i % 3 else "view", "meta": {"n": i}},
                "depends_on": {"nodes": [f"model.shop.m{i - 1}"] if i else ["source.shop.raw.t"]},
                "columns": {}, "big": 12345678901234567890123, "small": 5e-324, "neg": -0.0,
            } for i in range(nodes)
        },
        "sources": {"source.shop.raw.t": {"resource_type": "source", "name": "t",
                                          "fqn": ["shop", "raw", "t"], "identifier": "t"}},
        "macros": {"macro.shop.m": {"name": "m", "macro_sql": "{% macro m() %}x{% endmacro %}"}},
        "docs": {}, "exposures": {}, "metrics": {}, "groups": {}, "semantic_models": {},
        "unit_tests": {}, "disabled": {"model.shop.off": [{"name": "off"}]},
        "parent_map": {f"model.shop.m{i}": [f"model.shop.m{i - 1}"] if i else [] for i in range(nodes)},
        "child_map": {f"model.shop.m{i}": [f"model.shop.m{i + 1}"] for i in range(nodes - 1)},
        "selectors": {"nightly": {"definition": "tag:nightly"}},
        "saved_queries": None,
    }


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    artifacts._cache.clear()
    yield
    artifacts._cache.clear()


def load(path: Path, *, lazy: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``load_artifact`` on one path, whatever its size, lazily or not, past the cache."""
    artifacts._cache.clear()
    monkeypatch.delenv(artifacts.LAZY_ENV, raising=False)
    monkeypatch.delenv(jsondecode.DECODER_ENV, raising=False)
    monkeypatch.setattr(artifacts, "LAZY_MIN_BYTES", 0 if lazy else 1 << 62)
    monkeypatch.setattr(jsondecode, "FAST_MIN_BYTES", 0)
    try:
        return load_artifact(path)
    finally:
        artifacts._cache.clear()


def assert_same_as_eager(lazy: dict[str, Any], eager: dict[str, Any]) -> None:
    """Every read a caller makes gives the same answer on the lazy artifact as on the eager one."""
    assert is_lazy(lazy)
    assert not is_lazy(eager)
    assert list(lazy) == list(eager)
    assert len(lazy) == len(eager)
    for name, section in lazy.items():
        if isinstance(section, LazySection):
            assert_section_same(section, eager[name])
        else:
            assert section == eager[name]
            assert type(section) is type(eager[name])
    # == in both directions, before and after everything is decoded
    assert lazy == eager
    assert eager == lazy
    plain = materialize(lazy)
    assert not is_lazy(plain)
    assert json.dumps(plain) == json.dumps(eager)
    assert json.dumps(plain, sort_keys=True, indent=1) == json.dumps(eager, sort_keys=True, indent=1)
    with pytest.raises(TypeError, match="LazySection"):
        json.dumps(lazy)  # C-level encoders need materialize(): a clear error, not wrong output
    for clone in (pickle.loads(pickle.dumps(lazy)), copy.deepcopy(lazy)):
        assert not is_lazy(clone)
        assert json.dumps(clone) == json.dumps(eager)
    assert manifest_nodes(lazy) == manifest_nodes(eager)
    if "nodes" in eager:
        lazy_graph, eager_graph = DBTGraph(lazy), DBTGraph(eager)
        assert lazy_graph.asset_ids() == eager_graph.asset_ids()
        assert lazy_graph.test_ids() == eager_graph.test_ids()
        assert lazy_graph.parents == eager_graph.parents
        for selector in ("*", "tag:nightly+", "+config.materialized:table"):
            assert lazy_graph.select(selector) == eager_graph.select(selector)


def assert_section_same(section: LazySection, expected: dict[str, Any]) -> None:
    """Each Mapping operation on a fresh section against the same operation on the dict."""
    assert section.decoded_count == 0  # nothing decoded before it is read
    assert len(section) == len(expected)
    assert bool(section) == bool(expected)
    assert list(section) == list(expected)
    assert list(section.keys()) == list(expected.keys())
    for key in expected:
        assert key in section
        assert key in section.keys()  # noqa: SIM118  # the KeysView's own __contains__
    assert MISSING not in section
    assert section.get(MISSING) is None
    assert section.get(MISSING, 5) == 5
    with pytest.raises(KeyError):
        section[MISSING]
    first = next(iter(expected), None)
    if first is not None:
        assert section.get(first) == expected[first]
        assert section[first] is section[first]  # decoded once, then kept
        assert type(section[first]) is type(expected[first])
        assert section.decoded_count == 1
    assert dict(section) == expected
    assert list(dict(section)) == list(expected)
    assert {**section} == expected
    assert list(reversed(section)) == list(reversed(expected))
    assert section.copy() == expected.copy()
    assert type(section.copy()) is dict
    assert section | {MISSING: 1} == expected | {MISSING: 1}
    assert {MISSING: 1} | section == {MISSING: 1} | expected
    assert list(section.items()) == list(expected.items())
    assert list(section.values()) == list(expected.values())
    assert section == expected
    assert expected == section
    assert not (section != expected)  # noqa: SIM202  # __ne__ derived from __eq__
    assert section.materialize() == expected
    assert type(section.materialize()) is dict
    assert (section == {**expected, MISSING: {}}) is False
    with pytest.raises(TypeError):
        section[MISSING] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(section)
    assert repr(len(expected)) in repr(section)
    # fully decoded (the file's bytes released): still the same mapping
    assert section.decoded_count == len(expected)
    assert list(section) == list(expected)
    assert section == expected
    with pytest.raises(KeyError):
        section[MISSING]


def test_every_read_matches_eager_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()), encoding="utf-8")
    eager = load(path, lazy=False, monkeypatch=monkeypatch)
    lazy = load(path, lazy=True, monkeypatch=monkeypatch)
    assert eager == json.loads(path.read_bytes())
    assert type(lazy) is dict
    assert type(lazy["metadata"]) is dict  # small, not keyed by unique id: decoded at once
    assert type(lazy["selectors"]) is dict
    assert lazy["saved_queries"] is None
    assert isinstance(lazy["nodes"], LazySection)
    assert isinstance(lazy["nodes"], Mapping)
    assert not isinstance(lazy["nodes"], dict)
    assert_same_as_eager(lazy, eager)


def test_non_ascii_written_raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fusion writes UTF-8 as is (dbt-core escapes it): the UTF-8 check and decoding agree."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest(), ensure_ascii=False), encoding="utf-8")
    assert not path.read_bytes().isascii()
    assert_same_as_eager(load(path, lazy=True, monkeypatch=monkeypatch),
                         load(path, lazy=False, monkeypatch=monkeypatch))


def test_entries_are_decoded_by_msgspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard library is only the fallback for an entry (a decoder built with the wrong
    type once sent every entry there, at twice the cost)."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()), encoding="utf-8")
    lazy = load(path, lazy=True, monkeypatch=monkeypatch)

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("an entry went to the standard library")

    monkeypatch.setattr(lazy_artifact.json, "loads", refuse)
    assert len(lazy["nodes"].materialize()) == 30
    assert lazy["parent_map"]["model.shop.m1"] == ["model.shop.m0"]


def test_lazy_only_when_large_with_msgspec_and_not_turned_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()), encoding="utf-8")
    monkeypatch.setattr(artifacts, "LAZY_MIN_BYTES", path.stat().st_size + 1)
    assert not is_lazy(load_artifact(path))
    artifacts._cache.clear()
    monkeypatch.setattr(artifacts, "LAZY_MIN_BYTES", path.stat().st_size)
    assert is_lazy(load_artifact(path))
    for env, value in ((artifacts.LAZY_ENV, "0"), (jsondecode.DECODER_ENV, "stdlib")):
        artifacts._cache.clear()
        with monkeypatch.context() as patch:
            patch.setenv(env, value)
            assert not is_lazy(load_artifact(path))
            assert load_artifact(path) == json.loads(path.read_bytes())


def test_run_results_stay_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_results.json's results are a list, not keyed sections: decoded whole, as before."""
    path = tmp_path / "run_results.json"
    data = {"metadata": {"invocation_id": "i"}, "elapsed_time": 1.5, "results": [
        {"unique_id": "model.shop.m0", "status": "success", "timing": [], "execution_time": 0.1}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load(path, lazy=True, monkeypatch=monkeypatch)
    assert not is_lazy(loaded)
    assert loaded == data


def _document(*, node_field: bytes) -> bytes:
    text = json.dumps(manifest(3)).encode()
    return text.replace(b'"big": 12345678901234567890123', b'"big": ' + node_field, 1)


BROKEN_OR_ODD: dict[str, bytes] = {
    "truncated": json.dumps(manifest(5), indent=1).encode()[:900],
    "truncated inside a node": json.dumps(manifest(5)).encode()[:-200],
    "garbage": b"\xff\xfe\x00garbage",
    "empty": b"",
    "trailing comma in a node": _document(node_field=b"[1, 2,]"),
    "bad escape in a node": _document(node_field=b'"\\q"'),
    "invalid UTF-8 in a node": _document(node_field=b'"\xff\xfe"'),
    "control character in a node": _document(node_field=b'"a\x01b"'),
    "NaN in a node": _document(node_field=b"NaN"),
    "number beyond a float in a node": _document(node_field=b"1e400"),
    "lone surrogate in a node": _document(node_field=b'"\\ud800"'),
    "byte-order mark": b"\xef\xbb\xbf" + json.dumps(manifest(3)).encode(),
    "trailing data": json.dumps(manifest(3)).encode() + b" x",
    "a list": b"[1, 2]",
    "a section that is a list": json.dumps({**manifest(3), "nodes": [1]}).encode(),
}


@pytest.mark.parametrize("name", BROKEN_OR_ODD)
def test_broken_or_odd_files_load_the_same_way(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever eager loading does at load time (raise which error, or give which document),
    lazy loading does too, at load time: a broken file never fails later, on first access."""
    path = tmp_path / "manifest.json"
    path.write_bytes(BROKEN_OR_ODD[name])
    outcomes = []
    for lazy in (False, True):
        try:
            data = load(path, lazy=lazy, monkeypatch=monkeypatch)
        except DBTConfigurationError as error:
            outcomes.append(("error", error.message, error.line, error.file_path))
        else:
            outcomes.append(("ok", json.dumps(materialize(data)), None, None))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0] == "error":
        assert outcomes[0][3] == str(path)
    expected_ok = name in ("NaN in a node", "number beyond a float in a node",
                           "lone surrogate in a node", "byte-order mark")
    assert (outcomes[0][0] == "ok") == expected_ok, outcomes[0]


def test_badly_shaped_node_fails_when_read_naming_file_and_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking every node's shape at load time would decode them all; a node is checked when
    first read instead, with the same error eager loading raises at load time."""
    data = manifest(3)
    data["nodes"]["model.shop.m1"]["tags"] = "nightly"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DBTConfigurationError) as eager_error:
        load(path, lazy=False, monkeypatch=monkeypatch)
    lazy = load(path, lazy=True, monkeypatch=monkeypatch)
    assert lazy["nodes"]["model.shop.m0"]["name"] == "m0"
    for read in (lambda: lazy["nodes"]["model.shop.m1"], lambda: materialize(lazy),
                 lambda: DBTGraph(lazy), lambda: lazy["nodes"]["model.shop.m1"]):
        with pytest.raises(DBTConfigurationError) as lazy_error:
            read()
        assert lazy_error.value.message == eager_error.value.message
        assert "'nodes['model.shop.m1'].tags' should be a list" in lazy_error.value.message
        assert lazy_error.value.file_path == str(path)
    assert lazy["parent_map"]["model.shop.m1"] == ["model.shop.m0"]  # not a node section


def test_threads_reading_one_section_share_each_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest(200)), encoding="utf-8")
    nodes = load(path, lazy=True, monkeypatch=monkeypatch)["nodes"]
    seen: list[list[int]] = []

    def read() -> None:
        seen.append([id(nodes[key]) for key in nodes])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == 4
    assert all(ids == seen[0] for ids in seen)
    assert [id(node) for node in nodes.values()] == seen[0]


def test_bulk_decoding_restores_the_garbage_collector(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()), encoding="utf-8")
    lazy = load(path, lazy=True, monkeypatch=monkeypatch)
    assert gc.isenabled()
    lazy["nodes"].materialize()
    assert gc.isenabled()
    gc.disable()
    try:
        lazy["parent_map"].materialize()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_dagster_assets_from_a_lazy_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The orchestrator path (DBTGraph, the translator, Dagster specs) gives the same definitions."""
    from floe_dbt_dagster import floe_dbt_assets
    from floe_dbt_dagster.translator import UNIQUE_ID_KEY

    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()), encoding="utf-8")
    described = []
    for lazy in (True, False):
        loaded = load(path, lazy=lazy, monkeypatch=monkeypatch)
        assert is_lazy(loaded) is lazy

        @floe_dbt_assets(project_dir=tmp_path, manifest=loaded, name="shop")
        def shop() -> None: ...

        described.append(sorted(
            (spec.key.to_user_string(), sorted(dep.asset_key.to_user_string() for dep in spec.deps),
             str(spec.metadata.get(UNIQUE_ID_KEY)), spec.group_name, sorted(spec.tags.items()),
             spec.description)
            for spec in shop.specs))
    assert described[0] == described[1]
    assert len(described[0]) == 30


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 1 << 16])
def test_chunked_utf8_check_agrees_with_decoding(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid exactly when the bytes decode, wherever the chunks fall: ASCII, 2-, 3- and 4-byte
    characters, and every kind of broken sequence, at every offset."""
    monkeypatch.setattr(lazy_artifact, "UTF8_CHUNK", chunk)
    pieces = [b"a", b'"', "\u00e9".encode(), "\u2615".encode(), "\U0001f600".encode(), b"\x80",
              b"\xbf", b"\xc3", b"\xe2\x98", b"\xf0\x9f\x98", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80"]
    rng = random.Random(7)
    samples = [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    samples += [a + b for a in pieces for b in pieces]
    for sample in samples:
        try:
            sample.decode("utf-8")
            expected = True
        except UnicodeDecodeError:
            expected = False
        assert lazy_artifact.utf8_valid(sample) is expected, sample
