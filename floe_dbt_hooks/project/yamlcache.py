"""Parsed YAML kept on disk, so that a warm ``floe-dbt`` start never imports PyYAML.

Importing PyYAML compiles a dozen regular expressions (~15 ms, more than parsing a project's
files); a CLI reads the same dbt_project.yml and profiles.yml on every run. A file's parsed
mapping is kept in ``marshal`` format under the user cache folder, keyed by the file's path and
its ``stat`` signature (size, mtime, ctime, inode, device): any edit, copy or replacement changes
that, so a stale entry is never used. A file changed in the last two seconds is not stored (its
timestamps could still coincide with a second edit), and values ``marshal`` cannot hold (YAML dates)
mean the file is simply parsed each time.

The cache may hold whatever the file holds, so callers decide what may be stored (profiles with a
literal password are not, see :mod:`floe_dbt_hooks.project.loading`); entries are written with mode
0600 in a 0700 folder, and replaced atomically, so a reader sees a whole entry or none.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any

from floe_dbt_hooks.plugin.entrypoints import _fnv1a_64

_FORMAT = 1
_SETTLE_NS = 2_000_000_000
"""A file whose mtime or ctime is newer than this is not stored (an edit within the timestamps'
granularity could leave the signature unchanged)."""
_TAG = f"{_FORMAT}:{sys.version_info[:2]}"

Signature = tuple[str, int, int, int, int, int]


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/floe-dbt/yaml`` (default ``~/.cache/floe-dbt/yaml``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "floe-dbt" / "yaml"


def signature(path: Path) -> Signature:
    """What identifies one version of ``path``; raises OSError when it cannot be stat'ed."""
    st = os.stat(path)
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _entry(path: Path) -> Path:
    return cache_folder() / f"{_fnv1a_64(str(path))}.marshal"


def load(path: Path, sig: Signature) -> dict[str, Any] | None:
    """The mapping stored for this version of ``path``, or None (absent, stale or unreadable)."""
    try:
        tag, stored, data = marshal.loads(_entry(path).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if tag != _TAG or stored != sig or not isinstance(data, dict):
        return None
    return data


def store(path: Path, sig: Signature, data: dict[str, Any]) -> None:
    """Keep ``data`` as the parse of this version of ``path``, when that is safe and possible;
    never raises (a cache that cannot be written is a slower next run, not an error)."""
    now = time.time_ns()
    if now - max(sig[2], sig[3]) < _SETTLE_NS:
        return
    try:
        payload = marshal.dumps((_TAG, sig, data))
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
