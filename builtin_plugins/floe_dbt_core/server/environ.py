"""A client's environment and working directory for the length of one invocation.

dbt reads ``env_var()`` values, ``DBT_*`` flags and profile secrets from ``os.environ``, so the
server takes on the calling process's environment while it serves that process, and puts its own
back afterwards. The server serves one invocation at a time, so nothing else sees the swap.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def client_environment(env: Mapping[str, str], cwd: str | None) -> Iterator[None]:
    saved = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd:
            with contextlib.suppress(OSError):
                os.chdir(cwd)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with contextlib.suppress(OSError):
            os.chdir(saved_cwd)
