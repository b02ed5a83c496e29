"""The ``manifest-10mb`` case: floe's cached ``load_artifact`` against ``json.load``, each in a
fresh process, on a real dbt manifest blown up to at least 10 MiB: lazily decoded (the default
with msgspec), then one node read, all nodes read and everything materialised; and decoded
eagerly (``FLOE_DBT_LAZY_ARTIFACTS=0``, and the standard library)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    GENERATED,
    ROOT,
    Options,
    Row,
    fmt,
    fresh_dir,
    generated_project,
    log,
    rotated,
    row,
    run_child,
    run_proc,
    summary,
    tool,
)

MANIFEST_BYTES = 10 * 1024 * 1024
MODES = ("floe", "floe-graph", "floe-eager", "floe-stdlib", "json", "json-nogc")
LAZY_STEPS = ("one", "all", "full")
"""After the lazy load: one node read, then every node (``nodes.items()``), then ``materialize``
of the whole document; each row is cumulative from the start of the load."""


def make_big_manifest(opts: Options) -> Path:
    """A real dbt manifest (a parsed 200-model project) with its model and test nodes replicated
    under new unique_ids until the file is at least 10 MiB."""
    source = generated_project("manifest-source", 200)
    run_proc([tool("dbt"), "parse", "--profiles-dir", "."], cwd=source, timeout=opts.timeout)
    manifest = json.loads((source / "target" / "manifest.json").read_text())
    originals = {uid: node for uid, node in manifest["nodes"].items()
                 if node.get("resource_type") in ("model", "test")}
    parent_map: dict[str, list[str]] = manifest.setdefault("parent_map", {})
    child_map: dict[str, list[str]] = manifest.setdefault("child_map", {})
    copies = 0
    text = json.dumps(manifest)
    while len(text.encode()) < MANIFEST_BYTES:
        copies += 1
        suffix = f"_r{copies}"
        mapping = {uid: uid + suffix for uid in originals}
        for uid, node in originals.items():
            new = json.loads(json.dumps(node))
            new_uid = mapping[uid]
            new["unique_id"] = new_uid
            new["name"] = node["name"] + suffix
            if "alias" in new:
                new["alias"] = (node.get("alias") or node["name"]) + suffix
            new["fqn"] = [*node.get("fqn", [])[:-1], new["name"]]
            deps = new.get("depends_on") or {}
            deps["nodes"] = [mapping.get(p, p) for p in deps.get("nodes", [])]
            if new.get("attached_node"):
                new["attached_node"] = mapping.get(new["attached_node"], new["attached_node"])
            manifest["nodes"][new_uid] = new
            parents = [mapping.get(p, p) for p in parent_map.get(uid, [])]
            parent_map[new_uid] = parents
            child_map[new_uid] = [mapping.get(c, c) for c in child_map.get(uid, [])]
            for parent in parent_map.get(uid, []):
                if parent not in mapping:  # a parent outside the replicated set (the seed)
                    child_map.setdefault(parent, []).append(new_uid)
        text = json.dumps(manifest)
    out = GENERATED / "manifest-10mb" / "manifest.json"
    fresh_dir(out.parent).mkdir()
    out.write_bytes(text.encode())
    log(f"  manifest-10mb: {out} is {out.stat().st_size / 1e6:.2f} MB "
        f"({len(manifest['nodes'])} nodes, {copies} replicas of {len(originals)} model/test nodes)")
    return out


def case_manifest(opts: Options) -> list[Row]:
    """load_artifact cold (lazy, then reading more of it; eager) and cached on a >= 10 MiB
    manifest, against json.load."""
    path = make_big_manifest(opts)
    names = ["cold", "cold_cpu", "cached", "cached_mean", "cold-eager", "cold-eager_cpu",
             "cold-stdlib", "json", "json_cpu", "json-nogc", "graph", "graph_cpu",
             "graph-eager", "graph-eager_cpu"]
    names += [f"{step}{cpu}" for step in LAZY_STEPS for cpu in ("", "_cpu")]
    samples: dict[str, list[float]] = {name: [] for name in names}
    decoder, lazy = "?", False
    for i in range(opts.warmup + opts.repeat):
        for mode in rotated(MODES, i):
            data = run_child("manifest", cwd=ROOT, timeout=opts.timeout, mode=mode,
                             path=str(path))
            if i < opts.warmup:
                continue
            if mode == "floe":
                decoder, lazy = data["decoder"], data["lazy"]
                for key in ("cold", "cold_cpu", "cached", "cached_mean", *names[-6:]):
                    samples[key].append(data[key])
            elif mode == "floe-eager":
                samples["cold-eager"].append(data["cold"])
                samples["cold-eager_cpu"].append(data["cold_cpu"])
                samples["graph-eager"].append(data["graph"])
                samples["graph-eager_cpu"].append(data["graph_cpu"])
            elif mode == "floe-graph":
                samples["graph"].append(data["graph"])
                samples["graph_cpu"].append(data["graph_cpu"])
            elif mode == "floe-stdlib":
                samples["cold-stdlib"].append(data["cold"])
            else:
                samples[mode].append(data["json_load"])
                if mode == "json":
                    samples["json_cpu"].append(data["json_load_cpu"])
    s = {name: summary(values) for name, values in samples.items()}
    cached_mean = statistics.median(samples["cached_mean"])
    how = f"{decoder}, lazy" if lazy else decoder
    log(f"  manifest-10mb: load_artifact cold {fmt(s['cold']['median'], 'ms')} ({how}, the "
        f"decoder's import included), + one node {fmt(s['one']['median'], 'ms')}, + all nodes "
        f"{fmt(s['all']['median'], 'ms')}, + materialize {fmt(s['full']['median'], 'ms')}; "
        f"eager (FLOE_DBT_LAZY_ARTIFACTS=0) {fmt(s['cold-eager']['median'], 'ms')}; to a DBTGraph "
        f"selection: lazy {fmt(s['graph']['median'], 'ms')}, eager "
        f"{fmt(s['graph-eager']['median'], 'ms')}; "
        f"FLOE_DBT_JSON_DECODER=stdlib {fmt(s['cold-stdlib']['median'], 'ms')}, json.load "
        f"{fmt(s['json']['median'], 'ms')}, cached second call {fmt(s['cached']['median'], 'us')} "
        f"(mean of 1000 more: {fmt(cached_mean, 'us')}); json.load with the garbage collector "
        f"off during the call: {fmt(s['json-nogc']['median'], 'ms')}")
    under_30 = {name: s[name]["median"] < 0.030 for name in s}
    return [
        row(f"manifest-10mb cold ({how})", "ms", s["cold"], s["json"], "< 30 ms",
            under_30["cold"], reference_name="(json.load)", details={
                "path": str(path), "bytes": path.stat().st_size, "decoder": decoder,
                "lazy": lazy, "json_load_gc_disabled": s["json-nogc"]}),
        # CPU time of the same spans: steadier than wall time when other work shares the machine
        row(f"manifest-10mb cold CPU ({how})", "ms", s["cold_cpu"], s["json_cpu"], "< 30 ms",
            under_30["cold_cpu"], reference_name="(json.load CPU)"),
        row(f"manifest-10mb cold + one node CPU ({how})", "ms", s["one_cpu"], s["json_cpu"],
            "< 30 ms", under_30["one_cpu"], reference_name="(json.load CPU)",
            details={"wall": s["one"]}),
        row(f"manifest-10mb cold + all nodes CPU ({how})", "ms", s["all_cpu"], s["json_cpu"],
            "-", None, reference_name="(json.load CPU)", details={"wall": s["all"]}),
        row(f"manifest-10mb cold + materialize CPU ({how})", "ms", s["full_cpu"], s["json_cpu"],
            "-", None, reference_name="(json.load CPU)", details={"wall": s["full"]}),
        row(f"manifest-10mb cold + DBTGraph CPU ({how})", "ms", s["graph_cpu"],
            s["graph-eager_cpu"], "-", None, reference_name="(eager + DBTGraph CPU)",
            details={"wall": s["graph"], "reference_wall": s["graph-eager"]}),
        row(f"manifest-10mb cold CPU ({decoder}, eager)", "ms", s["cold-eager_cpu"],
            s["json_cpu"], "-", None, reference_name="(json.load CPU)",
            details={"env": "FLOE_DBT_LAZY_ARTIFACTS=0", "wall": s["cold-eager"]}),
        row("manifest-10mb cold (stdlib)", "ms", s["cold-stdlib"], s["json"], "< 30 ms",
            under_30["cold-stdlib"], reference_name="(json.load)",
            details={"env": "FLOE_DBT_JSON_DECODER=stdlib"}),
        row("manifest-10mb cached", "us", s["cached"], None, "< 1 ms",
            s["cached"]["median"] < 0.001, details={"mean_of_1000_more_calls": cached_mean}),
    ]


def child_manifest(mode: str, path: str) -> dict[str, Any]:
    """In the child: time ``json.load`` (``json``, ``json-nogc``: collector off during the call)
    or floe's ``load_artifact`` cold, cached, and the mean of 1000 more cached calls (``floe``:
    the fast decoder when installed, its import inside the cold call, lazily decoded, then
    one node, all nodes and everything read; ``floe-graph``: lazily, then a ``DBTGraph``
    selection, as the orchestrators do; ``floe-eager``: not lazily, then the same selection;
    ``floe-stdlib``: the standard library)."""
    if mode in ("json", "json-nogc"):
        import gc

        started, started_cpu = time.perf_counter(), time.process_time()
        if mode == "json-nogc":
            gc.disable()
        with open(path, "rb") as handle:
            data = json.load(handle)
        gc.enable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        assert "metadata" in data
        return {"json_load": elapsed, "json_load_cpu": cpu}
    if mode in ("floe-stdlib", "floe-eager"):
        import os

        from floe_dbt_hooks.artifacts import LAZY_ENV
        from floe_dbt_hooks.jsondecode import DECODER_ENV

        os.environ[DECODER_ENV if mode == "floe-stdlib" else LAZY_ENV] = \
            "stdlib" if mode == "floe-stdlib" else "0"
    from floe_dbt_hooks.artifacts import is_lazy, load_artifact, materialize
    from floe_dbt_hooks.jsondecode import decoder_name

    started, started_cpu = time.perf_counter(), time.process_time()
    first = load_artifact(path)
    cold, cold_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    lazy = is_lazy(first)
    steps: dict[str, float] = {}
    if mode in ("floe-graph", "floe-eager"):
        from floe_dbt_hooks.orchestration.graph import DBTGraph

        started, started_cpu = time.perf_counter(), time.process_time()
        graph = DBTGraph(first)
        assert graph.select("fqn:*")
        assert graph.asset_ids()
        steps["graph"] = cold + time.perf_counter() - started
        steps["graph_cpu"] = cold_cpu + time.process_time() - started_cpu
    if mode == "floe":
        nodes = first["nodes"]
        middle = list(nodes)[len(nodes) // 2]
        wall, cpu = cold, cold_cpu
        for step in LAZY_STEPS:
            started, started_cpu = time.perf_counter(), time.process_time()
            if step == "one":
                assert nodes[middle]["unique_id"] == middle
            elif step == "all":
                assert sum(1 for _uid, node in nodes.items() if node) == len(nodes)
            else:
                assert len(materialize(first)["nodes"]) == len(nodes)
            wall += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
            steps[step], steps[f"{step}_cpu"] = wall, cpu
    started = time.perf_counter()
    second = load_artifact(path)
    cached = time.perf_counter() - started
    assert second is first, "the second call was not served from the cache"
    started = time.perf_counter()
    for _ in range(1000):
        load_artifact(path)
    mean = (time.perf_counter() - started) / 1000
    return {"cold": cold, "cold_cpu": cold_cpu, "cached": cached, "cached_mean": mean,
            "nodes": len(first["nodes"]), "decoder": decoder_name(Path(path).stat().st_size),
            "lazy": lazy, **steps}
