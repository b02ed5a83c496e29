"""Find the dbt Fusion binary and read its version, cheaply and without being fooled.

Search order: the ``plugins.fusion.binary`` setting, ``FLOE_DBT_FUSION_BIN``, ``dbtf`` on PATH, a ``dbt``
on PATH whose ``--version`` says ``dbt-fusion`` (dbt-core's console script is also called ``dbt``
and is told apart by that line), ``dbtf`` beside this Python (a Fusion installed into the same
environment, activated or not), then Fusion's default install location ``~/.local/bin``.

``--version`` answers are cached per (path, size, mtime) in this process and in a small file under
the user cache folder, so an unchanged binary costs one ``stat``, not a subprocess, per call.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import attrs

VERSION_TIMEOUT = 20.0
MIN_VERSION = "2.0.0-preview.196"
"""The oldest Fusion whose JSON log and artifact formats this runtime was tested against."""

_VERSION_LINE = re.compile(r"^dbt-fusion\s+(\S+)", re.MULTILINE)
_VERSION_PARTS = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-?(?:(preview|rc|beta|alpha)\.?(\d+)))?")
_PRERELEASE_RANK = {"alpha": 0, "beta": 1, "preview": 2, "rc": 3, None: 4}

_lock = threading.Lock()
_versions: dict[tuple[str, int, int], str | None] = {}


@attrs.frozen
class FusionBinary:
    """A located Fusion executable and the version it reports."""

    path: Path
    version: str
    source: str


@attrs.frozen
class Detection:
    """Either a usable binary or the reason there is none (and what to do)."""

    binary: FusionBinary | None
    reason_code: str | None = None
    message: str | None = None
    hint: str | None = None


def parse_version(text: str) -> tuple[int, ...] | None:
    """``2.0.0-preview.196`` -> (2, 0, 0, 2, 196); releases sort after their pre-releases."""
    match = _VERSION_PARTS.match(text.strip())
    if match is None:
        return None
    major, minor, patch, stage, number = match.groups()
    return (int(major), int(minor), int(patch), _PRERELEASE_RANK[stage], int(number or 0))


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "floe-dbt" / "fusion-versions.json"


def _load_disk_cache() -> dict[str, str | None]:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store_disk_cache(key: str, version: str | None) -> None:
    from floe_dbt_hooks.fsutil import atomic_write_text

    data = _load_disk_cache()
    data[key] = version
    try:
        atomic_write_text(_cache_file(), json.dumps(data, sort_keys=True))
    except OSError:
        return


def fusion_version(path: Path) -> str | None:
    """The Fusion version ``path`` reports, or None when it is not Fusion (e.g. dbt-core)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _versions:
            return _versions[key]
    disk_key = "|".join(map(str, key))
    disk = _load_disk_cache()
    if disk_key in disk:
        version = disk[disk_key]
    else:
        version = _ask_version(path)
        _store_disk_cache(disk_key, version)
    with _lock:
        _versions[key] = version
    return version


def _ask_version(path: Path) -> str | None:
    """Run ``path --version`` (its own process group, killed with it on timeout)."""
    import tempfile

    from floe_dbt_hooks.runtime.process import EngineProcess

    lines: list[str] = []
    try:
        completed = EngineProcess(
            [str(path), "--version"], cwd=Path(tempfile.gettempdir()), timeout=VERSION_TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "RUST_BACKTRACE": "0"},
            on_line=lines.append,
        ).run()
    except OSError:
        return None
    if completed.ended_by != "exit":
        return None
    match = _VERSION_LINE.search("".join(lines))
    return match.group(1) if match else None


def _candidates(setting: str | None, environ: Mapping[str, str],
                environment_bin: Path) -> list[tuple[Path, str]]:
    """An explicit location is the only candidate (never silently another binary); otherwise
    PATH and the default install location are searched."""
    if setting:
        return [(Path(setting).expanduser(), "plugins.fusion.binary")]
    if environ.get("FLOE_DBT_FUSION_BIN"):
        return [(Path(environ["FLOE_DBT_FUSION_BIN"]).expanduser(), "FLOE_DBT_FUSION_BIN")]
    import shutil

    found: list[tuple[Path, str]] = []
    directories = [d for d in environ.get("PATH", "").split(os.pathsep) if d]
    for name in ("dbtf", "dbt"):
        for directory in directories:
            located = shutil.which(name, path=directory)
            if located:
                found.append((Path(located), f"'{name}' on PATH"))
    found.append((environment_bin / "dbtf", "'dbtf' in this Python environment"))
    home = Path(environ.get("HOME") or Path.home())
    found += [(home / ".local" / "bin" / name, "default install location")
              for name in ("dbtf", "dbt")]
    return list(dict.fromkeys(found))


def detect(
    setting: str | None = None,
    environ: Mapping[str, str] | None = None,
    min_version: str = MIN_VERSION,
    environment_bin: Path | None = None,
) -> Detection:
    """Locate a Fusion binary at least ``min_version``; explain precisely when there is none.

    ``environment_bin`` is this Python environment's scripts folder (where a ``dbtf`` installed
    beside floe-dbt-hooks lives); tests point it elsewhere."""
    env = os.environ if environ is None else environ
    looked: list[str] = []
    scripts = Path(sys.executable).parent if environment_bin is None else environment_bin
    for path, source in _candidates(setting, env, scripts):
        if not (path.is_file() and os.access(path, os.X_OK)):
            looked.append(f"{path} ({source}): not an executable file")
            continue
        version = fusion_version(path)
        if version is None:
            looked.append(f"{path} ({source}): not dbt Fusion (--version does not say dbt-fusion)")
            continue
        floor, have = parse_version(min_version), parse_version(version)
        if floor is not None and have is not None and have < floor:
            return Detection(
                binary=None, reason_code="version-too-old",
                message=f"dbt Fusion {version} at {path} is older than the supported minimum "
                        f"{min_version}",
                hint="upgrade Fusion (dbt system update) or lower plugins.fusion.min_version",
            )
        return Detection(binary=FusionBinary(path=path, version=version, source=source))
    return Detection(
        binary=None, reason_code="binary-missing",
        message="no dbt Fusion binary found; looked at: " + "; ".join(looked),
        hint="install dbt Fusion, or point FLOE_DBT_FUSION_BIN (or plugins.fusion.binary in "
             "floe.yml) at its executable",
    )
