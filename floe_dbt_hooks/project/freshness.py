"""Is a dbt artifact (a manifest.json) newer than everything it was built from?

Orchestrators that load a project's graph at start-up (the Dagster integration, say) would rather
reuse a manifest someone already wrote than parse the project again. This module answers "may I?"
cheaply: one ``stat`` per file and folder, no file is read.

An artifact is *fresh* when its modification time is later than that of every input of a parse:

* every file under the project's model, macro, seed, snapshot, test and analysis paths and under
  its installed packages (``packages-install-path``), and every folder there too (a folder's time
  changes when a file in it is added, removed or renamed, so deleting a model makes it stale);
* ``dbt_project.yml``, ``packages.yml`` / ``dependencies.yml``, ``selectors.yml``, ``.dbtignore``
  and the ``profiles.yml`` the target is read from (targets decide database and schema names).

Files ``.dbtignore`` leaves out are not inputs (dbt does not read them); their folders still are.

What it cannot see: the target, ``--vars`` and environment variables the artifact was built with
(a manifest does not record them), and files whose times were set back (``touch -d``, some
checkouts). Callers that care record those themselves next to the artifact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from floe_dbt_hooks.fsutil import walk_tree
from floe_dbt_hooks.project import DBTProject, ProfileTarget
from floe_dbt_hooks.project.dbtignore import dbt_ignored


@attrs.frozen(kw_only=True)
class Freshness:
    """The answer, with the reason: the newest input and both times (nanoseconds)."""

    fresh: bool
    artifact: Path
    artifact_mtime_ns: int | None
    newest_input: Path | None
    newest_input_mtime_ns: int | None
    inputs_checked: int

    @property
    def reason(self) -> str:
        if self.artifact_mtime_ns is None:
            return f"{self.artifact} does not exist"
        if self.fresh:
            return f"{self.artifact} is newer than all {self.inputs_checked} project inputs"
        return f"{self.newest_input} changed after {self.artifact} was written"


def _tree(root: Path, ignored: Callable[[str], bool]) -> Iterator[tuple[str, int]]:
    """(path, mtime_ns) of ``root`` and of every folder and not-ignored file below it."""
    try:
        yield str(root), root.stat().st_mtime_ns
    except OSError:
        return
    for entry in walk_tree(root):
        if ignored(entry.path) and not entry.is_dir():
            continue
        try:
            yield entry.path, entry.stat().st_mtime_ns
        except OSError:
            continue


def project_inputs(project: DBTProject, profile: ProfileTarget | None = None) -> Iterator[
        tuple[str, int]]:
    """Every input of a parse that exists, as (path, mtime_ns)."""
    files = list(project.parse_files)
    if profile is not None:
        files.append(profile.profiles_file)
    for file in files:
        try:
            yield str(file), file.stat().st_mtime_ns
        except OSError:
            continue
    ignored = dbt_ignored(project.project_dir)
    for root in dict.fromkeys((*project.source_paths, project.packages_install_path)):
        yield from _tree(root, ignored)


def artifact_freshness(
    artifact: str | Path, project: DBTProject, profile: ProfileTarget | None = None
) -> Freshness:
    """Whether ``artifact`` was written after the last change to any of the project's inputs."""
    path = Path(artifact)
    try:
        written: int | None = path.stat().st_mtime_ns
    except OSError:
        written = None
    newest_path: str | None = None
    newest = -1
    count = 0
    for name, mtime in project_inputs(project, profile):
        count += 1
        if mtime > newest:
            newest_path, newest = name, mtime
    return Freshness(
        fresh=written is not None and written > newest,
        artifact=path,
        artifact_mtime_ns=written,
        newest_input=Path(newest_path) if newest_path is not None else None,
        newest_input_mtime_ns=newest if newest_path is not None else None,
        inputs_checked=count,
    )
