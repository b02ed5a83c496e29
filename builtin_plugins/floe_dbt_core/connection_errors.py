"""Say which profile field to fix when dbt cannot connect to a database server or a Spark master.

dbt-core reports a failed connection as a generic "Database Error" carrying the driver's text
(psycopg2, Spark's Java exceptions). That text names the host and port but not the profile setting
behind them, so the user is left to guess between host, port, user, password and dbname. This
module reads the driver's text and the target's rendered output (its profiles.yml mapping) and
returns one message naming ``host:port`` and the field, plus a hint. Secrets never appear: only
the names of fields, never the password's value.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

from floe_dbt_hooks.project.loading import ProfileTarget, render_env_vars
from floe_dbt_hooks.project.yamlfile import load_yaml_mapping

_PG_SERVER = re.compile(r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)')
_PG_SOCKET = re.compile(r'connection to server on socket "(?P<socket>[^"]+)"')
_SPARK_MASTER = re.compile(r"spark://(?P<host>[^:/\s,]+):(?P<port>\d+)")

Describer = Callable[[str, Mapping[str, Any]], "tuple[str, str] | None"]


def describe_connection_failure(
    exc_or_message: str, profile_output: Mapping[str, Any]
) -> tuple[str, str] | None:
    """``(message, hint)`` when ``exc_or_message`` is a failure to connect to the target described
    by ``profile_output`` (the selected output of profiles.yml, env_var() already rendered), else
    None so the caller keeps its own classification."""
    text = str(exc_or_message)
    adapter = str(profile_output.get("type", "")).lower()
    describer = _DESCRIBERS.get(adapter)
    return describer(text, profile_output) if describer is not None else None


def rendered_output(profile: ProfileTarget, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The selected target's mapping from profiles.yml with ``env_var()`` calls rendered, for
    :func:`describe_connection_failure`. Values that stay unrendered keep their Jinja text."""
    env = os.environ if environ is None else environ
    outputs = load_yaml_mapping(profile.profiles_file).get(profile.profile, {}).get("outputs", {})
    output = outputs.get(profile.target, {}) if isinstance(outputs, Mapping) else {}
    used: dict[str, str | None] = {}

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return render_env_vars(value, env, used)
        if isinstance(value, Mapping):
            return {str(k): render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v) for v in value]
        return value

    rendered = render(output)
    return rendered if isinstance(rendered, dict) else {}


def _endpoint(text: str, output: Mapping[str, Any], pattern: re.Pattern[str],
              default_port: int) -> str:
    match = pattern.search(text)
    if match is not None:
        return f"{match.group('host')}:{match.group('port')}"
    return f"{output.get('host', 'localhost')}:{output.get('port', default_port)}"


def _postgres(text: str, output: Mapping[str, Any]) -> tuple[str, str] | None:
    lowered = text.lower()
    socket = _PG_SOCKET.search(text)
    where = socket.group("socket") if socket else _endpoint(text, output, _PG_SERVER, 5432)
    user = output.get("user", "?")
    dbname = output.get("dbname", output.get("database", "?"))
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (f"PostgreSQL at {where} rejected the credentials of user '{user}' "
                "(profile fields 'user' and 'password')",
                "check the password the target's 'password' field reads (e.g. its env_var) and "
                "that the role may log in with a password")
    match = re.search(r'database "(?P<db>[^"]+)" does not exist', text)
    if match is not None:
        return (f"PostgreSQL at {where} has no database '{match.group('db')}' (profile field "
                "'dbname')",
                "create the database or set 'dbname' in the target to an existing one")
    match = re.search(r'role "(?P<role>[^"]+)" does not exist', text)
    if match is not None:
        return (f"PostgreSQL at {where} has no role '{match.group('role')}' (profile field 'user')",
                "set 'user' in the target to an existing role")
    match = re.search(r'could not translate host name "(?P<host>[^"]+)"', text)
    if match is not None:
        return (f"cannot resolve PostgreSQL host '{match.group('host')}' (profile field 'host')",
                "fix 'host' in the target")
    if "connection refused" in lowered or "timeout expired" in lowered or (
        "could not connect to server" in lowered
    ) or "no route to host" in lowered or "server closed the connection" in lowered:
        reason = "timed out" if "timeout expired" in lowered else "was refused"
        return (f"cannot connect to PostgreSQL at {where} (profile fields 'host' and 'port'): "
                f"the connection {reason}, database '{dbname}'",
                "start the server or point 'host'/'port' of the target at a running one; "
                "'connect_timeout' bounds the wait")
    if re.search(r"pg_hba\.conf", text):
        return (f"PostgreSQL at {where} does not accept user '{user}' for database '{dbname}' "
                "from this host (server's pg_hba.conf; profile fields 'host', 'user', 'dbname')",
                "ask the server's administrator to allow this client, or connect as another user")
    return None


_SPARK_UNREACHABLE = (
    "all masters are unresponsive",
    "failed to connect to master",
    "could not connect to master",
    "connection refused",
    "application has been killed",
    "master removed our application",
    "cannot call methods on a stopped sparkcontext",
    "unreachable",
    "timed out",
)


def _spark(text: str, output: Mapping[str, Any]) -> tuple[str, str] | None:
    lowered = text.lower()
    parameters = output.get("server_side_parameters") or {}
    master = str(parameters.get("spark.master", "")) if isinstance(parameters, Mapping) else ""
    method = str(output.get("method", ""))
    if method == "session" and master.startswith("spark://"):
        if any(marker in lowered for marker in _SPARK_UNREACHABLE):
            match = _SPARK_MASTER.search(text) or _SPARK_MASTER.search(master)
            where = f"{match.group('host')}:{match.group('port')}" if match else master
            return (f"cannot reach the Spark master at {where} (profile field "
                    "'server_side_parameters.spark.master')",
                    "start the master (and its workers) or point spark.master at a running "
                    "cluster; 'local[*]' runs Spark in this process")
        return None
    if method in ("thrift", "http") and ("refused" in lowered or "timed out" in lowered
                                         or "could not connect" in lowered):
        where = f"{output.get('host', '?')}:{output.get('port', 443 if method == 'http' else 10000)}"
        return (f"cannot connect to the Spark server at {where} (profile fields 'host' and 'port', "
                f"method '{method}')",
                "start the Thrift server or fix 'host'/'port' of the target")
    return None


_DESCRIBERS: dict[str, Describer] = {"postgres": _postgres, "redshift": _postgres, "spark": _spark}


def probe_spark_master(profile_output: Mapping[str, Any],
                       timeout: float = 3.0) -> tuple[str, str] | None:
    """Before a ``session`` target starts its SparkSession: is the ``spark://`` master listening?

    Spark's standalone client retries registration three times, 20 s apart (fixed in Spark), so an
    unreachable master costs a minute before dbt reports it. A TCP connect answers in
    ``timeout`` seconds; ``(message, hint)`` when it fails, None when it is reachable or the target
    does not use a standalone master (local[*], yarn, k8s, thrift, http...)."""
    if str(profile_output.get("type", "")).lower() != "spark" or profile_output.get("method") != "session":
        return None
    parameters = profile_output.get("server_side_parameters") or {}
    master = str(parameters.get("spark.master", "")) if isinstance(parameters, Mapping) else ""
    endpoints = [m.groups() for m in re.finditer(r"([^:/,\s]+):(\d+)", master.removeprefix("spark://"))]
    if not master.startswith("spark://") or not endpoints:
        return None
    for host, port in endpoints:
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return None
        except OSError:
            continue
    where = ", ".join(f"{host}:{port}" for host, port in endpoints)
    return _spark(f"could not connect to master {master}: connection refused", profile_output) or (
        f"cannot reach the Spark master at {where}", "start the master or fix spark.master")
