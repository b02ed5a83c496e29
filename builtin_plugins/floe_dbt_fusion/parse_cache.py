"""Fusion's partial-parse state, kept only from clean runs.

Fusion's ``--partial-parse`` keeps what it parsed under ``<target-path>/metadata/parse/`` and, on
the next run, re-parses only what changed (measured on 2.0.0-preview.196: an edited, added or
deleted model, new ``--vars`` and a changed ``env_var()`` are all seen; a one-model run of a
500-model project takes 0.25 s instead of 1.1-2.3 s). Two things found on the real binary shape
how floe uses it:

* Fusion writes its state even after a parse that reported errors, and the next run from that
  state succeeds without repeating them (a dbt1013 in dbt_project.yml: exit 1, then exit 0). So
  floe keeps its own copy of the state, published only by clean runs (exit 0, no error
  diagnostic), and before every run replaces whatever Fusion left in the target path with it (or
  removes it when there is none).
* The state records absolute paths of files Fusion generated under that run's target path
  (``generic_tests/*.sql``) and reads them from there on later runs. State is therefore kept per
  target path, and only for target paths that persist: the project's own and a request's explicit
  ``target_path``. Isolated invocations (``target/floe/<invocation_id>/``, removed later) parse in
  full, without ``--partial-parse``.

Generations are immutable folders under ``<target-path>/floe/fusion-parse/<key>/``, named by a
pointer file replaced atomically; superseded ones are removed once a newer one has stood for
:data:`KEEP_SECONDS`. The state only ever saves time: any failure to copy or publish means the next
run parses in full, as Fusion does with no state.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from floe_dbt_hooks.fsutil import atomic_write_text

if TYPE_CHECKING:
    from floe_dbt_fusion.invocation import Execution, Prepared
    from floe_dbt_hooks.models import InvocationRequest

STATE_DIR = Path("metadata") / "parse"
"""Where Fusion keeps its parse state below its ``--target-path``."""
POINTER = "current"
KEEP_SECONDS = 300.0
"""A superseded generation stays this long, so an invocation copying it is not cut short."""


@attrs.define
class SharedState:
    """One invocation's use of the shared state: seeded before Fusion starts, published after a
    clean run."""

    root: Path
    invocation_target: Path
    started: float
    seeded: bool

    @classmethod
    def begin(cls, prepared: Prepared, request: InvocationRequest,
              invocation_target: Path) -> SharedState | None:
        """For a persistent target path: give it the newest published state, or none (state an
        earlier run left there is removed first: it may come from a run whose parse failed).
        None for an isolated invocation's own folder, which does not persist."""
        project = prepared.project
        if request.target_path is None and invocation_target != project.target_path:
            return None
        root = cache_root(project.target_path, invocation_target, prepared.profile.target,
                          prepared.profile.profiles_file, prepared.binary.version)
        shutil.rmtree(invocation_target / STATE_DIR, ignore_errors=True)
        seeded = seed(root, invocation_target)
        return cls(root=root, invocation_target=invocation_target, started=time.time(),
                   seeded=seeded)

    def end(self, execution: Execution) -> bool:
        """Publish what Fusion left only after a clean run: exit 0 and no error diagnostic.

        Fusion (2.0.0-preview.196) writes its state even when the parse reported errors, and a
        later run from that state succeeds without repeating them (seen with a dbt1013 in
        dbt_project.yml: exit 1, then exit 0). A killed, timed-out, cancelled or failed run
        publishes nothing; the published state stays the last clean one."""
        from floe_dbt_fusion.diagnostics import errors

        completed = execution.completed
        if completed.ended_by != "exit" or completed.returncode != 0 or errors(execution.parser):
            return False
        return publish(self.root, self.invocation_target, self.started)


def cache_root(project_target: Path, invocation_target: Path, target: str, profiles_file: Path,
               fusion_version: str) -> Path:
    """The folder of generations for one target path, profile target and Fusion version."""
    key = hashlib.blake2b(
        f"{invocation_target.resolve()}\0{target}\0{profiles_file}\0{fusion_version}".encode(),
        digest_size=8).hexdigest()
    return project_target / "floe" / "fusion-parse" / key


def seed(root: Path, invocation_target: Path) -> bool:
    """Copy the newest generation into ``invocation_target``; False when there is none or it
    could not be copied whole (the invocation then parses in full)."""
    destination = invocation_target / STATE_DIR
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
        if not name or "/" in name:
            return False
        shutil.copytree(root / name, destination, dirs_exist_ok=False)
    except (OSError, shutil.Error):
        shutil.rmtree(destination, ignore_errors=True)
        return False
    return True


def publish(root: Path, invocation_target: Path, started: float) -> bool:
    """Make the state Fusion left in ``invocation_target`` the newest generation, if Fusion wrote
    it during this run (modified after ``started``, a ``time.time()``)."""
    source = invocation_target / STATE_DIR
    try:
        if not any(entry.stat().st_mtime >= started for entry in os.scandir(source)):
            return False
        root.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        staging = root / f".{name}.tmp"
        shutil.copytree(source, staging)
        os.replace(staging, root / name)
        atomic_write_text(root / POINTER, name)
    except (OSError, shutil.Error):
        return False
    _remove_superseded(root, keep=name)
    return True


def _remove_superseded(root: Path, keep: str) -> None:
    """Generations (and staging folders of killed publishers) older than :data:`KEEP_SECONDS`."""
    cutoff = time.time() - KEEP_SECONDS
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)
                   and e.name != keep and e.stat(follow_symlinks=False).st_mtime < cutoff]
    except OSError:
        return
    for entry in entries:
        shutil.rmtree(entry.path, ignore_errors=True)
