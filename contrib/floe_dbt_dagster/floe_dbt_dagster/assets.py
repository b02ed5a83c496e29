"""``@floe_dbt_assets``: one Dagster multi-asset for a dbt project, shaped like dagster-dbt's
``@dbt_assets`` so that moving over is a change of imports.

One asset per model (not ephemeral), seed and snapshot in the selection, with dependencies from the
dbt graph (through ephemeral models, and on sources as external assets), and each data test on them
as an asset check. The decorated function runs them, typically ``yield from dbt.stream(context)``;
Dagster subsets it (``can_subset``), and the stream turns a subset into exactly that dbt selection.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    BackfillPolicy,
    PartitionsDefinition,
    RetryPolicy,
    multi_asset,
)

from floe_dbt_dagster.resource import DBTResource
from floe_dbt_dagster.stream import CURRENT_ASSETS, AssetsContext
from floe_dbt_dagster.translator import UNIQUE_ID_KEY, DBTTranslator
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_hooks.orchestration.manifest import LoadedManifest
from floe_dbt_hooks.runtime.selection import selection_words

SELECT_TAG = "floe_dbt/select"
EXCLUDE_TAG = "floe_dbt/exclude"
SELECTOR_TAG = "floe_dbt/selector"
MANIFEST_TAG = "floe_dbt/manifest"
ASSETS_KEY = "floe_dbt/assets"
"""Asset spec metadata holding the definition's :class:`AssetsContext` (graph and manifest), as
dagster-dbt keeps its manifest under ``dagster_dbt/manifest``: it travels with the definition and
its subsets, so two definitions with the same op name never see each other's. The op tags (select,
exclude, manifest path) are the strings-only fallback for definitions built elsewhere."""


def floe_dbt_assets(
    *,
    project_dir: str | Path | None = None,
    resource: DBTResource | None = None,
    manifest: Mapping[str, Any] | str | Path | None = None,
    select: str | Sequence[str] = "fqn:*",
    exclude: str | Sequence[str] | None = None,
    name: str | None = None,
    translator: DBTTranslator | None = None,
    op_tags: Mapping[str, Any] | None = None,
    required_resource_keys: set[str] | None = None,
    partitions_def: PartitionsDefinition | None = None,
    backfill_policy: BackfillPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
    reuse_manifest: bool | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """Build the dbt assets of a project; decorate the function that materializes them.

    The project comes from ``resource`` (a :class:`DBTResource`: its runtime, target, profiles
    and plugin settings also decide how the manifest is obtained) or ``project_dir`` (with the
    project's floe config). ``manifest`` (a dict or a path) skips loading one; otherwise it comes
    from the selected runtime (:meth:`DBTResource.load_manifest`: Fusion compiles, dbt-core
    reuses a fresh manifest or compiles). ``select``/``exclude`` use dbt's syntax (evaluated on
    the manifest, see :meth:`DBTGraph.select`) and are passed to dbt on every full run.

    Example::

        dbt = DBTResource(project_dir="examples/jaffle_shop", runtime="fusion")

        @floe_dbt_assets(resource=dbt)
        def jaffle_shop(context: AssetExecutionContext, dbt: DBTResource):
            yield from dbt.stream(context)

        defs = Definitions(assets=[jaffle_shop], resources={"dbt": dbt})
    """
    if resource is None:
        if project_dir is None:
            raise DBTConfigurationError("floe_dbt_assets needs project_dir= or resource=")
        resource = DBTResource(project_dir=str(project_dir))
    loaded = _manifest(resource, manifest, reuse_manifest)
    graph = DBTGraph(loaded.manifest, resource.resolved_project_dir)
    translator = translator or DBTTranslator()
    selected = graph.select(select, exclude)
    context = AssetsContext(graph=graph, loaded=loaded, select=tuple(selection_words(select)),
                            exclude=tuple(selection_words(exclude)))
    asset_ids = [uid for uid in graph.asset_ids() if uid in selected]
    specs = [translator.get_asset_spec(graph, uid).merge_attributes(metadata={ASSETS_KEY: context})
             for uid in asset_ids]
    keys = {uid: spec.key for uid, spec in zip(asset_ids, specs, strict=True)}
    _check_unique(keys)
    check_specs = [spec for spec in (translator.get_check_spec(graph, t, keys)
                                     for t in graph.test_ids() if t in selected) if spec]
    tags = {
        SELECT_TAG: " ".join(context.select), MANIFEST_TAG: str(loaded.path),
        **({EXCLUDE_TAG: " ".join(context.exclude)} if context.exclude else {}),
        **dict(op_tags or {}),
    }

    def decorate(fn: Callable[..., Any]) -> AssetsDefinition:
        @functools.wraps(fn)
        def compute(*args: Any, **kwargs: Any) -> Iterator[Any]:
            token = CURRENT_ASSETS.set(context)
            try:
                produced = fn(*args, **kwargs)
                if produced is not None:
                    if inspect.isgenerator(produced) or isinstance(produced, Iterable):
                        yield from produced
                    else:
                        yield produced
            finally:
                with contextlib.suppress(ValueError):  # finalised in another context
                    CURRENT_ASSETS.reset(token)

        # Dagster reads the context and resource parameters from annotations: resolve string
        # annotations (``from __future__ import annotations``) so those modules work too.
        with contextlib.suppress(NameError, TypeError, SyntaxError):
            compute.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        return multi_asset(
            name=name or fn.__name__, specs=specs, check_specs=check_specs, can_subset=True,
            op_tags=tags, required_resource_keys=required_resource_keys,
            partitions_def=partitions_def, backfill_policy=backfill_policy,
            retry_policy=retry_policy, pool=pool, allow_arbitrary_check_specs=True,
        )(compute)

    return decorate


def _manifest(resource: DBTResource, manifest: Mapping[str, Any] | str | Path | None,
              reuse: bool | None) -> LoadedManifest:
    if manifest is None:
        return resource.load_manifest(reuse=reuse)
    if isinstance(manifest, Mapping):
        return LoadedManifest(manifest=manifest, path=Path("<given>"), how="given", runtime=None,
                              elapsed=0.0)
    path = Path(manifest)
    return LoadedManifest(manifest=load_artifact(path), path=path, how="given", runtime=None,
                          elapsed=0.0)


def _check_unique(keys: Mapping[str, AssetKey]) -> None:
    seen: dict[AssetKey, str] = {}
    for uid, key in keys.items():
        if key in seen:
            raise DBTConfigurationError(
                f"dbt nodes {seen[key]} and {uid} both map to asset key {key.to_user_string()}",
                hint="set meta.dagster.asset_key on one of them, or override "
                "DBTTranslator.get_asset_key",
            )
        seen[key] = uid


def loaded_manifest(assets: AssetsDefinition) -> LoadedManifest | None:
    """How the manifest behind ``assets`` was obtained (compiled by which runtime, or reused, and
    how long it took); None for assets not built by :func:`floe_dbt_assets` in this process."""
    known = _carried(assets)
    return known.loaded if known is not None else None


def get_asset_key_for_model(assets: Sequence[AssetsDefinition], model_name: str) -> AssetKey:
    """The asset key of the dbt model (or seed, snapshot) named ``model_name``."""
    for assets_def in assets:
        for spec in assets_def.specs:
            uid = str(spec.metadata.get(UNIQUE_ID_KEY, ""))
            if uid.split(".")[0] in ("model", "seed", "snapshot") and \
                    uid.split(".")[2:3] == [model_name]:
                return spec.key
    raise KeyError(f"no dbt model named {model_name!r} in these assets")


def build_dbt_asset_selection(
    assets: Sequence[AssetsDefinition], dbt_select: str = "fqn:*", dbt_exclude: str | None = None,
) -> AssetSelection:
    """The assets a dbt selection picks, with the checks on them, for jobs and schedules::

        define_asset_job("nightly", selection=build_dbt_asset_selection([jaffle], "tag:nightly"))

    A check comes with its asset only: a relationships test that dbt would also pick because it
    reads a selected model is left out when the asset it checks is not selected.
    """
    keys: list[AssetKey] = []
    check_keys: list[AssetCheckKey] = []
    for assets_def in assets:
        context = _context_of(assets_def)
        chosen = context.graph.select(dbt_select, dbt_exclude)
        chosen_keys = [s.key for s in assets_def.specs if s.metadata.get(UNIQUE_ID_KEY) in chosen]
        keys += chosen_keys
        chosen_set = set(chosen_keys)  # a list here made a 5,000-model selection quadratic
        check_keys += [s.key for s in assets_def.check_specs
                       if (s.metadata or {}).get(UNIQUE_ID_KEY) in chosen
                       and s.asset_key in chosen_set]
    return AssetSelection.assets(*keys) | AssetSelection.checks(*check_keys)


def _carried(assets_def: AssetsDefinition) -> AssetsContext | None:
    for spec in assets_def.specs:
        known = spec.metadata.get(ASSETS_KEY)
        if isinstance(known, AssetsContext):
            return known
    return None


def _context_of(assets_def: AssetsDefinition) -> AssetsContext:
    known = _carried(assets_def)
    if known is not None:
        return known
    manifest_path = assets_def.op.tags.get(MANIFEST_TAG)
    if not manifest_path or not Path(manifest_path).is_file():
        raise DBTConfigurationError(
            f"assets '{assets_def.op.name}' were not built by floe_dbt_assets in this process")
    return AssetsContext(graph=DBTGraph(load_artifact(manifest_path)))
