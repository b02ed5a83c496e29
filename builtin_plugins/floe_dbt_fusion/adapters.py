"""Can Fusion serve this profile's adapter here? Decided before anything runs, from files only.

Three questions, each with a precise answer: does Fusion know the adapter type (some it knows only
as experimental, behind ``DBT_ALLOW_EXPERIMENTAL_ADAPTERS``), does it accept the profile's
connection method, and is its ADBC driver loadable on this machine? Where Fusion looks for a driver
depends on the adapter (seen with strace on 2.0.0-preview.196): DuckDB's is a system library found
in the folders of ``ADBC_DRIVER_PATH`` (plus ``plugins.fusion.driver_path``),
``~/.config/adbc/drivers`` and ``/etc/adbc/drivers``; every other adapter's is dbt Labs' own build,
``libadbc_driver_<name>-<version>.so`` in ``<cache>/com.getdbt/adbc/<platform>/``, which Fusion
downloads on first use and cannot fetch offline.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

SUPPORTED = ("snowflake", "bigquery", "databricks", "redshift", "duckdb", "salesforce")
EXPERIMENTAL = ("postgres", "trino", "datafusion", "spark", "clickhouse", "fabric", "exasol")
SYSTEM_DRIVER_FILES: Mapping[str, tuple[str, ...]] = {
    "duckdb": ("libduckdb.so", "libduckdb.dylib", "duckdb.dll", "duckdb.toml"),
}
"""Adapters whose driver Fusion loads as a system library, and the file names it accepts."""
CACHED_DRIVER_NAMES: Mapping[str, str] = {
    "postgres": "postgresql", "snowflake": "snowflake", "bigquery": "bigquery",
    "databricks": "databricks", "redshift": "redshift", "salesforce": "salesforce",
    "spark": "spark", "fabric": "mssql", "exasol": "exasol",
}
"""Adapter type -> the name of dbt Labs' driver build that Fusion caches for it."""
SPARK_METHODS = ("thrift", "http", "livy", "connect")
"""The Spark connection methods Fusion accepts; dbt-spark's in-process ``session`` is not one."""


@attrs.frozen
class AdapterCheck:
    """None of the fields set means the adapter can be served."""

    reason_code: str | None = None
    message: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason_code is None


def driver_dirs(extra: Iterable[str | Path], environ: Mapping[str, str]) -> list[Path]:
    """Where system ADBC drivers are looked for, in order: the settings, ``ADBC_DRIVER_PATH``, this
    Python environment's ``share/adbc/drivers`` (the runtime hands Fusion that folder through
    ``ADBC_DRIVER_PATH``), then the ADBC driver manager's user and system folders."""
    dirs = [Path(p).expanduser() for p in extra]
    dirs += [Path(p) for p in environ.get("ADBC_DRIVER_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(sys.prefix) / "share" / "adbc" / "drivers")
    home = Path(environ.get("HOME") or Path.home())
    dirs += [home / ".config" / "adbc" / "drivers", Path("/etc/adbc/drivers")]
    return list(dict.fromkeys(dirs))


def driver_cache(environ: Mapping[str, str]) -> Path:
    """The folder Fusion keeps its downloaded drivers in on this machine."""
    home = Path(environ.get("HOME") or Path.home())
    base = Path(environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "com.getdbt" / "adbc" / f"{platform.machine()}-manylinux_2_17-linux-gnu"


def _driver_names(adapter_type: str) -> tuple[str, ...]:
    if adapter_type in SYSTEM_DRIVER_FILES:
        return SYSTEM_DRIVER_FILES[adapter_type]
    name = CACHED_DRIVER_NAMES.get(adapter_type, adapter_type)
    return (f"libadbc_driver_{name}-*.so",)


def find_driver(adapter_type: str, dirs: Iterable[Path]) -> Path | None:
    for directory in dirs:
        for name in _driver_names(adapter_type):
            found = sorted(directory.glob(name)) if "*" in name else [directory / name]
            for candidate in found:
                if candidate.is_file():
                    return candidate
    return None


def check_adapter(
    adapter_type: str,
    *,
    needs_driver: bool,
    extra_driver_dirs: Iterable[str | Path] = (),
    environ: Mapping[str, str] | None = None,
    method: str | None = None,
) -> AdapterCheck:
    """Whether Fusion can serve ``adapter_type`` (connected by ``method``) here; ``needs_driver``
    is False for commands that never open a connection (compile, lint)."""
    env = os.environ if environ is None else environ
    experimental_ok = env.get("DBT_ALLOW_EXPERIMENTAL_ADAPTERS", "").lower() in ("1", "true")
    if adapter_type not in SUPPORTED and adapter_type not in EXPERIMENTAL:
        return AdapterCheck(
            reason_code="adapter-unknown",
            message=f"dbt Fusion does not know the adapter type '{adapter_type}'",
            hint=f"Fusion serves {', '.join(SUPPORTED)}; use --runtime core for this profile",
        )
    if adapter_type in EXPERIMENTAL and not experimental_ok:
        return AdapterCheck(
            reason_code="adapter-unsupported",
            message=f"the '{adapter_type}' adapter is experimental in dbt Fusion",
            hint="set DBT_ALLOW_EXPERIMENTAL_ADAPTERS=true to try it, or use --runtime core",
        )
    if adapter_type == "spark" and method not in SPARK_METHODS:
        return AdapterCheck(
            reason_code="adapter-unsupported",
            message=f"dbt Fusion does not support the Spark method '{method}' (profile field "
                    "'method')",
            hint=f"Fusion connects to Spark by {', '.join(SPARK_METHODS)}; use --runtime core for "
                 "dbt-spark's session method",
        )
    if not needs_driver:
        return AdapterCheck()
    system = adapter_type in SYSTEM_DRIVER_FILES
    dirs = driver_dirs(extra_driver_dirs, env) if system else [driver_cache(env)]
    if find_driver(adapter_type, dirs) is None:
        names = " or ".join(_driver_names(adapter_type))
        return AdapterCheck(
            reason_code="driver-unavailable",
            message=f"no ADBC driver for '{adapter_type}' is installed here (looked for {names} "
                    f"in {', '.join(map(str, dirs))})",
            hint="put the driver in a folder named by ADBC_DRIVER_PATH or plugins.fusion."
                 "driver_path (offline installs), or run Fusion once with network access"
            if system else "dbt Fusion downloads dbt Labs' build of this driver on first use: run "
                 "it once with network access (or copy that file from a machine that has it), "
                 "or use --runtime core",
        )
    return AdapterCheck()
