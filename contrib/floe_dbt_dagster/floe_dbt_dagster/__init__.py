"""Dagster integration for floe-dbt-hooks: ``DBTResource`` and ``@floe_dbt_assets``.

dbt projects run as Dagster assets through the hook framework's runtimes (dbt-core in-process,
dbt Fusion by subprocess, or any installed runtime), with per-node materializations streamed as the
runtime reports them and dbt tests as asset checks. See the README's "Dagster" section.
"""

from __future__ import annotations

from floe_dbt_dagster.assets import (
    build_dbt_asset_selection,
    floe_dbt_assets,
    get_asset_key_for_model,
    loaded_manifest,
)
from floe_dbt_dagster.resource import DBTResource
from floe_dbt_dagster.stream import DBTStream
from floe_dbt_dagster.translator import DBTTranslator, TranslatorSettings
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.orchestration.manifest import LoadedManifest, load_manifest

__all__ = [
    "DBTGraph",
    "DBTResource",
    "DBTStream",
    "DBTTranslator",
    "LoadedManifest",
    "TranslatorSettings",
    "build_dbt_asset_selection",
    "floe_dbt_assets",
    "get_asset_key_for_model",
    "load_manifest",
    "loaded_manifest",
]
