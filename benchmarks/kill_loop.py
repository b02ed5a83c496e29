"""The crash test's kill loop (tests/integration/kill_loop.py) with a large N, as a soak:

    .venv/bin/python benchmarks/kill_loop.py --runtime fusion --iterations 200
    .venv/bin/python benchmarks/kill_loop.py --runtime core --iterations 40 --from 0.7

Prints how many kills landed before the run ended and how many new artifacts were checked; any
half-written artifact, leftover process or failing next run stops it with the assertion.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.kill_loop import kill_loop, make_project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=("core", "fusion"), default="fusion")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--recover-every", type=int, default=1,
                        help="run to the end after every K kills (1: after each)")
    parser.add_argument("--from", dest="start", type=float, default=0.0,
                        help="kill no earlier than this fraction of a full run (0.7: the last "
                        "30%%, where the artifacts are written)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="floe-kill-loop-") as folder:
        project = make_project(Path(folder) / "contract")
        started = time.monotonic()
        report = kill_loop(project, opts.runtime, opts.iterations, seed=opts.seed,
                           recover_every=opts.recover_every,
                           window=lambda full: (full * opts.start, full * 1.1))
    print(f"{report.runtime}: {report.iterations} kills, {report.killed_before_end} before the "
          f"run ended, {report.new_artifacts_seen} new artifacts checked, all complete; "
          f"{time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
