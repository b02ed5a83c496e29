"""The parsed-YAML cache behind the CLI's preflight: used only for the exact bytes it was parsed
from, never holding a literal secret, and never in the way when it is broken."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.project import load_profile_target, load_project, yamlcache
from floe_dbt_hooks.project.loading import holds_no_literal_secret
from floe_dbt_hooks.project.yamlfile import load_yaml_mapping

PROFILE = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: shop.duckdb\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "floe-dbt" / "yaml"


def _project(root: Path, profile: str = PROFILE) -> Path:
    root.mkdir()
    (root / "dbt_project.yml").write_text("name: shop\nprofile: shop\n", encoding="utf-8")
    (root / "profiles.yml").write_text(profile, encoding="utf-8")
    return root


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.marshal"))


def test_project_and_profile_are_cached_and_read_back(tmp_path: Path, cache: Path) -> None:
    root = _project(tmp_path / "shop")
    first = load_profile_target(load_project(root), root)
    assert len(_entries(cache)) == 2
    for entry in _entries(cache):
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    content = (root / "profiles.yml").read_bytes()
    assert yamlcache.load(root / "profiles.yml", content) == {
        "shop": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": "shop.duckdb"}}}}
    assert load_profile_target(load_project(root), root) == first


def test_an_edited_file_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    root = _project(tmp_path / "shop")
    load_profile_target(load_project(root), root)
    (root / "profiles.yml").write_text(PROFILE.replace("shop.duckdb", "other.duckdb"),
                                       encoding="utf-8")
    profile = load_profile_target(load_project(root), root)
    assert profile.database_file == root.resolve() / "other.duckdb"


def test_a_same_size_edit_in_the_same_instant_is_seen(tmp_path: Path, cache: Path) -> None:
    """Timestamps cannot tell two quick same-size edits apart; the bytes can."""
    path = tmp_path / "dbt_project.yml"
    path.write_text("name: aaaa\n", encoding="utf-8")
    assert load_yaml_mapping(path, cacheable=lambda _: True) == {"name": "aaaa"}
    before = path.stat()
    path.write_text("name: bbbb\n", encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert load_yaml_mapping(path, cacheable=lambda _: True) == {"name": "bbbb"}


def test_a_profile_with_a_literal_secret_is_never_written(tmp_path: Path, cache: Path) -> None:
    secret = "hunter2-literal-password"
    root = _project(tmp_path / "shop", PROFILE + f"      password: {secret}\n")
    load_profile_target(load_project(root), root)
    assert len(_entries(cache)) == 1, "only dbt_project.yml"
    assert all(secret.encode() not in entry.read_bytes() for entry in _entries(cache))


@pytest.mark.parametrize(("data", "cacheable"), [
    ({"outputs": {"dev": {"type": "duckdb", "path": "x.duckdb", "threads": 4}}}, True),
    ({"dev": {"password": "{{ env_var('DBT_PASSWORD') }}", "token": None}}, True),
    ({"dev": {"password": "plain"}}, False),
    ({"dev": {"private_key": 1234}}, False),
    ({"dev": {"keyfile_json": {"private_key": "-----BEGIN"}}}, False),
    ({"dev": {"auth": ["a", "{{ env_var('B') }}"]}}, False),
])
def test_only_profiles_without_literal_secrets_are_cacheable(data: dict[str, object],
                                                             cacheable: bool) -> None:
    assert holds_no_literal_secret(data) is cacheable


def test_dates_are_parsed_but_not_cached(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("when: 2026-01-02\n", encoding="utf-8")
    assert str(load_yaml_mapping(path, cacheable=lambda _: True)["when"]) == "2026-01-02"
    assert _entries(cache) == []


def test_a_broken_entry_means_a_fresh_parse(tmp_path: Path, cache: Path) -> None:
    root = _project(tmp_path / "shop")
    load_project(root)
    for entry in _entries(cache):
        entry.write_bytes(b"\x00garbage")
    assert load_project(root).name == "shop"


def test_errors_still_name_the_file_and_line(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "dbt_project.yml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(DBTConfigurationError) as raised:
        load_yaml_mapping(path, cacheable=lambda _: True)
    assert raised.value.file_path == str(path)
    assert raised.value.line is not None
    assert _entries(cache) == []


def test_floe_yml_is_cached_unless_it_holds_a_secret(tmp_path: Path, cache: Path) -> None:
    from floe_dbt_hooks.config import load_config

    root = tmp_path / "p"
    root.mkdir()
    (root / "floe.yml").write_text("plugins:\n  dbt_runtime: fusion\n", encoding="utf-8")
    assert load_config(root).runtime == "fusion"
    assert len(_entries(cache)) == 1
    assert load_config(root).runtime == "fusion"
    (root / "floe.yml").write_text("plugins:\n  cloud:\n    api_key: abc123\n", encoding="utf-8")
    load_config(root)
    assert all(b"abc123" not in entry.read_bytes() for entry in _entries(cache))
