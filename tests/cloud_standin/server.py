"""A local stand-in for dbt Cloud's Admin API v2, for tests only.

It follows dbt Labs' published contract (github.com/dbt-labs/dbt-cloud-openapi-spec,
openapi-v2.yaml): paths under ``/api/v2/accounts/{account_id}/`` (with or without the trailing
slash), ``Authorization: Token <token>`` (or ``Bearer``), JSON envelopes ``{"status": {code,
is_success, user_message, developer_message}, "data": ...}``, lists paged with ``limit`` (at most
100) and ``offset`` and described in ``extra.pagination``, the ``TriggerRunRequest`` body (``cause``
required, at most 255 characters), job creation and the list filters of jobs and runs (see
:mod:`tests.cloud_standin.jobs`), ``include_related`` on runs, and artifacts served as raw files,
by default from the last step that has them, or from ``?step=N``.

Runs execute for real (see :mod:`tests.cloud_standin.runs`). :class:`Faults` injects what the real
service does under load or misuse: 429 with ``Retry-After``, 500s, slow responses, a run stuck in
the queue, a run that errors, a cancellation in dbt Cloud, and (through the token) a bad token.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.cloud_standin.jobs import definition, filter_items, job_problems
from tests.cloud_standin.runs import CANCELLED, ERROR, SUCCESS, Job, Run, RunFaults

MAX_CAUSE = 255
MAX_LIMIT = 100


@dataclass
class Faults:
    """What the next requests and runs suffer. Counters count down as requests arrive; a
    ``only`` pattern limits request faults to matching ``METHOD path`` strings."""

    throttle: int = 0
    retry_after: int = 1
    errors: int = 0
    slow: float = 0.0
    slow_count: int = 0
    only: str | None = None
    stuck_in_queue: bool = False
    fail_clone: bool = False
    cancel_after: float | None = None


@dataclass
class Seen:
    method: str
    path: str
    status: int
    at: float = field(default_factory=time.monotonic)


class StandIn:
    """The server: start it, add jobs, point the runtime at :attr:`access_url`, stop it."""

    def __init__(self, token: str = "standin-token-7f3a9c", account_id: int = 43, *,
                 fill_job_defaults: bool = False) -> None:
        self.token = token
        self.account_id = account_id
        self.fill_job_defaults = fill_job_defaults
        """See :mod:`tests.cloud_standin.jobs`: False holds ``POST jobs/`` to the spec's list of
        required fields, True fills the ones the service evidently defaults."""
        self.environments: dict[tuple[int, int], tuple[Path, Path]] = {}
        self.created_jobs: list[dict[str, Any]] = []
        self.faults = Faults()
        self.jobs: dict[int, Job] = {}
        self._last_job_id = 1000
        self.runs: dict[int, Run] = {}
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._workdir = Path(tempfile.mkdtemp(prefix="dbt-cloud-standin-"))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def access_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        for run in list(self.runs.values()):
            run.cancel_requested.set()
        for run in list(self.runs.values()):
            if run.thread.is_alive():
                run.thread.join(30)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def add_environment(self, project_dir: Path, profiles_dir: Path | None = None, *,
                        project_id: int = 1, environment_id: int = 1) -> None:
        """A dbt Cloud project and deployment environment whose runs use these local folders
        (its repository and its connection), so jobs can be created in it."""
        with self.lock:
            self.environments[(project_id, environment_id)] = (
                Path(project_dir), Path(profiles_dir or project_dir))

    def add_job(self, project_dir: Path, profiles_dir: Path | None = None,
                **options: Any) -> Job:
        with self.lock:
            job = Job(id=self._next_job_id(), account_id=self.account_id,
                      project_dir=Path(project_dir), profiles_dir=Path(profiles_dir or project_dir),
                      **options)
            self.jobs[job.id] = job
            self.environments.setdefault((job.project_id, job.environment_id),
                                         (job.project_dir, job.profiles_dir))
        return job

    def _next_job_id(self) -> int:
        """Ids are never reused, as in the service, even after a job is deleted."""
        self._last_job_id = max(self._last_job_id, 0, *self.jobs) + 1
        return self._last_job_id

    def delete_job(self, job_id: int) -> None:
        """The job was deleted in dbt Cloud: it is no longer listed, and reads and triggers of
        it answer 404."""
        with self.lock:
            del self.jobs[job_id]

    def create_job(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST jobs/``: the status and envelope the service answers."""
        problems = job_problems(body, self.account_id, self.fill_job_defaults)
        where = (body.get("project_id"), body.get("environment_id"))
        if not problems and where not in self.environments:
            problems["environment_id"] = [f"No environment {where[1]} in project {where[0]}."]
        if problems:
            return 400, _envelope(400, problems, "The request was invalid. Please double check "
                                  "the provided data and try again.")
        project_dir, profiles_dir = self.environments[where]
        with self.lock:
            self.created_jobs.append(dict(body))
            job = Job(id=self._next_job_id(), account_id=self.account_id,
                      project_dir=project_dir, profiles_dir=profiles_dir, name=body["name"],
                      project_id=body["project_id"], environment_id=body["environment_id"],
                      execute_steps=list(body.get("execute_steps") or ["dbt build"]),
                      state=int(body.get("state") or 1), definition=definition(body))
            self.jobs[job.id] = job
        return 200, _envelope(200, job.payload())

    def href(self, run_id: int, job: Job) -> str:
        return (f"{self.access_url}/deploy/{self.account_id}/projects/{job.project_id}/runs/"
                f"{run_id}/")

    def trigger(self, job: Job, body: dict[str, Any]) -> Run:
        with self.lock:
            run_id = 70000 + len(self.runs) + 1
            faults = RunFaults(stuck_in_queue=self.faults.stuck_in_queue,
                               fail_clone=self.faults.fail_clone,
                               cancel_after=self.faults.cancel_after)
            run = Run(run_id, job, body, self._workdir / f"run-{run_id}", faults,
                      self.href(run_id, job))
            self.runs[run_id] = run
        run.thread.start()
        return run

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and re.search(pattern, r.path))

    def request_fault(self, method: str, path: str) -> tuple[float, int | None]:
        """Delay and forced status for one request, counting the faults down."""
        with self.lock:
            f = self.faults
            if f.only and not re.search(f.only, f"{method} {path}"):
                return 0.0, None
            delay = 0.0
            if f.slow_count > 0:
                f.slow_count -= 1
                delay = f.slow
            if f.throttle > 0:
                f.throttle -= 1
                return delay, 429
            if f.errors > 0:
                f.errors -= 1
                return delay, 500
            return delay, None


def _envelope(code: int, data: Any, message: str = "Success!", **extra: Any) -> dict[str, Any]:
    return {"status": {"code": code, "is_success": code < 400, "user_message": message,
                       "developer_message": ""}, "data": data, **extra}


def _page(items: list[dict[str, Any]], query: dict[str, list[str]],
          fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    try:
        limit = int(query.get("limit", ["100"])[0])
        offset = int(query.get("offset", ["0"])[0])
    except ValueError:
        return 400, _envelope(400, None, "limit and offset must be integers")
    if limit > MAX_LIMIT or limit < 1 or offset < 0:
        return 400, _envelope(400, None, f"limit must be 1..{MAX_LIMIT}, offset >= 0")
    items, applied = filter_items(items, query, fields)
    page = items[offset:offset + limit]
    return 200, _envelope(200, page, extra={**applied, "pagination": {
        "count": len(page), "total_count": len(items)}})


def _related(query: dict[str, list[str]]) -> set[str]:
    values: set[str] = set()
    for raw in query.get("include_related", []):
        try:
            parsed = json.loads(raw)
            values |= {str(v) for v in (parsed if isinstance(parsed, list) else [parsed])}
        except ValueError:
            values |= {v.strip() for v in raw.split(",") if v.strip()}
    return values


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    routes: list[tuple[str, re.Pattern[str], str]] = [
        ("GET", re.compile(r"jobs/?"), "list_jobs"),
        ("POST", re.compile(r"jobs/?"), "create_job"),
        ("GET", re.compile(r"jobs/(\d+)/?"), "get_job"),
        ("POST", re.compile(r"jobs/(\d+)/run/?"), "trigger"),
        ("GET", re.compile(r"jobs/(\d+)/artifacts/(.+)"), "job_artifact"),
        ("GET", re.compile(r"runs/?"), "list_runs"),
        ("GET", re.compile(r"runs/(\d+)/?"), "get_run"),
        ("GET", re.compile(r"runs/(\d+)/artifacts/?"), "list_artifacts"),
        ("GET", re.compile(r"runs/(\d+)/artifacts/(.+)"), "run_artifact"),
        ("POST", re.compile(r"runs/(\d+)/cancel/?"), "cancel"),
        ("GET", re.compile(r""), "get_account"),
        ("GET", re.compile(r"projects/(\d+)/?"), "get_project"),
        ("GET", re.compile(r"environments/(\d+)/?"), "get_environment"),
    ]
    prefix = re.compile(r"/api/v2/accounts/(\d+)(?:/(.*))?")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _send(self, code: int, payload: Any = None, raw: bytes | None = None,
                  headers: dict[str, str] | None = None) -> None:
            body = raw if raw is not None else json.dumps(payload).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None
                                 else "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            with standin.lock:
                standin.requests.append(Seen(self.command, urlsplit(self.path).path, code))

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            delay, forced = standin.request_fault(method, url.path)
            if delay:
                time.sleep(delay)
            auth = self.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme not in ("Token", "Bearer") or token != standin.token:
                self._send(401, _envelope(401, None, "Invalid token."))
                return
            if forced == 429:
                self._send(429, _envelope(429, None, "Too many requests."),
                           headers={"Retry-After": str(standin.faults.retry_after)})
                return
            if forced == 500:
                self._send(500, _envelope(500, None, "An unexpected error occurred."))
                return
            matched = prefix.fullmatch(unquote(url.path))
            if not matched or int(matched.group(1)) != standin.account_id:
                self._send(404, _envelope(404, None, "The requested resource was not found."))
                return
            query = parse_qs(url.query)
            rest = matched.group(2) or ""
            for verb, pattern, name in routes:
                found = pattern.fullmatch(rest)
                if verb == method and found:
                    getattr(self, name)(*found.groups(), query=query, body=raw_body)
                    return
            self._send(405 if any(p.fullmatch(rest) for _, p, _ in routes) else 404,
                       _envelope(404, None, "Not found."))

        def _job(self, job_id: str) -> Job | None:
            job = standin.jobs.get(int(job_id))
            if job is None:
                self._send(404, _envelope(404, None, "The requested resource was not found."))
            return job

        def _run(self, run_id: str) -> Run | None:
            run = standin.runs.get(int(run_id))
            if run is None:
                self._send(404, _envelope(404, None, "The requested resource was not found."))
            return run

        def list_jobs(self, *, query: dict[str, list[str]], body: bytes) -> None:
            jobs = [j.payload() for j in standin.jobs.values()]
            self._send(*_page(jobs, query, {"project_id": "project_id", "pk": "id",
                                            "environment_id": "environment_id"}))

        def create_job(self, *, query: dict[str, list[str]], body: bytes) -> None:
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                self._send(400, _envelope(400, None, "The request body is not a JSON object."))
                return
            self._send(*standin.create_job(request))

        def get_job(self, job_id: str, *, query: dict[str, list[str]], body: bytes) -> None:
            job = self._job(job_id)
            if job is not None:
                self._send(200, _envelope(200, job.payload()))

        def trigger(self, job_id: str, *, query: dict[str, list[str]], body: bytes) -> None:
            job = self._job(job_id)
            if job is None:
                return
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                self._send(400, _envelope(400, None, "The request body is not JSON."))
                return
            cause = request.get("cause")
            steps = request.get("steps_override")
            problems = []
            if not isinstance(cause, str) or not cause:
                problems.append("cause: This field is required.")
            elif len(cause) > MAX_CAUSE:
                problems.append(f"cause: Ensure this field has no more than {MAX_CAUSE} "
                                "characters.")
            if steps is not None and (not isinstance(steps, list)
                                      or not all(isinstance(s, str) and s for s in steps)):
                problems.append("steps_override: a list of non-empty strings.")
            if problems:
                self._send(400, _envelope(400, {"errors": problems}, " ".join(problems)))
                return
            run = standin.trigger(job, request)
            self._send(200, _envelope(200, run.payload(steps=False)))

        def list_runs(self, *, query: dict[str, list[str]], body: bytes) -> None:
            runs = [r.payload(steps=False) for r in standin.runs.values()]
            self._send(*_page(runs, query, {
                "job_definition_id": "job_definition_id", "project_id": "project_id",
                "environment_id": "environment_id", "status": "status", "pk": "id"}))

        def get_run(self, run_id: str, *, query: dict[str, list[str]], body: bytes) -> None:
            run = self._run(run_id)
            if run is not None:
                self._send(200, _envelope(200, run.payload(steps="run_steps" in _related(query))))

        def list_artifacts(self, run_id: str, *, query: dict[str, list[str]],
                           body: bytes) -> None:
            run = self._run(run_id)
            if run is None:
                return
            step = run.artifact_step(int(query["step"][0]) if "step" in query else None)
            files = sorted(str(p.relative_to(step.target)) for p in step.target.rglob("*")
                           if p.is_file()) if step and step.target else []
            self._send(200, _envelope(200, files))

        def run_artifact(self, run_id: str, path: str, *, query: dict[str, list[str]],
                         body: bytes) -> None:
            run = self._run(run_id)
            if run is None:
                return
            step = run.artifact_step(int(query["step"][0]) if "step" in query else None)
            self._file(step.target if step else None, path)

        def job_artifact(self, job_id: str, path: str, *, query: dict[str, list[str]],
                         body: bytes) -> None:
            if self._job(job_id) is None:
                return
            for run in sorted(standin.runs.values(), key=lambda r: -r.id):
                step = run.artifact_step(None)
                if (run.job.id == int(job_id) and run.status in (SUCCESS, ERROR) and step
                        and step.target and (step.target / path).is_file()):
                    self._file(step.target, path)
                    return
            self._file(None, path)

        def _file(self, folder: Path | None, path: str) -> None:
            target = (folder / path).resolve() if folder else None
            if (folder is None or target is None or not target.is_file()
                    or folder.resolve() not in target.parents):
                self._send(404, _envelope(404, None, f"Artifact {path} not found."))
                return
            self._send(200, raw=target.read_bytes())

        def get_account(self, *, query: dict[str, list[str]], body: bytes) -> None:
            self._send(200, _envelope(200, {"id": standin.account_id, "name": "Stand-in",
                                            "state": 1, "plan": "enterprise", "locked": False,
                                            "run_slots": 5}))

        def get_project(self, project_id: str, *, query: dict[str, list[str]],
                        body: bytes) -> None:
            if not any(p == int(project_id) for p, _ in standin.environments):
                self._send(404, _envelope(404, None, "The requested resource was not found."))
                return
            self._send(200, _envelope(200, {
                "id": int(project_id), "account_id": standin.account_id,
                "name": f"project {project_id}", "state": 1, "type": 0,
                "dbt_project_subdirectory": None,
                "environments": [{"id": e, "project_id": p} for p, e in standin.environments
                                 if p == int(project_id)]}))

        def get_environment(self, environment_id: str, *, query: dict[str, list[str]],
                            body: bytes) -> None:
            project = next((p for p, e in standin.environments if e == int(environment_id)), None)
            if project is None:
                self._send(404, _envelope(404, None, "The requested resource was not found."))
                return
            self._send(200, _envelope(200, {
                "id": int(environment_id), "account_id": standin.account_id,
                "project_id": project, "name": f"environment {environment_id}", "state": 1,
                "type": "deployment", "deployment_type": "production",
                "dbt_version": "versionless", "use_custom_branch": False}))

        def cancel(self, run_id: str, *, query: dict[str, list[str]], body: bytes) -> None:
            run = self._run(run_id)
            if run is None:
                return
            if run.status not in (SUCCESS, ERROR, CANCELLED):
                run.cancel_requested.set()
            self._send(200, _envelope(200, run.payload(steps=False)))

    return Handler
