"""Where the servers live: one private folder per user, and per slot a socket, locks, a log.

The folder is ``$FLOE_DBT_SERVER_DIR``, else ``$XDG_RUNTIME_DIR/floe-dbt``, else
``<tempdir>/floe-dbt-<uid>``. It must be a real folder owned by this user that nobody else can
read or enter: anyone who could connect to a server could run dbt with this user's credentials.
Socket names carry a digest of the Python executable and of floe's and dbt-core's versions, so a
client from another virtual environment, or after an upgrade, never talks to an old server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError

DIR_ENV = "FLOE_DBT_SERVER_DIR"
MAX_SOCKET_PATH = 107
"""Linux's limit on a Unix socket's path (``sun_path`` holds 108 bytes with the final NUL)."""


class ServerDirError(DBTConfigurationError):
    """The server folder cannot be used safely (not private, not ours, not a folder)."""


def server_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder for this user's servers (not created here)."""
    env = os.environ if environ is None else environ
    explicit = env.get(DIR_ENV)
    if explicit:
        return Path(explicit)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "floe-dbt"
    return Path(tempfile.gettempdir()) / f"floe-dbt-{os.getuid()}"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` as 0700 if missing; refuse one that is a link, not ours, or open to others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    hint = (f"remove {path} (or chmod 700 it if it is yours), or set {DIR_ENV} "
            "to a folder only you can enter")
    if not stat.S_ISDIR(info.st_mode):
        raise ServerDirError(f"the dbt-core server folder {path} is not a folder (a link or a "
                             "file is never followed)", file_path=path, hint=hint)
    if info.st_uid != os.getuid():
        raise ServerDirError(f"the dbt-core server folder {path} belongs to uid {info.st_uid}, "
                             f"not to this user (uid {os.getuid()})", file_path=path, hint=hint)
    if info.st_mode & 0o077:
        raise ServerDirError(f"the dbt-core server folder {path} is open to other users (mode "
                             f"{stat.S_IMODE(info.st_mode):o}, must be 700)", file_path=path,
                             hint=hint)
    return path


def build_digest(floe_version: str, dbt_version: str | None) -> str:
    """What a client and its server must agree on: interpreter and both versions."""
    text = "\0".join((sys.executable, floe_version, dbt_version or "-"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@attrs.frozen
class SlotFiles:
    """The files of slot ``slot`` for servers of build ``digest`` in ``folder``."""

    folder: Path
    digest: str
    slot: int

    @property
    def stem(self) -> str:
        return f"core-{self.digest}-{self.slot}"

    @property
    def socket(self) -> Path:
        return self.folder / f"{self.stem}.sock"

    @property
    def slot_lock(self) -> Path:
        """Held by the client using the slot's server; per build, like the socket, so clients of
        another virtual environment never take this build's slots."""
        return self.folder / f"slot-{self.digest}-{self.slot}.lock"

    @property
    def start_lock(self) -> Path:
        return self.folder / f"{self.stem}.start.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.stem}.log"

    @property
    def pid_file(self) -> Path:
        return self.folder / f"{self.stem}.pid"

    def check_socket_length(self) -> None:
        if len(os.fsencode(self.socket)) > MAX_SOCKET_PATH:
            raise ServerDirError(
                f"the socket path {self.socket} is longer than {MAX_SOCKET_PATH} bytes",
                file_path=self.folder, hint=f"set {DIR_ENV} to a shorter folder")


def current_digest() -> str:
    """The digest for this interpreter and the installed floe and dbt-core (no dbt import)."""
    from floe_dbt_hooks import __version__
    from floe_dbt_hooks.plugin.entrypoints import installed_versions

    return build_digest(__version__, installed_versions().get("dbt-core"))
