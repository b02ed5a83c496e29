"""The dbt graph as the Dagster integration needs it, read from a manifest.json payload.

Which nodes are assets (models that are not ephemeral, seeds, snapshots), which are checks (data
tests, attached to one asset), what each asset depends on (through ephemeral models, to other
assets and to sources), and node selection with dbt's syntax evaluated on the manifest, so that
building definitions never imports dbt. dbt-core and Fusion write the same manifest shape; a
missing ``child_map`` (early Fusion) does not matter, parents come from ``depends_on``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.runtime.selection import RAW_SELECTOR, criteria, selection_words

ASSET_TYPES = ("model", "seed", "snapshot")
TEST_TYPE = "test"
SUPPORTED_METHODS = ("fqn", "tag", "path", "file", "package", "resource_type", "config", "group",
                     "access", "source", "test_name", "test_type")


class DBTGraph:
    """Nodes, parents and children of one manifest, with the asset/check view on top."""

    def __init__(self, manifest: Mapping[str, Any], project_dir: str | Path | None = None) -> None:
        self.manifest = manifest
        self.project_dir = Path(project_dir).resolve() if project_dir is not None else None
        metadata = manifest.get("metadata") or {}
        self.project_name: str | None = metadata.get("project_name")
        self.adapter_type: str | None = metadata.get("adapter_type")
        self.nodes: dict[str, Mapping[str, Any]] = dict(manifest.get("nodes") or {})
        self.sources: dict[str, Mapping[str, Any]] = dict(manifest.get("sources") or {})
        self.groups: dict[str, Mapping[str, Any]] = {
            g.get("name", ""): g for g in (manifest.get("groups") or {}).values()
        }
        self.parents: dict[str, tuple[str, ...]] = {
            uid: tuple(dict.fromkeys((node.get("depends_on") or {}).get("nodes") or ()))
            for uid, node in self.nodes.items()
        }
        children: dict[str, list[str]] = {}
        for uid, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, []).append(uid)
        self.children: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in children.items()}

    def props(self, unique_id: str) -> Mapping[str, Any]:
        return self.nodes.get(unique_id) or self.sources.get(unique_id) or {}

    # -- assets and checks -------------------------------------------------------------------

    def is_asset(self, unique_id: str) -> bool:
        node = self.nodes.get(unique_id)
        if node is None or node.get("resource_type") not in ASSET_TYPES:
            return False
        return bool((node.get("config") or {}).get("materialized") != "ephemeral")

    def asset_ids(self) -> list[str]:
        return [uid for uid in self.nodes if self.is_asset(uid)]

    def test_ids(self) -> list[str]:
        return [uid for uid, n in self.nodes.items() if n.get("resource_type") == TEST_TYPE]

    def upstream(self, unique_id: str) -> list[str]:
        """The assets and sources ``unique_id`` reads, looking through ephemeral models and other
        non-asset nodes."""
        found: dict[str, None] = {}
        stack = list(reversed(self.parents.get(unique_id, ())))
        seen: set[str] = set()
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if parent in self.sources or self.is_asset(parent):
                found[parent] = None
            elif parent in self.nodes:
                stack.extend(reversed(self.parents.get(parent, ())))
        return list(found)

    def attached_asset(self, test_id: str) -> str | None:
        """The asset a test checks: dbt's ``attached_node`` (generic tests), the single parent
        (singular tests), or ``meta.dagster.ref`` naming one; None otherwise."""
        test = self.nodes.get(test_id) or {}
        config = test.get("config") or {}
        meta = config.get("meta") or test.get("meta") or {}
        ref = (meta.get("dagster") or {}).get("ref") if isinstance(meta, Mapping) else None
        if isinstance(ref, Mapping) and ref.get("name"):
            package = ref.get("package") or self.project_name
            for uid, node in self.nodes.items():
                if (node.get("name"), node.get("package_name"), node.get("version")) == (
                        ref["name"], package, ref.get("version")):
                    return uid if self.is_asset(uid) else None
            return None
        attached = test.get("attached_node")
        if isinstance(attached, str) and self.is_asset(attached):
            return attached
        assets = [p for p in self.upstream(test_id) if self.is_asset(p)]
        sources = [p for p in self.upstream(test_id) if p in self.sources]
        if len(assets) == 1 and not sources:
            return assets[0]
        return None

    def fqn_selector(self, unique_id: str) -> str:
        """A dbt selector that names exactly this node in any runtime: ``fqn:a.b.c``."""
        fqn = self.props(unique_id).get("fqn") or [unique_id.rsplit(".", 1)[-1]]
        return "fqn:" + ".".join(str(part) for part in fqn)

    # -- selection ---------------------------------------------------------------------------

    def select(
        self,
        select: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        selector: str | None = None,
    ) -> set[str]:
        """The unique ids dbt would select (nodes and tests; tests also indirectly, dbt's default
        ``eager``: a test is selected when any of its parents is).

        Supported: methods ``fqn`` (the default for bare names), ``tag``, ``path``, ``file``,
        ``package``, ``resource_type``, ``config.<key>``, ``group``, ``access``, ``source``,
        ``test_name``, ``test_type``, with ``*``/``?`` wildcards; graph operators ``+``,
        ``N+``, ``+N``, ``@``; unions (space) and intersections (comma). YAML ``selectors`` and
        state/result methods need the engine: select in the runtime instead.
        """
        if selector:
            raise DBTConfigurationError(
                f"YAML selector '{selector}' cannot be evaluated without the engine",
                hint="pass select=/exclude= instead, or materialize with the selector on "
                "DBTResource.stream(..., selector=...)",
            )
        words = selection_words(select) or ["fqn:*"]
        chosen = set().union(*(self._union_member(w) for w in words))
        excluded = set().union(*(self._union_member(w) for w in selection_words(exclude)))
        chosen |= self._indirect_tests(chosen)
        excluded |= self._indirect_tests(excluded)
        return chosen - excluded

    def _indirect_tests(self, chosen: set[str]) -> set[str]:
        return {t for t in self.test_ids() if any(p in chosen for p in self.parents.get(t, ()))}

    def _union_member(self, word: str) -> set[str]:
        sets = [self._criterion(p) for p in criteria(word)]
        return set.intersection(*sets) if sets else set()

    def _criterion(self, raw: str) -> set[str]:
        match = RAW_SELECTOR.match(raw)
        if match is None:
            raise DBTConfigurationError(f"invalid dbt selector '{raw}'")
        value = match.group("value")
        method = match.group("method") or _default_method(value)
        name, _, argument = method.partition(".")
        if name not in SUPPORTED_METHODS:
            raise DBTConfigurationError(
                f"selector method '{name}' is not supported when building definitions",
                hint=f"supported methods: {', '.join(SUPPORTED_METHODS)}",
            )
        base = {uid for uid in (*self.nodes, *self.sources)
                if self._matches(uid, name, argument, value)}
        result = set(base)
        if match.group("at"):
            below = self._walk(base, self.children, None)
            result |= below | self._walk(below, self.parents, None)
        if match.group("parents"):
            result |= self._walk(base, self.parents, _depth(match.group("parents_depth")))
        if match.group("children"):
            result |= self._walk(base, self.children, _depth(match.group("children_depth")))
        return result

    @staticmethod
    def _walk(start: set[str], edges: Mapping[str, tuple[str, ...]], depth: int | None) -> set[str]:
        found: set[str] = set()
        frontier = set(start)
        level = 0
        while frontier and (depth is None or level < depth):
            level += 1
            frontier = {n for f in frontier for n in edges.get(f, ())} - found - start
            found |= frontier
        return found | set(start)

    def _matches(self, uid: str, method: str, argument: str, value: str) -> bool:
        node = self.props(uid)
        is_source = uid in self.sources
        if method == "fqn":
            return not is_source and _fqn_match(list(node.get("fqn") or []), value,
                                                bool(node.get("version")))
        if method == "source":
            if not is_source:
                return False
            wanted = value.split(".")
            have = [node.get("package_name"), node.get("source_name"), node.get("name")]
            return all(fnmatch.fnmatchcase(str(h), w) for h, w in zip(have[-len(wanted):], wanted,
                                                                      strict=False))
        if method == "tag":
            return any(fnmatch.fnmatchcase(str(t), value) for t in node.get("tags") or ())
        if method == "path":
            return self._path_match(node, value)
        if method == "file":
            path = PurePosixPath(str(node.get("original_file_path") or ""))
            return fnmatch.fnmatchcase(path.name, value) or fnmatch.fnmatchcase(path.stem, value)
        if method == "package":
            package = self.project_name if value == "this" else value
            return fnmatch.fnmatchcase(str(node.get("package_name") or ""), str(package))
        if method == "resource_type":
            return node.get("resource_type") == value
        if method == "group":
            group = (node.get("config") or {}).get("group")
            return bool(group) and fnmatch.fnmatchcase(str(group), value)
        if method == "access":
            return node.get("access") == value
        if method == "config":
            return _config_match(node.get("config") or {}, argument, value)
        if method == "test_name":
            metadata = node.get("test_metadata") or {}
            return bool(metadata) and fnmatch.fnmatchcase(str(metadata.get("name")), value)
        if method == "test_type":
            if node.get("resource_type") != TEST_TYPE:
                return False
            generic = bool(node.get("test_metadata"))
            return value in ("data", "generic" if generic else "singular")
        return False

    def _path_match(self, node: Mapping[str, Any], value: str) -> bool:
        file = PurePosixPath(str(node.get("original_file_path") or ""))
        pattern = value.rstrip("/")
        if self.project_dir is not None and Path(pattern).is_absolute():
            try:
                pattern = str(Path(pattern).relative_to(self.project_dir))
            except ValueError:
                return False
        candidates = [file, *file.parents]
        patch = str(node.get("patch_path") or "")
        if "://" in patch:
            candidates.append(PurePosixPath(patch.split("://", 1)[1]))
        return any(str(c) != "." and fnmatch.fnmatchcase(str(c), pattern) for c in candidates)



def _default_method(value: str) -> str:
    if "/" in value or "\\" in value:
        return "path"
    if value.lower().endswith((".sql", ".py", ".csv")):
        return "file"
    return "fqn"


def _depth(text: str | None) -> int | None:
    return int(text) if text else None


def _fqn_match(fqn: list[str], selector: str, versioned: bool) -> bool:
    """dbt's fqn matching: the leaf name, a dotted prefix, or a wildcard pattern; with and
    without the package."""
    if not fqn:
        return False
    return _fqn_match_one(fqn, selector, versioned) or _fqn_match_one(fqn[1:], selector, versioned)


def _fqn_match_one(fqn: list[str], selector: str, versioned: bool) -> bool:
    if not fqn:
        return False
    leaf = fqn[-2] if versioned and len(fqn) > 1 else fqn[-1]
    if leaf == selector:
        return True
    if versioned and "_".join(fqn[-2:]) == "_".join(selector.split(".")[-2:]):
        return True
    flat = [p for segment in fqn for p in segment.split(".")]
    parts = selector.split(".")
    if len(flat) < len(parts):
        return False
    for i, part in enumerate(parts):
        if any(c in part for c in "*?[]"):
            if fnmatch.fnmatchcase(".".join(flat[i:]), ".".join(parts[i:])):
                return True
            return "." not in selector and fnmatch.fnmatchcase(leaf, selector)
        if flat[i] != part:
            return False
    return True


def _config_match(config: Mapping[str, Any], argument: str, value: str) -> bool:
    current: Any = config
    for key in argument.split(".") if argument else ():
        if not isinstance(current, Mapping) or key not in current:
            return False
        current = current[key]
    values = current if isinstance(current, list) else [current]
    for item in values:
        if isinstance(item, bool):
            if value.lower() == str(item).lower():
                return True
        elif item is not None and (str(item) == value or (argument == "severity"
                                                          and str(item).upper() == value.upper())):
            return True
    return False
