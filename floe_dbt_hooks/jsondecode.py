"""Decode JSON bytes with msgspec when the optional ``fast`` extra installed it, else the standard library.

msgspec builds the same plain objects as ``json.loads`` (dict, list, str, int, float, bool, None)
about twice as fast on a dbt manifest, but importing it costs a few milliseconds, so it is used for
documents of at least :data:`FAST_MIN_BYTES` or once something has imported it. Whatever msgspec
rejects is decoded again by the standard library, which either accepts it (its extensions: NaN and
Infinity, numbers beyond a float, lone surrogates, UTF-16/32, a byte-order mark) or raises the
``JSONDecodeError`` with the line and column that callers report. ``FLOE_DBT_JSON_DECODER=stdlib``
turns the fast path off.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

FAST_MIN_BYTES = 2 * 1024 * 1024
"""Below this size the standard library is used unless msgspec is already imported: decoding a
smaller document with msgspec saves less than importing it costs."""
DECODER_ENV = "FLOE_DBT_JSON_DECODER"

_UNSET: Any = object()
_fast: Callable[[bytes], Any] | None = _UNSET


def fast_decoder() -> Callable[[bytes], Any] | None:
    """msgspec's JSON decoder, or None when it is not installed or turned off."""
    global _fast
    if os.environ.get(DECODER_ENV, "").strip().lower() == "stdlib":
        return None
    if _fast is _UNSET:
        try:
            from msgspec.json import decode
        except ImportError:
            _fast = None
        else:
            _fast = decode
    return _fast


def decoder_name(size: int = FAST_MIN_BYTES) -> str:
    """``msgspec`` or ``json``: which decoder :func:`loads` uses for a document of ``size`` bytes."""
    return "msgspec" if _wants_fast(size) and fast_decoder() is not None else "json"


def _wants_fast(size: int) -> bool:
    return size >= FAST_MIN_BYTES or "msgspec.json" in sys.modules


def loads(raw: bytes) -> Any:
    """The decoded document; raises ``json.JSONDecodeError`` or ``UnicodeDecodeError`` as
    ``json.loads`` does."""
    decode = fast_decoder() if _wants_fast(len(raw)) else None
    if decode is not None:
        try:
            return decode(raw)
        except Exception:  # msgspec.DecodeError, or ValidationError for numbers out of range
            pass
    return json.loads(raw)
