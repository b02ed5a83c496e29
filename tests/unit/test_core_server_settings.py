"""The warm server's settings and folder rules: bad values are errors naming floe.yml and the
field; the environment variable wins; socket names change with the interpreter or versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from floe_dbt_core.server.paths import SlotFiles, build_digest, ensure_private_dir, server_dir
from floe_dbt_core.server.settings import ServerSettings, server_settings

from floe_dbt_hooks.errors import DBTConfigurationError

SOURCE = Path("/p/floe.yml")


def test_off_unless_switched_on() -> None:
    assert server_settings({}, SOURCE, {}) == ServerSettings(enabled=False)
    assert server_settings({"server": True}, SOURCE, {}) == ServerSettings(enabled=True)
    assert server_settings({"server": True}, SOURCE, {"FLOE_DBT_CORE_SERVER": "0"}).enabled is False
    assert server_settings({}, SOURCE, {"FLOE_DBT_CORE_SERVER": "yes"}).enabled is True
    tuned = server_settings({"server": True, "server_pool": 3, "server_idle_timeout": 30},
                            SOURCE, {})
    assert (tuned.pool, tuned.idle_timeout) == (3, 30.0)


@pytest.mark.parametrize(("settings", "field"), [
    ({"server": "yes"}, "plugins.core.server"),
    ({"server": True, "server_pool": 0}, "plugins.core.server_pool"),
    ({"server": True, "server_pool": 1.5}, "plugins.core.server_pool"),
    ({"server": True, "server_idle_timeout": "10m"}, "plugins.core.server_idle_timeout"),
    ({"server": True, "server_start_timeout": -1}, "plugins.core.server_start_timeout"),
])
def test_bad_values_name_the_file_and_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(DBTConfigurationError) as raised:
        server_settings(settings, SOURCE, {})
    assert f"'{field}'" in raised.value.message
    assert raised.value.file_path == str(SOURCE)
    assert raised.value.hint


def test_bad_environment_value_is_an_error() -> None:
    with pytest.raises(DBTConfigurationError, match="FLOE_DBT_CORE_SERVER"):
        server_settings({}, SOURCE, {"FLOE_DBT_CORE_SERVER": "maybe"})


def test_folder_choice(tmp_path: Path) -> None:
    assert server_dir({"FLOE_DBT_SERVER_DIR": "/x/y"}) == Path("/x/y")
    assert server_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path / "floe-dbt"
    assert server_dir({}).name == f"floe-dbt-{os.getuid()}"


def test_private_folder_is_created_0700(tmp_path: Path) -> None:
    folder = ensure_private_dir(tmp_path / "a" / "servers")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_socket_names_follow_interpreter_and_versions(tmp_path: Path) -> None:
    one = build_digest("0.1.0", "1.11.16")
    assert one == build_digest("0.1.0", "1.11.16")
    assert len({one, build_digest("0.1.1", "1.11.16"), build_digest("0.1.0", "1.11.17")}) == 3
    files = SlotFiles(tmp_path, one, 1)
    assert files.socket.name == f"core-{one}-1.sock"
    assert files.slot_lock.name == f"slot-{one}-1.lock"
    with pytest.raises(DBTConfigurationError, match="longer than 107 bytes"):
        SlotFiles(tmp_path / ("x" * 120), one, 0).check_socket_length()
