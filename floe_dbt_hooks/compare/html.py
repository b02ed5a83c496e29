"""A comparison as one self-contained HTML page: inline CSS, no scripts, no network.

A summary (verdict, runtimes with version and timings, counts), any runtime that could not compile
the project with its codes and the published fix, then one row per node with expandable SQL diffs,
config differences and table facts. Differences sort first.
"""

from __future__ import annotations

from html import escape

from floe_dbt_hooks.compare.result import CompareResult, NodeComparison

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2430}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
.summary{font-size:1.05rem;padding:.75rem 1rem;border-radius:6px;margin:1rem 0}
.agree{background:#e6f4ea;border:1px solid #9ccfa9}.differ{background:#fdecea;border:1px solid #f1a9a0}
.incomplete{background:#fff4e5;border:1px solid #f3c27a}
table{border-collapse:collapse;width:100%;table-layout:fixed}th,td{text-align:left;padding:.35rem .6rem;
border-bottom:1px solid #e3e6ea;vertical-align:top}th{background:#f5f7f9;font-weight:600}
#nodes th:first-child{width:28%}#nodes td:first-child{overflow-wrap:anywhere}
#nodes th:nth-child(2),#nodes th:nth-child(3){width:5.5rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.8rem;
font-weight:600}
.same{background:#e6f4ea;color:#1e6b34}.differs{background:#fdecea;color:#a12a1c}
.only-in{background:#fff4e5;color:#8a5200}.failed-in{background:#f3e8fd;color:#6b2fa1}
details{margin:.25rem 0}summary{cursor:pointer;color:#2457a6}
pre{background:#f7f8fa;border:1px solid #e3e6ea;border-radius:4px;padding:.5rem;overflow:auto;
white-space:pre-wrap;overflow-wrap:anywhere;
font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
.add{color:#1e6b34;background:#e6f4ea}.del{color:#a12a1c;background:#fdecea}.muted{color:#6b7480}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
"""
_ORDER = {"failed-in": 0, "differs": 1, "only-in": 2, "same": 3}


def _diff_html(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        css = "add" if line.startswith("+") and not line.startswith("+++") else (
            "del" if line.startswith("-") and not line.startswith("---") else "")
        lines.append(f'<span class="{css}">{escape(line)}</span>' if css else escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _column_differences(runtimes: tuple[str, ...], columns: tuple[tuple[str, ...], ...]) -> str:
    """``name: TYPE (a) / TYPE (b)`` for each column whose presence or type differs."""
    typed = [dict(c.split(":", 1) for c in cols) for cols in columns]
    names = list(dict.fromkeys(name for t in typed for name in t))
    items = []
    for name in names:
        kinds = [t.get(name, "missing") for t in typed]
        if len(set(kinds)) > 1:
            detail = " / ".join(f"{escape(k)} ({escape(rt)})"
                                for rt, k in zip(runtimes, kinds, strict=True))
            items.append(f"<li><code>{escape(name)}</code>: {detail}</li>")
    return f"columns differ:<ul>{''.join(items)}</ul>"


def _details(node: NodeComparison, runtimes: tuple[str, ...]) -> str:
    parts = []
    if node.present_in and node.verdict == "only-in":
        parts.append(f"only in {escape(', '.join(node.present_in))}")
    if node.failed_in:
        parts.append(f"failed to build in {escape(', '.join(node.failed_in))}")
    if node.sql_diff:
        parts.append("<details open><summary>compiled SQL differs</summary>"
                     f"{_diff_html(node.sql_diff)}</details>")
    for difference in node.config_differences:
        values = "; ".join(f"{escape(rt)}: <code>{escape(v)}</code>"
                           for rt, v in zip(runtimes, difference.values, strict=True))
        parts.append(f"config <code>{escape(difference.key)}</code>: {values}")
    if node.dependencies_same is False:
        deps = "; ".join(f"{escape(rt)}: {escape(', '.join(d) or '-')}"
                         for rt, d in zip(runtimes, node.dependency_difference, strict=True))
        parts.append(f"dependencies differ: {deps}")
    if node.data is not None:
        data = node.data
        rows = ", ".join(f"{escape(rt)} {n}" for rt, n in zip(runtimes, data.row_counts, strict=True))
        checksum = "equal" if len(set(data.checksums)) == 1 else "differs"
        parts.append(f"rows: {rows}; content checksum {checksum}")
        if len(set(data.columns)) > 1:
            parts.append(_column_differences(runtimes, data.columns))
    return "<br>".join(parts) or '<span class="muted">no differences</span>'


def render_html(result: CompareResult) -> str:
    """The whole page for ``result``."""
    state = "agree" if result.agree else ("differ" if result.exit_code == 1 else "incomplete")
    runtimes = result.runtimes
    outcome_rows = "".join(
        f"<tr><td>{escape(o.runtime)}</td><td>{escape(o.version or '-')}</td>"
        f"<td>{'ok' if o.ok else escape(f'{o.error_code}: {o.message}')}</td>"
        f"<td>{'-' if o.compile_seconds is None else f'{o.compile_seconds:.2f}s'}</td>"
        f"<td>{'-' if o.build_seconds is None else f'{o.build_seconds:.2f}s'}</td></tr>"
        for o in result.outcomes
    )
    problems = "".join(
        f"<h2>{escape(o.runtime)} could not compile the project</h2><p>{escape(o.message or '')}"
        + (f" ({escape(o.file_path)}{f':{o.line}' if o.line else ''})" if o.file_path else "")
        + "</p>" + "".join(f"<p>Fix: {escape(fix)}</p>" for fix in o.fixes)
        for o in result.outcomes if not o.ok
    )
    counts = " ".join(f'<span class="badge {escape(v)}">{n} {escape(v)}</span>'
                      for v, n in sorted(result.counts.items(), key=lambda kv: _ORDER[kv[0]]))
    nodes = sorted(result.nodes, key=lambda n: (_ORDER[n.verdict], n.unique_id))
    node_rows = "".join(
        f'<tr><td><code>{escape(n.unique_id)}</code></td><td>{escape(n.resource_type)}</td>'
        f'<td><span class="badge {escape(n.verdict)}">{escape(n.verdict)}</span></td>'
        f"<td>{_details(n, runtimes)}</td></tr>"
        for n in nodes
    )
    normalisations = "".join(f"<li>{escape(text)}</li>" for text in result.normalisations)
    title = f"floe-dbt compare: {' vs '.join(runtimes)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(title)}</h1><div class="muted">{escape(result.project_dir)}</div>
<div class="summary {state}" id="summary">{escape(result.summary())}</div>
<table><tr><th>runtime</th><th>version</th><th>outcome</th><th>compile</th><th>build</th></tr>
{outcome_rows}</table>
{problems}
<h2>Nodes</h2><p>{counts}</p>
<table id="nodes"><tr><th>node</th><th>type</th><th>verdict</th><th>details</th></tr>{node_rows}</table>
<h2>How SQL was compared</h2><ul>{normalisations}</ul>
</body></html>
"""
