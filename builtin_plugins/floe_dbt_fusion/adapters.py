"""Can Fusion serve this profile's adapter here? Decided before anything runs, from files only.

Two questions, each with a precise answer: does Fusion know the adapter type (some it knows only as
experimental, behind ``DBT_ALLOW_EXPERIMENTAL_ADAPTERS``), and is its ADBC driver loadable on this
machine? Fusion normally downloads drivers from a CDN on first use; offline or air-gapped it finds
them only in the folders of ``ADBC_DRIVER_PATH`` (plus ``plugins.fusion.driver_path``),
``~/.config/adbc/drivers`` and ``/etc/adbc/drivers``, as a shared library or a ``<name>.toml`` manifest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

SUPPORTED = ("snowflake", "bigquery", "databricks", "redshift", "duckdb", "salesforce")
EXPERIMENTAL = ("postgres", "trino", "datafusion", "spark", "clickhouse", "fabric", "exasol")
DRIVER_FILES: Mapping[str, tuple[str, ...]] = {
    "duckdb": ("libduckdb.so", "libduckdb.dylib", "duckdb.dll", "duckdb.toml"),
}
"""Driver files per adapter; others are looked up as ``libadbc_driver_<type>`` and ``<type>.toml``."""


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
    """Where Fusion (through the ADBC driver manager) looks for drivers, in order."""
    dirs = [Path(p).expanduser() for p in extra]
    dirs += [Path(p) for p in environ.get("ADBC_DRIVER_PATH", "").split(os.pathsep) if p]
    home = Path(environ.get("HOME") or Path.home())
    dirs += [home / ".config" / "adbc" / "drivers", Path("/etc/adbc/drivers")]
    return list(dict.fromkeys(dirs))


def _driver_names(adapter_type: str) -> tuple[str, ...]:
    return DRIVER_FILES.get(
        adapter_type,
        (f"libadbc_driver_{adapter_type}.so", f"libadbc_driver_{adapter_type}.dylib",
         f"{adapter_type}.toml"),
    )


def find_driver(adapter_type: str, dirs: Iterable[Path]) -> Path | None:
    for directory in dirs:
        for name in _driver_names(adapter_type):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def check_adapter(
    adapter_type: str,
    *,
    needs_driver: bool,
    extra_driver_dirs: Iterable[str | Path] = (),
    environ: Mapping[str, str] | None = None,
) -> AdapterCheck:
    """Whether Fusion can serve ``adapter_type`` here; ``needs_driver`` is False for commands that
    never open a connection (compile, lint)."""
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
    if not needs_driver:
        return AdapterCheck()
    dirs = driver_dirs(extra_driver_dirs, env)
    if find_driver(adapter_type, dirs) is None:
        names = " or ".join(_driver_names(adapter_type))
        return AdapterCheck(
            reason_code="driver-unavailable",
            message=f"no ADBC driver for '{adapter_type}' is installed here (looked for {names} "
                    f"in {', '.join(map(str, dirs))})",
            hint="put the driver in a folder named by ADBC_DRIVER_PATH or plugins.fusion."
                 "driver_path (offline installs), or run Fusion once with network access",
        )
    return AdapterCheck()
