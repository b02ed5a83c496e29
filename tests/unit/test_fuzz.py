"""Fuzzed input (hypothesis): floe.yml, profiles.yml, dbt_project.yml, --vars, selection
expressions, artifacts and CLI argv. Whatever the bytes, the answer is a value or a FLOE-DBT error
that names the file (and, for the CLI, exit code 2), never another exception.

Reproducible: every test derandomizes with a fixed ``max_examples`` and no example database, so CI
runs the same cases each time. ``CASES`` records how many ran (printed by ``-s`` at the end).
"""

from __future__ import annotations

import contextlib
import io
import json
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe_dbt_hooks import artifacts, jsondecode
from floe_dbt_hooks.artifacts import load_artifact, materialize
from floe_dbt_hooks.cli.main import _parse_vars, main
from floe_dbt_hooks.config import load_config
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.project import load_profile_target, load_project
from floe_dbt_hooks.runtime.results import manifest_nodes, run_results_nodes

CASES: dict[str, int] = {}
_F = TypeVar("_F", bound=Callable[..., Any])


def fuzz(examples: int) -> Callable[[_F], _F]:
    """Fixed, derandomized hypothesis settings; no deadline (the machine is shared)."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.filter_too_much])


def count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nfuzz cases: {sum(CASES.values())} {dict(sorted(CASES.items()))}")


# -- values ---------------------------------------------------------------------------------------

KEYS = ("name", "profile", "target", "outputs", "type", "path", "threads", "method", "plugins",
        "dbt_runtime", "dbt_fallback", "disable", "strict_plugins", "model-paths", "macro-paths",
        "seed-paths", "target-path", "packages-install-path", "config-version", "version", "dev",
        "contract", "fusion", "core", "timeout", "binary", "sqlfluff", "processes", "config",
        "host", "port", "user", "password", "schema", "database", "models", "vars")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["duckdb", "core", "fusion", "dev", "x.duckdb", "~nouser/x",
                                           "{{ env_var('FUZZ_X') }}", ":memory:", "a\0b", "", " "]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers(-3, 3), st.booleans(),
                 st.none())
documents = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


VALID_PROJECT = ("name: contract\nprofile: contract\nconfig-version: 2\nversion: '1.0.0'\n"
                 "model-paths: [models]\n")
VALID_PROFILES = ("contract:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                  "      path: contract.duckdb\n      threads: 2\n")
VALID_FLOE = "plugins:\n  dbt_runtime: fusion\n  dbt_fallback: false\n  disable: [lint]\n"


@st.composite
def yaml_texts(draw: st.DrawFn, valid: str) -> str:
    """A generated document, garbage text, or the valid file cut or spliced at a random point."""
    kind = draw(st.sampled_from(["document", "nested", "garbage", "cut", "splice"]))
    if kind == "document":
        return dump(draw(documents))
    if kind == "nested":
        data = yaml.safe_load(valid)
        top = draw(st.sampled_from(sorted(data)))
        data[top] = draw(documents)
        return dump(data)
    if kind == "garbage":
        return draw(st.text(alphabet=string.printable + "\t{}[]:-'\"&*!|>%@`\x00\ufeff", max_size=80))
    at = draw(st.integers(0, len(valid)))
    if kind == "cut":
        return valid[:at]
    return valid[:at] + draw(st.text(max_size=10)) + valid[at:]


def assert_names_file(error: FloeDBTError, path: Path) -> None:
    assert error.code.startswith("FLOE-DBT-E"), error
    assert error.file_path is not None, error
    assert Path(error.file_path).name == path.name, error
    assert str(error), error


def attempt(call: Callable[[], Any]) -> tuple[Any, FloeDBTError | None]:
    """``call()``'s value, or the FLOE-DBT error it raised; anything else propagates."""
    try:
        return call(), None
    except FloeDBTError as error:
        return None, error


# -- files ----------------------------------------------------------------------------------------


@fuzz(800)
@given(text=yaml_texts(VALID_FLOE))
def test_floe_yml(tmp_path: Path, text: str) -> None:
    count("floe.yml")
    (tmp_path / "floe.yml").write_text(text, encoding="utf-8")
    try:
        load_config(tmp_path, environ={})
    except FloeDBTError as error:
        assert_names_file(error, tmp_path / "floe.yml")


@fuzz(800)
@given(text=yaml_texts(VALID_PROJECT))
def test_dbt_project_yml(tmp_path: Path, text: str) -> None:
    count("dbt_project.yml")
    (tmp_path / "dbt_project.yml").write_text(text, encoding="utf-8")
    try:
        load_project(tmp_path)
    except FloeDBTError as error:
        assert_names_file(error, tmp_path / "dbt_project.yml")


@fuzz(800)
@given(text=yaml_texts(VALID_PROFILES), target=st.one_of(st.none(), st.sampled_from(["dev", "x"])))
def test_profiles_yml(tmp_path: Path, text: str, target: str | None) -> None:
    count("profiles.yml")
    (tmp_path / "dbt_project.yml").write_text(VALID_PROJECT, encoding="utf-8")
    (tmp_path / "profiles.yml").write_text(text, encoding="utf-8")
    project = load_project(tmp_path)
    try:
        load_profile_target(project, tmp_path, target, environ={"FUZZ_X": "duckdb"})
    except FloeDBTError as error:
        assert_names_file(error, tmp_path / "profiles.yml")


@fuzz(300)
@given(data=st.binary(max_size=40))
def test_undecodable_yaml_bytes(tmp_path: Path, data: bytes) -> None:
    count("yaml bytes")
    for name, load in (("dbt_project.yml", lambda: load_project(tmp_path)),
                       ("floe.yml", lambda: load_config(tmp_path, environ={}))):
        (tmp_path / name).write_bytes(data)
        try:
            load()
        except FloeDBTError as error:
            assert_names_file(error, tmp_path / name)


@fuzz(800)
@given(text=st.one_of(st.text(max_size=40), st.builds(dump, documents).map(lambda s: s.strip()),
                      st.builds(json.dumps, documents)))
def test_vars(text: str) -> None:
    count("--vars")
    value, error = attempt(lambda: _parse_vars(text))
    if error is not None:
        assert "--vars" in error.message, error
    else:
        assert isinstance(value, dict)


# -- artifacts ------------------------------------------------------------------------------------

MANIFEST = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                 "project_name": "contract", "adapter_type": "duckdb", "invocation_id": "i"},
    "nodes": {
        "model.contract.a": {"resource_type": "model", "name": "a", "package_name": "contract",
                             "fqn": ["contract", "a"], "path": "a.sql",
                             "original_file_path": "models/a.sql", "tags": ["t"],
                             "config": {"materialized": "view"},
                             "depends_on": {"nodes": ["seed.contract.s"]}},
        "seed.contract.s": {"resource_type": "seed", "name": "s", "package_name": "contract",
                            "fqn": ["contract", "s"], "original_file_path": "seeds/s.csv",
                            "config": {}, "depends_on": {"nodes": []}},
        "test.contract.t": {"resource_type": "test", "name": "t", "package_name": "contract",
                            "fqn": ["contract", "t"], "config": {},
                            "depends_on": {"nodes": ["model.contract.a"]},
                            "attached_node": "model.contract.a"},
    },
    "sources": {}, "groups": {},
}
RUN_RESULTS = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                 "invocation_id": "i"},
    "results": [{"unique_id": "model.contract.a", "status": "success", "execution_time": 0.1,
                 "message": "OK", "adapter_response": {}, "failures": None}],
    "elapsed_time": 0.2,
}


@st.composite
def artifact_bytes(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """A truncated or spliced artifact, raw garbage, or the artifact with a section replaced."""
    raw = json.dumps(valid).encode()
    kind = draw(st.sampled_from(["cut", "splice", "garbage", "section", "entry", "json"]))
    if kind == "cut":
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(max_size=8)) + raw[at:]
    if kind == "garbage":
        return draw(st.binary(max_size=60))
    if kind == "json":
        return json.dumps(draw(documents)).encode()
    data = json.loads(raw)
    section = draw(st.sampled_from(sorted(data)))
    if kind == "entry" and isinstance(data[section], dict) and data[section]:
        entry = draw(st.sampled_from(sorted(data[section])))
        if isinstance(data[section][entry], dict) and data[section][entry]:
            field = draw(st.sampled_from(sorted(data[section][entry])))
            data[section][entry][field] = draw(documents)
        else:
            data[section][entry] = draw(documents)
    elif kind == "entry" and isinstance(data[section], list) and data[section]:
        data[section][0] = {**data[section][0], draw(st.sampled_from(sorted(data[section][0]))):
                            draw(documents)}
    else:
        data[section] = draw(documents)
    return json.dumps(data).encode()


@fuzz(800)
@given(data=artifact_bytes(MANIFEST), select=st.sampled_from(["a+", "tag:t", "+a", "@s", "path:models"]))
def test_manifest_loader_and_graph(tmp_path: Path, data: bytes, select: str) -> None:
    count("manifest.json")
    path = tmp_path / "manifest.json"
    path.write_bytes(data)
    try:
        manifest = load_artifact(path)
        manifest_nodes(manifest)
        graph = DBTGraph(manifest, tmp_path)
        graph.select(select)
        graph.asset_ids()
        for uid in graph.test_ids():
            graph.attached_asset(uid)
    except FloeDBTError as error:
        assert_names_file(error, path)


def _read_manifest(path: Path, lazy: bool, select: str) -> tuple[str, ...]:
    """What a caller gets from ``path`` (decoded lazily or not): the document and a selection,
    or the error and whether it came from loading."""
    artifacts._cache.clear()
    with mock.patch.object(artifacts, "LAZY_MIN_BYTES", 0 if lazy else 1 << 62), \
            mock.patch.object(jsondecode, "FAST_MIN_BYTES", 0):
        try:
            manifest = load_artifact(path)
        except FloeDBTError as error:
            assert_names_file(error, path)
            return "load error", error.message
        finally:
            artifacts._cache.clear()
    try:
        graph = DBTGraph(manifest, path.parent)
        return "ok", json.dumps(materialize(manifest)), repr(sorted(graph.select(select)))
    except FloeDBTError as error:
        assert_names_file(error, path)
        return "read error", error.message


@fuzz(400)
@given(data=artifact_bytes(MANIFEST), select=st.sampled_from(["a+", "tag:t", "@s"]))
def test_lazy_manifest_reads_like_eager(tmp_path: Path, data: bytes, select: str) -> None:
    """Lazy decoding gives the same document, selection and errors; only a wrongly shaped entry
    may fail later (when read) than eagerly (at load), never broken JSON."""
    count("manifest.json lazy")
    path = tmp_path / "manifest.json"
    path.write_bytes(data)
    eager, lazy = _read_manifest(path, False, select), _read_manifest(path, True, select)
    if eager[0] == "load error" and lazy[0] == "read error":
        assert "corrupt or truncated" not in eager[1]
        assert lazy[1] == eager[1]
    else:
        assert lazy == eager


@fuzz(800)
@given(data=artifact_bytes(RUN_RESULTS))
def test_run_results_loader(tmp_path: Path, data: bytes) -> None:
    count("run_results.json")
    path = tmp_path / "run_results.json"
    path.write_bytes(data)
    try:
        run_results_nodes(load_artifact(path), MANIFEST)
    except FloeDBTError as error:
        assert_names_file(error, path)


# -- selection ------------------------------------------------------------------------------------

selector_words = st.text(alphabet=string.ascii_letters + string.digits + "+@:,.*?/_- \t\\[]",
                         max_size=24)


@fuzz(800)
@given(select=st.one_of(selector_words, st.lists(selector_words, max_size=3)),
       exclude=st.one_of(st.none(), selector_words))
def test_selection_expressions(select: Any, exclude: str | None) -> None:
    count("-s expressions")
    graph = DBTGraph(MANIFEST)
    chosen, error = attempt(lambda: graph.select(select, exclude))
    if error is not None:
        assert error.code.startswith("FLOE-DBT-E"), error
        assert error.message, error
    else:
        assert chosen <= set(MANIFEST["nodes"])


# -- the CLI --------------------------------------------------------------------------------------

COMMANDS = ["build", "run", "test", "seed", "snapshot", "compile", "lint", "plugins", "artifacts",
            "compare", "--version", "--help", "nope", ""]
FLAGS = ["--project-dir", "--profiles-dir", "--target", "-t", "--select", "-s", "--exclude",
         "--selector", "--vars", "--runtime", "--no-fallback", "--fallback", "--threads",
         "--full-refresh", "--output", "--log-format", "--log-level", "-p", "--fix", "--kind",
         "--write", "--target-path", "--runtimes", "--execute", "--report", "--timeout", "-q"]
VALUES = ["json", "text", "github", "core", "fusion", "nope", "0", "-1", "x", "{a: 1}", "[1",
          "no:core", "manifest", "a+", "{{", "", "--", "debug", "99999999999999999999"]


@st.composite
def argvs(draw: st.DrawFn, project: str) -> list[str]:
    argv = [draw(st.sampled_from(COMMANDS))]
    for _ in range(draw(st.integers(0, 5))):
        flag = draw(st.sampled_from(FLAGS))
        argv.append(flag)
        if draw(st.booleans()):
            argv.append(draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=6))))
    if draw(st.booleans()):
        argv += ["--project-dir", project]
    return argv


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose dbt_project.yml is wrong, so no command gets as far as an engine."""
    root = tmp_path_factory.mktemp("broken")
    (root / "dbt_project.yml").write_text("name: [\n", encoding="utf-8")
    (root / "profiles.yml").write_text(VALID_PROFILES, encoding="utf-8")
    return root


@fuzz(600)
@given(data=st.data())
def test_cli_argv(broken_project: Path, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
                  ) -> None:
    count("CLI argv")
    argv = data.draw(argvs(str(broken_project)))
    monkeypatch.chdir(broken_project)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2 and argv[0] not in ("", "nope", "--help") and "error" in err.getvalue():
        assert "FLOE-DBT-E" in err.getvalue() or "usage:" in err.getvalue(), (argv, err.getvalue())


@pytest.mark.parametrize("argv", [
    ["build", "--vars", "[1"],
    ["compile", "--threads", "x"],
    ["artifacts", "--kind", "manifest"],
])
def test_cli_process_exits_2_without_traceback(broken_project: Path, argv: list[str]) -> None:
    """A few of the fuzzed shapes through the real console script, as a user runs it."""
    import os
    import subprocess
    import sys

    count("CLI process")
    script = Path(sys.executable).parent / "floe-dbt"
    done = subprocess.run([str(script), *argv, "--project-dir", str(broken_project)],
                          cwd=broken_project, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DO_NOT_TRACK": "1"}, check=False)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr, done.stderr
    assert "FLOE-DBT-E" in done.stderr or "usage:" in done.stderr, done.stderr


@fuzz(150)
@given(text=yaml_texts(VALID_FLOE), command=st.sampled_from(["compile", "build", "lint"]))
def test_cli_with_fuzzed_floe_yml(tmp_path_factory: pytest.TempPathFactory,
                                  monkeypatch: pytest.MonkeyPatch, text: str, command: str
                                  ) -> None:
    """A real project whose floe.yml is fuzzed and whose profiles.yml is missing: the CLI stops at
    one of the two files with exit code 2, before any engine starts."""
    count("CLI floe.yml")
    root = tmp_path_factory.mktemp("cli")
    (root / "dbt_project.yml").write_text(VALID_PROJECT, encoding="utf-8")
    (root / "floe.yml").write_text(text, encoding="utf-8")
    (root / "no-profiles").mkdir()
    monkeypatch.setenv("DBT_PROFILES_DIR", str(root / "no-profiles"))
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([command, "--project-dir", str(root)])
    assert code == 2, err.getvalue()
    assert "Traceback" not in err.getvalue(), err.getvalue()
    assert ("floe.yml" in err.getvalue() or "profiles.yml" in err.getvalue()), err.getvalue()
