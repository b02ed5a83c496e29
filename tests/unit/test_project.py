"""dbt_project.yml and profiles.yml, read without dbt: errors, search order, env_var(), secrets."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from floe_dbt_hooks import secrets
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.fsutil import walk_tree
from floe_dbt_hooks.models import RunRequest
from floe_dbt_hooks.project import (
    invocation_target_path,
    load_profile_target,
    load_project,
    referenced_env_vars,
    render_env_vars,
    resolve_profiles_dir,
)

PROFILES = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: dev.duckdb
      threads: 4
    ci:
      type: duckdb
      path: ci.duckdb
other:
  target: x
  outputs:
    x:
      type: postgres
config:
  send_anonymous_usage_stats: false
"""


def _project(root: Path, text: str = "name: shop\nprofile: shop\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(text, encoding="utf-8")
    return root


def _profiles(directory: Path, text: str = PROFILES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "profiles.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and cwd pointing at empty folders, no DBT_* variables: the search order is ours."""
    home = tmp_path / "home"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    for name in ("DBT_PROFILES_DIR", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return home


# --- load_project -------------------------------------------------------------------------------


def test_load_project_reads_name_profile_and_paths(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        "name: shop\nprofile: shop_profile\ntarget-path: out\nmodel-paths: [models, more]\n",
    )
    (root / "packages.yml").write_text("packages: []\n")
    project = load_project(root)
    assert project.project_dir == root.resolve()
    assert project.name == "shop"
    assert project.profile == "shop_profile"
    assert project.target_path == root.resolve() / "out"
    assert root.resolve() / "more" in project.source_paths
    assert root.resolve() / "macros" in project.source_paths
    assert project.packages_install_path == root.resolve() / "dbt_packages"
    assert project.packages_file == root.resolve() / "packages.yml"
    assert project.project_file == root.resolve() / "dbt_project.yml"


def test_profile_defaults_to_project_name(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p", "name: shop\n"))
    assert project.profile == "shop"
    assert project.target_path == project.project_dir / "target"
    assert project.packages_file is None


def test_load_project_missing_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DBTConfigurationError, match="does not exist") as info:
        load_project(missing)
    assert info.value.file_path == str(missing)
    assert info.value.hint is not None
    assert "--project-dir" in info.value.hint


def test_load_project_not_a_dir(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DBTConfigurationError, match="not a directory") as info:
        load_project(a_file)
    assert info.value.file_path == str(a_file)


def test_load_project_without_dbt_project_yml(tmp_path: Path) -> None:
    with pytest.raises(DBTConfigurationError, match=r"no dbt_project\.yml") as info:
        load_project(tmp_path)
    assert info.value.file_path == str(tmp_path.resolve() / "dbt_project.yml")
    assert info.value.hint is not None


def test_load_project_malformed_yaml_has_line(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "name: shop\nprofile: shop\n  bad: indent\n")
    with pytest.raises(DBTConfigurationError, match="not valid YAML") as info:
        load_project(root)
    assert info.value.file_path == str(root.resolve() / "dbt_project.yml")
    assert info.value.line == 3
    assert "dbt_project.yml:3" in str(info.value)
    assert info.value.original_message


@pytest.mark.parametrize("text", ["profile: shop\n", "name: ''\n", "name: 12\n", ""])
def test_load_project_missing_name(tmp_path: Path, text: str) -> None:
    root = _project(tmp_path / "p", text)
    with pytest.raises(DBTConfigurationError, match="'name' is missing") as info:
        load_project(root)
    assert info.value.file_path == str(root.resolve() / "dbt_project.yml")
    assert info.value.hint is not None
    assert "name:" in info.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: shop\nprofile: [a]\n", "'profile' must be a string"),
        ("name: shop\nmodel-paths: models\n", "'model-paths' must be a list"),
        ("name: shop\nseed-paths: [1]\n", "'seed-paths' must be a list"),
    ],
)
def test_load_project_wrong_types(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DBTConfigurationError, match=message):
        load_project(_project(tmp_path / "p", text))


# --- profiles directory -------------------------------------------------------------------------


def test_profiles_dir_flag_wins(tmp_path: Path, isolated_home: Path) -> None:
    project = _project(tmp_path / "p")
    _profiles(project)
    flag = tmp_path / "flag"
    assert resolve_profiles_dir(project, flag, {"DBT_PROFILES_DIR": str(tmp_path)}) == flag


def test_profiles_dir_env_second(tmp_path: Path, isolated_home: Path) -> None:
    project = _project(tmp_path / "p")
    _profiles(project)
    env_dir = tmp_path / "env"
    assert resolve_profiles_dir(project, None, {"DBT_PROFILES_DIR": str(env_dir)}) == env_dir


def test_profiles_dir_project_third(tmp_path: Path, isolated_home: Path) -> None:
    project = _project(tmp_path / "p")
    _profiles(project)
    _profiles(Path.cwd())
    assert resolve_profiles_dir(project, None, {}) == project.resolve()


def test_profiles_dir_cwd_fourth(tmp_path: Path, isolated_home: Path) -> None:
    project = _project(tmp_path / "p")
    _profiles(Path.cwd())
    assert resolve_profiles_dir(project, None, {}) == Path.cwd().resolve()


def test_profiles_dir_home_last(tmp_path: Path, isolated_home: Path) -> None:
    project = _project(tmp_path / "p")
    assert resolve_profiles_dir(project, None, {}) == (isolated_home / ".dbt").resolve()


def test_profiles_dir_reads_os_environ_by_default(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path / "from_env"))
    assert resolve_profiles_dir(tmp_path, None) == tmp_path / "from_env"


def test_profile_target_found_in_home(tmp_path: Path, isolated_home: Path) -> None:
    profiles_file = _profiles(isolated_home / ".dbt")
    project = load_project(_project(tmp_path / "p"))
    target = load_profile_target(project, environ={})
    assert target.profiles_file == profiles_file.resolve()
    assert target.profiles_dir == (isolated_home / ".dbt").resolve()


# --- load_profile_target ------------------------------------------------------------------------


def test_profile_target_default(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    profiles_file = _profiles(root)
    target = load_profile_target(load_project(root), environ={})
    assert target.profiles_file == profiles_file.resolve()
    assert target.profile == "shop"
    assert target.target == "dev"
    assert target.adapter_type == "duckdb"
    assert target.targets == ("ci", "dev")
    assert target.threads == 4


def test_profile_target_explicit_and_env_target(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    _profiles(root)
    project = load_project(root)
    assert load_profile_target(project, target="ci", environ={}).target == "ci"
    assert load_profile_target(project, environ={"DBT_TARGET": "ci"}).target == "ci"
    assert load_profile_target(project, target="dev", environ={"DBT_TARGET": "ci"}).target == "dev"
    assert load_profile_target(project, target="ci", environ={}).threads is None


def test_missing_profiles_yml(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DBTConfigurationError, match=r"no profiles\.yml found") as info:
        load_profile_target(project, profiles_dir=empty, environ={})
    assert info.value.file_path == str(empty.resolve() / "profiles.yml")
    assert info.value.hint is not None
    assert "--profiles-dir" in info.value.hint


def test_unknown_profile_lists_available_profiles(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "name: shop\nprofile: shopp\n")
    profiles_file = _profiles(root)
    with pytest.raises(DBTConfigurationError) as info:
        load_profile_target(load_project(root), environ={})
    error = info.value
    assert "profile 'shopp'" in error.message
    assert error.file_path == str(profiles_file.resolve())
    assert error.hint == "available profiles: other, shop"  # 'config' is not a profile


def test_unknown_target_lists_available_targets(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    _profiles(root)
    with pytest.raises(DBTConfigurationError) as info:
        load_profile_target(load_project(root), target="prod", environ={})
    assert "target 'prod' not found in profile 'shop'" in info.value.message
    assert info.value.hint == "available targets: ci, dev"


def test_profile_without_outputs(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    _profiles(root, "shop:\n  target: dev\n")
    with pytest.raises(DBTConfigurationError, match="has no 'outputs'"):
        load_profile_target(load_project(root), environ={})


def test_profile_without_default_target_suggests_targets(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    _profiles(root, "shop:\n  outputs:\n    a: {type: duckdb}\n    b: {type: duckdb}\n")
    with pytest.raises(DBTConfigurationError, match="names no default 'target'") as info:
        load_profile_target(load_project(root), environ={})
    assert info.value.hint == "pass --target, one of: a, b"


@pytest.mark.parametrize("type_line", ["", "      type: 3\n", "      type: \"{{ env_var('NOPE') }}\"\n"])
def test_target_without_usable_type(tmp_path: Path, type_line: str) -> None:
    root = _project(tmp_path / "p")
    _profiles(root, f"shop:\n  target: dev\n  outputs:\n    dev:\n{type_line}      path: x\n")
    with pytest.raises(DBTConfigurationError, match="has no usable 'type'"):
        load_profile_target(load_project(root), environ={})


# --- env_var() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "environ", "expected", "used"),
    [
        ("{{ env_var('A') }}", {"A": "x"}, "x", {"A": "x"}),
        ("{{ env_var('A', 'dflt') }}", {}, "dflt", {"A": "dflt"}),
        ('{{env_var("A","dflt")}}', {"A": "set"}, "set", {"A": "set"}),
        ("{{ env_var('PORT') | as_number }}", {"PORT": "5432"}, "5432", {"PORT": "5432"}),
        ("pre-{{ env_var('A') }}-post", {"A": "mid"}, "pre-mid-post", {"A": "mid"}),
        ("{{ env_var('MISSING') }}", {}, "{{ env_var('MISSING') }}", {"MISSING": None}),
        ("plain", {"A": "x"}, "plain", {}),
    ],
)
def test_render_env_vars(
    template: str, environ: dict[str, str], expected: str, used: dict[str, str | None]
) -> None:
    seen: dict[str, str | None] = {}
    assert render_env_vars(template, environ, seen) == expected
    assert seen == used


def test_adapter_type_and_target_from_env_var(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    _profiles(
        root,
        "shop:\n"
        "  target: \"{{ env_var('SHOP_TARGET', 'dev') }}\"\n"
        "  outputs:\n"
        "    dev:\n"
        "      type: \"{{ env_var('SHOP_ADAPTER') }}\"\n"
        "    prod:\n"
        "      type: \"{{ env_var('SHOP_ADAPTER', 'snowflake') }}\"\n",
    )
    project = load_project(root)
    dev = load_profile_target(project, environ={"SHOP_ADAPTER": "duckdb"})
    assert dev.target == "dev"
    assert dev.adapter_type == "duckdb"
    assert dev.env_vars == {"SHOP_TARGET": "dev", "SHOP_ADAPTER": "duckdb"}
    prod = load_profile_target(project, environ={"SHOP_TARGET": "prod"})
    assert prod.target == "prod"
    assert prod.adapter_type == "snowflake"


def test_env_var_password_is_registered_as_secret(tmp_path: Path) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    root = _project(tmp_path / "p")
    _profiles(
        root,
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
        "      user: alice\n      password: \"{{ env_var('MY_PW') }}\"\n",
    )
    assert not secrets.is_registered(password)
    target = load_profile_target(load_project(root), environ={"MY_PW": password})
    assert secrets.is_registered(password)
    assert not secrets.is_registered("alice")
    assert secrets.redact(f"login failed for alice with {password}") == (
        f"login failed for alice with {secrets.MASK}"
    )
    assert target.env_vars == {"MY_PW": password}


def test_literal_sensitive_values_and_secret_env_vars_are_registered(tmp_path: Path) -> None:
    token, env_secret, dsn_pw = (f"v-{uuid.uuid4().hex}" for _ in range(3))
    root = _project(tmp_path / "p")
    _profiles(
        root,
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: databricks\n"
        f"      token: {token}\n"
        "      extra: \"{{ env_var('DBT_ENV_SECRET_DSN') }}\"\n",
    )
    load_profile_target(
        load_project(root),
        environ={"DBT_ENV_SECRET_DSN": dsn_pw, "DBT_ENV_SECRET_OTHER": env_secret},
    )
    assert secrets.is_registered(token)
    assert secrets.is_registered(dsn_pw)
    assert secrets.is_registered(env_secret)


def test_numeric_password_is_registered_as_secret(tmp_path: Path) -> None:
    """YAML reads `password: 86753091` as an int; dbt uses it as the string '86753091', so it is a
    secret all the same and must be masked."""
    number = str(10**11 + uuid.uuid4().int % 10**11)
    root = _project(tmp_path / "p")
    _profiles(
        root,
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
        f"      password: {number}\n",
    )
    load_profile_target(load_project(root), environ={})
    assert secrets.is_registered(number)
    assert number not in secrets.redact(f"auth failed: {number}")


# --- invocation_target_path ---------------------------------------------------------------------


def test_invocation_target_path_isolated(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p"))
    request = RunRequest(project_dir=project.project_dir)
    assert request.isolate is True
    assert invocation_target_path(project, request) == (
        project.project_dir / "target" / "floe" / request.invocation_id
    )


def test_invocation_target_path_not_isolated(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p", "name: shop\ntarget-path: build_out\n"))
    request = RunRequest(project_dir=project.project_dir, isolate=False)
    assert invocation_target_path(project, request) == project.project_dir / "build_out"


@pytest.mark.parametrize("isolate", [True, False])
def test_invocation_target_path_explicit_relative(tmp_path: Path, isolate: bool) -> None:
    project = load_project(_project(tmp_path / "p"))
    request = RunRequest(project_dir=project.project_dir, target_path="custom/out", isolate=isolate)
    assert invocation_target_path(project, request) == project.project_dir / "custom" / "out"


@pytest.mark.parametrize("isolate", [True, False])
def test_invocation_target_path_explicit_absolute(tmp_path: Path, isolate: bool) -> None:
    project = load_project(_project(tmp_path / "p"))
    absolute = tmp_path / "elsewhere"
    request = RunRequest(project_dir=project.project_dir, target_path=absolute, isolate=isolate)
    assert invocation_target_path(project, request) == absolute


# --- the project walker -------------------------------------------------------------------------


def test_walk_tree_skips_vcs_and_bytecode_walks_hidden_and_ends_link_cycles(tmp_path: Path) -> None:
    for name in ("a.sql", "sub/b.sql", "sub/.hidden/c.sql", "__pycache__/d.sql", ".git/e.sql"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("select 1\n")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)
    walked = [Path(e.path).relative_to(tmp_path).as_posix() for e in walk_tree(tmp_path)]
    assert walked == ["a.sql", "sub", "sub/.hidden", "sub/.hidden/c.sql", "sub/b.sql", "sub/loop"]
    assert list(walk_tree(tmp_path / "missing")) == []


def test_referenced_env_vars_reads_linked_local_packages_and_rereads_edits(tmp_path: Path) -> None:
    project_dir = _project(tmp_path / "p")
    (project_dir / "models").mkdir()
    (project_dir / "models" / "a.sql").write_text("select '{{ env_var(\"A\") }}'\n")
    local = tmp_path / "local_pkg" / "models"
    local.mkdir(parents=True)
    (local / "b.sql").write_text("select '{{ env_var('B') }}'\n")
    (project_dir / "dbt_packages").mkdir()
    (project_dir / "dbt_packages" / "local_pkg").symlink_to(local.parent)
    project = load_project(project_dir)
    profile = load_profile_target(project, _profiles(tmp_path / "profiles").parent, None)
    assert referenced_env_vars(project, profile) == {"A", "B"}
    (project_dir / "models" / "a.sql").write_text("select '{{ env_var(\"C\") }}' -- edited\n")
    assert referenced_env_vars(project, profile) == {"B", "C"}
