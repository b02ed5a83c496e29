"""The ``core-server-500`` case: one model of the 500-model project built by a fresh Python
process (how a task executor starts a task) through the warm dbt-core server, against the same
fresh process running dbt-core in-process and against ``dbt build -s`` on the CLI.

The server's first task (start the server, import dbt, parse the project) is measured once and
reported apart; the measured rounds are the tasks that follow it. Timed: the child's wall time
(process start to exit), since interpreter start-up is part of what a task pays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import generate_project
from benchmarks.runner import (
    BenchError,
    Options,
    Row,
    child_env,
    generated_project,
    last_json,
    log,
    row,
    run_proc,
    summary,
    tool,
    warmup_tag,
)

MODELS = 500
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from floe_dbt_hooks import DBTFacade
result = DBTFacade(runtime="core", fallback=False).invoke("build", sys.argv[1], select=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t0, "success": result.success,
                  "nodes": len(result.nodes), "server": result.metadata.get("server")}))
"""


def stop_servers(folder: Path) -> None:
    """SIGTERM every server whose pid file is in ``folder``, then remove the folder."""
    for pid_file in folder.glob("*.pid"):
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    shutil.rmtree(folder, ignore_errors=True)


def server_env(folder: Path, on: bool) -> dict[str, str]:
    return {**child_env(), "FLOE_DBT_SERVER_DIR": str(folder),
            "FLOE_DBT_CORE_SERVER": "1" if on else "0"}


def _floe(project: Path, model: str, env: dict[str, str], opts: Options) -> dict[str, Any]:
    done = run_proc([tool("python"), "-c", CHILD, project, model], cwd=project,
                    timeout=opts.timeout, env=env)
    data = last_json(done.stdout)
    if not data["success"] or data["nodes"] != 2:
        raise BenchError(f"floe build -s {model} did not build the model and its test: {data}")
    return {**data, "wall": done.wall}


def case_core_server(opts: Options) -> list[Row]:
    """One-model build of 500 in a fresh process: warm dbt-core server vs in-process vs dbt CLI."""
    project = generated_project("server-500", MODELS)
    model = generate_project.middle_model(MODELS, "layered")
    dbt = tool("dbt")
    for step in ("seed", "run", "parse"):
        log(f"  core-server-500: setup dbt {step} "
            f"{run_proc([dbt, step, '--profiles-dir', '.'], cwd=project, timeout=opts.timeout).wall:.1f} s")
    folder = Path(tempfile.mkdtemp(prefix="floe-bench-srv-"))
    try:
        first = _floe(project, model, server_env(folder, True), opts)
        if not first["server"] or not first["server"]["used"]:
            raise BenchError(f"the first task was not served by a server: {first['server']}")
        log(f"  core-server-500: first task (starts the server, imports dbt, parses) "
            f"{first['wall']:.2f} s wall")
        samples: dict[str, list[float]] = {"server": [], "in-process": [], "cli": []}
        for index in range(opts.warmup + opts.repeat):
            served = _floe(project, model, server_env(folder, True), opts)
            if served["server"]["pid"] != first["server"]["pid"] or \
                    not served["server"]["manifest_reused"]:
                raise BenchError(f"not served warm by the first server: {served['server']}")
            alone = _floe(project, model, server_env(folder, False), opts)
            cli = run_proc([dbt, "build", "-s", model, "--profiles-dir", "."], cwd=project,
                           timeout=opts.timeout)
            if "PASS=2 " not in cli.stdout:
                raise BenchError(f"dbt build -s {model} did not pass 2 nodes:\n{cli.stdout}")
            log(f"  core-server-500: server {served['wall']:.2f} s, in-process "
                f"{alone['wall']:.2f} s, dbt build -s {cli.wall:.2f} s{warmup_tag(index, opts)}")
            if index >= opts.warmup:
                samples["server"].append(served["wall"])
                samples["in-process"].append(alone["wall"])
                samples["cli"].append(cli.wall)
    finally:
        stop_servers(folder)
    cli_s = summary(samples["cli"])
    server_s = summary(samples["server"])
    speedup = cli_s["median"] / server_s["median"]
    return [
        row("core-server-500 fresh process, warm server", "s", server_s, cli_s, "3x faster",
            speedup >= 3, reference_name="(dbt build -s)", note=f"{speedup:.1f}x faster",
            details={"model": model, "first_task": first["wall"],
                     "in_process": summary(samples["in-process"])}),
        row("core-server-500 fresh process, in-process dbt-core", "s",
            summary(samples["in-process"]), cli_s, "-", None, reference_name="(dbt build -s)"),
        row("core-server-500 first task (starts the server)", "s", summary([first["wall"]]),
            cli_s, "-", None, reference_name="(dbt build -s)"),
    ]
