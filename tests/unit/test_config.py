"""floe config resolution: arguments > environment > floe.yml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dbt_hooks.config import DEFAULT_RUNTIME, FloeConfig, load_config, parse_bool
from floe_dbt_hooks.errors import DBTConfigurationError


def _floe_yml(tmp_path: Path, text: str, name: str = "floe.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_project() -> None:
    config = load_config(None, environ={})
    assert config == FloeConfig()
    assert config.runtime == DEFAULT_RUNTIME == "core"
    assert config.fallback is True
    assert config.disable == ()
    assert config.strict_plugins is False
    assert config.source is None
    assert config.settings_for("fusion") == {}


def test_defaults_for_project_without_floe_yml(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config.runtime == "core"
    assert config.fallback is True
    assert config.source is None


def test_floe_yml_values(tmp_path: Path) -> None:
    source = _floe_yml(
        tmp_path,
        "plugins:\n"
        "  dbt_runtime: fusion\n"
        "  dbt_fallback: false\n"
        "  disable: [plugin_a, plugin_b]\n"
        "  fusion:\n"
        "    binary: /opt/dbt/bin/dbt\n"
        "    timeout: 30\n",
    )
    config = load_config(tmp_path, environ={})
    assert config.runtime == "fusion"
    assert config.fallback is False
    assert config.disable == ("plugin_a", "plugin_b")
    assert config.source == source
    assert config.settings_for("fusion") == {"binary": "/opt/dbt/bin/dbt", "timeout": 30}
    assert config.settings_for("other") == {}


def test_floe_yaml_alternative_name(tmp_path: Path) -> None:
    source = _floe_yml(tmp_path, "plugins:\n  dbt_runtime: fusion\n", name="floe.yaml")
    config = load_config(tmp_path, environ={})
    assert config.runtime == "fusion"
    assert config.source == source


def test_floe_yml_disable_as_comma_separated_string(tmp_path: Path) -> None:
    _floe_yml(tmp_path, "plugins:\n  disable: 'a, b,,c'\n")
    assert load_config(tmp_path, environ={}).disable == ("a", "b", "c")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "plugins:\n", "other: 1\n"])
def test_empty_or_pluginless_floe_yml_means_defaults(tmp_path: Path, text: str) -> None:
    source = _floe_yml(tmp_path, text)
    config = load_config(tmp_path, environ={})
    assert (config.runtime, config.fallback, config.disable) == ("core", True, ())
    assert config.source == source


def test_env_overrides_file(tmp_path: Path) -> None:
    _floe_yml(
        tmp_path,
        "plugins:\n  dbt_runtime: fusion\n  dbt_fallback: true\n  disable: [from_file]\n",
    )
    config = load_config(
        tmp_path,
        environ={
            "FLOE_DBT_RUNTIME": "remote",
            "FLOE_DBT_FALLBACK": "false",
            "FLOE_DBT_DISABLE": "from_env_1, from_env_2",
        },
    )
    assert config.runtime == "remote"
    assert config.fallback is False
    # disable lists add up: the file's, then the environment's
    assert config.disable == ("from_file", "from_env_1", "from_env_2")


def test_env_fallback_true_overrides_file_false(tmp_path: Path) -> None:
    _floe_yml(tmp_path, "plugins:\n  dbt_fallback: false\n")
    assert load_config(tmp_path, environ={"FLOE_DBT_FALLBACK": "yes"}).fallback is True
    assert load_config(tmp_path, environ={}).fallback is False


def test_explicit_args_override_env(tmp_path: Path) -> None:
    _floe_yml(tmp_path, "plugins:\n  dbt_runtime: fusion\n  dbt_fallback: true\n")
    environ = {
        "FLOE_DBT_RUNTIME": "remote",
        "FLOE_DBT_FALLBACK": "true",
        "FLOE_DBT_DISABLE": "env_plugin",
        "FLOE_DBT_STRICT_PLUGINS": "false",
    }
    config = load_config(
        tmp_path, runtime="core", fallback=False, disable=["arg_plugin", "env_plugin"],
        strict_plugins=True, environ=environ,
    )
    assert config.runtime == "core"
    assert config.fallback is False
    assert config.strict_plugins is True
    assert config.disable == ("env_plugin", "arg_plugin")  # de-duplicated, order kept


def test_strict_plugins_from_env() -> None:
    assert load_config(None, environ={"FLOE_DBT_STRICT_PLUGINS": "1"}).strict_plugins is True
    assert load_config(None, environ={"FLOE_DBT_STRICT_PLUGINS": "off"}).strict_plugins is False


def test_empty_env_runtime_falls_through_to_file(tmp_path: Path) -> None:
    _floe_yml(tmp_path, "plugins:\n  dbt_runtime: fusion\n")
    assert load_config(tmp_path, environ={"FLOE_DBT_RUNTIME": ""}).runtime == "fusion"


def test_load_config_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_DBT_RUNTIME", "from-os-environ")
    assert load_config(None).runtime == "from-os-environ"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" YES ", True), ("On", True),
     ("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_parse_bool(value: str, expected: bool) -> None:
    assert parse_bool(value, source="X") is expected


def test_invalid_env_fallback_is_a_clear_error() -> None:
    with pytest.raises(DBTConfigurationError) as info:
        load_config(None, environ={"FLOE_DBT_FALLBACK": "maybe"})
    assert "FLOE_DBT_FALLBACK" in info.value.message
    assert "'maybe'" in info.value.message
    assert info.value.hint is not None
    assert "true" in info.value.hint


def test_invalid_env_strict_plugins_is_a_clear_error() -> None:
    with pytest.raises(DBTConfigurationError, match="FLOE_DBT_STRICT_PLUGINS"):
        load_config(None, environ={"FLOE_DBT_STRICT_PLUGINS": "sometimes"})


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    source = _floe_yml(tmp_path, "plugins:\n  dbt_runtime: core\n dbt_fallback: false\n")
    with pytest.raises(DBTConfigurationError) as info:
        load_config(tmp_path, environ={})
    error = info.value
    assert error.file_path == str(source)
    assert error.line == 3
    assert f"{source}:3" in str(error)
    assert "not valid YAML" in error.message
    assert error.hint


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    source = _floe_yml(tmp_path, "- plugins\n- core\n")
    with pytest.raises(DBTConfigurationError, match="mapping at the top level") as info:
        load_config(tmp_path, environ={})
    assert info.value.file_path == str(source)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plugins: [core]\n", "'plugins' must be a mapping"),
        ("plugins: core\n", "'plugins' must be a mapping"),
        ("plugins:\n  dbt_runtime: 5\n", "'plugins.dbt_runtime' must be a runtime name"),
        ("plugins:\n  dbt_runtime: [core]\n", "'plugins.dbt_runtime' must be a runtime name"),
        ("plugins:\n  dbt_fallback: 'no'\n", "'plugins.dbt_fallback' must be true or false"),
        ("plugins:\n  dbt_fallback: 0\n", "'plugins.dbt_fallback' must be true or false"),
        ("plugins:\n  disable: 5\n", "'plugins.disable' must be a list of plugin names"),
        ("plugins:\n  disable: [a, 1]\n", "'plugins.disable' must be a list of plugin names"),
        ("plugins:\n  disable: {a: 1}\n", "'plugins.disable' must be a list of plugin names"),
    ],
)
def test_wrong_types_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    source = _floe_yml(tmp_path, text)
    with pytest.raises(DBTConfigurationError) as info:
        load_config(tmp_path, environ={})
    assert message in info.value.message
    assert info.value.file_path == str(source)
    assert info.value.code == "FLOE-DBT-E003"


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("plugins:\n  dbt_runtim: fusion\n", "dbt_runtim"),
        ("plugins:\n  fallback: false\n  zzz: 1\n", "fallback, zzz"),
        ("plugins:\n  fusion: /opt/dbt\n", "fusion"),
    ],
)
def test_unknown_keys_under_plugins_are_rejected(tmp_path: Path, text: str, unknown: str) -> None:
    source = _floe_yml(tmp_path, text)
    with pytest.raises(DBTConfigurationError) as info:
        load_config(tmp_path, environ={})
    assert f"unknown setting(s) under 'plugins': {unknown}" in info.value.message
    assert info.value.file_path == str(source)
    assert info.value.hint is not None
    assert "dbt_runtime" in info.value.hint


def test_settings_for_each_plugin(tmp_path: Path) -> None:
    _floe_yml(
        tmp_path,
        "plugins:\n"
        "  fusion:\n    binary: /bin/dbt\n"
        "  my_observer:\n    endpoint: http://collector:4317\n    sample: 0.5\n"
        "  empty_one: {}\n",
    )
    config = load_config(tmp_path, environ={})
    assert config.settings_for("fusion") == {"binary": "/bin/dbt"}
    assert config.settings_for("my_observer") == {"endpoint": "http://collector:4317", "sample": 0.5}
    assert config.settings_for("empty_one") == {}
    assert config.settings_for("absent") == {}
    assert set(config.plugin_settings) == {"fusion", "my_observer", "empty_one"}


def test_runtime_for_and_fallback_for() -> None:
    config = FloeConfig(runtime="fusion", fallback=False)
    assert config.runtime_for(None) == "fusion"
    assert config.runtime_for("core") == "core"
    assert config.fallback_for(None) is False
    assert config.fallback_for(True) is True
    assert FloeConfig().fallback_for(False) is False
