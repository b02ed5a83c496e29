"""Getting a project's manifest for an orchestrator's definitions (Dagster assets, an Airflow
DAG, a Prefect flow), from the selected runtime.

* Runtime ``fusion`` (and any runtime other than ``core``): compile through the facade. Fusion
  parses and compiles a 50-model project in a fraction of a second, so there is nothing to cache.
  If Fusion declines, the framework's fallback compiles on dbt-core and ``declined`` says why.
* Runtime ``core``: reuse a manifest that is *fresh*, else compile through the facade into
  ``<target-path>/floe/<consumer>/`` and reuse that next time. Candidates, in order:
  ``<target-path>/manifest.json`` (what ``dbt parse``/``build`` or ``floe-dbt`` wrote) and
  ``<target-path>/floe/<consumer>/manifest.json`` (this module's own). Fresh means (see
  :mod:`floe_dbt_hooks.project.freshness`): written after the last change to every file and folder under
  the model, macro, seed, snapshot, test and analysis paths and installed packages, and to
  ``dbt_project.yml``, ``packages.yml``/``dependencies.yml``, ``selectors.yml`` and
  ``profiles.yml``; and its ``metadata.project_name`` is this project. The own manifest must also
  have been compiled for the same target, profiles file and vars (recorded beside it in
  ``floe-<consumer>.json``); ``target/manifest.json`` records none of these, so it is trusted for
  whatever target wrote it: pass ``reuse=False`` (or delete it) after switching targets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from floe_dbt_hooks.api import DBTFacade
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTCompilationError
from floe_dbt_hooks.fsutil import atomic_write_text
from floe_dbt_hooks.models import Declined
from floe_dbt_hooks.project import load_profile_target, load_project
from floe_dbt_hooks.project.freshness import Freshness, artifact_freshness
from floe_dbt_hooks.runtime.locks import file_lock


@attrs.frozen(kw_only=True)
class LoadedManifest:
    """A manifest and where it came from."""

    manifest: Mapping[str, Any] = attrs.field(repr=False)
    path: Path
    how: Literal["compiled", "reused", "given"]
    runtime: str | None
    """The runtime that compiled it (None when reused or given)."""
    elapsed: float
    freshness: Freshness | None = None
    declined: tuple[Declined, ...] = ()


def load_manifest(
    facade: DBTFacade,
    project_dir: str | Path,
    *,
    runtime: str | None = None,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    reuse: bool | None = None,
    consumer: str,
) -> LoadedManifest:
    """The project's manifest from ``runtime`` (default: the configured one); ``reuse`` None
    means: reuse a fresh manifest with dbt-core, always compile with any other runtime.
    ``consumer`` ("dagster", "airflow", ...) names the folder of the manifest compiled here, so
    two integrations never share a key file."""
    started = time.perf_counter()
    project = load_project(project_dir)
    wanted = facade.plugin_manager(project.project_dir).config.runtime_for(runtime)
    if reuse is None:
        reuse = wanted == "core"
    profile = load_profile_target(project, Path(profiles_dir) if profiles_dir else None, target)
    own = project.target_path / "floe" / consumer
    key_file = own / f"floe-{consumer}.json"
    key = {"target": profile.target, "profiles_file": str(profile.profiles_file),
           "vars": dict(vars or {})}
    options: dict[str, Any] = {"profiles_dir": profiles_dir, "target": target,
                               "vars": dict(vars or {}), "runtime": runtime}

    def reusable() -> LoadedManifest | None:
        for candidate, needs_key in ((project.target_path / "manifest.json", False),
                                     (own / "manifest.json", True)):
            fresh = artifact_freshness(candidate, project, profile)
            if not fresh.fresh or (needs_key and _read_key(key_file) != key):
                continue
            manifest = load_artifact(candidate)
            if (manifest.get("metadata") or {}).get("project_name") != project.name:
                continue
            return LoadedManifest(manifest=manifest, path=candidate, how="reused", runtime=None,
                                  elapsed=time.perf_counter() - started, freshness=fresh)
        return None

    if not reuse:
        result = facade.compile(project.project_dir, **options)
        return _compiled(result, started)
    found = reusable()
    if found is not None:
        return found
    with file_lock(own / ".lock"):
        found = reusable()
        if found is not None:
            return found
        result = facade.compile(project.project_dir, target_path=own, isolate=False, **options)
        loaded = _compiled(result, started)
        atomic_write_text(key_file, json.dumps(key, sort_keys=True, default=str))
        return loaded


def _compiled(result: Any, started: float) -> LoadedManifest:
    if result.manifest_path is None:
        failed = [n for n in result.nodes if n.status == "error"]
        raise DBTCompilationError(
            f"compiling the project for the orchestrator's definitions failed ({len(failed)} node(s))",
            file_path=failed[0].file_path if failed else None,
            original_message=failed[0].error_message if failed else None,
            hint="fix the node named above; 'floe-dbt compile' shows every error",
        )
    return LoadedManifest(
        manifest=load_artifact(result.manifest_path), path=result.manifest_path, how="compiled",
        runtime=result.runtime, elapsed=time.perf_counter() - started, declined=result.declined,
    )


def _read_key(key_file: Path) -> Any:
    try:
        return json.loads(key_file.read_text())
    except (OSError, ValueError):
        return None
