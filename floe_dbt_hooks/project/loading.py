"""What the framework needs to know about a dbt project and its profile, without importing dbt.

Reading dbt_project.yml and profiles.yml ourselves lets every runtime decide cheaply (which adapter,
which target, where artifacts go) and lets bad input fail early with an error naming the file, the
line and the fix. Secrets found in the selected profile are registered with the redactor here.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.fsutil import walk_tree
from floe_dbt_hooks.project.yamlfile import load_yaml_mapping
from floe_dbt_hooks.secrets import register_secrets

if TYPE_CHECKING:
    pass

PROJECT_FILE = "dbt_project.yml"
PROFILES_FILE = "profiles.yml"
_SENSITIVE_KEY = re.compile(r"pass|secret|token|key|credential|auth|private|cert", re.IGNORECASE)
_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])(?P<name>[^'"]+)\1\s*(?:,\s*(['"])(?P<default>[^'"]*)\3\s*)?\)"""
    r"""\s*(?:\|\s*\w+\s*)*\}\}"""
)


@attrs.frozen(kw_only=True)
class DBTProject:
    """The parts of dbt_project.yml the framework uses."""

    project_dir: Path
    name: str
    profile: str
    target_path: Path
    model_paths: tuple[Path, ...]
    macro_paths: tuple[Path, ...]
    source_paths: tuple[Path, ...]
    """Every folder dbt reads sources from: model, macro, seed, snapshot, test and analysis paths."""
    packages_install_path: Path
    packages_file: Path | None

    @property
    def project_file(self) -> Path:
        return self.project_dir / PROJECT_FILE

    @property
    def parse_files(self) -> tuple[Path, ...]:
        """The project-level files a parse reads besides its source folders, whether or not they
        exist: dbt_project.yml, packages.yml/dependencies.yml, selectors.yml and .dbtignore."""
        from floe_dbt_hooks.project.dbtignore import DBTIGNORE_FILE

        found = (self.project_file, self.packages_file, self.project_dir / "selectors.yml",
                 self.project_dir / DBTIGNORE_FILE)
        return tuple(path for path in found if path is not None)


@attrs.frozen(kw_only=True)
class ProfileTarget:
    """The selected output of a profile: which adapter and which target name."""

    profiles_file: Path
    profile: str
    target: str
    adapter_type: str
    targets: tuple[str, ...]
    threads: int | None
    env_vars: Mapping[str, str | None] = attrs.field(factory=dict)
    database_file: Path | None = None
    """For file databases (DuckDB): the file the target writes, relative paths resolved against
    the project folder (runtimes run dbt there)."""
    method: str | None = None
    """The connection method some adapters take (Spark: thrift, http, session...)."""

    @property
    def profiles_dir(self) -> Path:
        return self.profiles_file.parent


def _always(data: Mapping[str, Any]) -> bool:
    """dbt_project.yml is shared with the whole team (it is committed): its parse may be cached."""
    return True


def holds_no_literal_secret(data: Any, key: str = "") -> bool:
    """Whether no value under a sensitive key (password, token, private key...) is written out in
    ``data``: only ``env_var()`` templates or nothing. Only such a profiles.yml is cached on disk;
    one holding a literal secret is parsed on every run, so no secret is ever copied anywhere."""
    if isinstance(data, Mapping):
        return all(holds_no_literal_secret(v, str(k)) for k, v in data.items())
    if isinstance(data, list):
        return all(holds_no_literal_secret(v, key) for v in data)
    if data is None or isinstance(data, bool) or not _SENSITIVE_KEY.search(key):
        return True
    return isinstance(data, str) and ("{{" in data or not data)


def load_project(project_dir: str | Path) -> DBTProject:
    """Read ``dbt_project.yml`` in ``project_dir``; every problem is a DBTConfigurationError."""
    root = Path(project_dir).expanduser()
    if not root.exists():
        raise DBTConfigurationError(
            f"project directory does not exist: {root}",
            file_path=root,
            hint="pass --project-dir pointing at the folder that holds dbt_project.yml",
        )
    if not root.is_dir():
        raise DBTConfigurationError(f"project path is not a directory: {root}", file_path=root)
    root = root.resolve()
    project_file = root / PROJECT_FILE
    if not project_file.is_file():
        raise DBTConfigurationError(
            f"no {PROJECT_FILE} in {root}",
            file_path=project_file,
            hint="run from a dbt project folder or pass --project-dir; 'dbt init' creates one",
        )
    data = load_yaml_mapping(project_file, cacheable=_always)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise DBTConfigurationError(
            "'name' is missing or not a string", file_path=project_file,
            hint="dbt_project.yml needs 'name: my_project'",
        )
    profile = data.get("profile", name)
    if not isinstance(profile, str):
        raise DBTConfigurationError("'profile' must be a string", file_path=project_file)

    def paths(key: str, default: list[str]) -> tuple[Path, ...]:
        value = data.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DBTConfigurationError(
                f"'{key}' must be a list of folder names", file_path=project_file
            )
        return tuple(root / v for v in value)

    model_paths = paths("model-paths", ["models"])
    macro_paths = paths("macro-paths", ["macros"])
    sources = (
        *model_paths,
        *macro_paths,
        *paths("seed-paths", ["seeds"]),
        *paths("snapshot-paths", ["snapshots"]),
        *paths("test-paths", ["tests"]),
        *paths("analysis-paths", ["analyses"]),
    )
    packages_file = next(
        (root / f for f in ("packages.yml", "dependencies.yml") if (root / f).is_file()), None
    )
    return DBTProject(
        project_dir=root,
        name=name,
        profile=profile,
        target_path=root / str(data.get("target-path", "target")),
        model_paths=tuple(dict.fromkeys(model_paths)),
        macro_paths=tuple(dict.fromkeys(macro_paths)),
        source_paths=tuple(dict.fromkeys(sources)),
        packages_install_path=root / str(data.get("packages-install-path", "dbt_packages")),
        packages_file=packages_file,
    )


def resolve_profiles_dir(
    project_dir: Path, profiles_dir: Path | None, environ: Mapping[str, str] | None = None
) -> Path:
    """dbt's search order: the flag, ``DBT_PROFILES_DIR``, the project, the cwd, ``~/.dbt``."""
    env = os.environ if environ is None else environ
    if profiles_dir is not None:
        return Path(profiles_dir).expanduser().resolve()
    if env.get("DBT_PROFILES_DIR"):
        return Path(env["DBT_PROFILES_DIR"]).expanduser().resolve()
    for candidate in (project_dir, Path.cwd()):
        if (candidate / PROFILES_FILE).is_file():
            return candidate.resolve()
    return (Path.home() / ".dbt").resolve()


def render_env_vars(
    value: str, environ: Mapping[str, str], used: dict[str, str | None]
) -> str:
    """Resolve ``{{ env_var('NAME', 'default') }}``; a missing variable stays as written."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group("name")
        resolved = environ.get(name, match.group("default"))
        used[name] = resolved
        return match.group(0) if resolved is None else resolved

    return _ENV_VAR.sub(substitute, value)


def _collect_secrets(
    output: Mapping[str, Any], environ: Mapping[str, str], used: dict[str, str | None]
) -> None:
    secrets: list[str] = [v for k, v in environ.items() if k.startswith("DBT_ENV_SECRET")]

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str):
            rendered = render_env_vars(node, environ, used)
            if _SENSITIVE_KEY.search(key) or (rendered != node and _SENSITIVE_KEY.search(node)):
                secrets.append(rendered)
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and \
                _SENSITIVE_KEY.search(key):
            secrets.append(str(node))

    walk(output, "")
    register_secrets(secrets)


def load_profile_target(
    project: DBTProject,
    profiles_dir: Path | None = None,
    target: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProfileTarget:
    """Find the project's profile and the selected target; say exactly what is missing."""
    env = os.environ if environ is None else environ
    directory = resolve_profiles_dir(project.project_dir, profiles_dir, env)
    profiles_file = directory / PROFILES_FILE
    if not profiles_file.is_file():
        raise DBTConfigurationError(
            f"no {PROFILES_FILE} found in {directory}",
            file_path=profiles_file,
            hint="pass --profiles-dir, set DBT_PROFILES_DIR, or put profiles.yml next to "
            "dbt_project.yml",
        )
    profiles = load_yaml_mapping(profiles_file, cacheable=holds_no_literal_secret)
    profile = profiles.get(project.profile)
    if not isinstance(profile, dict):
        available = sorted(str(k) for k in profiles if k != "config")
        raise DBTConfigurationError(
            f"profile '{project.profile}' (from dbt_project.yml) not found in {profiles_file}",
            file_path=profiles_file,
            hint=f"available profiles: {', '.join(available) or 'none'}",
        )
    outputs = profile.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise DBTConfigurationError(
            f"profile '{project.profile}' has no 'outputs'", file_path=profiles_file,
            hint="add an 'outputs:' mapping with at least one target",
        )
    used: dict[str, str | None] = {}
    default_target = profile.get("target")
    chosen = target or env.get("DBT_TARGET") or (
        render_env_vars(default_target, env, used) if isinstance(default_target, str) else None
    )
    if not chosen:
        raise DBTConfigurationError(
            f"profile '{project.profile}' names no default 'target'", file_path=profiles_file,
            hint=f"pass --target, one of: {', '.join(sorted(map(str, outputs)))}",
        )
    output = outputs.get(chosen)
    if not isinstance(output, dict):
        raise DBTConfigurationError(
            f"target '{chosen}' not found in profile '{project.profile}'",
            file_path=profiles_file,
            hint=f"available targets: {', '.join(sorted(map(str, outputs)))}",
        )
    adapter_type = output.get("type")
    if isinstance(adapter_type, str):
        adapter_type = render_env_vars(adapter_type, env, used)
    if not isinstance(adapter_type, str) or not adapter_type or "{{" in adapter_type:
        raise DBTConfigurationError(
            f"target '{chosen}' of profile '{project.profile}' has no usable 'type'",
            file_path=profiles_file,
            hint="set 'type:' to the adapter name, e.g. duckdb",
        )
    _collect_secrets(output, env, used)
    threads = output.get("threads")
    method = output.get("method")
    database_file = None
    path = output.get("path")
    if adapter_type == "duckdb" and isinstance(path, str):
        rendered = render_env_vars(path, env, used)
        if rendered and rendered != ":memory:" and "://" not in rendered and ":" not in rendered[:3]:
            database_file = project.project_dir / Path(rendered).expanduser()
    return ProfileTarget(
        profiles_file=profiles_file,
        profile=project.profile,
        target=chosen,
        adapter_type=adapter_type,
        targets=tuple(sorted(map(str, outputs))),
        threads=threads if isinstance(threads, int) else None,
        env_vars=used,
        database_file=database_file,
        method=render_env_vars(method, env, used) if isinstance(method, str) else None,
    )


_ENV_VAR_CALL = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")
_ENV_SCAN_SUFFIXES = (".sql", ".yml", ".yaml", ".py", ".md", ".csv")


@functools.lru_cache(maxsize=4096)
def _env_names_in(path: str, size: int, mtime_ns: int) -> frozenset[str]:
    """The ``env_var()`` names in one file version. Keyed by size and mtime, so an edited file is
    read again; bounded, and thread-safe as lru_cache is (Fusion scans from parallel threads)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return frozenset(_ENV_VAR_CALL.findall(handle.read()))


def referenced_env_vars(project: DBTProject, profile: ProfileTarget) -> frozenset[str]:
    """Names passed to ``env_var()`` anywhere in the project, its packages or its profiles file.

    Subprocess runtimes pass exactly these variables to the engine. Files are re-read only when
    their size or mtime changed.
    """
    files = [str(project.project_file), str(profile.profiles_file)]
    for root in (*project.source_paths, project.packages_install_path):
        files += [e.path for e in walk_tree(root)
                  if os.path.splitext(e.name)[1] in _ENV_SCAN_SUFFIXES and not e.is_dir()]
    names: set[str] = set()
    for file in files:
        try:
            stat = os.stat(file)
            names |= _env_names_in(file, stat.st_size, stat.st_mtime_ns)
        except OSError:
            continue
    return frozenset(names)
