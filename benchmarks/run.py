"""floe-dbt-hooks benchmarks: every case measures floe and its reference in the same run.

    .venv/bin/python benchmarks/run.py [--repeat R] [--only NAME[,NAME]] [--list] [--json PATH]
                                       [--memory] [--profile] [--warmup N] [--timeout S]

See benchmarks/README.md. The cases live in ``benchmarks/cases/`` (registry: ``cases/__init__.py``),
every child process runs through ``benchmarks/runner.py``. ``run.py _child MODE KWARGS_JSON`` is
how a case measures inside a fresh Python process.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from benchmarks.cli import main

    sys.exit(main())
