"""The one process runner of the benchmarks, and the timing, median and ratio helpers every case uses.

Every child process runs through :func:`run_proc`, which builds on the framework's own
:class:`floe_dbt_hooks.runtime.process.EngineProcess` (argv list, own process group, the whole
group killed on timeout or interrupt) and adds what a benchmark needs on top: the collected stdout,
the wall time and the user+sys CPU time of the child and its descendants.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import shutil
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import generate_project

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATED = HERE / "generated"
EXAMPLE = ROOT / "examples" / "jaffle_shop"
RUN_PY = HERE / "run.py"
BIN = Path(sys.executable).parent
"""The venv's bin folder (not resolved: the venv's python is a symlink), holding dbt and floe-dbt."""
PYCACHE = GENERATED / "pycache"
FUSION_BIN_DEFAULT = ROOT / ".venv-fusion" / "bin" / "dbt"
ADBC_DRIVER_DEFAULT = ROOT / ".cache" / "adbc" / "duckdb-1.5.6"
"""Where ``scripts/bootstrap.py test`` installs dbt Fusion and its DuckDB driver: the defaults for
FLOE_DBT_FUSION_BIN and ADBC_DRIVER_PATH when those are unset or empty."""

Row = dict[str, Any]
"""One line of the result table (and of ``--json``), as built by :func:`row`."""
Summary = dict[str, Any]
"""``{"median", "min", "samples"}`` of a list of measurements, as built by :func:`summary`."""
T = TypeVar("T")


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which command and shows the end of its output."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The parsed command line, as every case sees it."""

    repeat: int = 3
    warmup: int = 1
    timeout: float = 900.0
    memory: bool = False
    profile: bool = False
    bytecode: str = "cached"
    cases: tuple[str, ...] = ()
    json: Path | None = None
    soak_n: int = 1000
    scale_models: int = 5000
    scale_core_models: int = 5000


BYTECODE = {"mode": "cached"}
"""``cached``: children read and write bytecode under PYCACHE (primed by :func:`prime_bytecode`),
as an installed package would have it; ``inherit``: children get this process's environment as it
is (``PYTHONDONTWRITEBYTECODE=1`` then means the editable floe sources compile on every start)."""


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# child environments


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


def child_env() -> dict[str, str]:
    """This process's environment without dbt's own path and target variables, with
    DO_NOT_TRACK=1, the bytecode cache of :data:`BYTECODE` and the Fusion settings made explicit."""
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


def tool(name: str) -> Path:
    """An executable of the venv running the benchmarks (dbt, floe-dbt, python, sqlfluff)."""
    path = BIN / name
    if not path.exists():
        raise BenchError(f"{path} not found: run this script with the dev venv's python "
                         "(.venv/bin/python benchmarks/run.py)")
    return path


# --------------------------------------------------------------------------------------------
# projects


def fresh_dir(path: Path) -> Path:
    """``path`` deleted if it exists, its parent created: every run starts from nothing."""
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def copy_project(source: Path, dest: Path) -> Path:
    """A copy of the dbt project ``source`` at ``dest`` without what a build leaves behind."""
    fresh_dir(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(
        "target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".*.floe-lock",
    ))
    return dest


def generated_project(name: str, models: int) -> Path:
    """A fresh layered project with tests of ``models`` models at ``generated/<name>``."""
    project = fresh_dir(GENERATED / name)
    generate_project.generate(project, models, "layered", True)
    return project


def clean_state(project: Path) -> None:
    """Remove everything a build leaves behind: database, target (with partial_parse.msgpack),
    logs and floe's lock files; the next build starts cold."""
    for name in ("target", "logs"):
        shutil.rmtree(project / name, ignore_errors=True)
    for pattern in ("*.duckdb", "*.duckdb.wal", ".*.floe-lock"):
        for file in project.glob(pattern):
            file.unlink()


# --------------------------------------------------------------------------------------------
# processes


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
    cwd: Path,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run ``argv`` through EngineProcess; a timeout kills its process group and raises
    BenchError, as does a non-zero exit with ``check``. ``env`` replaces the whole environment
    (default: :func:`child_env`).

    EngineProcess is imported here, not at the top: a measuring child (``run.py _child``) must not
    have imported floe before it starts its clock.
    """
    from floe_dbt_hooks.runtime.process import EngineProcess

    args = [str(a) for a in argv]
    lines: list[str] = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = EngineProcess(args, cwd=cwd, env=child_env() if env is None else env,
                         timeout=timeout, on_line=lines.append).run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.ended_by == "timeout":
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(args)}")
    stdout = "".join(lines)
    if check and done.returncode != 0:
        tail = "\n".join((stdout + "\n" + done.stderr).strip().splitlines()[-25:])
        raise BenchError(f"exit {done.returncode}: {' '.join(args)} (cwd {cwd})\n{tail}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Ran(wall=done.elapsed, cpu=cpu, returncode=done.returncode, stdout=stdout,
               stderr=done.stderr)


def last_json(text: str) -> dict[str, Any]:
    """The JSON object a child printed on its last non-empty stdout line."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            data: dict[str, Any] = json.loads(line)
            return data
    raise BenchError(f"child printed no JSON result:\n{text[-2000:]}")


def run_child(child: str, /, *, cwd: Path, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """Run the function registered as ``child`` (see ``cases.CHILDREN``) with ``kwargs`` in a
    fresh Python process and return the JSON object it printed: how a case measures from inside."""
    argv: list[str | Path] = [tool("python"), RUN_PY, "_child", child,
                              json.dumps(kwargs, default=str)]
    return last_json(run_proc(argv, cwd=cwd, timeout=timeout).stdout)


def prime_bytecode(opts: Options) -> None:
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


# --------------------------------------------------------------------------------------------
# timing, medians and ratios


def rotated(items: Sequence[T], index: int) -> list[T]:
    """``items`` starting at position ``index`` (modulo its length): round ``index`` of a case
    runs its commands in this order, so none always goes first."""
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]


def warmup_tag(index: int, opts: Options) -> str:
    """The suffix of a progress line for a run that does not count."""
    return " (warm-up, not counted)" if index < opts.warmup else ""


def summary(samples: Sequence[float]) -> Summary:
    """Median, min and every sample: the median goes in the table, the min in brackets."""
    return {"median": statistics.median(samples), "min": min(samples), "samples": list(samples)}


def fmt(value: float | None, unit: str) -> str:
    """Seconds shown in ``unit`` (s, ms or us)."""
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
    floe: Summary,
    reference: Summary | None,
    target: str,
    met: bool | None,
    *,
    reference_name: str = "",
    ratio: float | None = None,
    details: dict[str, Any] | None = None,
    note: str = "",
) -> Row:
    """One table row; the ratio defaults to floe's median over the reference's. ``note`` is
    printed after the met? verdict (which criterion was met, a speed-up)."""
    if ratio is None and reference is not None and reference["median"]:
        ratio = floe["median"] / reference["median"]
    return {
        "case": case, "unit": unit, "floe": floe, "reference": reference,
        "reference_name": reference_name, "ratio": ratio, "target": target, "met": met,
        "note": note, "details": details or {},
    }


def timed_rounds(
    case: str,
    project: Path,
    commands: Mapping[str, Sequence[str | Path]],
    opts: Options,
    *,
    cold: bool,
    envs: Mapping[str, Mapping[str, str]] | None = None,
    check: Callable[[str, Ran], None] | None = None,
    what: str = "",
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Warm-up plus measured rounds of every command in ``project``, rotating which goes first;
    with ``cold`` the project's database, target/ and logs/ are deleted before each run.
    Returns the measured wall and CPU seconds per command; ``what`` names a run in the log."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    envs = envs or {}
    for i in range(opts.warmup + opts.repeat):
        for name in rotated(list(commands), i):
            if cold:
                clean_state(project)
            done = run_proc(commands[name], cwd=project, timeout=opts.timeout, env=envs.get(name))
            if check is not None:
                check(name, done)
            if i >= opts.warmup:
                times[name].append(done.wall)
                cpu[name].append(done.cpu)
            log(f"  {case}: {name}{f' {what}' if what else ''} {done.wall:.3f} s wall, "
                f"{done.cpu:.3f} s CPU{warmup_tag(i, opts)}")
    return times, cpu
