"""The dataset namespace of a dbt target, as the OpenLineage dbt integration (dbt-ol) names it.

A namespace says which database server (or file) a dataset lives in: ``duckdb://<path>``,
``postgres://<host>:<port>``, ``snowflake://<account>``... The rules below copy dbt-ol's
``extract_namespace`` so that events from floe-dbt and from dbt-ol name the same tables the same
way. dbt-ol refuses adapters it does not know; here they get ``<type>://<host>[:<port>]`` (or
``<type>://<database>``) instead. Values come from the target's output in profiles.yml with
``env_var()`` rendered; no credential is ever part of a namespace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe_dbt_hooks.project import load_profile_target, load_project, render_env_vars
from floe_dbt_hooks.project.yamlfile import load_yaml_mapping


def target_output(project_dir: Path, profiles_dir: Path | None, target: str | None) -> dict[str, Any]:
    """The selected output of the project's profile, string values with ``env_var()`` rendered."""
    project = load_project(project_dir)
    profile = load_profile_target(project, profiles_dir, target)
    profiles = load_yaml_mapping(profile.profiles_file)
    output = profiles[profile.profile]["outputs"][profile.target]
    used: dict[str, str | None] = {}

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return render_env_vars(value, os.environ, used)
        if isinstance(value, Mapping):
            return {str(k): render(v) for k, v in value.items()}
        return value

    return {str(key): render(value) for key, value in output.items()}


def fix_snowflake_account(account: str) -> str:
    """Snowflake account identifiers as the OpenLineage spec wants them (dbt-ol's rule):
    ``org-account`` stays; a locator gets its region and cloud (``xy12345.us-west-1.aws``)."""
    parts = account.split(".")
    if "-" in parts[0]:
        return parts[0]
    if len(parts) == 1:
        return f"{parts[0]}.us-west-1.aws"
    if len(parts) == 2:
        return f"{parts[0]}.{parts[1]}.aws"
    return account


def _host_port(scheme: str, output: Mapping[str, Any], host_key: str = "host") -> str:
    port = output.get("port")
    return f"{scheme}://{output[host_key]}" + (f":{port}" if port is not None else "")


def _port(output: Mapping[str, Any], default: int) -> int:
    """Ports arrive as numbers or, rendered from env_var(), as text (``'5433'``)."""
    value = output.get("port")
    try:
        return int(str(value).strip()) if value not in (None, "") else default
    except ValueError:
        return default


_STORAGE_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "hdfs": "hdfs",
                    "abfss": "abfss", "wasbs": "wasbs", "dbfs": "dbfs"}


def spark_session_namespace(parameters: Mapping[str, Any]) -> str:
    """Where a Spark session's tables live, in the OpenLineage naming spec's terms: a Hive
    metastore service is ``hive://host:port``; otherwise the tables are folders under the
    warehouse directory, so the namespace is that storage's: ``file`` for a local path,
    ``hdfs://namenode:port``, ``s3://bucket``, ``gs://bucket``, ``abfss://container@account``...
    (dbt-ol's ``spark://<host>`` would give ``spark://NA``: a session has no server)."""
    uris = str(parameters.get("spark.hadoop.hive.metastore.uris")
               or parameters.get("hive.metastore.uris") or "")
    if uris.startswith("thrift://"):
        first = uris.split(",")[0][len("thrift://"):]
        return f"hive://{first}"
    warehouse = str(parameters.get("spark.sql.warehouse.dir") or "")
    scheme, separator, rest = warehouse.partition("://")
    if not separator or scheme == "file":
        return "file"
    authority = rest.split("/", 1)[0]
    return f"{_STORAGE_SCHEMES.get(scheme, scheme)}://{authority}"


def dataset_namespace(adapter_type: str, output: Mapping[str, Any]) -> str:
    """The namespace of every relation the target reads or writes."""
    kind = adapter_type.lower()
    if kind == "duckdb":
        return f"duckdb://{output.get('path') or ':memory:'}"
    if kind == "snowflake":
        return f"snowflake://{fix_snowflake_account(str(output['account']))}"
    if kind == "bigquery":
        return "bigquery"
    if kind in ("postgres", "redshift"):
        default_port = 5432 if kind == "postgres" else 5439
        return f"{kind}://{output.get('host') or 'localhost'}:{_port(output, default_port)}"
    if kind in ("clickhouse", "trino"):
        return f"{kind}://{output['host']}:{output['port']}"
    if kind in ("presto", "watsonx_presto"):
        return f"presto://{output['host']}:{output['port']}"
    if kind == "databricks":
        return f"databricks://{output['host']}"
    if kind == "sqlserver":
        return f"mssql://{output['server']}:{output['port']}"
    if kind == "fabric":
        return _host_port("fabric-warehouse", output, "server")
    if kind == "dremio":
        return f"dremio://{output['software_host']}:{output['port']}"
    if kind == "athena":
        return f"awsathena://athena.{output['region_name']}.amazonaws.com"
    if kind == "glue":
        account = output.get("account_id") or str(output["role_arn"]).split(":")[4]
        return f"arn:aws:glue:{output['region']}:{account}"
    if kind == "spark" and output.get("method") == "session":
        return spark_session_namespace(output.get("server_side_parameters") or {})
    if kind == "spark":
        method = output.get("method")
        port = output.get("port") or {"http": 443, "odbc": 443, "thrift": 10001}.get(str(method))
        return f"spark://{output['host']}" + (f":{port}" if port else "")
    if output.get("host"):
        return _host_port(kind, output)
    return f"{kind}://{output.get('database') or output.get('dbname') or 'default'}"
