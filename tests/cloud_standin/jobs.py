"""The stand-in's job definitions: ``POST jobs/`` validation and the list filters of jobs and runs.

Both follow openapi-v2.yaml (github.com/dbt-labs/dbt-cloud-openapi-spec):
``HumanReadableJobDefinitionRequest`` for a new job (its ``required`` list, its nested
``JobDefinitionExecutionRequest``, ``JobDefinitionSettingsRequest`` and
``JobDefinitionTriggersRequest``, ``JobTypeEnum``), and the query parameters of ``List Jobs`` and
``List Runs``. A rejected body gets 400 with the spec's ``ResponseStatus`` envelope and, as the
service's field validation reports it, ``data`` mapping each field to its messages.

The spec marks fourteen fields of a new job required, but a production client (dagster-dbt's
``create_job``) sends only the account, project, environment, name, description and job type, so
the service evidently fills the rest from the defaults of ``HumanReadableJobDefinitionResponse``.
``fill_defaults`` chooses: False (the default) holds a body to the spec, True behaves as the
service evidently does. Either way the identifying fields are required and every given field is
type-checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

IDENTIFYING = ("account_id", "project_id", "environment_id", "name")
SPEC_REQUIRED = (
    "account_id", "environment_id", "errors_on_lint_failure", "execution", "generate_docs",
    "lifecycle_webhooks", "name", "project_id", "run_compare_changes", "run_generate_sources",
    "run_lint", "settings", "state", "triggers",
)
JOB_TYPES = ("ci", "scheduled", "other", "merge", "exposure_sync", "adaptive", "hybrid")
BOOLEANS = ("errors_on_lint_failure", "generate_docs", "lifecycle_webhooks", "run_compare_changes",
            "run_generate_sources", "run_lint", "triggers_on_draft_pr", "generate_sources")
NESTED_REQUIRED = {
    "execution": {"timeout_seconds": int},
    "settings": {"threads": int, "target_name": str},
    "triggers": {"github_webhook": bool, "schedule": bool},
}
RESPONSE_DEFAULTS: dict[str, Any] = {
    "description": "", "errors_on_lint_failure": True, "execution": {"timeout_seconds": 0},
    "generate_docs": False, "lifecycle_webhooks": False, "run_compare_changes": False,
    "run_generate_sources": False, "run_lint": False,
    "settings": {"threads": 1, "target_name": "default"}, "state": 1,
    "triggers": {"github_webhook": False, "schedule": False, "git_provider_webhook": None,
                 "on_merge": None, "custom_branch_only": None},
    "execute_steps": [], "job_type": "other",
}
REQUIRED = "This field is required."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nested_problems(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ["Expected a dictionary of items."]
    problems = []
    for key, kind in NESTED_REQUIRED[name].items():
        if key not in value:
            problems.append(f"{key}: {REQUIRED}")
        elif (kind is int and not _is_int(value[key])) or (kind is not int
                                                          and not isinstance(value[key], kind)):
            problems.append(f"{key}: must be a {kind.__name__}.")
        elif kind is str and not value[key]:
            problems.append(f"{key}: This field may not be blank.")
    return problems


def job_problems(body: Mapping[str, Any], account_id: int,
                 fill_defaults: bool) -> dict[str, list[str]]:
    """Field -> messages for everything wrong with a new job's body (empty when it is valid)."""
    problems: dict[str, list[str]] = {}
    required = IDENTIFYING if fill_defaults else SPEC_REQUIRED
    for name in required:
        if name not in body or body[name] is None:
            problems[name] = [REQUIRED]
    for name in ("account_id", "project_id", "environment_id"):
        if name in body and body[name] is not None and not _is_int(body[name]):
            problems[name] = ["A valid integer is required."]
    if _is_int(body.get("account_id")) and body["account_id"] != account_id:
        problems["account_id"] = [f"Must be this account ({account_id})."]
    if "name" in body and (not isinstance(body["name"], str) or not body["name"]):
        problems["name"] = ["This field may not be blank."]
    for name in BOOLEANS:
        if name in body and not isinstance(body[name], bool):
            problems[name] = ["Must be a valid boolean."]
    for name in NESTED_REQUIRED:
        if name in body and (found := _nested_problems(name, body[name])):
            problems[name] = found
    if "state" in body and body["state"] not in (1, 2):
        problems["state"] = ["1 (active) or 2 (deleted)."]
    if "job_type" in body and body["job_type"] not in JOB_TYPES:
        problems["job_type"] = [f'"{body["job_type"]}" is not a valid choice.']
    steps = body.get("execute_steps")
    if steps is not None and (not isinstance(steps, list)
                              or not all(isinstance(s, str) and s for s in steps)):
        problems["execute_steps"] = ["A list of non-empty strings."]
    return problems


def definition(body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of a new job other than those :class:`Job` holds itself."""
    own = {"id", "account_id", "project_id", "environment_id", "name", "execute_steps", "state"}
    return {**{k: v for k, v in RESPONSE_DEFAULTS.items() if k not in own},
            **{k: v for k, v in body.items() if k not in own}}


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _many(raw: str) -> list[str]:
    """``[1,2]``, ``1,2`` or ``["a","b"]`` as the service accepts list parameters."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [v.strip() for v in raw.strip("[]").split(",") if v.strip()]
    return [str(v) for v in (parsed if isinstance(parsed, list) else [parsed])]


def _moment(value: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC, as the service stores times."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _state_filter(query: Mapping[str, list[str]]) -> Callable[[dict[str, Any]], bool]:
    state = (_first(query, "state") or "active").lower()
    wanted = {"active": {1}, "1": {1}, "deleted": {2}, "2": {2}, "all": {1, 2}}.get(state, {1})
    return lambda item: int(item.get("state", 1)) in wanted


def filter_items(items: list[dict[str, Any]], query: Mapping[str, list[str]],
                 fields: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items matching the query's equality and ``__in`` filters on ``fields`` (query name ->
    item field), its ``state``, ``name__icontains``, ``finished_at__range`` and ``order_by``; and
    the filters applied, for ``extra.filters``."""
    applied: dict[str, Any] = {}
    for name, item_field in fields.items():
        if (value := _first(query, name)) is not None:
            applied[name] = value
            items = [i for i in items if str(i.get(item_field)) == value]
        if (raw := _first(query, f"{name}__in")) is not None:
            wanted = set(_many(raw))
            applied[f"{name}__in"] = sorted(wanted)
            items = [i for i in items if str(i.get(item_field)) in wanted]
    keep = _state_filter(query)
    items = [i for i in items if keep(i)]
    if (needle := _first(query, "name__icontains")) is not None:
        applied["name__icontains"] = needle
        items = [i for i in items if needle.lower() in str(i.get("name", "")).lower()]
    if (raw := _first(query, "finished_at__range")) is not None:
        bounds = [_moment(b) for b in _many(raw)]
        if len(bounds) == 2:
            applied["finished_at__range"] = _many(raw)
            items = [i for i in items if i.get("finished_at")
                     and bounds[0] <= _moment(str(i["finished_at"])) <= bounds[1]]
    order = _first(query, "order_by") or "id"
    key = order.lstrip("-")
    items = sorted(items, key=lambda i: (i.get(key) is None, str(i.get(key)) if key != "id"
                                         else int(i.get("id") or 0)), reverse=order.startswith("-"))
    return items, {"filters": applied, "order_by": order}
