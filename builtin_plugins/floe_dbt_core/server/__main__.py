"""``python -m floe_dbt_core.server --dir D --digest X --slot N --idle-timeout S``: one slot's
server (started by :mod:`floe_dbt_core.server.spawn`, not by hand)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from floe_dbt_core.server.paths import SlotFiles
from floe_dbt_core.server.serve import main


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m floe_dbt_core.server")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--slot", required=True, type=int)
    parser.add_argument("--idle-timeout", type=float, default=600.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments(sys.argv[1:])
    sys.exit(main(SlotFiles(args.dir, args.digest, args.slot), args.idle_timeout))
