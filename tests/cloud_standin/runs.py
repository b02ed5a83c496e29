"""The stand-in's runs: each triggered run is executed for real with dbt-core in a child process.

A run moves through the statuses of dbt Labs' Admin API v2 (openapi-v2.yaml, ``RunResponse.status``):
1 queued, 2 starting, 3 running, then 10 success, 20 error or 30 cancelled. Like dbt Cloud it has
run steps (clone, profile, then one step per dbt command, ``steps_override`` or the job's own) whose
``logs`` grow while the step runs, and the artifacts of each dbt step. Runs of one job execute one at
a time (dbt Cloud queues them); each job runs against its own project folder and profile, so its
DuckDB database is its own and persists between runs like a warehouse.

dbt gets the variables dbt Cloud sets (``DBT_CLOUD_RUN_ID`` ...), also as ``DBT_ENV_CUSTOM_ENV_*`` so
they appear in the artifacts' ``metadata.env`` as they do in dbt Cloud's.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.project import load_profile_target, load_project
from floe_dbt_hooks.runtime.locks import database_lock

QUEUED, STARTING, RUNNING, SUCCESS, ERROR, CANCELLED = 1, 2, 3, 10, 20, 30
HUMANIZED = {QUEUED: "Queued", STARTING: "Starting", RUNNING: "Running", SUCCESS: "Success",
             ERROR: "Error", CANCELLED: "Cancelled"}
DBT = Path(sys.executable).parent / "dbt"
STEP_TIMEOUT = 600.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Job:
    id: int
    account_id: int
    project_dir: Path
    profiles_dir: Path
    name: str = "floe"
    project_id: int = 1
    environment_id: int = 1
    execute_steps: list[str] = field(default_factory=lambda: ["dbt build"])
    state: int = 1
    definition: dict[str, Any] = field(default_factory=dict)
    """The other fields of the job as created (``POST jobs/``), returned as they were given."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def payload(self) -> dict[str, Any]:
        return {"job_type": "other", "triggers": {"github_webhook": False, "schedule": False},
                **self.definition,
                "id": self.id, "account_id": self.account_id, "project_id": self.project_id,
                "environment_id": self.environment_id, "name": self.name,
                "execute_steps": list(self.execute_steps), "state": self.state}


@dataclass
class Step:
    index: int
    name: str
    status: int = QUEUED
    logs: str = ""
    target: Path | None = None


@dataclass
class RunFaults:
    """Faults one run is created with (copied from the server's faults at trigger time)."""

    stuck_in_queue: bool = False
    fail_clone: bool = False
    cancel_after: float | None = None


class Run:
    def __init__(self, run_id: int, job: Job, body: dict[str, Any], workdir: Path,
                 faults: RunFaults, href: str) -> None:
        self.id = run_id
        self.job = job
        self.body = body
        self.workdir = workdir
        self.faults = faults
        self.href = href
        self.status = QUEUED
        self.status_message: str | None = None
        self.created_at = now()
        self.dequeued_at: str | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.finished_monotonic: float | None = None
        self.steps: list[Step] = []
        self.cancel_requested = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._execute, name=f"standin-run-{run_id}",
                                       daemon=True)

    def payload(self, steps: bool) -> dict[str, Any]:
        with self.lock:
            complete = self.status in (SUCCESS, ERROR, CANCELLED)
            data: dict[str, Any] = {
                "id": self.id, "trigger_id": self.id, "account_id": self.job.account_id,
                "environment_id": self.job.environment_id, "project_id": self.job.project_id,
                "job_definition_id": self.job.id, "job_id": self.job.id,
                "status": self.status, "status_humanized": HUMANIZED[self.status],
                "status_message": self.status_message, "dbt_version": "versionless",
                "git_branch": self.body.get("git_branch") or "main",
                "git_sha": self.body.get("git_sha") or "0" * 40,
                "created_at": self.created_at, "updated_at": now(),
                "dequeued_at": self.dequeued_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "in_progress": not complete,
                "is_running": self.status == RUNNING, "is_complete": complete,
                "is_success": self.status == SUCCESS, "is_error": self.status == ERROR,
                "is_cancelled": self.status == CANCELLED, "href": self.href,
                "artifacts_saved": complete and any(s.target for s in self.steps),
                "has_docs_generated": False, "has_sources_generated": False,
                "trigger": {"id": self.id, "cause": self.body.get("cause"),
                            "steps_override": self.body.get("steps_override")},
            }
            if steps:
                data["run_steps"] = [
                    {"id": self.id * 100 + s.index, "run_id": self.id,
                     "account_id": self.job.account_id, "index": s.index, "status": s.status,
                     "status_humanized": HUMANIZED[s.status], "name": s.name, "logs": s.logs,
                     "debug_logs": ""}
                    for s in self.steps
                ]
            return data

    def artifact_step(self, step: int | None) -> Step | None:
        with self.lock:
            with_files = [s for s in self.steps if s.target is not None]
        if step is None:
            return with_files[-1] if with_files else None
        return next((s for s in with_files if s.index == step), None)

    def _set(self, **values: Any) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, value)

    def _execute(self) -> None:
        if self.faults.stuck_in_queue:
            self.cancel_requested.wait(STEP_TIMEOUT)
            self._finish(CANCELLED, "Cancelled while queued")
            return
        with self.job.lock:
            if self.cancel_requested.is_set():
                self._finish(CANCELLED, "Cancelled while queued")
                return
            self._set(status=STARTING, dequeued_at=now())
            self._set(status=RUNNING, started_at=now())
            if self.faults.cancel_after is not None:
                timer = threading.Timer(self.faults.cancel_after, self.cancel_requested.set)
                timer.daemon = True
                timer.start()
            self._finish(*self._steps())

    def _steps(self) -> tuple[int, str | None]:
        clone = self._step("Clone git repository")
        if self.faults.fail_clone:
            self._end_step(clone, ERROR, "fatal: could not read from remote repository.\n")
            return ERROR, "Failed to clone repository"
        self._end_step(clone, SUCCESS, "Cloned repository.\n")
        self._end_step(self._step("Create profile from connection"), SUCCESS, "Profile ready.\n")
        commands = self.body.get("steps_override") or self.job.execute_steps
        for command in commands:
            step = self._step(f"Invoke {command}")
            status = self._dbt(step, command)
            if status != SUCCESS:
                return status, None if status == CANCELLED else f"{command} failed"
        return SUCCESS, None

    def _step(self, name: str) -> Step:
        with self.lock:
            step = Step(index=len(self.steps) + 1, name=name, status=RUNNING)
            self.steps.append(step)
        return step

    def _end_step(self, step: Step, status: int, logs: str = "") -> None:
        with self.lock:
            step.logs += logs
            step.status = status

    def _finish(self, status: int, message: str | None) -> None:
        if status != CANCELLED and self.cancel_requested.is_set():
            status, message = CANCELLED, "Cancelled"
        self._set(status=status, status_message=message, finished_at=now(),
                  finished_monotonic=time.monotonic())

    def _argv(self, command: str, target: Path) -> list[str]:
        words = shlex.split(command)
        if not words or words[0] != "dbt":
            raise ValueError(f"not a dbt command: {command}")
        argv = [str(DBT), *words[1:], "--project-dir", str(self.job.project_dir),
                "--profiles-dir", str(self.job.profiles_dir), "--target-path", str(target)]
        if self.body.get("target_name_override"):
            argv += ["--target", str(self.body["target_name_override"])]
        if self.body.get("threads_override"):
            argv += ["--threads", str(self.body["threads_override"])]
        return argv

    def _env(self, step: Step) -> dict[str, str]:
        cloud = {"DBT_CLOUD_RUN_ID": str(self.id), "DBT_CLOUD_JOB_ID": str(self.job.id),
                 "DBT_CLOUD_PROJECT_ID": str(self.job.project_id),
                 "DBT_CLOUD_ENVIRONMENT_ID": str(self.job.environment_id),
                 "DBT_CLOUD_ACCOUNT_ID": str(self.job.account_id),
                 "DBT_CLOUD_RUN_REASON": str(self.body.get("cause") or "")}
        return {**os.environ, **cloud, **{f"DBT_ENV_CUSTOM_ENV_{k}": v for k, v in cloud.items()},
                "DBT_LOG_PATH": str(self.workdir / f"step-{step.index}" / "logs"),
                "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def _dbt(self, step: Step, command: str) -> int:
        target = self.workdir / f"step-{step.index}" / "target"
        target.mkdir(parents=True, exist_ok=True)
        try:
            argv = self._argv(command, target)
        except ValueError as exc:
            self._end_step(step, ERROR, f"{exc}\n")
            return ERROR
        timeout = float(self.body.get("timeout_seconds_override") or STEP_TIMEOUT)
        with self._database_lock():
            process = subprocess.Popen(
                argv, cwd=self.job.project_dir, env=self._env(step), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True,
            )
            reader = threading.Thread(target=self._read, args=(step, process), daemon=True)
            reader.start()
            deadline = time.monotonic() + min(timeout, STEP_TIMEOUT)
            stopped = False
            while process.poll() is None:
                if self.cancel_requested.wait(0.05) or time.monotonic() > deadline:
                    _kill_group(process)
                    stopped = True
                    break
            reader.join(10)
        with self.lock:
            step.target = target
        if stopped:
            self._end_step(step, CANCELLED, "Cancelled.\n")
            return CANCELLED
        status = SUCCESS if process.returncode == 0 else ERROR
        self._end_step(step, status)
        return status

    def _database_lock(self) -> contextlib.AbstractContextManager[None]:
        """The job's DuckDB file is the local project's too (the stand-in's "warehouse"): take
        floe's writer lock on it, as an in-process floe invocation of the same project does, so
        the two never open it at once (DuckDB admits one writer process)."""
        try:
            project = load_project(self.job.project_dir)
            profile = load_profile_target(project, self.job.profiles_dir,
                                          self.body.get("target_name_override"))
        except FloeDBTError:
            return contextlib.nullcontext()
        return database_lock(profile)

    def _read(self, step: Step, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self.lock:
                step.logs += line


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Stop dbt and its children: SIGTERM to the group, SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue
