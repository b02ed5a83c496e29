"""A process-wide registry of secret values, and the one function that scrubs them from text.

Profiles resolve credentials from ``env_var()``; whichever code reads a profile registers the
resolved secret values here, and every channel that shows text to a person or a machine (errors,
results, events, logs) passes it through :func:`redact`. The registry only grows: a secret seen
once stays masked for the life of the process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "*****"
_MIN_SECRET_LENGTH = 3

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def register_secrets(values: Iterable[str]) -> None:
    """Add values to mask from now on; very short values are ignored to keep text readable."""
    global _secrets, _pattern
    new = {v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH}
    with _lock:
        if new <= _secrets:
            return
        _secrets = _secrets | new
        longest_first = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in longest_first))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by a mask."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def is_registered(value: str) -> bool:
    """Whether ``value`` is masked (used by tests and by plugins building their own output)."""
    return value in _secrets
