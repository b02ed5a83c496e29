"""``floe-dbt compare`` on real dbt-core and the real Fusion binary, and its HTML report in headless
Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.compare import compare_runtimes
from floe_dbt_hooks.compare.html import render_html
from floe_dbt_hooks.compare.result import CompareResult
from floe_dbt_hooks.compare.tables import compare_tables
from floe_dbt_hooks.models import from_dict, to_dict
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
from tests.conftest import RunCLI, copy_example

pytestmark = pytest.mark.integration

VERSION_MACRO = (
    "{% macro engine_label() %}"
    "{% if dbt_version.startswith('2') %}'fusion'{% else %}'core'{% endif %}"
    "{% endmacro %}\n"
)
OLD_CONFIG_PROJECT = (
    "name: contract\nprofile: contract\nconfig-version: 2\nmodels:\n  contract:\n    materialized: view\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


def test_example_project_runtimes_agree(tmp_path: Path, floe_dbt: RunCLI) -> None:
    example = copy_example(tmp_path / "jaffle_shop")
    result = compare_runtimes(example)
    assert result.ran
    assert [n.verdict for n in result.nodes] == ["same"] * 33
    assert result.exit_code == 0
    assert all(n.sql_same is not False for n in result.nodes)
    cli = floe_dbt("compare", "--project-dir", str(example))
    assert cli.code == 0, cli
    assert "core and fusion agree on 33 node(s) (33 same)" in cli.stdout


def test_a_macro_that_behaves_differently_is_a_sql_difference(project: Path,
                                                               floe_dbt: RunCLI) -> None:
    write_project(project, {
        "macros/engine_label.sql": VERSION_MACRO,
        "models/labelled.sql": "select id, {{ engine_label() }} as built_by from {{ ref('people') }}\n",
    })
    result = compare_runtimes(project, select=["labelled"])
    assert [(n.unique_id, n.verdict) for n in result.nodes] == [("model.contract.labelled", "differs")]
    node = result.nodes[0]
    assert node.sql_same is False
    assert node.reasons == ("compiled SQL",)
    assert "-select id, 'core' as built_by" in (node.sql_diff or "")
    assert "+select id, 'fusion' as built_by" in (node.sql_diff or "")
    assert result.exit_code == 1
    cli = floe_dbt("compare", "--project-dir", str(project), "--output", "json")
    assert cli.code == 1, cli
    data = json.loads(cli.stdout)
    assert data["counts"] == {"differs": 1, "same": 6}
    assert data["agree"] is False


def test_normalisation_ignores_layout_but_not_meaning(project: Path) -> None:
    from floe_dbt_hooks.compare.normalize import normalise_sql

    assert normalise_sql('select  "a" , b -- note\nfrom "db"."s"."t" ;') == \
        normalise_sql("select a, b\n/* other */ from db.s.t")
    assert normalise_sql("select 'A  B' -- x") != normalise_sql("select 'a b'")


def test_fusion_rejecting_the_project_is_reported_with_codes_and_fixes(project: Path,
                                                                       floe_dbt: RunCLI) -> None:
    (project / "dbt_project.yml").write_text(OLD_CONFIG_PROJECT)
    result = compare_runtimes(project)
    outcomes = {o.runtime: o for o in result.outcomes}
    assert outcomes["core"].ok
    fusion = outcomes["fusion"]
    assert not fusion.ok
    assert fusion.error_code == "FLOE-DBT-E001"
    assert fusion.engine_codes == ("dbt1013",)
    assert fusion.file_path == "dbt_project.yml"
    assert fusion.fixes
    assert "prefix project-level configs with '+'" in fusion.fixes[0]
    assert result.rejected_by == ("fusion",)
    assert result.exit_code == 1
    cli = floe_dbt("compare", "--project-dir", str(project))
    assert cli.code == 1, cli
    assert "fusion could not compile the project (FLOE-DBT-E001, dbt1013)" in cli.stdout
    assert "fix: dbt1013" in cli.stdout


def test_unknown_runtime_means_no_comparison(project: Path, floe_dbt: RunCLI) -> None:
    cli = floe_dbt("compare", "--project-dir", str(project), "--runtimes", "core,warp")
    assert cli.code == 2, cli
    assert "unknown runtime(s): warp" in cli.stderr


def test_execute_compares_built_tables(tmp_path: Path) -> None:
    example = copy_example(tmp_path / "jaffle_shop")
    result = compare_runtimes(example, execute=True)
    assert result.executed
    by_id = {n.unique_id: n for n in result.nodes}
    orders = by_id["model.jaffle_shop.orders"].data
    assert orders is not None
    assert orders.row_counts == (24, 24)
    assert len(set(orders.checksums)) == 1, "same content whichever runtime built it"
    seed = by_id["seed.jaffle_shop.raw_orders"]
    assert seed.verdict == "differs"
    assert seed.data is not None
    assert seed.data.columns[0] != seed.data.columns[1], (
        "a real difference: dbt-core infers INTEGER seed columns, Fusion BIGINT"
    )
    assert "id:INTEGER" in seed.data.columns[0]
    assert "id:BIGINT" in seed.data.columns[1]
    assert all(o.build_seconds is not None for o in result.outcomes)


def test_table_comparison_catches_changed_data(tmp_path: Path) -> None:
    first = copy_example(tmp_path / "first")
    second = copy_example(tmp_path / "second")
    core = DBTFacade(runtime="core", fallback=False).build(first)
    seed = second / "seeds" / "raw_payments.csv"
    header, first_row, *rest = seed.read_text().splitlines()
    *fields, amount = first_row.split(",")
    seed.write_text("\n".join([header, ",".join([*fields, str(int(amount) + 100)]), *rest]) + "\n")
    DBTFacade(runtime="fusion", fallback=False).build(second)
    nodes = load_artifact(core.manifest_path)["nodes"]  # type: ignore[arg-type]
    tables = compare_tables([first / "jaffle_shop.duckdb", second / "jaffle_shop.duckdb"], nodes)
    orders = tables["model.jaffle_shop.orders"]
    assert orders.row_counts == (24, 24)
    assert orders.checksums[0] != orders.checksums[1], "one order's amount changed"
    assert not orders.same
    stg_customers = tables["model.jaffle_shop.stg_customers"]
    assert stg_customers.row_counts == (15, 15)
    assert len(set(stg_customers.checksums)) == 1


def test_result_is_frozen_and_round_trips(project: Path) -> None:
    result = compare_runtimes(project)
    data = json.loads(json.dumps(to_dict(result)))
    assert from_dict(data, CompareResult) == result
    with pytest.raises(AttributeError):
        result.nodes = ()  # type: ignore[misc]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is installed by scripts/bootstrap.py test"
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_html_report_renders_in_chromium(project: Path, tmp_path: Path, floe_dbt: RunCLI) -> None:
    write_project(project, {
        "macros/engine_label.sql": VERSION_MACRO,
        "models/labelled.sql": "select id, {{ engine_label() }} as built_by from {{ ref('people') }}\n",
    })
    report = tmp_path / "report.html"
    cli = floe_dbt("compare", "--project-dir", str(project), "--output", "html",
                   "--report", str(report))
    assert cli.code == 1, cli
    page = report.read_text()
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page.split("How SQL was compared")[0]
    profile = tmp_path / "chrome-profile"
    dom = _chromium(f"--user-data-dir={profile}", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert "core and fusion differ on 7 node(s) (1 differs, 6 same)" in dom.stdout
    assert "model.contract.labelled" in dom.stdout
    assert 'class="badge differs"' in dom.stdout
    assert "compiled SQL differs" in dom.stdout
    shot = tmp_path / "report.png"
    taken = _chromium(f"--user-data-dir={profile}", f"--screenshot={shot}",
                      "--window-size=1200,900", report.as_uri())
    assert taken.returncode == 0, taken.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000


def test_render_html_escapes_everything(project: Path) -> None:
    (project / "models" / "base_people.sql").write_text(
        "select id, name, age, '<b>x</b>' as tag from {{ ref('people') }}\n"
    )
    page = render_html(compare_runtimes(project))
    assert "<b>x</b>" not in page


def test_facade_compare_uses_the_project_plugins(project: Path) -> None:
    result = DBTFacade().compare(project)
    assert result.agree
    assert {o.runtime: o.ok for o in result.outcomes} == {"core": True, "fusion": True}
