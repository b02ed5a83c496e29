"""dbt's selection syntax as floe reads it: the method names match dbt-core's, and a word with an
unknown method is refused before any runtime runs (Fusion would select nothing and succeed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.models import RunRequest
from floe_dbt_hooks.plugin.manager import create_plugin_manager
from floe_dbt_hooks.runtime.selection import DBT_METHODS, unknown_method


def test_the_methods_are_dbt_cores() -> None:
    from dbt.graph.selector_methods import MethodName

    assert set(DBT_METHODS) == {m.value for m in MethodName}


@pytest.mark.parametrize(("word", "unknown"), [
    ("adults", None), ("tag:nightly", None), ("+config.materialized:view+", None),
    ("@source:raw.people", None), ("2+path:models/staging+3", None),
    ("state:modified.body", None), ("tag:a,fqn:b", None), ("models/staging", None),
    ("tga:nightly", "tga"), ("tag:a,nope.x:b", "nope"), ("1+colour:red", "colour"),
])
def test_unknown_methods_are_found_in_every_part_of_a_word(word: str, unknown: str | None) -> None:
    assert unknown_method(word) == unknown


def test_a_typo_d_method_is_refused_before_any_runtime_runs(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    pm = create_plugin_manager(tmp_path, runtime="fusion")
    request = RunRequest(project_dir=tmp_path, command="build", select=("adults",),
                         exclude=("tga:nightly",))
    with pytest.raises(DBTConfigurationError, match=r"unknown selector method 'tga' in "
                                                    r"--exclude 'tga:nightly'") as caught:
        pm.hook.dbt_run(request=request)
    assert "resource_type" in (caught.value.hint or "")
