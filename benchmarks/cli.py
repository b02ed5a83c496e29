"""The command line of ``benchmarks/run.py``: parse the options, run the chosen cases one after
the other, print the table (stdout) and write ``--json``; and the ``_child`` entry a case uses to
measure inside a fresh Python process."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.cases import CASES, CHILDREN, describe
from benchmarks.runner import (
    BYTECODE,
    GENERATED,
    ROOT,
    BenchError,
    Options,
    Row,
    fmt,
    log,
    prime_bytecode,
    run_proc,
)


def environment() -> dict[str, Any]:
    """Versions, CPU count, load and git commit, for ``--json`` and the log."""
    info: dict[str, Any] = {
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }
    try:
        from importlib.metadata import version

        for dist in ("dbt-core", "dbt-duckdb", "duckdb", "pluggy", "floe-dbt-hooks"):
            info[dist] = version(dist)
    except Exception as exc:  # reporting only
        info["versions_error"] = str(exc)
    try:
        done = run_proc(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, timeout=10)
        dirty = run_proc(["git", "status", "--porcelain"], cwd=ROOT, timeout=30)
        info["git"] = done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (BenchError, OSError):
        pass
    return info


def print_table(rows: list[Row]) -> None:
    """``case | floe median (min) | reference median (min) | ratio | target | met?`` on stdout."""
    header = ("case", "floe median (min)", "reference median (min)", "ratio", "target", "met?")
    lines = []
    for r in rows:
        unit = r["unit"]
        floe = f"{fmt(r['floe']['median'], unit)} ({fmt(r['floe']['min'], unit)})"
        ref = r["reference"]
        ref_text = "-" if ref is None else (
            f"{fmt(ref['median'], unit)} ({fmt(ref['min'], unit)}) {r['reference_name']}".rstrip()
        )
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        if r.get("note"):
            met += f" ({r['note']})"
        lines.append((r["case"], floe, ref_text, ratio, r["target"], met))
    widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(len(header))]
    sep = "-+-".join("-" * w for w in widths)
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(sep)
    for line in lines:
        print(" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))


def parse_args(argv: Sequence[str] | None) -> tuple[Options, bool]:
    """The options, and whether ``--list`` asked for the case names only."""
    names = list(CASES)
    parser = argparse.ArgumentParser(description="floe-dbt-hooks benchmarks")
    parser.add_argument("--repeat", type=int, default=Options.repeat,
                        help=f"measured runs per case (default {Options.repeat})")
    parser.add_argument("--warmup", type=int, default=Options.warmup,
                        help="unmeasured runs before the measured ones, per subprocess case "
                             f"(default {Options.warmup})")
    parser.add_argument("--only", default=None, help=f"comma-separated cases: {', '.join(names)}")
    parser.add_argument("--list", action="store_true", help="print the cases and exit")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--memory", action="store_true",
                        help="warm case: report RSS after 1, 10 and 100 warm calls (slow)")
    parser.add_argument("--profile", action="store_true",
                        help="warm case: cProfile the warm calls into generated/warm-500.prof")
    parser.add_argument("--bytecode", choices=("cached", "inherit"), default=Options.bytecode,
                        help="cached (default): children use a primed bytecode cache under "
                             "benchmarks/generated/pycache, as installed packages would; inherit: "
                             "children keep this environment (PYTHONDONTWRITEBYTECODE and all)")
    parser.add_argument("--timeout", type=float, default=Options.timeout,
                        help=f"seconds before a child process is killed (default {Options.timeout:g})")
    parser.add_argument("--soak-n", type=int, default=Options.soak_n,
                        help=f"soak case: facade calls in one process (default {Options.soak_n})")
    parser.add_argument("--scale-models", type=int, default=Options.scale_models,
                        help="scale cases: models in the generated project "
                             f"(default {Options.scale_models})")
    parser.add_argument("--scale-core-models", type=int, default=None,
                        help="scale cases: models for the parts that run dbt-core (parse, "
                             "compile, warm run, compare; default: --scale-models)")
    args = parser.parse_args(argv)
    cases = tuple(names) if not args.only else tuple(c.strip() for c in args.only.split(","))
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.soak_n < 1 or args.scale_models < 2 or (args.scale_core_models or 2) < 2:
        parser.error("--soak-n must be at least 1, --scale-models and --scale-core-models 2")
    opts = Options(repeat=args.repeat, warmup=args.warmup, timeout=args.timeout,
                   memory=args.memory, profile=args.profile, bytecode=args.bytecode, cases=cases,
                   json=args.json, soak_n=args.soak_n, scale_models=args.scale_models,
                   scale_core_models=args.scale_core_models or args.scale_models)
    return opts, args.list


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; exit status 1 when a case failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    opts, list_only = parse_args(argv)
    if list_only:
        width = max(len(name) for name in opts.cases)
        for name in opts.cases:
            print(f"{name:{width}}  {describe(name)}")
        return 0
    BYTECODE["mode"] = opts.bytecode
    GENERATED.mkdir(parents=True, exist_ok=True)
    env = environment()
    env["bytecode"] = opts.bytecode
    prime_bytecode(opts)
    log(f"environment: {json.dumps(env)}")
    rows: list[Row] = []
    failures: dict[str, str] = {}
    for case in opts.cases:
        log(f"== {case} (repeat {opts.repeat}, warm-up {opts.warmup})")
        started = time.perf_counter()
        try:
            rows += CASES[case](opts)
        except BenchError as exc:
            failures[case] = str(exc)
            log(f"  {case} FAILED: {exc}")
        load, cpus = os.getloadavg()[0], os.cpu_count() or 1
        log(f"  ({case} took {time.perf_counter() - started:.0f} s; 1-min load average now "
            f"{load:.2f} on {cpus} CPUs, this benchmark's own processes included"
            + ("; above the CPU count, so other work is probably skewing the timings)"
               if load > cpus else ")"))
    print()
    print_table(rows)
    for case, error in failures.items():
        print(f"{case}: FAILED ({error.splitlines()[0]})")
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        from floe_dbt_hooks.fsutil import atomic_write_text

        atomic_write_text(opts.json, json.dumps(
            {"environment": env, "options": {"repeat": opts.repeat, "warmup": opts.warmup,
                                             "memory": opts.memory, "bytecode": opts.bytecode,
                                             "cases": list(opts.cases)},
             "results": rows, "failures": failures}, indent=2, default=str) + "\n")
        log(f"results written to {opts.json}")
    return 1 if failures else 0


def child_main(argv: list[str]) -> int:
    """``_child MODE KWARGS_JSON``: call the registered child function, print its JSON result."""
    mode, kwargs = argv[0], json.loads(argv[1])
    if mode not in CHILDREN:
        raise SystemExit(f"unknown child mode {mode}")
    print(json.dumps(CHILDREN[mode](**kwargs)))
    return 0
