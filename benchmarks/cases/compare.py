"""The ``compare-50`` case: ``floe-dbt compare`` (core and Fusion compile concurrently) against
the slower runtime's compile alone, both cold."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.runner import (
    Options,
    Ran,
    Row,
    clean_state,
    fusion_binary,
    generated_project,
    log,
    row,
    run_proc,
    summary,
    timed_rounds,
    tool,
)


def case_compare(opts: Options) -> list[Row]:
    """floe-dbt compare against floe-dbt compile --runtime core on a 50-model project."""
    fusion_binary()
    project = generated_project("compare-50", 50)
    floe = tool("floe-dbt")
    commands: dict[str, list[str | Path]] = {
        "compare": [floe, "compare", "--project-dir", project],
        "core compile": [floe, "compile", "--project-dir", project, "--runtime", "core"],
    }

    def agreed(name: str, done: Ran) -> None:
        if name == "compare" and "agree on" not in done.stdout:
            log(f"  compare-50: WARNING the runtimes did not agree: {done.stdout.strip()[-500:]}")

    times, cpu = timed_rounds("compare-50", project, commands, opts, cold=True, check=agreed)
    # one more, unmeasured, for where the time goes: each runtime's compile inside the compare
    clean_state(project)
    done = run_proc([*commands["compare"], "--output", "json"], cwd=project, timeout=opts.timeout)
    outcomes = {o["runtime"]: o.get("compile_seconds") for o in json.loads(done.stdout)["outcomes"]}
    clean_state(project)
    log("  compare-50: inside one compare (--output json, unmeasured): "
        + ", ".join(f"{name} compile {seconds:.3f} s" for name, seconds in outcomes.items()
                    if seconds is not None)
        + f", compare total {done.wall:.3f} s")
    compare_s, core_s = summary(times["compare"]), summary(times["core compile"])
    ratio = compare_s["median"] / core_s["median"]
    return [row("compare-50", "s", compare_s, core_s, "< 1.5x", ratio < 1.5,
                reference_name="(floe compile, core)", details={
                    "state": "cold: database, target/ (with partial_parse.msgpack) and logs/ "
                             "deleted before every run",
                    "cpu_seconds": {"compare": summary(cpu["compare"]),
                                    "core compile": summary(cpu["core compile"])},
                    "compile_seconds_inside_compare": outcomes, "project": str(project)})]
