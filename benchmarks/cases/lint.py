"""The ``lint-50`` case: floe's lint against the raw linters on one generated 50-model project.

* ``sqlfluff lint models --dialect duckdb`` (the raw CLI) against ``floe-dbt lint --no-cache``
  (runtime core: SQLFluff through the framework, nothing cached);
* the raw Fusion ``dbt lint`` against ``floe-dbt lint --runtime fusion --no-fallback``, only when
  FLOE_DBT_FUSION_BIN is set in the caller's environment;
* ``floe-dbt lint`` with a warm cache after one model changed (target: under 1.5 s);
* SQLFluff in 1 and 2 processes (``plugins.sqlfluff.processes``), uncached;
* the dbt templater (``templater = dbt`` in .sqlfluff) against the default jinja templater.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.runner import Options, Row, generated_project, log, row, run_proc, summary, tool

MODELS = 50


def case_lint(opts: Options) -> list[Row]:
    """floe-dbt lint (SQLFluff, cached and uncached; Fusion) against the raw linters."""
    project = generated_project("lint-50", MODELS)
    fusion = os.environ.get("FLOE_DBT_FUSION_BIN", "")
    floe = tool("floe-dbt")

    def timed(name: str, argv: list[str | Path]) -> list[float]:
        samples: list[float] = []
        for i in range(opts.warmup + opts.repeat):
            elapsed = run_proc(argv, cwd=project, timeout=opts.timeout, check=False).wall
            if i >= opts.warmup:
                samples.append(elapsed)
            log(f"  lint-50: {name} {elapsed:.3f} s" + (" (warm-up)" if i < opts.warmup else ""))
        return samples

    def floe_yml(processes: int) -> None:
        (project / "floe.yml").write_text(f"plugins:\n  sqlfluff:\n    processes: {processes}\n")

    floe_lint: list[str | Path] = [floe, "lint", "--project-dir", project, "--no-cache"]
    floe_yml(1)
    raw_sqlfluff = timed("sqlfluff lint (raw CLI)", [tool("sqlfluff"), "lint", "models",
                                                     "--dialect", "duckdb", "--processes", "1"])
    floe_cold = timed("floe-dbt lint --no-cache", floe_lint)
    floe_yml(2)
    parallel = timed("floe-dbt lint --no-cache, 2 processes", floe_lint)
    floe_yml(1)

    one_changed: list[float] = []
    run_proc([floe, "lint", "--project-dir", project], cwd=project, timeout=opts.timeout,
             check=False)
    models = sorted((project / "models").glob("*.sql"))
    for i in range(opts.warmup + opts.repeat):
        model = models[i % len(models)]
        model.write_text(model.read_text() + f"-- edit {i}\n")
        done = run_proc([floe, "lint", "--project-dir", project, "--output", "json"],
                        cwd=project, timeout=opts.timeout, check=False)
        if '"linted_files": 1,' not in done.stdout:
            log("  lint-50: WARNING the cached re-lint did not lint exactly one file")
        if i >= opts.warmup:
            one_changed.append(done.wall)
        log(f"  lint-50: floe-dbt lint, one model changed, cache warm {done.wall:.3f} s")

    rows = [
        row("lint-50 sqlfluff (core)", "s", summary(floe_cold), summary(raw_sqlfluff),
            "<= raw CLI", summary(floe_cold)["median"] <= summary(raw_sqlfluff)["median"] * 1.05,
            reference_name="(sqlfluff lint)"),
        row("lint-50 one file changed", "s", summary(one_changed), summary(floe_cold),
            "< 1.5 s", summary(one_changed)["median"] < 1.5, reference_name="(uncached)"),
        row("lint-50 2 processes", "s", summary(parallel), summary(floe_cold), "-", None,
            reference_name="(1 process)"),
    ]
    (project / ".sqlfluff").write_text("[sqlfluff]\ntemplater = dbt\n")
    dbt_templater = timed("floe-dbt lint --no-cache, dbt templater", floe_lint)
    (project / ".sqlfluff").unlink()
    rows.append(row("lint-50 dbt templater", "s", summary(dbt_templater), summary(floe_cold), "-",
                    None, reference_name="(jinja templater)"))
    if fusion and Path(fusion).is_file():
        raw_fusion = timed("dbt lint (raw Fusion)", [fusion, "lint", "--log-format", "json",
                                                     "--log-path", project / "target" / "fusion-logs"])
        floe_fusion = timed("floe-dbt lint --runtime fusion",
                            [floe, "lint", "--project-dir", project, "--runtime", "fusion",
                             "--no-fallback"])
        rows.append(row("lint-50 fusion", "s", summary(floe_fusion), summary(raw_fusion),
                        "<= raw + Python start", None, reference_name="(dbt lint)"))
    else:
        log("  lint-50: FLOE_DBT_FUSION_BIN not set: Fusion lint not measured")
    return rows
