"""Fuzzed selectors.yml through the real engines (in-process facade; dbt-core in this process,
Fusion as its child): a run either succeeds or fails with a FLOE-DBT error that names selectors.yml,
never another exception. Few examples: every one is a real engine invocation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from floe_dbt_hooks.api import DBTFacade
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project
from tests.unit.test_fuzz import count, documents, fuzz

pytestmark = pytest.mark.integration

EXAMPLES = {"core": 20, "fusion": 40}
"""Each a real engine call; a broken selectors.yml fails before any node runs (under a second)."""

definitions = st.one_of(
    st.sampled_from(["nope", "tag:x", "model_a", "+adults"]),
    st.fixed_dictionaries({"method": st.sampled_from(["fqn", "tag", "nope", ""]),
                           "value": st.one_of(st.text(max_size=6), st.integers())}),
    st.fixed_dictionaries({"union": st.lists(st.sampled_from(["adults", "tag:x", "bad:"]),
                                             max_size=3)}),
    documents,
)


@st.composite
def selectors_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["valid-ish", "document", "garbage"]))
    if kind == "garbage":
        return draw(st.text(alphabet="selctor:-[]{} \n\tnamedfiu'\"", max_size=40))
    if kind == "document":
        return yaml.safe_dump(draw(documents))
    entries: list[Any] = [{"name": "picked", "definition": draw(definitions)}]
    return yaml.safe_dump({"selectors": entries})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("selectors") / "contract"
    return write_project(root, {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_fuzzed_selectors_yml(project: Path, runtime: str) -> None:
    if runtime == "fusion" and not os.environ.get("FLOE_DBT_FUSION_BIN"):
        pytest.fail("FLOE_DBT_FUSION_BIN is not set (scripts/bootstrap.py installs Fusion)")
    facade = DBTFacade(runtime=runtime, fallback=False)
    selectors = project / "selectors.yml"
    outcomes: list[str] = []

    @fuzz(EXAMPLES[runtime])
    @given(text=selectors_texts())
    def check(text: str) -> None:
        count(f"selectors.yml ({runtime})")
        selectors.write_text(text, encoding="utf-8")
        error = None
        try:
            facade.invoke("seed", project, selector="picked")
        except FloeDBTError as raised:
            error = raised
        outcomes.append("ok" if error is None else error.code)
        if error is not None:
            assert error.file_path is not None, (text, str(error))
            assert Path(error.file_path).name == "selectors.yml", (text, str(error))

    check()
    print(f"selectors.yml on {runtime}: {len(outcomes)} runs, "
          f"{sorted((o, outcomes.count(o)) for o in set(outcomes))}")
    assert len(outcomes) >= EXAMPLES[runtime]
