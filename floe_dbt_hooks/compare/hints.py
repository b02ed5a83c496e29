"""What dbt publishes as the fix for the Fusion error codes a project is most often rejected with."""

from __future__ import annotations

from collections.abc import Iterable

FIXES: dict[str, str] = {
    "dbt1013": "Project or YAML config in a form Fusion cannot read: prefix project-level configs "
               "with '+' (e.g. '+materialized: view') and fix the YAML at the position shown; "
               "dbt-autofix rewrites most older forms.",
    "dbt1159": "Generic test arguments at the top level are deprecated: nest them under "
               "'arguments:' (https://docs.getdbt.com/reference/deprecations"
               "#missingargumentspropertyingenerictestdeprecation).",
    "dbt1060": "Unexpected key in a YAML config: move custom keys under 'config: meta:' or remove "
               "them (https://docs.getdbt.com/reference/deprecations).",
    "dbt1005": "The profile's adapter is not supported by Fusion here; keep this project on dbt-core "
               "or use a supported adapter.",
    "dbt1501": "A Jinja expression failed to render (often a missing var or macro); check the "
               "position shown.",
    "dbt1502": "Jinja syntax error at the position shown.",
}


def fixes_for(codes: Iterable[str]) -> tuple[str, ...]:
    """The published fix for each code that has one, in the order given."""
    return tuple(f"{code}: {FIXES[code]}" for code in dict.fromkeys(codes) if code in FIXES)
