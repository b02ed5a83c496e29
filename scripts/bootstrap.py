#!/usr/bin/env python3
"""Set up everything from a bare Python and run the project's two jobs.

    python3 scripts/bootstrap.py example   # set up, then build examples/jaffle_shop on DuckDB with
                                           # dbt-core and with dbt Fusion
    python3 scripts/bootstrap.py test      # set up, then ruff, mypy --strict and all tests
    python3 scripts/bootstrap.py setup     # only the set-up (.venv, PostgreSQL and Java 17 via apt)

Set-up is idempotent and cached: the virtual environment in ``.venv`` is (re)installed only when
pyproject.toml, constraints.txt or this script change (a stamp file records their hash), and pip's
own cache serves repeated downloads. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("FLOE_DEV_VENV", ROOT / ".venv"))
STAMP = VENV / ".floe-setup-stamp"
SETUP_INPUTS = (
    ROOT / "pyproject.toml",
    ROOT / "constraints.txt",
    Path(__file__).resolve(),
    *sorted((ROOT / "contrib").glob("*/pyproject.toml")),
    *sorted(ROOT.glob("builtin_plugins/*/__init__.py")),
)
"""Files whose change means re-installing: the editable install maps each package at install time."""
FUSION_VENV = Path(os.environ.get("FLOE_DEV_FUSION_VENV", ROOT / ".venv-fusion"))
FUSION_REQUIREMENT = "dbt==2.0.0rc196"
"""The dbt Fusion engine ships as a wheel holding one executable named ``dbt``; it gets its own venv
so it never shadows dbt-core's ``dbt`` console script."""
DRIVER_PACKAGE = "@duckdb/node-bindings-linux-x64@1.5.6-r.1"
"""The npm package that carries libduckdb.so 1.5.6, the DuckDB ADBC driver Fusion loads."""
DRIVER_DIR = Path(os.environ.get("FLOE_DEV_DRIVER_DIR", ROOT / ".cache" / "adbc" / "duckdb-1.5.6"))
INSTALL_TIMEOUT = 1800
STEP_TIMEOUT = 3600


class IsolatedSuite(NamedTuple):
    """An integration whose pins clash with ``.venv`` (Airflow, say): it gets ``.venv-<name>``,
    installed from ``requirements`` under ``constraints-<name>.txt``, and the test command runs
    ``tests/<name>`` with that venv's pytest after the main suite. ``tests/conftest.py`` leaves the
    folder out wherever the integration is not importable, so a bare ``pytest`` in ``.venv`` works."""

    name: str
    requirements: tuple[str, ...]
    """pip arguments; ``{root}`` stands for the repository (``-e {root}/contrib/...``)."""

    @property
    def venv(self) -> Path:
        return ROOT / f".venv-{self.name}"

    @property
    def constraints(self) -> Path:
        return ROOT / f"constraints-{self.name}.txt"

    @property
    def tests(self) -> Path:
        return ROOT / "tests" / self.name


ISOLATED_SUITES: tuple[IsolatedSuite, ...] = (
    # Apache Airflow 3 (~100 packages of its own) with floe and the Airflow integration, editable.
    # The OpenLineage plugin too: its events name the Airflow task as their parent run, with the
    # run ids of Airflow's own OpenLineage provider (tests/airflow/test_lineage.py compares them).
    IsolatedSuite("airflow", ("-e", "{root}", "-e", "{root}/contrib/floe_dbt_airflow",
                              "-e", "{root}/contrib/floe_dbt_openlineage",
                              "apache-airflow", "apache-airflow-providers-openlineage",
                              "pytest", "pytest-xdist")),
    # Prefect 3.9.1 holds python-slugify below 9.2; constraints.txt has 9.2.0.
    IsolatedSuite("prefect", ("-e", "{root}", "-e", "{root}/contrib/floe_dbt_prefect",
                              "prefect", "pytest", "pytest-xdist")),
)


def _bin(name: str) -> Path:
    return VENV / "bin" / name


def _run(argv: list[str], *, timeout: float = STEP_TIMEOUT, env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> int:
    print("+", " ".join(argv), flush=True)
    process = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except BaseException:
        import signal

        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def _setup_hash() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in SETUP_INPUTS:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the project, its dev tools and the contrib plugins, pinned."""
    wanted = _setup_hash()
    if STAMP.is_file() and STAMP.read_text() == wanted and _bin("python").exists():
        print(f"set-up is current ({VENV})", flush=True)
        return
    if not _bin("python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    # The openlineage and dagster extras name floe-dbt-openlineage and floe-dbt-dagster, which pip
    # takes from contrib/ below.
    packages = ["-e", f"{ROOT}[dev,openlineage,dagster,postgres,spark]"]
    isolated = {f"floe_dbt_{suite.name}" for suite in ISOLATED_SUITES}
    for contrib in sorted((ROOT / "contrib").glob("*/pyproject.toml")):
        if contrib.parent.name not in isolated:  # their orchestrator clashes with .venv's pins
            packages += ["-e", str(contrib.parent)]
    code = _run(
        [str(_bin("python")), "-m", "pip", "install", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), *packages],
        timeout=INSTALL_TIMEOUT,
    )
    if code != 0:
        sys.exit(f"installing into {VENV} failed (exit {code}); see pip's output above")
    STAMP.write_text(wanted)


def ensure_isolated_venv(suite: IsolatedSuite) -> None:
    """Create and install ``suite.venv`` when its inputs changed (same stamp scheme as .venv)."""
    stamp = suite.venv / ".floe-setup-stamp"
    python = suite.venv / "bin" / "python"
    digest = hashlib.sha256(_setup_hash().encode())
    digest.update(repr(suite.requirements).encode())
    if suite.constraints.exists():
        digest.update(suite.constraints.read_bytes())
    wanted = digest.hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted and python.exists():
        print(f"set-up is current ({suite.venv})", flush=True)
        return
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(suite.venv)
    requirements = [arg.format(root=ROOT) for arg in suite.requirements]
    constraints = ["-c", str(suite.constraints)] if suite.constraints.exists() else []
    code = _run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 *constraints, *requirements], timeout=INSTALL_TIMEOUT)
    if code != 0:
        sys.exit(f"installing into {suite.venv} failed (exit {code}); see pip's output above")
    stamp.write_text(wanted)


def ensure_fusion() -> None:
    """Install the Fusion wheel into its own venv and fetch the DuckDB ADBC driver, once."""
    fusion = FUSION_VENV / "bin" / "dbt"
    stamp = FUSION_VENV / ".floe-setup-stamp"
    if not (fusion.exists() and stamp.is_file() and stamp.read_text() == FUSION_REQUIREMENT):
        venv.EnvBuilder(with_pip=True, clear=True).create(FUSION_VENV)
        code = _run([str(FUSION_VENV / "bin" / "python"), "-m", "pip", "install",
                     "--disable-pip-version-check", FUSION_REQUIREMENT], timeout=INSTALL_TIMEOUT)
        if code != 0:
            sys.exit(f"installing {FUSION_REQUIREMENT} into {FUSION_VENV} failed (exit {code})")
        stamp.write_text(FUSION_REQUIREMENT)
    else:
        print(f"dbt Fusion is current ({fusion})", flush=True)
    driver = DRIVER_DIR / "libduckdb.so"
    if driver.is_file():
        print(f"DuckDB ADBC driver is current ({driver})", flush=True)
        return
    import shutil
    import tarfile
    import tempfile

    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed once to fetch the DuckDB ADBC driver for dbt Fusion "
                 f"({DRIVER_PACKAGE}); install Node.js/npm, or put libduckdb.so in {DRIVER_DIR}")
    with tempfile.TemporaryDirectory() as scratch:
        code = _run([npm, "pack", DRIVER_PACKAGE, "--silent"], cwd=Path(scratch),
                    timeout=INSTALL_TIMEOUT)
        tarballs = list(Path(scratch).glob("*.tgz"))
        if code != 0 or len(tarballs) != 1:
            sys.exit(f"npm pack {DRIVER_PACKAGE} failed (exit {code})")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.getmember("package/libduckdb.so")
            source = archive.extractfile(member)
            assert source is not None
            DRIVER_DIR.mkdir(parents=True, exist_ok=True)
            partial = DRIVER_DIR / ".libduckdb.so.partial"
            with open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
            os.replace(partial, driver)


def link_fusion_into_venv() -> None:
    """Put the set-up's Fusion and driver where floe looks inside an environment: ``dbtf`` beside
    its Python and ``libduckdb.so`` in its ``share/adbc/drivers``, so ``floe-dbt --runtime fusion``
    works with no variable set."""
    for link, target in (
        (_bin("dbtf"), FUSION_VENV / "bin" / "dbt"),
        (VENV / "share" / "adbc" / "drivers" / "libduckdb.so", DRIVER_DIR / "libduckdb.so"),
    ):
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def ensure_chromium() -> None:
    """Headless Chromium (Debian's package) renders the compare report in the tests."""
    import shutil

    if shutil.which("chromium"):
        print("chromium is installed", flush=True)
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit("the tests need Debian's chromium package: run 'apt-get install chromium' as root")
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        code = _run(argv, timeout=INSTALL_TIMEOUT,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if code != 0:
            sys.exit(f"{' '.join(argv)} failed (exit {code})")


SYSTEM_PACKAGES: dict[str, tuple[str, ...]] = {
    # Debian package -> files that show it is installed (any one suffices)
    "postgresql": tuple(str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))),
    "openjdk-17-jre-headless": ("/usr/bin/java",),
}
"""What the Postgres and Spark tests need from the system: PostgreSQL's server binaries (initdb,
pg_ctl; the tests start their own cluster) and a Java 17 runtime for pyspark."""


def ensure_system_packages() -> None:
    """Install the missing SYSTEM_PACKAGES with apt-get (root only; one update, one install)."""
    import shutil

    missing = [name for name, marks in SYSTEM_PACKAGES.items()
               if not any(Path(mark).exists() for mark in marks)]
    if not missing and shutil.which("java"):
        print("postgresql and java are installed", flush=True)
        return
    missing = missing or ["openjdk-17-jre-headless"]
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit(f"the Postgres and Spark tests need Debian's {', '.join(missing)}: run "
                 f"'apt-get install {' '.join(missing)}' as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends",
                                          *missing]):
        code = _run(argv, timeout=INSTALL_TIMEOUT, env=env)
        if code != 0:
            sys.exit(f"{' '.join(argv)} failed (exit {code})")


def fusion_env() -> dict[str, str]:
    """How the tests find the engine: the same settings a user would set."""
    return {
        "FLOE_DBT_FUSION_BIN": str(FUSION_VENV / "bin" / "dbt"),
        "ADBC_DRIVER_PATH": str(DRIVER_DIR),
    }


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["DO_NOT_TRACK"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_example() -> int:
    """Build the example with dbt-core, then with Fusion; each run's summary names the runtime
    that served it."""
    project = str(ROOT / "examples" / "jaffle_shop")
    for runtime in ("core", "fusion"):
        code = _run([str(_bin("floe-dbt")), "build", "--project-dir", project, "--runtime", runtime],
                    env=child_env())
        if code != 0:
            return code
    return 0


def run_tests(extra: list[str]) -> int:
    env = {**child_env(), **fusion_env()}
    for argv in (
        [str(_bin("ruff")), "check", "."],
        [str(_bin("mypy"))],
    ):
        code = _run(argv, env=env)
        if code != 0:
            return code
    workers = os.environ.get("FLOE_TEST_WORKERS", "2")
    code = _run([str(_bin("pytest")), "-n", workers, *extra], env=env)
    if code != 0:
        return code
    for suite in ISOLATED_SUITES:
        suite_env = {**env, "PATH": f"{suite.venv / 'bin'}{os.pathsep}{env['PATH']}"}
        code = _run([str(suite.venv / "bin" / "python"), "-m", "pytest", "-n", workers,
                     str(suite.tests.relative_to(ROOT))], env=suite_env)
        if code != 0:
            return code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("example", "test", "setup", "setup-fusion"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_venv()
    if argv[0] in ("setup", "test"):
        ensure_system_packages()
    if argv[0] in ("setup-fusion", "example", "test"):
        ensure_fusion()
        link_fusion_into_venv()
    if argv[0] == "setup-fusion":
        return 0
    if argv[0] == "example":
        return run_example()
    if argv[0] == "test":
        for suite in ISOLATED_SUITES:
            ensure_isolated_venv(suite)
        ensure_chromium()
        return run_tests(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
