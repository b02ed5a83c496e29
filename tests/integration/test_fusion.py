"""The dbt Fusion runtime on the real Fusion binary: parity, every fallback reason for real, strict
mode, parallel invocations, and stopping a run (timeout, cancel, kill) without leftovers."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from floe_dbt_fusion import detection
from floe_dbt_fusion.plugin import FusionRuntime

from floe_dbt_hooks import (
    CompileRequest,
    DBTFacade,
    DBTRunResult,
    LintRequest,
    RunRequest,
    create_plugin_manager,
)
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import (
    DBTAdapterUnavailableError,
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    DBTFusionNotFoundError,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, EventRecorder, write_project
from tests.conftest import RunCLI, copy_example

pytestmark = pytest.mark.integration

FUSION_BIN = os.environ.get("FLOE_DBT_FUSION_BIN", "")
SLOW_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select count(*) as n from range(3000000) a, range(3000000) b\n"
    "where (a.range * 31 + b.range) % 1000003 = 7\n"
)


@pytest.fixture(autouse=True)
def _real_fusion() -> None:
    assert Path(FUSION_BIN).is_file(), (
        "FLOE_DBT_FUSION_BIN must point at the real Fusion binary; scripts/bootstrap.py test sets it"
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


def _fusion_plugin(pm: FloePluginManager) -> FusionRuntime:
    plugin = pm.get_plugin("floe_dbt_fusion")
    assert isinstance(plugin, FusionRuntime)
    return plugin


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_example_project_parity_between_runtimes(tmp_path: Path) -> None:
    statuses = {}
    for runtime in ("core", "fusion"):
        project = copy_example(tmp_path / runtime)
        result = DBTFacade(runtime=runtime, fallback=False).build(project)
        assert result.runtime == runtime
        assert result.success
        statuses[runtime] = {n.unique_id: n.status for n in result.nodes}
    assert statuses["fusion"] == statuses["core"]
    assert len(statuses["core"]) == 33


@pytest.mark.parametrize("command", ["seed", "run", "test", "build", "snapshot"])
def test_every_run_command_under_fusion(project: Path, command: str) -> None:
    write_project(project, {"snapshots/people_snapshot.yml": (
        "snapshots:\n  - name: people_snapshot\n    relation: ref('people')\n"
        "    config:\n      unique_key: id\n      strategy: check\n      check_cols: all\n"
    )})
    facade = DBTFacade(runtime="fusion", fallback=False)
    if command not in ("seed", "build"):
        facade.invoke("build", project, exclude="people_snapshot")
    result = facade.invoke(command, project)  # type: ignore[arg-type]
    assert result.success, [(n.unique_id, n.message) for n in result.nodes]
    assert result.runtime == "fusion"
    kinds = {n.resource_type for n in result.nodes}
    expected = {"seed": {"seed"}, "run": {"model"}, "test": {"test"},
                "build": {"seed", "model", "test", "snapshot"}, "snapshot": {"snapshot"}}
    assert kinds == expected[command]


def test_compile_and_catalog_under_fusion(project: Path) -> None:
    facade = DBTFacade(runtime="fusion", fallback=False)
    manifest = facade.compile_project(project)
    assert "model.contract.adults" in load_artifact(manifest)["nodes"]
    facade.build(project)
    catalog = facade.get_catalog(project)
    assert "model.contract.adults" in catalog["nodes"]


def test_sql_error_mid_run_is_that_runs_failure_not_a_fallback(project: Path) -> None:
    (project / "models" / "adults.sql").write_text("select no_such_column from {{ ref('base_people') }}\n")
    recorder = EventRecorder()
    result = DBTFacade(runtime="fusion", plugins=[recorder]).build(project)
    assert result.runtime == "fusion"
    assert result.declined == ()
    assert recorder.fallbacks == []
    by_id = {n.unique_id: n for n in result.nodes}
    assert by_id["model.contract.adults"].status == "error"
    assert "no_such_column" in (by_id["model.contract.adults"].error_message or "")
    assert by_id["model.contract.base_people"].status == "success"


# -- fallback: each reason produced for real -------------------------------------------------

OLD_CONFIG_PROJECT = (
    "name: contract\nprofile: contract\nconfig-version: 2\nmodels:\n  contract:\n    materialized: view\n"
)
OLD_TEST_ARGS = (
    "version: 2\nmodels:\n  - name: adults\n    columns:\n      - name: name\n        data_tests:\n"
    "          - accepted_values:\n              values: ['ada', 'grace']\n"
)


def _postgres(project: Path) -> None:
    (project / "profiles.yml").write_text(
        "contract:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: 127.0.0.1\n"
        "      port: 1\n      user: u\n      password: p\n      dbname: d\n      schema: s\n"
    )


FALLBACKS = {
    "binary-missing": (
        lambda project, mp: mp.setenv("FLOE_DBT_FUSION_BIN", str(project / "no" / "dbt")),
        "FLOE-DBT-E005", DBTFusionNotFoundError, True,
    ),
    "version-too-old": (
        lambda project, mp: (project / "floe.yml").write_text(
            "plugins:\n  fusion:\n    min_version: 9.0.0\n"),
        "FLOE-DBT-E005", DBTFusionNotFoundError, True,
    ),
    "driver-unavailable": (
        lambda project, mp: (mp.setenv("ADBC_DRIVER_PATH", str(project / "no-drivers")),
                             mp.setattr(sys, "prefix", str(project / "no-environment"))),
        "FLOE-DBT-E006", DBTAdapterUnavailableError, True,
    ),
    "adapter-unsupported": (
        lambda project, mp: _postgres(project), "FLOE-DBT-E006", DBTAdapterUnavailableError, False,
    ),
    "parse-rejected": (
        lambda project, mp: (project / "dbt_project.yml").write_text(OLD_CONFIG_PROJECT),
        "FLOE-DBT-E001", DBTCompilationError, True,
    ),
}


@pytest.mark.parametrize("reason", sorted(FALLBACKS))
def test_fusion_declines_and_core_serves(project: Path, reason: str, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    arrange, error_code, _error, core_can_serve = FALLBACKS[reason]
    arrange(project, monkeypatch)
    recorder = EventRecorder()
    pm = create_plugin_manager(project, runtime="fusion", plugins=[recorder])
    request = RunRequest(project_dir=project, command="seed")
    with caplog.at_level(logging.WARNING, logger="floe_dbt_hooks"):
        if core_can_serve:
            result = pm.hook.dbt_run(request=request)
            assert result.runtime == "core"
            assert result.success
            assert [(d.runtime, d.reason_code, d.error_code) for d in result.declined] == [
                ("fusion", reason, error_code)
            ]
            assert result.declined[0].hint
        else:
            # dbt-postgres is installed (postgres is a target), so dbt-core takes the request
            # and fails to connect to the server this profile names, which does not exist.
            with pytest.raises(DBTConfigurationError, match=r'127\.0\.0\.1(:|", port )1\b'):
                pm.hook.dbt_run(request=request)
    assert [(e.runtime, e.reason_code) for e in recorder.fallbacks] == [("fusion", reason)]
    warnings = [r for r in caplog.records if r.getMessage() == "runtime_fallback"]
    assert len(warnings) == 1, "one warning per fallback"


@pytest.mark.parametrize("reason", sorted(FALLBACKS))
def test_strict_mode_raises_instead_of_falling_back(project: Path, reason: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    arrange, error_code, error, _ = FALLBACKS[reason]
    arrange(project, monkeypatch)
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    with pytest.raises(error) as caught:
        pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    assert caught.value.code == error_code
    assert caught.value.hint
    assert not (project / "contract.duckdb").exists(), "nothing may run on core in strict mode"


def test_postgres_driver_is_looked_for_where_fusion_loads_it(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Outside DuckDB, Fusion loads only its own driver build from its cache (never
    ADBC_DRIVER_PATH): a library there does not count, and the decline names the cache folder."""
    _postgres(project)
    monkeypatch.setenv("DBT_ALLOW_EXPERIMENTAL_ADAPTERS", "true")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    drivers = tmp_path / "drivers"
    drivers.mkdir()
    (drivers / "libadbc_driver_postgres.so").write_bytes(b"\x7fELF")
    monkeypatch.setenv("ADBC_DRIVER_PATH", str(drivers))
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    with pytest.raises(DBTAdapterUnavailableError) as caught:
        pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    assert "com.getdbt/adbc" in caught.value.message
    assert "libadbc_driver_postgresql-*.so" in caught.value.message
    assert "network access" in (caught.value.hint or "")


def test_failure_before_the_first_node_is_classified_not_called_a_parse_error(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With the driver check off, the real Fusion starts, fails to fetch its postgres driver
    (dbt1308 DbDriverFailed, no network) before any node: a driver problem, not a rejected
    project, and dbt-core is asked next."""
    _postgres(project)
    (project / "floe.yml").write_text("plugins:\n  fusion:\n    check_driver: false\n")
    monkeypatch.setenv("DBT_ALLOW_EXPERIMENTAL_ADAPTERS", "true")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    recorder = EventRecorder()
    pm = create_plugin_manager(project, runtime="fusion", plugins=[recorder], fallback=False)
    with pytest.raises(DBTAdapterUnavailableError) as caught:
        pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    assert "dbt1308" in caught.value.engine_codes
    assert "could not load the adapter's driver" in caught.value.message
    assert [e.reason_code for e in recorder.fallbacks] == ["driver-unavailable"]


def test_spark_session_method_is_declined_before_anything_runs(project: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "profiles.yml").write_text(
        "contract:\n  target: dev\n  outputs:\n    dev:\n      type: spark\n      method: session\n"
        "      host: NA\n      schema: s\n"
    )
    monkeypatch.setenv("DBT_ALLOW_EXPERIMENTAL_ADAPTERS", "true")
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    with pytest.raises(DBTAdapterUnavailableError) as caught:
        pm.hook.dbt_compile(request=CompileRequest(project_dir=project))
    assert "'session'" in caught.value.message
    assert "'method'" in caught.value.message
    assert "thrift" in (caught.value.hint or "")


def test_parse_rejection_keeps_fusions_codes_and_location(project: Path) -> None:
    (project / "models" / "schema.yml").write_text(OLD_TEST_ARGS)
    result = DBTFacade(runtime="fusion").build(project)
    assert result.runtime == "core"
    assert result.success
    declined = result.declined[0]
    assert declined.reason_code == "parse-rejected"
    assert declined.engine_codes == ("dbt1159",)
    assert declined.file_path == "models/schema.yml"
    assert declined.line == 8
    with pytest.raises(DBTCompilationError) as caught:
        DBTFacade(runtime="fusion", fallback=False).build(project)
    assert caught.value.engine_codes == ("dbt1159",)
    assert (caught.value.file_path, caught.value.line) == ("models/schema.yml", 8)


def test_core_selected_fusion_declines_silently(project: Path) -> None:
    recorder = EventRecorder()
    result = DBTFacade(runtime="core", plugins=[recorder]).invoke("seed", project)
    assert result.runtime == "core"
    assert recorder.fallbacks == []
    assert result.declined == ()


def test_cli_no_fallback_exits_2_with_reason(project: Path, floe_dbt: RunCLI) -> None:
    (project / "dbt_project.yml").write_text(OLD_CONFIG_PROJECT)
    strict = floe_dbt("seed", "--project-dir", str(project), "--runtime", "fusion", "--no-fallback")
    assert strict.code == 2, strict
    assert "FLOE-DBT-E001" in strict.stderr
    assert "dbt1013" in strict.stderr
    assert "hint:" in strict.stderr
    relaxed = floe_dbt("seed", "--project-dir", str(project), "--runtime", "fusion")
    assert relaxed.code == 0, relaxed
    assert "FALLBACK: runtime 'fusion' declined [parse-rejected]" in relaxed.stderr
    assert "on runtime 'core'" in relaxed.stdout


# -- detection ---------------------------------------------------------------------------------

def test_detection_tells_fusion_from_dbt_core_on_path(tmp_path: Path) -> None:
    core_dir = tmp_path / "core-bin"
    core_dir.mkdir()
    core_dbt = core_dir / "dbt"
    core_dbt.symlink_to(Path(sys.executable).parent / "dbt")
    fusion_dir = tmp_path / "fusion-bin"
    fusion_dir.mkdir()
    (fusion_dir / "dbt").symlink_to(FUSION_BIN)
    home = tmp_path / "home"
    only_core = detection.detect(environ={"PATH": str(core_dbt.parent), "HOME": str(home)},
                                 environment_bin=tmp_path)
    assert only_core.binary is None
    assert only_core.reason_code == "binary-missing"
    assert f"{core_dbt} ('dbt' on PATH): not dbt Fusion" in (only_core.message or "")
    both = detection.detect(
        environ={"PATH": f"{core_dbt.parent}{os.pathsep}{fusion_dir}", "HOME": str(home)},
        environment_bin=tmp_path,
    )
    beside_python = tmp_path / "env-bin"
    beside_python.mkdir()
    (beside_python / "dbtf").symlink_to(FUSION_BIN)
    installed = detection.detect(environ={"PATH": str(core_dbt.parent), "HOME": str(home)},
                                 environment_bin=beside_python)
    assert installed.binary is not None
    assert installed.binary.source == "'dbtf' in this Python environment"
    assert both.binary is not None
    assert both.binary.path == fusion_dir / "dbt"
    assert both.binary.version.startswith("2.0.0")


def test_detection_is_cached_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "dbtf"
    copy.symlink_to(FUSION_BIN)
    first = detection.detect(str(copy))
    assert first.binary is not None

    def no_subprocess(path: Path) -> str | None:
        raise AssertionError(f"--version asked again for {path}")

    monkeypatch.setattr(detection, "_ask_version", no_subprocess)
    detection._versions.clear()
    again = detection.detect(str(copy))
    assert again.binary == first.binary, "served from the on-disk cache without a subprocess"


def test_child_environment_is_deliberate(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    monkeypatch.setenv("DBT_WRITE_JSON", "false")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    monkeypatch.setenv("FLOE_TEST_SCHEMA", "people_schema")
    (project / "models" / "uses_env.sql").write_text(
        "select '{{ env_var(\"FLOE_TEST_SCHEMA\") }}' as schema_name\n"
    )
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="run",
                                                select=["uses_env"]))
    assert result.success
    with duckdb.connect(str(project / "contract.duckdb"), read_only=True) as db:
        assert db.execute("select schema_name from uses_env").fetchall() == [("people_schema",)]
    from floe_dbt_fusion.invocation import child_env

    from floe_dbt_hooks.project import load_profile_target, load_project

    loaded = load_project(project)
    env = child_env(loaded, load_profile_target(loaded), Path(FUSION_BIN), {}, [])
    assert env["RUST_BACKTRACE"] == "0"
    assert env["DO_NOT_TRACK"] == "1"
    assert "DBT_WRITE_JSON" not in env
    assert "UNRELATED_SECRET" not in env
    assert env["FLOE_TEST_SCHEMA"] == "people_schema"


# -- parallel execution ---------------------------------------------------------------------

def test_eight_concurrent_threads_each_get_intact_artifacts(project: Path) -> None:
    facade = DBTFacade(runtime="fusion", fallback=False)
    assert facade.supports_parallel_execution(project) is True
    results: list[object] = []

    def work(i: int) -> None:
        command = "compile" if i % 2 else "build"
        results.append(facade.compile(project) if command == "compile" else facade.build(project))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == 8
    paths = set()
    for result in results:
        assert result.success
        assert result.runtime == "fusion"
        manifest = load_artifact(result.manifest_path)  # type: ignore[attr-defined]
        assert manifest["metadata"]["invocation_id"] == result.invocation_id  # type: ignore[attr-defined]
        paths.add(result.target_path)  # type: ignore[attr-defined]
    assert len(paths) == 8


def test_eight_concurrent_processes(project: Path, floe_dbt: RunCLI) -> None:
    script = Path(sys.executable).parent / "floe-dbt"
    processes = [
        subprocess.Popen(
            [str(script), "build" if i % 2 else "compile", "--project-dir", str(project),
             "--runtime", "fusion", "--no-fallback", "--isolate", "--output", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(8)
    ]
    import json

    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * 8, [err for _, err in outputs]
    for stdout, _ in outputs:
        data = json.loads(stdout)
        assert data["runtime"] == "fusion"
        run_results = load_artifact(data["run_results_path"])
        assert run_results["metadata"]["invocation_id"] == data["invocation_id"]


# -- stopping a run --------------------------------------------------------------------------

def _start_slow_build(project: Path, pm: FloePluginManager, select: str = "slow",
                      results: list[DBTRunResult] | None = None, command: str = "run",
                      **options: object) -> tuple[threading.Thread, list[BaseException], RunRequest]:
    (project / "models" / "slow.sql").write_text(SLOW_MODEL)
    request = RunRequest(project_dir=project, command=command, select=select.split(), **options)  # type: ignore[arg-type]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result = pm.hook.dbt_run(request=request)
            if results is not None:
                results.append(result)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors, request


def _running_pid(plugin: FusionRuntime, invocation_id: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        process = plugin._running.get(invocation_id)
        if process is not None and process.pid is not None:
            return process.pid
        time.sleep(0.05)
    raise AssertionError("Fusion never started")


def _wait_for_node_start(recorder: EventRecorder) -> None:
    deadline = time.monotonic() + 30
    while not any(e.kind == "node_start" for e in recorder.events):
        assert time.monotonic() < deadline, "no node started within 30 s"
        time.sleep(0.05)


def test_timeout_kills_the_process_group(project: Path) -> None:
    recorder = EventRecorder()
    pm = create_plugin_manager(project, runtime="fusion", plugins=[recorder])
    thread, errors, request = _start_slow_build(project, pm, timeout=3.0)
    pid = _running_pid(_fusion_plugin(pm), request.invocation_id)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert isinstance(errors[0], DBTExecutionError)
    assert "timed out after 3s" in errors[0].message
    assert not _alive(pid)
    assert recorder.fallbacks == []


@pytest.mark.parametrize("runtime", ["fusion", "core"])
def test_cancel_keeps_the_finished_nodes(project: Path, runtime: str) -> None:
    """dbt_cancel stops either engine mid-run (Fusion: its process group; dbt-core: its own
    interruption, which cancels the running query); the nodes finished so far are the result,
    marked interrupted, and in run_results.json; nothing falls back, the DuckDB lock is free."""
    recorder = EventRecorder()
    pm = create_plugin_manager(project, runtime=runtime, plugins=[recorder], fallback=False)
    results: list[DBTRunResult] = []
    thread, errors, request = _start_slow_build(project, pm, select="people slow",
                                                results=results, command="build")
    pid = _running_pid(_fusion_plugin(pm), request.invocation_id) if runtime == "fusion" else None
    deadline = time.monotonic() + 60
    while not ("seed.contract.people" in recorder.node_ids("node_finish", request.invocation_id)
               and "model.contract.slow" in recorder.node_ids("node_start", request.invocation_id)):
        assert time.monotonic() < deadline, "the seed never finished or the slow model never started"
        time.sleep(0.05)
    started = time.monotonic()
    assert pm.hook.dbt_cancel(invocation_id=request.invocation_id) is True
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - started < 30, "cancelling took too long"
    assert errors == []
    [result] = results
    assert (result.interrupted, result.success, result.runtime) == (True, False, runtime)
    statuses = {n.unique_id: n.status for n in result.nodes}
    assert statuses["seed.contract.people"] == "success"
    assert statuses.get("model.contract.slow", "error") == "error", "the stopped node never succeeds"
    assert result.run_results_path is not None
    written = {r["unique_id"] for r in load_artifact(result.run_results_path)["results"]}
    assert written == {n.unique_id for n in result.nodes}
    assert recorder.fallbacks == []
    if pid is not None:
        assert not _alive(pid)
    assert pm.hook.dbt_cancel(invocation_id=request.invocation_id) is None
    again = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="seed"))
    assert again.success, "the database lock was released"


def test_killed_fusion_gives_an_error_not_a_hang_and_no_fallback(project: Path) -> None:
    recorder = EventRecorder()
    pm = create_plugin_manager(project, runtime="fusion", plugins=[recorder])
    thread, errors, request = _start_slow_build(project, pm)
    pid = _running_pid(_fusion_plugin(pm), request.invocation_id)
    _wait_for_node_start(recorder)
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert isinstance(errors[0], DBTExecutionError)
    assert "killed by signal 9 after 1 node(s) had started" in errors[0].message
    assert recorder.fallbacks == []


# -- lint ----------------------------------------------------------------------------------------

def test_fusion_lint_maps_findings(project: Path) -> None:
    (project / "models" / "bad.sql").write_text(
        "SELECT id, name\nfrom {{ ref('people') }}\nWhere name = null\n"
    )
    pm = create_plugin_manager(project, runtime="fusion", fallback=False)
    result = pm.hook.dbt_lint(request=LintRequest(project_dir=project))
    assert result.runtime == "fusion"
    assert not result.passed
    null_checks = [v for v in result.violations if v.code == "CV05"]
    assert len(null_checks) == 1
    violation = null_checks[0]
    assert violation.engine_code == "dbt0174"
    assert (violation.file_path, violation.line) == ("models/bad.sql", 3)
    assert "IS NULL" in violation.message


def test_compile_request_to_fusion_with_core_runtime_never_starts_fusion(project: Path) -> None:
    pm = create_plugin_manager(project, runtime="core")
    result = pm.hook.dbt_compile(request=CompileRequest(project_dir=project))
    assert result.runtime == "core"
    assert len(_fusion_plugin(pm)._running) == 0


def test_a_selection_too_long_for_the_command_line_falls_back_to_dbt_core(tmp_path: Path) -> None:
    """dbt-core takes the selection in-process; Fusion, a child process, cannot be started with
    2.4 MB of arguments (Linux allows 2 MB in all), so it declines before anything ran."""
    project = write_project(tmp_path / "contract",
                            {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
    long_words = [f"no_such_model_{i}_" + "x" * 120_000 for i in range(20)]
    result = DBTFacade(runtime="fusion", fallback=True).invoke(
        "build", project, select=["+base_people", *long_words])
    assert result.success
    assert result.runtime == "core"
    assert {n.name for n in result.nodes} >= {"base_people"}
    assert [(d.runtime, d.reason_code, d.error_code) for d in result.declined] == [
        ("fusion", "command-line-too-long", "FLOE-DBT-E003")]
    assert "2,4" in result.declined[0].message
    assert "x" * 100 not in result.declined[0].message
