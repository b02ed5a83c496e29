"""Generate a synthetic dbt project on DuckDB for benchmarks.

    python benchmarks/generate_project.py OUT_DIR --models N [--shape chain|layered|wide]
                                          [--tests/--no-tests] [--seed-rows K] [--name NAME]

The project has one seed (``raw_data``, K rows) and N view models in a DAG:

* ``layered`` (default): models are split into about sqrt(N) layers; layer 0 reads the seed, every
  later model refs 1-3 models from earlier layers (at least one from the layer just before it).
  The choice is deterministic (``random.Random(SEED)``).
* ``chain``: model i refs model i-1 (model 0 reads the seed).
* ``wide``: every model reads the seed.

Each model selects from exactly one parent; its other parents are declared with dbt's
``-- depends_on: {{ ref(...) }}`` form. That keeps the DAG dbt schedules realistic while the SQL
DuckDB expands for a view stays linear in the layer depth (a view joining three views that each
join three views would grow as 3^depth).

With tests (the default) every model gets a ``not_null`` test on ``id`` in ``schema.yml`` and the
seed an ``accepted_values`` test (generic-test arguments nested under ``arguments:``). The project
carries its own ``profiles.yml`` (profile name = project name, DuckDB file ``bench.duckdb``
relative to the working directory, 4 threads). Importable: :func:`generate`.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
from pathlib import Path

SEED = 20240601
CATEGORIES = ("alpha", "beta", "gamma", "delta")
SHAPES = ("layered", "chain", "wide")
_GENERATED_MARK = ".floe-bench-generated"


def _layers(models: int) -> list[list[int]]:
    """Model indexes grouped into about sqrt(N) layers of near-equal size."""
    count = max(1, min(models, round(math.sqrt(models))))
    size = math.ceil(models / count)
    return [list(range(start, min(start + size, models))) for start in range(0, models, size)]


def _parents(models: int, shape: str) -> list[list[int]]:
    """For each model, the indexes of the models it refs (empty: it reads the seed)."""
    if shape == "wide":
        return [[] for _ in range(models)]
    if shape == "chain":
        return [[] if i == 0 else [i - 1] for i in range(models)]
    if shape != "layered":
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    rng = random.Random(SEED)
    layers = _layers(models)
    parents: list[list[int]] = [[] for _ in range(models)]
    earlier: list[int] = []
    for depth, layer in enumerate(layers):
        if depth == 0:
            earlier.extend(layer)
            continue
        previous = layers[depth - 1]
        for index in layer:
            wanted = rng.randint(1, 3)
            chosen = [rng.choice(previous)]
            pool = [m for m in earlier if m != chosen[0]]
            chosen += rng.sample(pool, min(wanted - 1, len(pool)))
            parents[index] = chosen
        earlier.extend(layer)
    return parents


def model_name(index: int) -> str:
    return f"model_{index:04d}"


def _model_sql(index: int, parents: list[int]) -> str:
    if not parents:
        source = "{{ ref('raw_data') }}"
        extra: list[str] = []
    else:
        source = f"{{{{ ref('{model_name(parents[0])}') }}}}"
        extra = [f"-- depends_on: {{{{ ref('{model_name(p)}') }}}}" for p in parents[1:]]
    return "\n".join([
        *extra,
        "select",
        "    id,",
        f"    value + {index % 97} as value,",
        "    category",
        f"from {source}",
        "",
    ])


def _seed_csv(rows: int) -> str:
    lines = ["id,value,category"]
    lines += [f"{i},{(i * 37) % 1000},{CATEGORIES[i % len(CATEGORIES)]}" for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def _schema_yml(names: list[str], tests: bool) -> str:
    out = ["version: 2", "", "models:"]
    for name in names:
        out += [f"  - name: {name}", "    columns:", "      - name: id"]
        if tests:
            out += ["        data_tests:", "          - not_null"]
    return "\n".join(out) + "\n"


def _seed_yml(tests: bool) -> str:
    out = ["version: 2", "", "seeds:", "  - name: raw_data", "    columns:",
           "      - name: id", "      - name: category"]
    if tests:
        values = ", ".join(f"'{c}'" for c in CATEGORIES)
        out += ["        data_tests:", "          - accepted_values:", "              arguments:",
                f"                values: [{values}]"]
    return "\n".join(out) + "\n"


def generate(
    out_dir: Path,
    models: int,
    shape: str = "layered",
    tests: bool = True,
    *,
    seed_rows: int = 100,
    name: str | None = None,
) -> Path:
    """Write the project into ``out_dir`` (replacing a project this module generated there) and
    return ``out_dir``."""
    if models < 1:
        raise ValueError("models must be at least 1")
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not (out_dir / _GENERATED_MARK).is_file():
            raise FileExistsError(f"{out_dir} exists and was not generated by this script")
        shutil.rmtree(out_dir)
    project = name or f"bench_{shape}_{models}"
    parents = _parents(models, shape)
    names = [model_name(i) for i in range(models)]

    (out_dir / "models").mkdir(parents=True)
    (out_dir / "seeds").mkdir()
    (out_dir / _GENERATED_MARK).write_text(f"{shape} {models} tests={tests}\n")
    (out_dir / "dbt_project.yml").write_text(
        f"name: {project}\n"
        'version: "1.0.0"\n'
        "config-version: 2\n"
        f"profile: {project}\n"
        "\n"
        'model-paths: ["models"]\n'
        'seed-paths: ["seeds"]\n'
        'test-paths: ["tests"]\n'
        'macro-paths: ["macros"]\n'
        "\n"
        "clean-targets:\n"
        '  - "target"\n'
        "\n"
        "models:\n"
        f"  {project}:\n"
        "    +materialized: view\n"
    )
    (out_dir / "profiles.yml").write_text(
        f"{project}:\n"
        "  target: dev\n"
        "  outputs:\n"
        "    dev:\n"
        "      type: duckdb\n"
        "      path: bench.duckdb\n"
        "      threads: 4\n"
    )
    (out_dir / ".gitignore").write_text("target/\nlogs/\n*.duckdb\n*.duckdb.wal\n")
    (out_dir / "seeds" / "raw_data.csv").write_text(_seed_csv(seed_rows))
    (out_dir / "seeds" / "schema.yml").write_text(_seed_yml(tests))
    for index, model in enumerate(names):
        (out_dir / "models" / f"{model}.sql").write_text(_model_sql(index, parents[index]))
    (out_dir / "models" / "schema.yml").write_text(_schema_yml(names, tests))
    return out_dir


def middle_model(models: int, shape: str = "layered") -> str:
    """A model in the middle of the DAG (the middle layer's middle model for ``layered``)."""
    if shape == "layered":
        layers = _layers(models)
        layer = layers[len(layers) // 2]
        return model_name(layer[len(layer) // 2])
    return model_name(models // 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--shape", choices=SHAPES, default="layered")
    parser.add_argument("--tests", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed-rows", type=int, default=100)
    parser.add_argument("--name", default=None, help="project (and profile) name")
    args = parser.parse_args(argv)
    path = generate(args.out_dir, args.models, args.shape, args.tests,
                    seed_rows=args.seed_rows, name=args.name)
    print(f"wrote {args.models}-model {args.shape} project to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
