"""floe-dbt-hooks benchmarks: every case measures floe and its reference in the same run.

    .venv/bin/python benchmarks/run.py [--repeat R] [--only NAME[,NAME]] [--json PATH]
                                       [--memory] [--profile] [--warmup N] [--timeout S]

Cases (see benchmarks/README.md): import, build-example, build-50, manifest-10mb,
warm-one-model-500, lint-50, fusion-compile-50, fusion-vs-core-compile-50, fallback-decision,
observability-example, compare-50. Projects are copied or generated under benchmarks/generated/
(git-ignored). Every child process gets DO_NOT_TRACK=1, runs from an argv list with a timeout in
its own session, and has its whole process group killed when it overruns.

dbt Fusion is taken from FLOE_DBT_FUSION_BIN and its DuckDB driver from ADBC_DRIVER_PATH; unset,
they default to where ``scripts/bootstrap.py test`` installs them (.venv-fusion/bin/dbt and
.cache/adbc/duckdb-1.5.6 under the repository).

Internal: ``run.py _child MODE ...`` is how the runner measures inside a fresh Python process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATED = HERE / "generated"
EXAMPLE = ROOT / "examples" / "jaffle_shop"
BIN = Path(sys.executable).parent
"""The venv's bin folder (not resolved: the venv's python is a symlink), holding dbt and floe-dbt."""

sys.path.insert(0, str(HERE))
import generate_project  # noqa: E402
from dagster_defs import case_dagster_defs  # noqa: E402
from lint_bench import case_lint  # noqa: E402

CASES = ("import", "build-example", "build-50", "manifest-10mb", "warm-one-model-500", "lint-50",
         "fusion-compile-50", "fusion-vs-core-compile-50", "fallback-decision",
         "observability-example", "compare-50", "dagster-defs-50")
MANIFEST_BYTES = 10 * 1024 * 1024
WARM_MODELS = 500
COMPILE_MODELS = 50
FUSION_BIN_DEFAULT = ROOT / ".venv-fusion" / "bin" / "dbt"
ADBC_DRIVER_DEFAULT = ROOT / ".cache" / "adbc" / "duckdb-1.5.6"
"""Where ``scripts/bootstrap.py test`` installs dbt Fusion and its DuckDB driver: the defaults for
FLOE_DBT_FUSION_BIN and ADBC_DRIVER_PATH when those are unset or empty."""


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which command and shows the end of its output."""


# --------------------------------------------------------------------------------------------
# processes


PYCACHE = GENERATED / "pycache"
BYTECODE = {"mode": "cached"}
"""``cached``: children read and write bytecode under PYCACHE (primed by :func:`prime_bytecode`),
as an installed package would have it; ``inherit``: children get this process's environment as it
is (``PYTHONDONTWRITEBYTECODE=1`` then means the editable floe sources compile on every start)."""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DO_NOT_TRACK"] = "1"
    if BYTECODE["mode"] == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    for name in ("DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET", "DBT_TARGET_PATH",
                 "DBT_LOG_PATH"):
        env.pop(name, None)
    binary, drivers = fusion_settings()
    env["FLOE_DBT_FUSION_BIN"] = str(binary)
    env["ADBC_DRIVER_PATH"] = drivers
    return env


def fusion_settings() -> tuple[Path, str]:
    """(Fusion binary, ADBC driver path) from FLOE_DBT_FUSION_BIN and ADBC_DRIVER_PATH, defaulting
    to the repository-relative locations ``scripts/bootstrap.py test`` installs into."""
    binary = Path(os.environ.get("FLOE_DBT_FUSION_BIN") or FUSION_BIN_DEFAULT).expanduser()
    drivers = os.environ.get("ADBC_DRIVER_PATH") or str(ADBC_DRIVER_DEFAULT)
    return binary, drivers


def fusion_binary() -> Path:
    """The Fusion executable, or a BenchError saying how to get one."""
    binary, drivers = fusion_settings()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise BenchError(f"no dbt Fusion executable at {binary}: set FLOE_DBT_FUSION_BIN or run "
                         "python3 scripts/bootstrap.py test (installs it in .venv-fusion)")
    missing = [d for d in drivers.split(os.pathsep) if d and not Path(d).is_dir()]
    if missing:
        log(f"  warning: ADBC_DRIVER_PATH folder(s) {', '.join(missing)} do not exist")
    return binary


def fusion_env() -> dict[str, str]:
    """The deliberate environment of a raw Fusion run: what floe's Fusion runtime passes too
    (HOME, TMPDIR, locale, a short PATH), DO_NOT_TRACK=1, RUST_BACKTRACE=0 and ADBC_DRIVER_PATH;
    nothing else from this process (no DBT_* flags, no PYTHON* variables)."""
    binary, drivers = fusion_settings()
    env = {name: os.environ[name] for name in ("HOME", "TMPDIR", "TZ", "LANG", "LC_ALL")
           if name in os.environ}
    env["PATH"] = os.pathsep.join([str(binary.parent), "/usr/local/bin", "/usr/bin", "/bin"])
    env.update(DO_NOT_TRACK="1", RUST_BACKTRACE="0", ADBC_DRIVER_PATH=drivers)
    return env


@dataclasses.dataclass(frozen=True)
class Ran:
    """A finished child: wall seconds, user+sys CPU seconds (the child and the descendants it
    waited for; runs are sequential, so the RUSAGE_CHILDREN delta is this child's) and output."""

    wall: float
    cpu: float
    returncode: int
    stdout: str
    stderr: str


def run_proc(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run ``argv`` (no shell) in its own session; kill its process group on timeout. ``env``
    replaces the whole environment (default: :func:`child_env`)."""
    args = [str(a) for a in argv]
    environment = dict(env) if env is not None else child_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(args)}") from None
    except BaseException:
        _kill_group(proc)
        raise
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if check and proc.returncode != 0:
        tail = "\n".join((out + "\n" + err).strip().splitlines()[-25:])
        raise BenchError(f"exit {proc.returncode}: {' '.join(args)} (cwd {cwd})\n{tail}")
    return Ran(wall=wall, cpu=cpu, returncode=proc.returncode, stdout=out, stderr=err)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def prime_bytecode(opts: argparse.Namespace) -> None:
    """Compile the stdlib, the venv's packages and floe's sources into PYCACHE (a no-op when they
    are up to date), so that no measured run pays for compiling Python source."""
    if BYTECODE["mode"] != "cached":
        return
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])
    purelib = Path(sysconfig.get_paths()["purelib"])
    skip = (f"^{re.escape(str(stdlib))}/site-packages/"
            "|/(test|tests|idlelib|lib2to3|tkinter|turtledemo)/")
    started = time.perf_counter()
    run_proc([tool("python"), "-m", "compileall", "-q", "-j", "0", "-x", skip, stdlib, purelib,
              ROOT / "floe_dbt_hooks", ROOT / "builtin_plugins", ROOT / "contrib"],
             cwd=ROOT, timeout=opts.timeout, check=False)
    log(f"bytecode cache {PYCACHE} primed in {time.perf_counter() - started:.1f} s")


def last_json(text: str) -> dict[str, Any]:
    """The JSON object a child printed on its last non-empty stdout line."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            data: dict[str, Any] = json.loads(line)
            return data
    raise BenchError(f"child printed no JSON result:\n{text[-2000:]}")


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise BenchError(f"{path} not found: run this script with the dev venv's python "
                         "(.venv/bin/python benchmarks/run.py)")
    return path


# --------------------------------------------------------------------------------------------
# statistics and reporting


def summary(samples: Sequence[float]) -> dict[str, Any]:
    return {"median": statistics.median(samples), "min": min(samples), "samples": list(samples)}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value * 1e3:.1f} ms"
    if unit == "us":
        return f"{value * 1e6:.1f} µs"
    return f"{value:g}"


def row(
    case: str,
    unit: str,
    floe: dict[str, Any],
    reference: dict[str, Any] | None,
    target: str,
    met: bool | None,
    *,
    reference_name: str = "",
    ratio: float | None = None,
    details: dict[str, Any] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One table row; ``note`` is printed after the met? verdict (which criterion was met, a
    speed-up)."""
    if ratio is None and reference is not None and reference["median"]:
        ratio = floe["median"] / reference["median"]
    return {
        "case": case, "unit": unit, "floe": floe, "reference": reference,
        "reference_name": reference_name, "ratio": ratio, "target": target, "met": met,
        "note": note, "details": details or {},
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_table(rows: list[dict[str, Any]]) -> None:
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


# --------------------------------------------------------------------------------------------
# project helpers


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def copy_project(source: Path, dest: Path) -> Path:
    fresh_dir(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(
        "target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".*.floe-lock",
    ))
    return dest


def clean_state(project: Path) -> None:
    """Remove everything a build leaves behind: database, target (with partial_parse.msgpack),
    logs and floe's lock files; the next build starts cold."""
    for name in ("target", "logs"):
        shutil.rmtree(project / name, ignore_errors=True)
    for pattern in ("*.duckdb", "*.duckdb.wal", ".*.floe-lock"):
        for file in project.glob(pattern):
            file.unlink()


# --------------------------------------------------------------------------------------------
# case: import

IMPORT_CODE = """\
import sys, time, json
t0 = time.perf_counter()
import floe_dbt_hooks
from floe_dbt_hooks import create_plugin_manager
pm = create_plugin_manager(None)
t1 = time.perf_counter()
mods = sorted(sys.modules)
print(json.dumps({
    "seconds": t1 - t0,
    "dbt_modules": [m for m in mods if m == "dbt" or m.startswith("dbt.")],
    "heavy_modules": sorted({m.split(".")[0] if not m.startswith("opentelemetry") else m
                             for m in mods
                             if m.split(".")[0] in ("sqlfluff", "cattrs", "yaml", "structlog")
                             or m.startswith("opentelemetry.sdk")}),
    "plugins": sorted(pm.origins),
    "module_count": len(mods),
}))
"""

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def parse_importtime(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            out.append({"module": match.group(4), "self_us": int(match.group(1)),
                        "cumulative_us": int(match.group(2)),
                        "depth": (len(match.group(3)) - 1) // 2})
    return out


def case_import(opts: argparse.Namespace) -> list[dict[str, Any]]:
    python = tool("python")
    traced: list[float] = []
    plain: list[float] = []
    imports: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for i in range(opts.warmup + opts.repeat):
        done = run_proc([python, "-X", "importtime", "-c", IMPORT_CODE], cwd=ROOT,
                           timeout=opts.timeout)
        result = last_json(done.stdout)
        done_plain = run_proc([python, "-c", IMPORT_CODE], cwd=ROOT, timeout=opts.timeout)
        if i < opts.warmup:
            continue
        traced.append(result["seconds"])
        plain.append(last_json(done_plain.stdout)["seconds"])
        imports = parse_importtime(done.stderr)
    slow_self = sorted(imports, key=lambda m: m["self_us"], reverse=True)[:3]
    # the slowest imports that are not floe_dbt_hooks itself (which contains everything)
    slow_cum = sorted((m for m in imports if m["module"] != "floe_dbt_hooks"),
                      key=lambda m: m["cumulative_us"], reverse=True)[:3]
    no_dbt = not result["dbt_modules"]
    log(f"  import: dbt modules imported: {result['dbt_modules'] or 'none'}; "
        f"other heavy modules: {result['heavy_modules'] or 'none'}; "
        f"{result['module_count']} modules; plugins: {', '.join(result['plugins'])}")
    log("  slowest imports by self time: " + ", ".join(
        f"{m['module']} {m['self_us'] / 1e3:.1f} ms" for m in slow_self))
    log("  slowest imports by cumulative time: " + ", ".join(
        f"{m['module']} {m['cumulative_us'] / 1e3:.1f} ms" for m in slow_cum))
    details = {"dbt_modules": result["dbt_modules"], "heavy_modules": result["heavy_modules"],
               "plugins": result["plugins"], "module_count": result["module_count"],
               "slowest_self": slow_self, "slowest_cumulative": slow_cum}
    traced_s, plain_s = summary(traced), summary(plain)
    return [
        row("import (-X importtime)", "ms", traced_s, None, "< 50 ms, no dbt.*",
            traced_s["median"] < 0.050 and no_dbt, details=details),
        row("import (plain)", "ms", plain_s, None, "< 50 ms, no dbt.*",
            plain_s["median"] < 0.050 and no_dbt),
    ]


# --------------------------------------------------------------------------------------------
# cases: build-example, build-50


def bench_build(case: str, project: Path, opts: argparse.Namespace) -> list[dict[str, Any]]:
    dbt, floe = tool("dbt"), tool("floe-dbt")
    commands: dict[str, list[str | Path]] = {
        "dbt": [dbt, "build", "--profiles-dir", "."],
        "floe": [floe, "build", "--project-dir", project, "--profiles-dir", project],
        # what floe's runtime passes dbtRunner: no console output and no logs/dbt.log
        "dbt-quiet": [dbt, "build", "--profiles-dir", ".", "--log-level", "none",
                      "--no-use-colors"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(opts.warmup + opts.repeat):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            clean_state(project)
            done = run_proc(commands[name], cwd=project, timeout=opts.timeout)
            if i >= opts.warmup:
                times[name].append(done.wall)
                cpu[name].append(done.cpu)
            log(f"  {case}: {name} build {done.wall:.3f} s wall, {done.cpu:.3f} s CPU"
                + (" (warm-up, not counted)" if i < opts.warmup else ""))
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


def case_build_example(opts: argparse.Namespace) -> list[dict[str, Any]]:
    project = copy_project(EXAMPLE, GENERATED / "build-example")
    return bench_build("build-example", project, opts)


def case_build_50(opts: argparse.Namespace) -> list[dict[str, Any]]:
    project = GENERATED / "build-50"
    fresh_dir(project)
    generate_project.generate(project, 50, "layered", True)
    return bench_build("build-50", project, opts)


# --------------------------------------------------------------------------------------------
# case: manifest-10mb


def make_big_manifest(opts: argparse.Namespace) -> Path:
    """A real dbt manifest (a parsed 200-model project) with its model and test nodes replicated
    under new unique_ids until the file is at least 10 MiB."""
    source = GENERATED / "manifest-source"
    fresh_dir(source)
    generate_project.generate(source, 200, "layered", True)
    run_proc([tool("dbt"), "parse", "--profiles-dir", "."], cwd=source, timeout=opts.timeout)
    manifest = json.loads((source / "target" / "manifest.json").read_text())
    originals = {uid: node for uid, node in manifest["nodes"].items()
                 if node.get("resource_type") in ("model", "test")}
    parent_map: dict[str, list[str]] = manifest.setdefault("parent_map", {})
    child_map: dict[str, list[str]] = manifest.setdefault("child_map", {})
    copies = 0
    text = json.dumps(manifest)
    while len(text.encode()) < MANIFEST_BYTES:
        copies += 1
        suffix = f"_r{copies}"
        mapping = {uid: uid + suffix for uid in originals}
        for uid, node in originals.items():
            new = json.loads(json.dumps(node))
            new_uid = mapping[uid]
            new["unique_id"] = new_uid
            new["name"] = node["name"] + suffix
            if "alias" in new:
                new["alias"] = (node.get("alias") or node["name"]) + suffix
            new["fqn"] = [*node.get("fqn", [])[:-1], new["name"]]
            deps = new.get("depends_on") or {}
            deps["nodes"] = [mapping.get(p, p) for p in deps.get("nodes", [])]
            if new.get("attached_node"):
                new["attached_node"] = mapping.get(new["attached_node"], new["attached_node"])
            manifest["nodes"][new_uid] = new
            parents = [mapping.get(p, p) for p in parent_map.get(uid, [])]
            parent_map[new_uid] = parents
            child_map[new_uid] = [mapping.get(c, c) for c in child_map.get(uid, [])]
            for parent in parent_map.get(uid, []):
                if parent not in mapping:  # a parent outside the replicated set (the seed)
                    child_map.setdefault(parent, []).append(new_uid)
        text = json.dumps(manifest)
    out = GENERATED / "manifest-10mb" / "manifest.json"
    fresh_dir(out.parent).mkdir()
    out.write_bytes(text.encode())
    log(f"  manifest-10mb: {out} is {out.stat().st_size / 1e6:.2f} MB "
        f"({len(manifest['nodes'])} nodes, {copies} replicas of {len(originals)} model/test nodes)")
    return out


def case_manifest(opts: argparse.Namespace) -> list[dict[str, Any]]:
    path = make_big_manifest(opts)
    python = tool("python")
    cold: list[float] = []
    cached: list[float] = []
    cached_mean: list[float] = []
    plain: list[float] = []
    nogc: list[float] = []
    modes = ["floe", "json", "json-nogc"]
    for i in range(opts.warmup + opts.repeat):
        order = modes[i % len(modes):] + modes[:i % len(modes)]
        for mode in order:
            done = run_proc([python, __file__, "_child", "manifest", mode, path], cwd=ROOT,
                               timeout=opts.timeout)
            data = last_json(done.stdout)
            if i < opts.warmup:
                continue
            if mode == "floe":
                cold.append(data["cold"])
                cached.append(data["cached"])
                cached_mean.append(data["cached_mean"])
            elif mode == "json":
                plain.append(data["json_load"])
            else:
                nogc.append(data["json_load"])
    cold_s, plain_s, cached_s = summary(cold), summary(plain), summary(cached)
    size = path.stat().st_size
    log(f"  manifest-10mb: load_artifact cold {fmt(cold_s['median'], 'ms')}, json.load "
        f"{fmt(plain_s['median'], 'ms')}, cached second call {fmt(cached_s['median'], 'us')} "
        f"(mean of 1000 more: {fmt(statistics.median(cached_mean), 'us')}); json.load with the "
        f"garbage collector off during the call: {fmt(statistics.median(nogc), 'ms')}")
    return [
        row("manifest-10mb cold", "ms", cold_s, plain_s, "< 30 ms", cold_s["median"] < 0.030,
            reference_name="(json.load)", details={
                "path": str(path), "bytes": size, "json_load_gc_disabled": summary(nogc)}),
        row("manifest-10mb cached", "us", cached_s, None, "< 1 ms", cached_s["median"] < 0.001,
            details={"mean_of_1000_more_calls": statistics.median(cached_mean)}),
    ]


def child_manifest(mode: str, path: str) -> dict[str, Any]:
    if mode in ("json", "json-nogc"):
        import gc

        started = time.perf_counter()
        if mode == "json-nogc":
            gc.disable()
        with open(path, "rb") as handle:
            data = json.load(handle)
        gc.enable()
        elapsed = time.perf_counter() - started
        assert "metadata" in data
        return {"json_load": elapsed}
    from floe_dbt_hooks.artifacts import load_artifact

    started = time.perf_counter()
    first = load_artifact(path)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    second = load_artifact(path)
    cached = time.perf_counter() - started
    assert second is first, "the second call was not served from the cache"
    started = time.perf_counter()
    for _ in range(1000):
        load_artifact(path)
    mean = (time.perf_counter() - started) / 1000
    return {"cold": cold, "cached": cached, "cached_mean": mean, "nodes": len(first["nodes"])}


# --------------------------------------------------------------------------------------------
# case: warm-one-model-500


def case_warm(opts: argparse.Namespace) -> list[dict[str, Any]]:
    project = GENERATED / "warm-500"
    fresh_dir(project)
    generate_project.generate(project, WARM_MODELS, "layered", True)
    model = generate_project.middle_model(WARM_MODELS, "layered")
    dbt = tool("dbt")
    for step in (["seed"], ["run"], ["parse"]):
        elapsed = run_proc([dbt, *step, "--profiles-dir", "."], cwd=project,
                           timeout=opts.timeout).wall
        log(f"  warm-one-model-500: setup dbt {step[0]} {elapsed:.1f} s")

    cli: list[float] = []
    for i in range(opts.warmup + opts.repeat):
        done = run_proc([dbt, "run", "-s", model, "--profiles-dir", "."], cwd=project,
                        timeout=opts.timeout)
        elapsed = done.wall
        if "PASS=1 " not in done.stdout:
            raise BenchError(f"dbt run -s {model} did not run exactly one model:\n{done.stdout}")
        if i >= opts.warmup:
            cli.append(elapsed)
        log(f"  warm-one-model-500: dbt run -s {model} {elapsed:.3f} s"
            + (" (warm-up, not counted)" if i < opts.warmup else ""))

    argv: list[str | Path] = [tool("python"), __file__, "_child", "warm", project, model,
                              "--calls", str(opts.repeat + 1)]
    if opts.memory:
        argv.append("--memory")
    if opts.profile:
        argv += ["--profile", GENERATED / "warm-500.prof"]
    done = run_proc(argv, cwd=ROOT, timeout=opts.timeout * (4 if opts.memory else 1))
    data = last_json(done.stdout)
    warm = data["times"][1:opts.repeat + 1]
    log(f"  warm-one-model-500: facade cold call {data['times'][0]:.3f} s, warm calls "
        + ", ".join(f"{t:.3f}" for t in warm) + " s")
    if len(data["times"]) > opts.repeat + 1:
        log(f"  warm-one-model-500: median of all {len(data['times']) - 1} warm calls "
            f"{statistics.median(data['times'][1:]):.3f} s")
    for point in data.get("memory", []):
        log(f"  warm-one-model-500: after {point['warm_calls']:>3} warm calls: "
            f"maxrss {point['maxrss_mb']:.1f} MB, VmRSS {point['vmrss_mb']:.1f} MB")
    if data.get("profile"):
        log(f"  warm-one-model-500: cProfile of the warm calls: {data['profile']} "
            f"(top functions in {data['profile_text']})")
    if opts.profile:
        done = run_proc([tool("python"), __file__, "_child", "breakdown", project, model,
                            "--calls", "5"], cwd=ROOT, timeout=opts.timeout)
        breakdown = last_json(done.stdout)["medians"]
        log("  warm-one-model-500: wall-time breakdown of a warm call (median of 5, "
            "instrumented):")
        for label, seconds in breakdown.items():
            log(f"    {seconds * 1e3:8.1f} ms  {label}")
        data["breakdown"] = breakdown
    floe_s, cli_s = summary(warm), summary(cli)
    return [row("warm-one-model-500", "s", floe_s, cli_s, "< 0.5 s", floe_s["median"] < 0.5,
                reference_name="(dbt run -s)", details={
                    "model": model, "cold_call": data["times"][0], "all_calls": data["times"],
                    "memory": data.get("memory", []), "project": str(project),
                    "breakdown": data.get("breakdown"),
                })]


def _rss() -> dict[str, float]:
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vmrss_kb = 0.0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                vmrss_kb = float(line.split()[1])
    return {"maxrss_mb": maxrss_kb / 1024, "vmrss_mb": vmrss_kb / 1024}


PROFILED_CALLS = 5


def child_warm(project: str, model: str, calls: int, memory: bool, profile: str | None
               ) -> dict[str, Any]:
    """``calls`` timed calls (the first is cold), then with ``memory`` more unprofiled calls up
    to 100 warm ones, then with ``profile`` PROFILED_CALLS more under cProfile (never timed)."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade()  # isolate=True; requests default to reuse_manifest=True
    checkpoints = {1, 10, 100} if memory else set()
    total = max(calls, 101) if memory else calls

    def call(index: int) -> float:
        started = time.perf_counter()
        result = facade.run_models(project, select=model)
        elapsed = time.perf_counter() - started
        if not result.success or result.models_run != 1:
            raise SystemExit(f"call {index}: success={result.success} "
                             f"models_run={result.models_run} nodes={result.nodes}")
        if index > 0 and not result.metadata.get("warm_manifest"):
            raise SystemExit(f"call {index} did not reuse the warm manifest")
        return elapsed

    times: list[float] = []
    mem: list[dict[str, Any]] = []
    for index in range(total):
        times.append(call(index))
        if index in checkpoints:
            mem.append({"warm_calls": index, **_rss()})
    out: dict[str, Any] = {"times": times, "memory": mem}
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for index in range(total, total + PROFILED_CALLS):
            call(index)
        profiler.disable()
        profiler.dump_stats(profile)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        text.write(f"{PROFILED_CALLS} warm run_models calls under cProfile\n")
        stats.sort_stats("cumulative").print_stats(80)
        stats.sort_stats("tottime").print_stats(40)
        Path(profile).with_suffix(".txt").write_text(text.getvalue())
        out.update(profile=profile, profile_text=str(Path(profile).with_suffix(".txt")))
    return out


# (label, module, attribute path): wall time of each is summed per warm call by child_breakdown.
# Indentation of a label shows nesting (the DuckDB open happens when before_run takes its first
# connection); "dbt preflight" (click, flags, project and profile loading, adapter setup) is what
# dbtRunner.invoke spends outside the task's run().
BREAKDOWN: tuple[tuple[str, str, str], ...] = (
    ("facade.run_models (total)", "floe_dbt_hooks.api", "DBTFacade.invoke"),
    ("  floe: load_project", "floe_dbt_core.invoke", "load_project"),
    ("  floe: load_profile_target", "floe_dbt_core.invoke", "load_profile_target"),
    ("  floe: _warm_manifest", "floe_dbt_core.invoke", "_warm_manifest"),
    ("    project_fingerprint", "floe_dbt_core.invoke", "project_fingerprint"),
    ("    _reset_compiled_state", "floe_dbt_core.invoke", "_reset_compiled_state"),
    ("  dbtRunner.invoke", "dbt.cli.main", "dbtRunner.invoke"),
    ("    task.run()", "dbt.task.runnable", "GraphRunnableTask.run"),
    ("      _runtime_initialize", "dbt.task.compile", "CompileTask._runtime_initialize"),
    ("        compile_manifest", "dbt.task.base", "ConfiguredTask.compile_manifest"),
    ("          Linker.link_graph", "dbt.compilation", "Linker.link_graph"),
    ("            Linker.find_cycles", "dbt.compilation", "Linker.find_cycles"),
    ("          Linker.get_graph_summary", "dbt.compilation", "Linker.get_graph_summary"),
    ("        get_graph_queue (selection)", "dbt.task.runnable",
     "GraphRunnableTask.get_graph_queue"),
    ("      before_run", "dbt.task.run", "RunTask.before_run"),
    ("        create_schemas", "dbt.task.runnable", "GraphRunnableTask.create_schemas"),
    ("        populate_adapter_cache", "dbt.task.runnable",
     "GraphRunnableTask.populate_adapter_cache"),
    ("        duckdb open (Environment.initialize_db)", "dbt.adapters.duckdb.environments",
     "Environment.initialize_db"),
    ("      execute_nodes", "dbt.task.runnable", "GraphRunnableTask.execute_nodes"),
    ("      after_run", "dbt.task.run", "RunTask.after_run"),
    ("      task_end_messages", "dbt.task.run", "RunTask.task_end_messages"),
    ("  floe: write run_results.json", "dbt.artifacts.schemas.run.v5.run",
     "RunExecutionResult.write"),
    ("  floe: copy manifest.json", "shutil", "copyfile"),
    ("  floe: _release_connections (close)", "floe_dbt_core.invoke", "_release_connections"),
    ("  floe: node_results", "floe_dbt_core.invoke", "node_results"),
)


def _instrument(totals: dict[str, float]) -> None:
    import functools
    import importlib

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - started

        return wrapper

    for label, module_name, attr in BREAKDOWN:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        raw = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name)
        if isinstance(raw, classmethod):
            setattr(owner, name, classmethod(timed(label, raw.__func__)))
        elif isinstance(raw, staticmethod):
            setattr(owner, name, staticmethod(timed(label, raw.__func__)))
        elif raw is not None:
            setattr(owner, name, timed(label, raw))
        else:
            raise SystemExit(f"cannot instrument {module_name}.{attr}")


def child_breakdown(project: str, model: str, calls: int) -> dict[str, Any]:
    """Wall time per step of ``calls`` warm run_models calls (after one unmeasured cold call)."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade()
    facade.run_models(project, select=model)  # cold: parse (imports dbt first)
    facade.run_models(project, select=model)  # one more so lazy imports are done
    totals: dict[str, float] = {}
    _instrument(totals)
    labels = [label for label, _, _ in BREAKDOWN]
    total, invoke, task_run = labels[0], "  dbtRunner.invoke", "    task.run()"
    preflight = "    dbt preflight (dbtRunner.invoke minus task.run)"
    rest = "  floe: everything else (facade total minus its steps above)"
    per_call: dict[str, list[float]] = {label: [] for label in [*labels, preflight, rest]}
    for _ in range(calls):
        totals.clear()
        facade.run_models(project, select=model)
        totals[preflight] = totals.get(invoke, 0.0) - totals.get(task_run, 0.0)
        totals[rest] = totals.get(total, 0.0) - sum(
            v for k, v in totals.items() if k.startswith("  ") and not k.startswith("   "))
        for label in per_call:
            per_call[label].append(totals.get(label, 0.0))
    medians = {label: statistics.median(values) for label, values in per_call.items()}
    return {"medians": medians, "calls": calls}


# --------------------------------------------------------------------------------------------
# cases: fusion-compile-50, fusion-vs-core-compile-50, compare-50

FUSION_RAW_TARGET = "target/raw-fusion"
"""The raw Fusion CLI's own target path in warm cases (floe's CLI writes target/)."""


def generated_project(name: str, models: int = COMPILE_MODELS) -> Path:
    project = GENERATED / name
    fresh_dir(project)
    generate_project.generate(project, models, "layered", True)
    return project


def fusion_raw_argv(binary: Path) -> list[str | Path]:
    """``dbt compile`` as a Fusion user types it, in the project folder, with its own target."""
    return [binary, "compile", "--profiles-dir", ".", "--target-path", FUSION_RAW_TARGET]


def within_raw(floe: float, raw: float, limit: float = 1.0) -> tuple[bool, str]:
    """The fusion-compile target: under ``limit`` seconds and within 5% or 50 ms of raw Fusion;
    the text says which of the two held (or by how much both were missed)."""
    over, pct = floe - raw, 100 * (floe / raw - 1)
    if floe <= raw * 1.05:
        ok, which = True, f"within 5%: {pct:+.1f}%"
    elif over <= 0.050:
        ok, which = True, f"within 50 ms: {over * 1e3:+.0f} ms, {pct:+.1f}%"
    else:
        ok, which = False, f"neither: {over * 1e3:+.0f} ms, {pct:+.1f}%"
    if floe >= limit:
        ok, which = False, f"not < {limit:g} s; {which}"
    return ok, which


def timed_rounds(case: str, project: Path, commands: dict[str, list[str | Path]],
                 envs: Mapping[str, Mapping[str, str] | None], opts: argparse.Namespace, *,
                 cold: bool, check: Callable[[str, Ran], None] | None = None,
                 ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Warm-up plus measured rounds of every command, rotating which goes first; with ``cold``
    the project's database, target/ and logs/ are deleted before each run. Wall and CPU seconds."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(opts.warmup + opts.repeat):
        for name in names[i % len(names):] + names[:i % len(names)]:
            if cold:
                clean_state(project)
            done = run_proc(commands[name], cwd=project, timeout=opts.timeout, env=envs.get(name))
            if check is not None:
                check(name, done)
            if i >= opts.warmup:
                times[name].append(done.wall)
                cpu[name].append(done.cpu)
            log(f"  {case}: {name} {done.wall:.3f} s wall, {done.cpu:.3f} s CPU"
                + (" (warm-up, not counted)" if i < opts.warmup else ""))
    return times, cpu


def _served_by_fusion(name: str, done: Ran) -> None:
    if name == "floe" and "on runtime 'fusion'" not in done.stdout + done.stderr:
        raise BenchError(f"floe-dbt compile was not served by Fusion:\n{done.stdout[-2000:]}"
                         f"\n{done.stderr[-2000:]}")


def case_fusion_compile(opts: argparse.Namespace) -> list[dict[str, Any]]:
    binary = fusion_binary()
    project = generated_project("fusion-compile-50")
    commands: dict[str, list[str | Path]] = {
        "fusion": fusion_raw_argv(binary),
        "floe": [tool("floe-dbt"), "compile", "--project-dir", project, "--runtime", "fusion",
                 "--no-fallback"],
    }
    log(f"  fusion-compile-50: Fusion {binary}, ADBC_DRIVER_PATH {fusion_settings()[1]}")
    # warm on both sides: each keeps its own target folder between runs (Fusion's schema cache)
    times, cpu = timed_rounds("fusion-compile-50", project, commands, {"fusion": fusion_env()},
                              opts, cold=False, check=_served_by_fusion)
    done = run_proc([tool("python"), __file__, "_child", "fusion-compile", project,
                     "--calls", str(opts.repeat), "--warmup", str(max(1, opts.warmup)),
                     "--timeout", str(opts.timeout)],
                    cwd=project, timeout=opts.timeout)
    data = last_json(done.stdout)
    log("  fusion-compile-50: in one process, DBTFacade(runtime='fusion').compile "
        + ", ".join(f"{t:.3f}" for t in data["facade"]) + " s; raw Fusion CLI between them "
        + ", ".join(f"{t:.3f}" for t in data["raw"]) + " s, and on a fresh target folder "
        + ", ".join(f"{t:.3f}" for t in data["raw_fresh"]) + " s")
    python_side = [f - e for f, e in zip(data["facade"], data["engine"], strict=True)]
    log(f"  fusion-compile-50: of a facade compile (medians), the Fusion process took "
        f"{statistics.median(data['engine']):.3f} s; outside it floe spent "
        f"{statistics.median(python_side) * 1e3:.1f} ms (preflight, argv, run_results and "
        f"manifest reading); floe's Python CPU per call "
        f"{statistics.median(data['python_cpu']) * 1e3:.1f} ms (that, plus reading Fusion's "
        "JSON log lines into dbt_event hooks while it runs)")
    floe_s, raw_s = summary(times["floe"]), summary(times["fusion"])
    facade_s, paired_s, fresh_s = (summary(data["facade"]), summary(data["raw"]),
                                   summary(data["raw_fresh"]))
    cli_ok, cli_which = within_raw(floe_s["median"], raw_s["median"])
    proc_ok, proc_which = within_raw(facade_s["median"], paired_s["median"])
    fresh_ok, fresh_which = within_raw(facade_s["median"], fresh_s["median"])
    log(f"  fusion-compile-50: raw Fusion on a fresh target folder vs its reused one: "
        f"{(fresh_s['median'] - paired_s['median']) * 1e3:+.0f} ms (medians; a fresh folder has "
        "no target/schemas cache, and the facade's isolated calls always start from one)")
    cli_over = floe_s["median"] - raw_s["median"]
    start_cost = cli_over - statistics.median(python_side)
    log(f"  fusion-compile-50: floe-dbt CLI minus raw Fusion (both on reused targets): "
        f"{cli_over * 1e3:.0f} ms, of which {statistics.median(python_side) * 1e3:.0f} ms is what "
        f"a warm in-process call also spends outside Fusion; the other ~{start_cost * 1e3:.0f} ms "
        "is interpreter start, imports, plugin discovery and CLI output")
    target = "< 1 s; raw +5% or +50 ms"
    return [
        row("fusion-compile-50 CLI", "s", floe_s, raw_s, target, cli_ok,
            reference_name="(raw Fusion compile)", note=cli_which, details={
                "project": str(project), "raw_argv": [str(a) for a in commands["fusion"]],
                "raw_env": sorted(fusion_env()), "floe_argv": [str(a) for a in commands["floe"]],
                "state": "warm: each command keeps its own target folder between runs",
                "cpu_seconds": {"floe": summary(cpu["floe"]), "fusion": summary(cpu["fusion"])},
                "cli_start_cost_estimate": start_cost,
            }),
        row("fusion-compile-50 in-process", "s", facade_s, paired_s, target, proc_ok,
            reference_name="(raw Fusion, same loop)", note=proc_which, details={
                "facade": "DBTFacade(runtime='fusion', fallback=False).compile(project), isolated "
                          "target per call, after warm-up calls in the same process",
                "reference": "the raw Fusion CLI run from that process between the facade calls",
                "engine_seconds": summary(data["engine"]),
                "python_side_seconds": summary(python_side),
                "python_cpu_seconds": summary(data["python_cpu"]),
            }),
        row("fusion-compile-50 in-process, like for like", "s", facade_s, fresh_s, target,
            fresh_ok, reference_name="(raw Fusion, fresh target)", note=fresh_which, details={
                "reference": "the raw Fusion CLI with a new, empty --target-path per run, as the "
                             "facade's isolated invocations get: floe's own overhead"}),
    ]


def child_fusion_compile(project: str, calls: int, warmup: int, timeout: float
                         ) -> dict[str, Any]:
    """``warmup`` + ``calls`` rounds in this process of a facade compile, a raw Fusion CLI
    compile on its own reused target folder and one on a fresh target folder (what the facade's
    isolation gives Fusion: no schema cache), rotating which goes first; the last ``calls`` count."""
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(runtime="fusion", fallback=False)
    raw_argv, env = fusion_raw_argv(fusion_binary()), fusion_env()
    out: dict[str, list[float]] = {"facade": [], "engine": [], "python_cpu": [], "raw": [],
                                   "raw_fresh": []}

    def one_facade(counted: bool) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = facade.compile(project)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # Fusion's compile writes an empty run_results.json (result.nodes is empty): the
        # compiled nodes are checked in the manifest, outside the timed call
        manifest = json.loads(result.manifest_path.read_text()) if result.manifest_path else {}
        models = sum(1 for n in manifest.get("nodes", {}).values()
                     if n.get("resource_type") == "model")
        if not result.success or result.runtime != "fusion" or models < COMPILE_MODELS:
            raise SystemExit(f"facade compile: success={result.success} runtime={result.runtime} "
                             f"models in manifest={models} declined={result.declined}")
        if counted:
            out["facade"].append(elapsed)
            out["engine"].append(result.elapsed_time)
            out["python_cpu"].append(cpu)

    def one_raw(counted: bool) -> None:
        elapsed = run_proc(raw_argv, cwd=Path(project), timeout=timeout, env=env).wall
        if counted:
            out["raw"].append(elapsed)

    def one_raw_fresh(counted: bool) -> None:
        fresh = Path(project) / "target" / "raw-fusion-fresh"
        shutil.rmtree(fresh, ignore_errors=True)
        argv = [*raw_argv[:-1], fresh]
        elapsed = run_proc(argv, cwd=Path(project), timeout=timeout, env=env).wall
        if counted:
            out["raw_fresh"].append(elapsed)

    steps = [one_facade, one_raw, one_raw_fresh]
    for index in range(warmup + calls):
        for step in steps[index % 3:] + steps[:index % 3]:
            step(index >= warmup)
    return out


def case_fusion_vs_core(opts: argparse.Namespace) -> list[dict[str, Any]]:
    binary = fusion_binary()
    project = generated_project("fusion-vs-core-compile-50")
    commands: dict[str, list[str | Path]] = {
        "dbt-core": [tool("dbt"), "compile", "--profiles-dir", "."],
        "fusion": fusion_raw_argv(binary),
    }
    times, cpu = timed_rounds("fusion-vs-core-compile-50", project, commands,
                              {"fusion": fusion_env()}, opts, cold=True)
    clean_state(project)
    fusion_s, core_s = summary(times["fusion"]), summary(times["dbt-core"])
    speedup = core_s["median"] / fusion_s["median"]
    cpu_speedup = statistics.median(cpu["dbt-core"]) / statistics.median(cpu["fusion"])
    log(f"  fusion-vs-core-compile-50: Fusion compiles {speedup:.1f}x faster than dbt-core "
        f"(wall medians), {cpu_speedup:.1f}x less CPU time")
    return [row("fusion-vs-core-compile-50", "s", fusion_s, core_s, "- (speed-up)", None,
                reference_name="(dbt-core compile)", note=f"Fusion {speedup:.1f}x faster",
                details={"speedup_wall": speedup, "speedup_cpu": cpu_speedup,
                         "state": "cold: database, target/ and logs/ deleted before every run",
                         "cpu_seconds": {"fusion": summary(cpu["fusion"]),
                                         "dbt-core": summary(cpu["dbt-core"])},
                         "project": str(project)})]


def case_compare(opts: argparse.Namespace) -> list[dict[str, Any]]:
    fusion_binary()
    project = generated_project("compare-50")
    floe = tool("floe-dbt")
    commands: dict[str, list[str | Path]] = {
        "compare": [floe, "compare", "--project-dir", project],
        "core compile": [floe, "compile", "--project-dir", project, "--runtime", "core"],
    }

    def agreed(name: str, done: Ran) -> None:
        if name == "compare" and "agree on" not in done.stdout:
            log(f"  compare-50: WARNING the runtimes did not agree: {done.stdout.strip()[-500:]}")

    times, cpu = timed_rounds("compare-50", project, commands, {}, opts, cold=True, check=agreed)
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


# --------------------------------------------------------------------------------------------
# case: fallback-decision

PREFLIGHT_CALLS = 50


def case_fallback(opts: argparse.Namespace) -> list[dict[str, Any]]:
    fusion_binary()
    project = generated_project("fallback-decision")
    done = run_proc([tool("python"), __file__, "_child", "fallback", project,
                     "--calls", str(PREFLIGHT_CALLS)], cwd=project, timeout=opts.timeout)
    data = last_json(done.stdout)
    log(f"  fallback-decision: first _prepare (cold: imports, Fusion --version unless cached) "
        f"{data['first'] * 1e3:.1f} ms; then medians of {PREFLIGHT_CALLS}: "
        + ", ".join(f"{name} {fmt(statistics.median(v), 'ms')}" for name, v in data["steps"].items()))
    log(f"  fallback-decision: declining (binary missing) first call "
        f"{data['decline_first'] * 1e3:.2f} ms, then median "
        f"{fmt(statistics.median(data['decline']), 'us')}; reason {data['decline_reason']}")
    prepare_s, decline_s = summary(data["prepare"]), summary(data["decline"])
    steps = {name: summary(v) for name, v in data["steps"].items()}
    return [
        row("fallback-decision preflight", "ms", prepare_s, None, "< 20 ms",
            prepare_s["median"] < 0.020, details={
                "calls": PREFLIGHT_CALLS, "first_call": data["first"], "steps": steps,
                "what": "FusionRuntime._prepare(RunRequest(command='build'), 'build') after one "
                        "warm-up call: detect (cached version), load_project, "
                        "load_profile_target, check_adapter (driver lookup)"}),
        row("fallback-decision decline", "us", decline_s, None, "< 20 ms",
            decline_s["median"] < 0.020, details={
                "what": "_prepare with FLOE_DBT_FUSION_BIN pointing at a missing file: detect, "
                        "dbt_fallback hook, return None", "first_call": data["decline_first"]}),
    ]


def child_fallback(project: str, calls: int) -> dict[str, Any]:
    from floe_dbt_fusion.adapters import check_adapter

    from floe_dbt_hooks import RunRequest, create_plugin_manager
    from floe_dbt_hooks.project import load_profile_target, load_project

    pm = create_plugin_manager(project, runtime="fusion")
    plugin: Any = pm.get_plugin("floe_dbt_fusion")
    request = RunRequest(project_dir=project, command="build")

    def median_of(fn: Callable[[], Any]) -> list[float]:
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return samples

    started = time.perf_counter()
    if plugin._prepare(request, "build") is None:
        raise SystemExit("Fusion declined the project: " + repr(plugin.detect()))
    first = time.perf_counter() - started
    prepare = median_of(lambda: plugin._prepare(request, "build"))
    loaded = load_project(project)
    steps = {
        "detect": median_of(plugin.detect),
        "load_project": median_of(lambda: load_project(project)),
        "load_profile_target": median_of(lambda: load_profile_target(loaded, None, None)),
        "check_adapter": median_of(lambda: check_adapter(
            "duckdb", needs_driver=True, extra_driver_dirs=plugin._driver_paths())),
    }
    os.environ["FLOE_DBT_FUSION_BIN"] = str(Path(project) / "no-such-fusion" / "dbt")
    reason = plugin.detect().reason_code
    started = time.perf_counter()
    if plugin._prepare(request, "build") is not None:
        raise SystemExit("Fusion did not decline with a missing binary")
    decline_first = time.perf_counter() - started
    decline = median_of(lambda: plugin._prepare(request, "build"))
    return {"first": first, "prepare": prepare, "steps": steps, "decline": decline,
            "decline_first": decline_first, "decline_reason": reason}


# --------------------------------------------------------------------------------------------
# case: observability-example

OBSERVE_MODES = ("baseline", "default", "otel-sdk")


def case_observability(opts: argparse.Namespace) -> list[dict[str, Any]]:
    project = copy_project(EXAMPLE, GENERATED / "observability-example")
    python = tool("python")
    wall: dict[str, list[float]] = {mode: [] for mode in OBSERVE_MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in OBSERVE_MODES}
    seen: dict[str, dict[str, Any]] = {}
    for i in range(opts.warmup + opts.repeat):
        order = OBSERVE_MODES[i % 3:] + OBSERVE_MODES[:i % 3]
        for mode in order:
            clean_state(project)
            data = last_json(run_proc([python, __file__, "_child", "observe", mode, project],
                                      cwd=project, timeout=opts.timeout).stdout)
            seen[mode] = data
            if i >= opts.warmup:
                wall[mode].append(data["wall"])
                cpu[mode].append(data["cpu"])
            log(f"  observability-example: {mode} build {data['wall']:.3f} s wall, "
                f"{data['cpu']:.3f} s CPU, {data['nodes']} nodes, {data['spans']} spans, "
                f"opentelemetry.trace imported: {data['otel_imported']}"
                + (" (warm-up, not counted)" if i < opts.warmup else ""))
    clean_state(project)
    base_wall, base_cpu = summary(wall["baseline"]), summary(cpu["baseline"])
    rows = []
    for mode, limit in (("default", 0.01), ("otel-sdk", 0.05)):
        mode_wall, mode_cpu = summary(wall[mode]), summary(cpu[mode])
        ratio = mode_wall["median"] / base_wall["median"]
        cpu_ratio = mode_cpu["median"] / base_cpu["median"]
        log(f"  observability-example: {mode}/baseline {100 * (ratio - 1):+.1f}% wall "
            f"(medians), {100 * (mode_wall['min'] / base_wall['min'] - 1):+.1f}% (mins), "
            f"{100 * (cpu_ratio - 1):+.1f}% CPU")
        target = f"overhead < {limit:.0%}"
        rows.append(row(f"observability-example {mode}", "s", mode_wall, base_wall, target,
                        ratio < 1 + limit, reference_name="(baseline)", details={
                            "spans": seen[mode]["spans"], "baseline_spans": seen["baseline"]["spans"],
                            "otel_imported": seen[mode]["otel_imported"]}))
        rows.append(row(f"observability-example {mode} CPU", "s", mode_cpu, base_cpu, target,
                        cpu_ratio < 1 + limit, reference_name="(baseline CPU)"))
    return rows


def child_observe(mode: str, project: str) -> dict[str, Any]:
    """One facade build of ``project``; only the build call is timed (wall, and this process's
    CPU time, all threads). The plugin manager is created before the clock starts."""
    exporter: Any = None
    if mode == "otel-sdk":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    from floe_dbt_hooks import DBTFacade

    facade = DBTFacade(disable=["floe_dbt_log"]) if mode == "baseline" else DBTFacade()
    facade.plugin_manager(project)
    if exporter is not None:
        exporter.clear()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = facade.build(project)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not result.success or result.runtime != "core":
        raise SystemExit(f"build: success={result.success} runtime={result.runtime} "
                         f"failures={result.failures}")
    otel = "opentelemetry.trace" in sys.modules
    if mode == "baseline" and otel:
        raise SystemExit("baseline: opentelemetry.trace got imported")
    spans = len(exporter.get_finished_spans()) if exporter is not None else 0
    return {"wall": elapsed, "cpu": cpu, "nodes": len(result.nodes), "spans": spans,
            "otel_imported": otel}


# --------------------------------------------------------------------------------------------
# main

RUNNERS: dict[str, Callable[[argparse.Namespace], list[dict[str, Any]]]] = {
    "import": case_import,
    "build-example": case_build_example,
    "build-50": case_build_50,
    "manifest-10mb": case_manifest,
    "warm-one-model-500": case_warm,
    "lint-50": lambda opts: case_lint(
        opts, tool=lambda name: tool(name), run_proc=run_proc, summary=summary, row=row, log=log,
        generated=GENERATED, generate=generate_project.generate),
    "fusion-compile-50": case_fusion_compile,
    "fusion-vs-core-compile-50": case_fusion_vs_core,
    "fallback-decision": case_fallback,
    "observability-example": case_observability,
    "compare-50": case_compare,
    "dagster-defs-50": lambda opts: case_dagster_defs(
        opts, summary=summary, row=row, log=log, generated=GENERATED,
        generate=generate_project.generate),
}


def environment() -> dict[str, Any]:
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="floe-dbt-hooks benchmarks")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per case (default 3)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="unmeasured runs before the measured ones, per subprocess case "
                             "(default 1)")
    parser.add_argument("--only", default=None, help=f"comma-separated cases: {', '.join(CASES)}")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--memory", action="store_true",
                        help="warm case: report RSS after 1, 10 and 100 warm calls (slow)")
    parser.add_argument("--profile", action="store_true",
                        help="warm case: cProfile the warm calls into generated/warm-500.prof")
    parser.add_argument("--bytecode", choices=("cached", "inherit"), default="cached",
                        help="cached (default): children use a primed bytecode cache under "
                             "benchmarks/generated/pycache, as installed packages would; inherit: "
                             "children keep this environment (PYTHONDONTWRITEBYTECODE and all)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds before a child process is killed (default 900)")
    opts = parser.parse_args(argv)
    opts.cases = CASES if not opts.only else tuple(c.strip() for c in opts.only.split(","))
    unknown = [c for c in opts.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if opts.repeat < 1:
        parser.error("--repeat must be at least 1")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    BYTECODE["mode"] = opts.bytecode
    GENERATED.mkdir(parents=True, exist_ok=True)
    env = environment()
    env["bytecode"] = opts.bytecode
    prime_bytecode(opts)
    log(f"environment: {json.dumps(env)}")
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for case in opts.cases:
        log(f"== {case} (repeat {opts.repeat}, warm-up {opts.warmup})")
        started = time.perf_counter()
        try:
            rows += RUNNERS[case](opts)
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
        opts.json.write_text(json.dumps(
            {"environment": env, "options": {"repeat": opts.repeat, "warmup": opts.warmup,
                                             "memory": opts.memory, "bytecode": opts.bytecode,
                                             "cases": list(opts.cases)},
             "results": rows, "failures": failures}, indent=2, default=str) + "\n")
        log(f"results written to {opts.json}")
    return 1 if failures else 0


def child_main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "manifest":
        data = child_manifest(argv[1], argv[2])
    elif mode == "warm":
        parser = argparse.ArgumentParser()
        parser.add_argument("project")
        parser.add_argument("model")
        parser.add_argument("--calls", type=int, required=True)
        parser.add_argument("--memory", action="store_true")
        parser.add_argument("--profile", default=None)
        args = parser.parse_args(argv[1:])
        data = child_warm(args.project, args.model, args.calls, args.memory, args.profile)
    elif mode == "breakdown":
        data = child_breakdown(argv[1], argv[2], int(argv[argv.index("--calls") + 1]))
    elif mode == "fusion-compile":
        data = child_fusion_compile(argv[1], int(argv[argv.index("--calls") + 1]),
                                    int(argv[argv.index("--warmup") + 1]),
                                    float(argv[argv.index("--timeout") + 1]))
    elif mode == "fallback":
        data = child_fallback(argv[1], int(argv[argv.index("--calls") + 1]))
    elif mode == "observe":
        data = child_observe(argv[1], argv[2])
    else:
        raise SystemExit(f"unknown child mode {mode}")
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
