"""The ``build-example`` and ``build-50`` cases: ``floe-dbt build`` against the raw dbt CLI, cold."""

from __future__ import annotations

from pathlib import Path

from benchmarks.runner import (
    EXAMPLE,
    GENERATED,
    Options,
    Row,
    clean_state,
    copy_project,
    generated_project,
    log,
    row,
    summary,
    timed_rounds,
    tool,
)


def bench_build(case: str, project: Path, opts: Options) -> list[Row]:
    """floe's build against ``dbt build`` and the quiet ``dbt build`` floe's runtime asks for,
    wall time of each, plus a row comparing CPU time with the quiet one."""
    dbt, floe = tool("dbt"), tool("floe-dbt")
    commands: dict[str, list[str | Path]] = {
        "dbt": [dbt, "build", "--profiles-dir", "."],
        "floe": [floe, "build", "--project-dir", project, "--profiles-dir", project],
        # what floe's runtime passes dbtRunner: no console output and no logs/dbt.log
        "dbt-quiet": [dbt, "build", "--profiles-dir", ".", "--log-level", "none",
                      "--no-use-colors"],
    }
    times, cpu = timed_rounds(case, project, commands, opts, cold=True, what="build")
    clean_state(project)
    floe_s = summary(times["floe"])
    rows = []
    for ref in ("dbt", "dbt-quiet"):
        ref_s = summary(times[ref])
        ratio = floe_s["median"] / ref_s["median"]
        ratio_min = floe_s["min"] / ref_s["min"]
        log(f"  {case}: overhead vs {ref} {100 * (ratio - 1):+.1f}% (medians), "
            f"{100 * (ratio_min - 1):+.1f}% (mins)")
        rows.append(row(
            case if ref == "dbt" else f"{case} vs quiet dbt", "s", floe_s, ref_s,
            "overhead < 3%", ratio < 1.03, reference_name=f"({ref})", ratio=ratio, details={
                "overhead_pct_median": 100 * (ratio - 1),
                "overhead_pct_min": 100 * (ratio_min - 1),
                "reference_argv": [str(a) for a in commands[ref]],
                "state": "cold: database, target/ (with partial_parse.msgpack) and logs/ deleted "
                         "before every run; the commands rotate which goes first",
                "project": str(project),
                "cpu_seconds": {"floe": summary(cpu["floe"]), ref: summary(cpu[ref])},
            }))
    floe_cpu, quiet_cpu = summary(cpu["floe"]), summary(cpu["dbt-quiet"])
    ratio = floe_cpu["median"] / quiet_cpu["median"]
    log(f"  {case}: CPU time overhead vs dbt-quiet {100 * (ratio - 1):+.1f}% (medians)")
    rows.append(row(f"{case} CPU vs quiet dbt", "s", floe_cpu, quiet_cpu, "overhead < 3%",
                    ratio < 1.03, reference_name="(dbt-quiet CPU)", ratio=ratio,
                    details={"metric": "user+sys CPU seconds of the process tree; less sensitive "
                                       "than wall time to other load on the machine"}))
    return rows


def case_build_example(opts: Options) -> list[Row]:
    """floe-dbt build against dbt build on a fresh copy of examples/jaffle_shop."""
    return bench_build("build-example", copy_project(EXAMPLE, GENERATED / "build-example"), opts)


def case_build_50(opts: Options) -> list[Row]:
    """floe-dbt build against dbt build on a generated 50-model layered project."""
    return bench_build("build-50", generated_project("build-50", 50), opts)
