"""Parsed YAML kept on disk, so that a warm ``floe-dbt`` start never imports PyYAML.

Importing PyYAML compiles a dozen regular expressions (~15 ms, more than parsing a project's
files); a CLI reads the same dbt_project.yml and profiles.yml on every run. A file's parsed
mapping is kept in ``marshal`` format under the user cache folder, one entry per file path, with
the exact bytes it was parsed from: an entry is used only when the file's current bytes are the
same (comparing a few kilobytes costs microseconds, and unlike timestamps it cannot be fooled by
two edits within one clock tick or a copy that keeps the mtime). Values ``marshal`` cannot hold
(YAML dates) mean the file is simply parsed each time.

The cache holds whatever the file holds, so callers decide what may be stored (profiles with a
literal password are not, see :mod:`floe_dbt_hooks.project.loading`); entries are written with mode
0600 in a 0700 folder and replaced atomically, so a reader sees a whole entry or none.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from floe_dbt_hooks.plugin.entrypoints import _fnv1a_64

_TAG = f"1:{sys.version_info[0]}.{sys.version_info[1]}"


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/floe-dbt/yaml`` (default ``~/.cache/floe-dbt/yaml``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "floe-dbt" / "yaml"


def _entry(path: Path) -> Path:
    return cache_folder() / f"{_fnv1a_64(str(path))}.marshal"


def load(path: Path, content: bytes) -> dict[str, Any] | None:
    """The mapping stored for ``path`` when it was parsed from exactly ``content``, else None."""
    try:
        tag, stored_path, stored, data = marshal.loads(_entry(path).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if tag != _TAG or stored_path != str(path) or stored != content or not isinstance(data, dict):
        return None
    return data


def store(path: Path, content: bytes, data: dict[str, Any]) -> None:
    """Keep ``data`` as the parse of ``content`` (the bytes of ``path``), when marshal can hold
    it; never raises (a cache that cannot be written is a slower next run, not an error)."""
    try:
        payload = marshal.dumps((_TAG, str(path), content, data))
    except ValueError:
        return
    entry = _entry(path)
    with contextlib.suppress(OSError):
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".tmp", dir=entry.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
