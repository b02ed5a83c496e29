"""The dbt Cloud runtime's settings: ``plugins.cloud`` in floe.yml, then environment overrides.

The API token is read only from an environment variable (``token_env``, default
``DBT_CLOUD_API_TOKEN``): a token written into floe.yml would end up in version control, so a
``token`` key there is a configuration error. The token is registered with the secret redactor as
soon as it is read, so no error, event or result can show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.secrets import register_secrets

DEFAULT_ACCESS_URL = "https://cloud.getdbt.com"
DEFAULT_TOKEN_ENV = "DBT_CLOUD_API_TOKEN"
DEFAULT_JOB_NAME = "floe-dbt-hooks ad-hoc job"
ENV_OVERRIDES = {
    "access_url": "FLOE_DBT_CLOUD_ACCESS_URL",
    "account_id": "FLOE_DBT_CLOUD_ACCOUNT_ID",
    "job_id": "FLOE_DBT_CLOUD_JOB_ID",
    "project_id": "FLOE_DBT_CLOUD_PROJECT_ID",
    "environment_id": "FLOE_DBT_CLOUD_ENVIRONMENT_ID",
}
_IDS = ("account_id", "job_id", "project_id", "environment_id")


def _optional_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DBTConfigurationError(
            f"plugins.cloud.{name} must be a number, got {value!r}",
            hint=f"set plugins.cloud.{name} in floe.yml or {ENV_OVERRIDES.get(name, '')}",
        ) from None


@attrs.frozen(kw_only=True)
class CloudSettings:
    """Everything the runtime needs to reach one dbt Cloud account and job."""

    access_url: str = DEFAULT_ACCESS_URL
    account_id: int | None = None
    job_id: int | None = None
    """The job to run; without it, the job named ``job_name`` in ``project_id`` and
    ``environment_id`` is found or created (see :mod:`floe_dbt_cloud.jobs`)."""
    project_id: int | None = None
    environment_id: int | None = None
    job_name: str = DEFAULT_JOB_NAME
    token_env: str = DEFAULT_TOKEN_ENV
    token: str | None = attrs.field(default=None, repr=False)
    poll_interval: float = 2.0
    """Seconds between polls at the start of a run; the interval grows as the run gets long."""
    max_poll_interval: float = 30.0
    timeout: float = 3600.0
    """Seconds from trigger to the end of the run before the run is cancelled remotely."""
    request_timeout: float = 30.0
    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    git_branch: str | None = None
    git_sha: str | None = None
    schema_override: str | None = None
    json_logs: bool = True
    """Ask dbt for ``--log-format json`` in each step so the run's logs carry node events."""

    @property
    def api_base(self) -> str:
        return f"{self.access_url.rstrip('/')}/api/v2/accounts/{self.account_id}/"

    def missing(self) -> list[str]:
        """What is not configured (empty when the runtime can serve)."""
        missing = []
        if self.account_id is None:
            missing.append(f"account id (plugins.cloud.account_id or {ENV_OVERRIDES['account_id']})")
        if self.job_id is None and (self.project_id is None or self.environment_id is None):
            missing.append(f"job id (plugins.cloud.job_id or {ENV_OVERRIDES['job_id']}), or "
                           "project_id and environment_id to find or create the job")
        if not self.token:
            missing.append(f"API token (environment variable {self.token_env})")
        return missing


def load_settings(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> CloudSettings:
    """Settings from floe.yml's ``plugins.cloud`` mapping and the environment (which wins)."""
    env = os.environ if environ is None else environ
    if "token" in raw or "api_token" in raw:
        raise DBTConfigurationError(
            "plugins.cloud must not hold the dbt Cloud API token",
            hint=f"remove it from floe.yml and set the environment variable "
                 f"{raw.get('token_env') or DEFAULT_TOKEN_ENV} instead",
        )
    values = dict(raw)
    for key, variable in ENV_OVERRIDES.items():
        if env.get(variable):
            values[key] = env[variable]
    token_env = str(values.get("token_env") or DEFAULT_TOKEN_ENV)
    token = env.get(token_env) or None
    if token:
        register_secrets([token])
    known = {f.name for f in attrs.fields(CloudSettings)} - {"token"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DBTConfigurationError(
            f"unknown plugins.cloud setting(s): {', '.join(unknown)}",
            hint=f"known settings: {', '.join(sorted(known))}",
        )
    options: dict[str, Any] = {}
    for field in attrs.fields(CloudSettings):
        if field.name in values and field.name not in (*_IDS, "token"):
            value = values[field.name]
            options[field.name] = type(field.default)(value) if field.default is not None \
                and value is not None else value
    ids: dict[str, Any] = {name: _optional_int(values.get(name), name) for name in _IDS}
    return CloudSettings(**options, **ids, token=token)
