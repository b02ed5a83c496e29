"""Import a project's ``floe_hooks.py`` the way pytest imports conftest.py and tox a toxfile.py.

The file is imported under a module name unique to its path (two projects in one process never
share a module), and an import error becomes a configuration error naming the file and the line.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from floe_dbt_hooks.errors import DBTConfigurationError

PROJECT_HOOKS_FILE = "floe_hooks.py"


def import_project_hooks(path: Path) -> ModuleType:
    """Import ``path`` as a fresh module; its hook implementations are registered by the caller."""
    import hashlib  # here, not at the top: every discovery with a project imports this module

    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    module_name = f"floe_hooks_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DBTConfigurationError(f"cannot import {path}", file_path=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        import traceback

        del sys.modules[module_name]
        line = next(
            (f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
             if Path(f.filename) == path),
            getattr(exc, "lineno", None),
        )
        raise DBTConfigurationError(
            f"{PROJECT_HOOKS_FILE} failed to import: {type(exc).__name__}: {exc}",
            file_path=path,
            line=line,
            hint="fix the error, or skip the file with -p no:floe_hooks",
        ) from exc
    return module
