"""describe_connection_failure: each driver text names host:port and the profile field to fix.
The texts are what psycopg2 and Spark print (the integration tests feed it live ones too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from floe_dbt_core.connection_errors import (
    describe_connection_failure,
    probe_spark_master,
    rendered_output,
)

from floe_dbt_hooks.project import load_profile_target, load_project

PG = {"type": "postgres", "host": "db.internal", "port": 5433, "user": "etl",
      "password": "s3cr3t-value", "dbname": "warehouse"}
REFUSED = ('Database Error\n  connection to server at "db.internal" (127.0.0.5), port 5433 failed: '
           "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
           "connections?")


@pytest.mark.parametrize(("text", "fields"), [
    (REFUSED, "'host' and 'port'"),
    ('connection to server at "db.internal", port 5433 failed: timeout expired',
     "'host' and 'port'"),
    ('connection to server at "db.internal", port 5433 failed: FATAL:  password authentication '
     'failed for user "etl"', "'password'"),
    ('connection to server at "db.internal", port 5433 failed: FATAL:  database "warehouse" does '
     "not exist", "'dbname'"),
    ('connection to server at "db.internal", port 5433 failed: FATAL:  role "etl" does not exist',
     "'user'"),
])
def test_postgres_failures_name_endpoint_and_field(text: str, fields: str) -> None:
    described = describe_connection_failure(text, PG)
    assert described is not None
    message, hint = described
    assert "db.internal:5433" in message
    assert fields in message
    assert "s3cr3t-value" not in message + hint
    assert hint


def test_unresolvable_host_names_the_host_field() -> None:
    described = describe_connection_failure(
        'could not translate host name "db.nowhere" to address: Name or service not known', PG)
    assert described is not None
    assert "'db.nowhere'" in described[0]
    assert "'host'" in described[0]


def test_other_errors_are_left_to_the_caller() -> None:
    assert describe_connection_failure('relation "orders" does not exist', PG) is None
    assert describe_connection_failure(REFUSED, {"type": "duckdb", "path": "x.duckdb"}) is None


SPARK = {"type": "spark", "method": "session", "host": "NA",
         "server_side_parameters": {"spark.master": "spark://127.0.2.3:7077"}}


def test_unreachable_spark_master_names_the_parameter() -> None:
    text = ("WARN StandaloneAppClient$ClientEndpoint: Failed to connect to master 127.0.2.3:7077\n"
            "ERROR StandaloneSchedulerBackend: Application has been killed. Reason: All masters "
            "are unresponsive! Giving up.")
    described = describe_connection_failure(text, SPARK)
    assert described is not None
    assert "127.0.2.3:7077" in described[0]
    assert "server_side_parameters.spark.master" in described[0]


def test_dbt_s_own_text_for_a_killed_application_names_the_master() -> None:
    """What dbt-core's exception says when Spark gave up on the master (the log4j lines with
    "All masters are unresponsive" go to the JVM's stderr, not into the exception)."""
    text = ("Runtime Error\n  An error occurred while calling o35.sql.\n  : java.lang."
            "IllegalStateException: Cannot call methods on a stopped SparkContext.")
    described = describe_connection_failure(text, SPARK)
    assert described is not None
    assert "127.0.2.3:7077" in described[0]


def test_local_spark_and_sql_errors_are_not_connection_failures() -> None:
    local = {**SPARK, "server_side_parameters": {"spark.master": "local[*]"}}
    assert describe_connection_failure("Connection refused", local) is None
    assert describe_connection_failure("[TABLE_OR_VIEW_NOT_FOUND] orders", SPARK) is None


def test_thrift_server_refused_names_host_and_port() -> None:
    described = describe_connection_failure(
        "Could not connect to any of [('127.0.2.4', 10000)]: Connection refused",
        {"type": "spark", "method": "thrift", "host": "127.0.2.4", "port": 10000})
    assert described is not None
    assert "127.0.2.4:10000" in described[0]


def test_rendered_output_reads_the_selected_target(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "jaffle_shop"
    monkeypatch.setenv("FLOE_PG_PORT", "6000")
    monkeypatch.setenv("FLOE_PG_PASSWORD", "from-env")
    profile = load_profile_target(load_project(example), None, "postgres")
    output = rendered_output(profile)
    assert (output["type"], output["host"], output["port"]) == ("postgres", "127.0.0.1", "6000")
    described = describe_connection_failure(
        'connection to server at "127.0.0.1", port 6000 failed: FATAL:  password authentication '
        'failed for user "floe"', output)
    assert described is not None
    assert "from-env" not in described[0] + described[1]


def test_probe_spark_master_answers_in_seconds() -> None:
    """A real listening socket passes; a closed loopback port fails fast, naming host:port."""
    import socket
    import time

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        listening = {**SPARK, "server_side_parameters": {"spark.master": f"spark://127.0.0.1:{port}"}}
        assert probe_spark_master(listening) is None
    started = time.monotonic()
    described = probe_spark_master(listening)
    assert time.monotonic() - started < 5
    assert described is not None
    assert f"127.0.0.1:{port}" in described[0]
    assert "server_side_parameters.spark.master" in described[0]
    assert probe_spark_master({**SPARK, "server_side_parameters": {"spark.master": "local[*]"}}) is None
