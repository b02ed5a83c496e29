"""Fusion's partial-parse state, kept only from clean runs.

Fusion's ``--partial-parse`` keeps what it parsed under ``<target-path>/metadata/parse/`` and, on
the next run, re-parses only what changed (measured on 2.0.0-preview.196: an edited, added or
deleted model, new ``--vars`` and a changed ``env_var()`` are all seen; a one-model run of a
500-model project takes 0.25 s instead of 1.1-2.3 s). What was found on the real binary shapes
how floe uses it:

* Fusion writes its state even after a parse that reported errors, and the next run from that
  state succeeds without repeating them (a dbt1013 in dbt_project.yml: exit 1, then exit 0). So
  floe keeps its own copy of the state, published only by clean runs (exit 0, no error
  diagnostic), and before every run replaces whatever Fusion left in the target path with it (or
  removes it when there is none).
* With ``--vars``, a run from a state that a run with the same ``--vars`` wrote renders ``var()``
  with its default. Requests with vars therefore parse in full (:func:`may_reuse`).
* The state records absolute paths of files Fusion generated under that run's target path
  (``generic_tests/*.sql``) and reads them from there on later runs. State is therefore kept per
  target path, and only for target paths that persist: the project's own, a request's explicit
  ``target_path``, and work slots. An isolated invocation's own folder
  (``target/floe/<invocation_id>/``) is removed later, so Fusion writes into a free work slot
  (``target/floe/fusion-slots/<key>/<n>/``, held with ``flock`` for the run) and the run's
  artifacts are then moved into the invocation's folder; when every slot is busy it parses in full
  in its own folder, without ``--partial-parse``.

Generations are immutable folders under ``<target-path>/floe/fusion-parse/<key>/``, named by a
pointer file replaced atomically; superseded ones are removed once a newer one has stood for
:data:`KEEP_SECONDS`. The state only ever saves time: any failure to copy or publish means the next
run parses in full, as Fusion does with no state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from floe_dbt_hooks.fsutil import atomic_write_text, first_free_lock, walk_tree

if TYPE_CHECKING:
    from floe_dbt_fusion.invocation import Execution, Prepared
    from floe_dbt_hooks.models import InvocationRequest

STATE_DIR = Path("metadata") / "parse"
"""Where Fusion keeps its parse state below its ``--target-path``."""
POINTER = "current"
KEEP_SECONDS = 300.0
"""A superseded generation stays this long, so an invocation copying it is not cut short."""
FULL_PARSE_COMMANDS = frozenset({"docs"})
"""Commands run without the state: from it, ``compile --write-catalog`` writes no catalog.json
(2.0.0-preview.196; a full parse writes it)."""


def may_reuse(command: str, request: InvocationRequest) -> bool:
    """Whether this request may run from (and publish) parse state.

    Not with ``--vars``: from a state written by a run with the same ``--vars``, Fusion
    2.0.0-preview.196 renders ``var()`` with its default (seen: ``seed -s raw_orders --vars X``,
    then ``compile -s filtered_orders --vars X`` compiled ``where true``); a full parse renders X.
    Not for :data:`FULL_PARSE_COMMANDS` either."""
    return command not in FULL_PARSE_COMMANDS and not request.vars
SLOTS = 4
"""Work slots per profile target and Fusion version (``plugins.fusion.partial_parse_slots``): as
many isolated Fusion runs at once reuse a parse; each slot's first run parses in full."""
HANDED_OVER = ("manifest.json", "run_results.json", "semantic_manifest.json", "catalog.json",
               "compiled", "run")
"""What a run writes into its slot that belongs to the invocation: moved into its folder."""


@attrs.define
class SharedState:
    """One invocation's use of the shared state: seeded before Fusion starts, published after a
    clean run."""

    root: Path
    invocation_target: Path
    started: float

    @classmethod
    def begin(cls, prepared: Prepared, engine_target: Path) -> SharedState:
        """Give the persistent ``engine_target`` the newest published state, or none (state an
        earlier run left there is removed first: it may come from a run whose parse failed)."""
        root = cache_root(prepared.project.target_path, engine_target, prepared.profile.target,
                          prepared.profile.profiles_file, prepared.binary.version)
        shutil.rmtree(engine_target / STATE_DIR, ignore_errors=True)
        seed(root, engine_target)
        return cls(root=root, invocation_target=engine_target, started=time.time())

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


def _key(*parts: object) -> str:
    return hashlib.blake2b("\0".join(map(str, parts)).encode(), digest_size=8).hexdigest()


@contextlib.contextmanager
def work_slot(prepared: Prepared, slots: int = SLOTS) -> Iterator[Path | None]:
    """A persistent folder for Fusion to write a run into, held for the block
    (an exclusive ``flock`` on ``<n>.lock``, released by the kernel if the process dies); None
    when all ``slots`` are busy. Artifacts a previous run left there are removed first."""
    base = prepared.project.target_path / "floe" / "fusion-slots" / _key(
        prepared.profile.target, prepared.profile.profiles_file, prepared.binary.version)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        yield None
        return
    with first_free_lock([base / f"{number}.lock" for number in range(slots)]) as held:
        if held is None:
            yield None
            return
        work = base / str(held)
        for name in HANDED_OVER:
            _remove(work / name)
        yield work


def hand_over(work: Path, invocation_target: Path, *, merge: bool) -> None:
    """Move what the run wrote into its slot (:data:`HANDED_OVER`) into the invocation's target
    path: renames within one file system, so each artifact arrives whole, and a run killed before
    this point leaves the target path as it was. ``merge`` (the project's own target path) moves
    the ``compiled``/``run`` files one by one, so other nodes' files stay, as dbt leaves them;
    otherwise (a folder of the invocation's own) the folders move whole."""
    invocation_target.mkdir(parents=True, exist_ok=True)
    for name in HANDED_OVER:
        source, destination = work / name, invocation_target / name
        if source.is_dir() and merge:
            for entry in walk_tree(source):
                if not entry.is_dir(follow_symlinks=False):
                    moved = destination / os.path.relpath(entry.path, source)
                    moved.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(entry.path, moved)
            shutil.rmtree(source, ignore_errors=True)
        elif source.exists():
            _remove(destination)
            os.replace(source, destination)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def cache_root(project_target: Path, invocation_target: Path, target: str, profiles_file: Path,
               fusion_version: str) -> Path:
    """The folder of generations for one target path, profile target and Fusion version."""
    return project_target / "floe" / "fusion-parse" / _key(
        invocation_target.resolve(), target, profiles_file, fusion_version)


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
