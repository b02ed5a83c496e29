"""A throwaway PostgreSQL cluster: ``initdb`` + ``pg_ctl`` in a temporary folder, a free loopback
port, password (SCRAM) authentication, stopped and removed at the end.

Two roles, both with generated passwords: an administrator (the cluster's bootstrap superuser, for
the set-up only) and ``floe``, an ordinary role that owns the ``floe`` database and is what the
targets connect as. An ordinary role is what dbt meets in production, where PostgreSQL 15 no longer
lets everyone create in ``public``: owning the database lets it create its own schemas.

As root the server runs as the ``postgres`` system user (PostgreSQL refuses to run as root), so the
folder lives outside pytest's root-only temp tree and is owned by that user."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.services.processes import LOOPBACK, free_port, kill_group, run_checked

PG_BIN_CANDIDATES = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
SETUP_TIMEOUT = 120.0
SERVICE_USER = "postgres"
DATABASE = "floe"
USER = "floe"
ADMIN = "floe_admin"


@dataclass(frozen=True)
class PostgresServer:
    """How to reach a running test cluster, and what to remove when it stops."""

    host: str
    port: int
    user: str
    password: str
    database: str
    data_dir: str
    bin_dir: str
    run_as: str | None
    admin_password: str

    def env(self) -> dict[str, str]:
        """The variables the example's ``postgres`` target reads through env_var()."""
        return {
            "FLOE_PG_HOST": self.host, "FLOE_PG_PORT": str(self.port), "FLOE_PG_USER": self.user,
            "FLOE_PG_PASSWORD": self.password, "FLOE_PG_DATABASE": self.database,
        }

    def dsn(self, database: str | None = None, *, admin: bool = False) -> str:
        user, password = (ADMIN, self.admin_password) if admin else (self.user, self.password)
        return (f"host={self.host} port={self.port} user={user} password={password} "
                f"dbname={database or self.database} connect_timeout=5")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PostgresServer:
        return cls(**json.loads(text))


def find_bin_dir() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "pg_ctl").is_file():
            return candidate
    raise FileNotFoundError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
        "run 'python3 scripts/bootstrap.py setup' as root (it installs Debian's postgresql)"
    )


def start_postgres() -> PostgresServer:
    """Create and start a cluster; the caller owns it and must call :func:`stop_postgres`."""
    bin_dir = find_bin_dir()
    run_as = SERVICE_USER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    data_dir = root / "data"
    password, admin_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    password_file = root / "pwfile"
    password_file.write_text(admin_password + "\n")
    password_file.chmod(0o600)
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(root, account.pw_uid, account.pw_gid)
        os.chown(password_file, account.pw_uid, account.pw_gid)
    try:
        run_checked(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", ADMIN, "--auth=scram-sha-256",
             f"--pwfile={password_file}", "--encoding=UTF8", "--no-sync"],
            timeout=SETUP_TIMEOUT, user=run_as,
        )
        password_file.unlink()
        port = free_port()
        options = (f"-p {port} -k {root} -c listen_addresses={LOOPBACK} -c fsync=off "
                   "-c max_connections=60")
        run_checked(
            [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(root / "server.log"),
             "-w", "-t", "60", "start"],
            timeout=SETUP_TIMEOUT, user=run_as,
        )
        server = PostgresServer(LOOPBACK, port, USER, password, DATABASE, str(data_dir), str(bin_dir),
                                run_as, admin_password)
        _create_database(server)
    except BaseException:
        _kill_postmaster(data_dir)
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def _create_database(server: PostgresServer) -> None:
    """The ordinary login role and the database it owns (see the module docstring)."""
    import psycopg2

    connection = psycopg2.connect(server.dsn("postgres", admin=True))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"create role {server.user} login password %s", (server.password,))
            cursor.execute(f"create database {server.database} owner {server.user}")
    finally:
        connection.close()


def stop_postgres(server: PostgresServer) -> None:
    """Stop the cluster (fast shutdown, then kill) and remove its folder."""
    data_dir = Path(server.data_dir)
    try:
        run_checked([str(Path(server.bin_dir) / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w",
                     "-t", "30", "stop"], timeout=60, user=server.run_as)
    except Exception:
        _kill_postmaster(data_dir)
    shutil.rmtree(data_dir.parent, ignore_errors=True)


def _kill_postmaster(data_dir: Path) -> None:
    pid_file = data_dir / "postmaster.pid"
    if pid_file.is_file():
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            kill_group(os.getpgid(pid))
