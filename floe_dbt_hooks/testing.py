"""The runtime contract suite: the cases every runtime plugin must pass, reusable by third parties.

Subclass :class:`RuntimeContract` in a test module and name your runtime::

    from floe_dbt_hooks.testing import RuntimeContract

    class TestMyRuntime(RuntimeContract):
        runtime = "mine"

The suite writes a tiny dbt project (one seed, a view, a table, generic and singular tests) for an
adapter, DuckDB by default; override the ``contract_profiles_yml`` fixture to run it against another
adapter, and ``contract_manager_options`` to pass options to ``create_plugin_manager``. Every case runs
the real runtime: nothing is mocked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTCompilationError, DBTConfigurationError
from floe_dbt_hooks.models import (
    CompileRequest,
    DBTRunResult,
    FallbackEvent,
    RunRequest,
    RuntimeEvent,
    from_dict,
    to_dict,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.plugin.markers import hookimpl

CONTRACT_PROJECT: dict[str, str] = {
    "dbt_project.yml": (
        "name: contract\nprofile: contract\nconfig-version: 2\nversion: '1.0.0'\n"
        "models:\n  contract:\n    +materialized: view\n"
    ),
    "seeds/people.csv": "id,name,age\n1,ada,36\n2,grace,45\n3,linus,17\n",
    "models/base_people.sql": "select id, name, age from {{ ref('people') }}\n",
    "models/adults.sql": (
        "{{ config(materialized='table') }}\n"
        "select id, name from {{ ref('base_people') }} where age >= {{ var('min_age', 18) }}\n"
    ),
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: adults\n    columns:\n      - name: id\n"
        "        data_tests: [unique, not_null]\n"
    ),
    "tests/adults_have_names.sql": "select * from {{ ref('adults') }} where name is null\n",
}

DUCKDB_PROFILES = (
    "contract:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
    "      path: contract.duckdb\n      threads: 2\n"
)


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root`` and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


class EventRecorder:
    """A plugin that keeps every RuntimeEvent and FallbackEvent it sees."""

    name = "contract_event_recorder"

    def __init__(self) -> None:
        self.events: list[RuntimeEvent] = []
        self.fallbacks: list[FallbackEvent] = []
        self._lock = threading.Lock()

    @hookimpl
    def dbt_event(self, event: RuntimeEvent) -> None:
        with self._lock:
            self.events.append(event)

    @hookimpl
    def dbt_fallback(self, event: FallbackEvent) -> None:
        self.fallbacks.append(event)

    def node_ids(self, kind: str, invocation_id: str) -> set[str]:
        return {
            e.node.unique_id for e in self.events
            if e.kind == kind and e.node is not None and e.invocation_id == invocation_id
        }


class RuntimeContract:
    """Behaviour every runtime owes its callers; see the module docstring for how to use it."""

    runtime: str = ""
    universal_fallback: bool = False
    """True only for the runtime that serves whatever reaches it (dbt-core)."""

    @pytest.fixture
    def contract_profiles_yml(self) -> str:
        return DUCKDB_PROFILES

    @pytest.fixture
    def contract_manager_options(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def contract_project(self, tmp_path: Path, contract_profiles_yml: str) -> Path:
        return write_project(
            tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": contract_profiles_yml}
        )

    @pytest.fixture
    def recorder(self) -> EventRecorder:
        return EventRecorder()

    @pytest.fixture
    def contract_column(self, contract_project: Path) -> Callable[[str, str], list[Any]]:
        """Reads ``column`` of the built ``model`` back from the target's database; override it
        for a target other than the default DuckDB file."""

        def read(model: str, column: str) -> list[Any]:
            import duckdb

            with duckdb.connect(str(contract_project / "contract.duckdb"), read_only=True) as db:
                return [row[0] for row in db.execute(f"select {column} from {model}").fetchall()]

        return read

    @pytest.fixture
    def pm(
        self, contract_project: Path, recorder: EventRecorder,
        contract_manager_options: dict[str, Any],
    ) -> FloePluginManager:
        options = {"fallback": False, **contract_manager_options}
        return create_plugin_manager(
            contract_project, runtime=self.runtime, plugins=[recorder], **options
        )

    def run(self, pm: FloePluginManager, project: Path, command: str = "build",
            **options: Any) -> DBTRunResult:
        request = RunRequest(project_dir=project, command=command, **options)  # type: ignore[arg-type]
        result: DBTRunResult = pm.hook.dbt_run(request=request)
        return result

    def test_describes_itself(self, pm: FloePluginManager) -> None:
        infos = {info.name: info for info in pm.hook.dbt_runtime_info()}
        assert self.runtime in infos, f"no dbt_runtime_info names runtime {self.runtime!r}"
        info = infos[self.runtime]
        assert info.available, info.reason
        assert pm.has_plugin(info.plugin), f"plugin {info.plugin!r} is not registered"
        assert info.version

    def test_serves_only_what_is_addressed_to_it(
        self, pm: FloePluginManager, contract_project: Path, recorder: EventRecorder
    ) -> None:
        info = next(i for i in pm.hook.dbt_runtime_info() if i.name == self.runtime)
        plugin = pm.get_plugin(info.plugin)
        assert plugin is not None
        request = RunRequest(project_dir=contract_project, command="seed",
                             runtime="__nobody__", fallback=True)
        answer = plugin.dbt_run(request=request)
        if self.universal_fallback:
            assert isinstance(answer, DBTRunResult)
            assert answer.runtime == self.runtime
        else:
            assert answer is None
        assert recorder.fallbacks == [], "a runtime that was not asked must decline silently"

    def test_compile_writes_a_manifest(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        result = pm.hook.dbt_compile(request=CompileRequest(project_dir=contract_project))
        assert result.success
        assert result.runtime == self.runtime
        assert result.declined == ()
        assert result.manifest_path is not None
        manifest = load_artifact(result.manifest_path)
        assert {"model.contract.base_people", "model.contract.adults"} <= set(manifest["nodes"])
        compiled = {n.unique_id: n for n in result.nodes}
        assert {"model.contract.base_people", "model.contract.adults"} <= set(compiled)
        assert compiled["model.contract.adults"].status == "success"
        assert compiled["model.contract.adults"].file_path == "models/adults.sql"

    def test_build_runs_every_node(
        self, pm: FloePluginManager, contract_project: Path, recorder: EventRecorder
    ) -> None:
        result = self.run(pm, contract_project)
        assert result.success, [n.message for n in result.nodes if n.status != "success"]
        assert result.runtime == self.runtime
        statuses = {n.unique_id: n.status for n in result.nodes}
        assert statuses["seed.contract.people"] == "success"
        assert statuses["model.contract.base_people"] == "success"
        assert statuses["model.contract.adults"] == "success"
        assert result.models_run == 2
        assert result.tests_run == 3
        assert result.failures == 0
        assert result.run_results_path is not None
        on_disk = load_artifact(result.run_results_path)
        assert {r["unique_id"] for r in on_disk["results"]} == set(statuses)
        adults = next(n for n in result.nodes if n.unique_id == "model.contract.adults")
        assert adults.file_path == "models/adults.sql"
        assert adults.execution_time >= 0

    def test_emits_node_events_for_every_node(
        self, pm: FloePluginManager, contract_project: Path, recorder: EventRecorder
    ) -> None:
        result = self.run(pm, contract_project)
        executed = {n.unique_id for n in result.nodes}
        assert recorder.node_ids("node_start", result.invocation_id) == executed
        assert recorder.node_ids("node_finish", result.invocation_id) == executed
        finishes = [e for e in recorder.events
                    if e.kind == "node_finish" and e.invocation_id == result.invocation_id]
        assert all(e.node is not None and e.node.status == "success" for e in finishes)
        assert all(e.runtime == self.runtime for e in finishes)

    def test_failing_test_is_a_node_status(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        (contract_project / "tests" / "no_minors.sql").write_text(
            "select * from {{ ref('base_people') }} where age < 18\n"
        )
        result = self.run(pm, contract_project)
        assert not result.success
        failing = [n for n in result.nodes if n.status == "fail"]
        assert [n.name for n in failing] == ["no_minors"]
        assert failing[0].failures == 1
        assert result.failures == 1

    def test_sql_error_is_a_node_error_and_skips_downstream(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        (contract_project / "models" / "base_people.sql").write_text(
            "select id, name, age, no_such_column from {{ ref('people') }}\n"
        )
        result = self.run(pm, contract_project)
        assert not result.success
        by_id = {n.unique_id: n for n in result.nodes}
        broken = by_id["model.contract.base_people"]
        assert broken.status == "error"
        assert broken.file_path == "models/base_people.sql"
        assert "no_such_column" in (broken.error_message or "")
        assert by_id["model.contract.adults"].status == "skipped"

    def test_selection_runs_only_selected_nodes(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        self.run(pm, contract_project, command="seed")
        result = self.run(pm, contract_project, command="run", select=["base_people"])
        assert [n.unique_id for n in result.nodes] == ["model.contract.base_people"]

    def test_vars_reach_the_project(
        self, pm: FloePluginManager, contract_project: Path,
        contract_column: Callable[[str, str], list[Any]],
    ) -> None:
        self.run(pm, contract_project, command="seed")
        result = self.run(pm, contract_project, command="build", select=["+adults"],
                          vars={"min_age": 40})
        assert result.success
        assert sorted(contract_column("adults", "name")) == ["grace"]

    def test_jinja_error_raises_compilation_error_with_file(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        (contract_project / "models" / "adults.sql").write_text(
            "select * from {{ ref('base_people') }\n"
        )
        with pytest.raises(DBTCompilationError) as caught:
            self.run(pm, contract_project)
        assert caught.value.file_path is not None
        assert caught.value.file_path.endswith("adults.sql")

    def test_unknown_target_is_a_configuration_error(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        with pytest.raises(DBTConfigurationError) as caught:
            self.run(pm, contract_project, target="nope")
        assert "dev" in (caught.value.hint or "")

    def test_isolated_invocations_keep_their_own_artifacts(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        first = self.run(pm, contract_project, command="seed")
        second = self.run(pm, contract_project, command="run")
        assert first.target_path != second.target_path
        assert first.run_results_path is not None
        assert second.run_results_path is not None
        seeded = load_artifact(first.run_results_path)
        ran = load_artifact(second.run_results_path)
        assert {r["unique_id"] for r in seeded["results"]} == {"seed.contract.people"}
        assert {r["unique_id"] for r in ran["results"]} == {
            "model.contract.base_people", "model.contract.adults"
        }

    def test_result_round_trips_through_json(
        self, pm: FloePluginManager, contract_project: Path
    ) -> None:
        result = self.run(pm, contract_project, command="seed")
        data = json.loads(json.dumps(to_dict(result)))
        assert from_dict(data, DBTRunResult) == result
        assert data["runtime"] == self.runtime
