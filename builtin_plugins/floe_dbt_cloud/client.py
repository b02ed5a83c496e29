"""A small client for the dbt Cloud Admin API v2, as dbt Labs publishes it (openapi-v2.yaml in
github.com/dbt-labs/dbt-cloud-openapi-spec).

Every path is relative to ``{access_url}/api/v2/accounts/{account_id}/``; every request carries
``Authorization: Token <token>``; JSON responses are envelopes ``{"status": {...}, "data": ...}`` and
this client returns their ``data``; an artifact comes back as the raw file.

Transient faults are retried with exponential backoff and full jitter, a bounded number of times:
429 (waiting at least what ``Retry-After`` asks), 5xx, connection errors and timeouts. Triggering a
run is not idempotent, so a trigger is retried only when the request cannot have created a run
(429, 502/503, a failure to connect); any other failure there says that a run may exist. Errors
never include the token: the client registers it with the redactor and never formats headers.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from floe_dbt_cloud.settings import CloudSettings

RUN_STEPS = '["run_steps"]'
PAGE_LIMIT = 100
MAX_PAGES = 50
"""At most this many pages of a list are read (5,000 jobs): a bound, should ``total_count`` lie."""
_NOT_PROCESSED = (429, 502, 503)


class CloudAPIError(Exception):
    """A request the API answered with an error, or that could not be completed."""

    def __init__(self, message: str, *, status: int | None = None, path: str = "",
                 maybe_processed: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.path = path
        self.maybe_processed = maybe_processed


class CloudAuthError(CloudAPIError):
    """401 or 403: the token is missing, wrong, or may not use this account or job."""


class CloudNotFound(CloudAPIError):
    """404: the account, job or run does not exist (or the token cannot see it)."""


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _user_message(response: httpx.Response) -> str:
    try:
        status = response.json().get("status") or {}
    except ValueError:
        return response.reason_phrase
    return str(status.get("user_message") or status.get("developer_message")
               or response.reason_phrase)


class CloudClient:
    """One account's API; thread-safe (httpx's client is), counts the requests it sends."""

    def __init__(self, settings: CloudSettings, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self.settings = settings
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests = 0
        self._http = httpx.Client(
            base_url=settings.api_base,
            headers={"Authorization": f"Token {settings.token}", "Accept": "application/json"},
            timeout=settings.request_timeout, follow_redirects=False, transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.max_backoff, self.settings.backoff * (2 ** attempt))
        return random.uniform(ceiling / 2, ceiling)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Mapping[str, Any] | None = None, idempotent: bool = True) -> httpx.Response:
        """Send one request, retrying transient faults; raise CloudAPIError for the rest."""
        import httpx

        attempts = max(0, self.settings.retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            with self._lock:
                self.requests += 1
            try:
                response = self._http.request(method, path, params=params, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise CloudAPIError(f"cannot connect to {self.settings.access_url}: "
                                        f"{type(exc).__name__}", path=path) from None
                self._sleep(self._backoff(attempt))
                continue
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise CloudAPIError(
                        f"{method} {path} failed: {type(exc).__name__}", path=path,
                        maybe_processed=not idempotent,
                    ) from None
                self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                retryable = idempotent or status in _NOT_PROCESSED
                if last or not retryable:
                    raise CloudAPIError(
                        f"{method} {path} answered {status}: {_user_message(response)}",
                        status=status, path=path, maybe_processed=not retryable,
                    )
                wait = self._backoff(attempt)
                asked = retry_after(response.headers.get("Retry-After"))
                if asked is not None:
                    wait = max(wait, min(asked, self.settings.max_backoff * 4))
                self._sleep(wait)
                continue
            if status in (401, 403):
                raise CloudAuthError(_user_message(response), status=status, path=path)
            if status == 404:
                raise CloudNotFound(_user_message(response), status=status, path=path)
            if status >= 400:
                raise CloudAPIError(f"{method} {path} answered {status}: {_user_message(response)}",
                                    status=status, path=path)
            return response
        raise AssertionError("unreachable")

    def _data(self, response: httpx.Response) -> Any:
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise CloudAPIError(f"{response.request.url.path} did not answer with a dbt Cloud "
                                "envelope", status=response.status_code) from None

    def job(self, job_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._data(self.request("GET", f"jobs/{job_id}/"))
        return data

    def jobs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every job matching ``filters``, page by page (``limit`` at most 100, ``offset``), reading
        at most :data:`MAX_PAGES` pages."""
        offset = 0
        for _ in range(MAX_PAGES):
            response = self.request("GET", "jobs/", params={**filters, "limit": PAGE_LIMIT,
                                                            "offset": offset})
            page = self._data(response) or []
            yield from page
            total = ((response.json().get("extra") or {}).get("pagination") or {}) \
                .get("total_count")
            offset += len(page)
            if not page or total is None or offset >= int(total):
                return
        raise CloudAPIError(f"jobs/ still had more than {MAX_PAGES * PAGE_LIMIT} jobs to list "
                            f"after {MAX_PAGES} pages", path="jobs/")

    def create_job(self, body: Mapping[str, Any]) -> int:
        """Create a job (``POST jobs/``) and return its id; retried only when the request cannot
        have created it."""
        data = self._data(self.request("POST", "jobs/", body=body, idempotent=False))
        return int(data["id"])

    def trigger(self, job_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._data(
            self.request("POST", f"jobs/{job_id}/run/", body=body, idempotent=False))
        return data

    def run(self, run_id: int, *, steps: bool = True) -> dict[str, Any]:
        params = {"include_related": RUN_STEPS} if steps else None
        data: dict[str, Any] = self._data(self.request("GET", f"runs/{run_id}/", params=params))
        return data

    def cancel(self, run_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._data(self.request("POST", f"runs/{run_id}/cancel/"))
        return data

    def artifacts(self, run_id: int) -> list[str]:
        return [str(p) for p in self._data(self.request("GET", f"runs/{run_id}/artifacts/")) or ()]

    def artifact(self, run_id: int, path: str, step: int | None = None) -> bytes:
        params = {"step": step} if step is not None else None
        return self.request("GET", f"runs/{run_id}/artifacts/{path}", params=params).content

    def job_artifact(self, job_id: int, path: str) -> bytes:
        """The artifact of the job's latest run that has one."""
        return self.request("GET", f"jobs/{job_id}/artifacts/{path}").content
