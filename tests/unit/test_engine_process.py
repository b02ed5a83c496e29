"""EngineProcess wakes when the child's stdout closes or on cancel, and still ends every way it did."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from floe_dbt_hooks.runtime.process import EngineProcess


def _engine(code: str, tmp_path: Path, lines: list[str], timeout: float = 60.0) -> EngineProcess:
    return EngineProcess([sys.executable, "-c", code], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                         timeout=timeout, on_line=lines.append)


def test_exit_returns_every_line_and_the_code(tmp_path: Path) -> None:
    lines: list[str] = []
    code = "import sys\nfor i in range(500): print(i)\nprint('bye', file=sys.stderr)\nsys.exit(3)"
    done = _engine(code, tmp_path, lines).run()
    assert (done.ended_by, done.returncode) == ("exit", 3)
    assert [line.strip() for line in lines] == [str(i) for i in range(500)]
    assert done.stderr.strip() == "bye"


def test_child_that_closes_stdout_early_is_still_waited_for(tmp_path: Path) -> None:
    """stdout's end wakes the loop; a child still running after it must not be taken as exited."""
    lines: list[str] = []
    code = "import os, time\nprint('x', flush=True)\nos.close(1)\ntime.sleep(0.3)\nraise SystemExit(4)"
    done = _engine(code, tmp_path, lines).run()
    assert (done.ended_by, done.returncode) == ("exit", 4)
    assert [line.strip() for line in lines] == ["x"]


def test_cancel_from_another_thread_stops_the_child(tmp_path: Path) -> None:
    lines: list[str] = []
    engine = _engine("import time\nprint('up', flush=True)\ntime.sleep(60)", tmp_path, lines)
    threading.Timer(0.5, engine.cancel).start()
    done = engine.run()
    assert done.ended_by == "cancel"
    assert done.returncode != 0
    assert [line.strip() for line in lines] == ["up"]


def test_timeout_stops_the_child(tmp_path: Path) -> None:
    lines: list[str] = []
    done = _engine("import time\ntime.sleep(60)", tmp_path, lines, timeout=0.5).run()
    assert done.ended_by == "timeout"
    assert done.returncode != 0


def test_a_command_line_over_the_os_limit_is_a_configuration_error(tmp_path: Path) -> None:
    from floe_dbt_hooks.errors import DBTConfigurationError

    secret = "s3cr3t-" + "v" * 20
    argv = ["/bin/true", "--vars", secret, "--select", *(f"model_{i:07d}" for i in range(300_000))]
    process = EngineProcess(argv, cwd=tmp_path, env={}, timeout=10, on_line=lambda line: None)
    with pytest.raises(DBTConfigurationError, match=r"true command line is too long") as caught:
        process.run()
    assert "300,004 arguments" in str(caught.value)
    assert "--selector" in (caught.value.hint or "")
    assert secret not in str(caught.value)
    assert process.pid is None
