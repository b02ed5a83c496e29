"""dbt's node-selection syntax, as far as floe reads it without an engine: one word's parts
(``@``, ``N+``, ``method.argument:value``, ``+N``) and the method names dbt knows.

dbt-core rejects a word whose method it does not know; Fusion (2.0 previews) selects nothing and
succeeds, so a typo'd ``tga:nightly`` would quietly build nothing. Runtimes check words here first,
so every runtime answers a typo the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

RAW_SELECTOR = re.compile(
    r"\A(?P<at>@)?(?:(?P<parents_depth>\d*)(?P<parents>\+))?"
    r"(?:(?P<method>[\w.]+):)?(?P<value>.*?)"
    r"(?:(?P<children>\+)(?P<children_depth>\d*))?\Z"
)
DBT_METHODS = ("fqn", "tag", "group", "access", "source", "path", "file", "package", "config",
               "test_name", "test_type", "resource_type", "state", "exposure", "metric", "result",
               "source_status", "version", "semantic_model", "saved_query", "unit_test")
"""dbt-core 1.11's selector methods (``dbt.graph.selector_methods.MethodName``; a test keeps
them equal)."""


def selection_words(value: str | Iterable[str] | None) -> list[str]:
    """Space-separated words of one string or of many (each a union member)."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [w for item in value for w in str(item).split()]


def criteria(word: str) -> Iterator[str]:
    """The comma-separated parts of one word (an intersection)."""
    return (part for part in word.split(",") if part)


def unknown_method(word: str) -> str | None:
    """The first method in ``word`` dbt does not know, if any (``tga`` in ``tga:nightly+``)."""
    for part in criteria(word):
        match = RAW_SELECTOR.match(part)
        method = match.group("method") if match else None
        if method and method.partition(".")[0] not in DBT_METHODS:
            return method.partition(".")[0]
    return None
