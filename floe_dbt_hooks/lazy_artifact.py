"""Decode a large artifact's keyed sections one entry at a time, when first read.

A 10 MB manifest is about 4,400 nodes, and most callers read a few of them (a selection, one
model's lineage) or only their ids. With msgspec installed, :func:`decode_lazy` checks the whole
document's JSON syntax in one pass, decodes the top level, and keeps each entry of the sections
keyed by unique id (``nodes``, ``macros``, ``parent_map``, ...) as its raw bytes; a
:class:`LazySection` decodes an entry on first access and keeps it. Building no object graph up
front is what makes the cold load several times faster than decoding everything.

A :class:`LazySection` is a read-only ``Mapping``, not a ``dict``: code that needs a real dict
(``json.dumps``, ``isinstance(x, dict)``, C extensions) calls :func:`materialize` first. Entries
themselves are plain decoded JSON.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from msgspec import Raw

LAZY_SECTIONS = frozenset({
    "nodes", "sources", "unit_tests", "groups", "exposures", "metrics", "semantic_models",
    "saved_queries", "macros", "docs", "disabled", "parent_map", "child_map", "group_map",
    "functions",
})
"""Top-level objects of manifest.json and catalog.json that are keyed by unique id."""

EntryCheck = Callable[[str, str, Any], None]
"""Called with (section, key, decoded entry) before an entry is first handed out; raises when
the entry is not shaped the way floe reads it."""
Broken = Callable[[Exception], NoReturn]
"""Raises the caller's error for an entry no decoder accepts."""

_lock = threading.Lock()
_decoders: dict[str, Any] = {}


def _decoder(kind: str) -> Any:
    """msgspec decoders, built once (building one costs more than decoding a small entry)."""
    found = _decoders.get(kind)
    if found is None:
        import msgspec

        with _lock:
            found = _decoders.setdefault(kind, msgspec.json.Decoder(
                dict[str, dict[str, msgspec.Raw] | None]) if kind == "top" else msgspec.json.Decoder())
    return found


class LazySection(Mapping[str, Any]):
    """One keyed section of an artifact: keys and order as in the file, each value decoded
    (and checked) on first access and then kept, so repeated reads return the same object."""

    __slots__ = ("_broken", "_check", "_decoded", "_name", "_raw")

    def __init__(self, name: str, raw: dict[str, Raw], check: EntryCheck | None,
                 broken: Broken) -> None:
        self._name = name
        self._raw: dict[str, Raw] | dict[str, None] = raw
        self._decoded: dict[str, Any] = {}
        self._check = check
        self._broken = broken

    def __getitem__(self, key: str) -> Any:
        try:
            return self._decoded[key]
        except KeyError:
            pass
        raw = self._raw[key]
        if raw is None:  # another thread decoded every entry meanwhile (see _fill)
            return self._decoded[key]
        value = decode_entry(raw, self._broken)
        if self._check is not None:
            self._check(self._name, key, value)
        return self._decoded.setdefault(key, value)  # a racing thread's copy wins consistently

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(other) != len(self) or any(key not in other for key in self._raw):
            return False
        return all(self[key] == other[key] for key in self._raw)

    __hash__ = None  # type: ignore[assignment]  # a mapping: unhashable, like dict

    def __repr__(self) -> str:
        return f"<LazySection {self._name!r}: {len(self._raw)} entries, {len(self._decoded)} decoded>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and deep-copied) as the plain dict it stands for."""
        return (dict, (self.materialize(),))

    @property
    def decoded_count(self) -> int:
        """How many entries have been decoded so far."""
        return len(self._decoded)

    def items(self) -> ItemsView[str, Any]:
        """Decodes every entry first (in one go, see :meth:`materialize`)."""
        self._fill()
        return ItemsView(self)

    def values(self) -> ValuesView[Any]:
        """Decodes every entry first (in one go, see :meth:`materialize`)."""
        self._fill()
        return ValuesView(self)

    def materialize(self) -> dict[str, Any]:
        """Every entry decoded, as a plain dict (in the file's order)."""
        self._fill()
        decoded = self._decoded
        return {key: decoded[key] for key in self._raw}

    def copy(self) -> dict[str, Any]:
        """A plain dict of every entry, as ``dict.copy`` gives (the entries are shared)."""
        return self.materialize()

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.materialize(), **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**other, **self.materialize()}

    def _fill(self) -> None:
        """Decode the entries not decoded yet with the garbage collector paused: they are all new
        and live, and collecting them while they are built costs about a third more."""
        if len(self._decoded) == len(self._raw):
            return
        collecting = gc.isenabled()
        gc.disable()
        try:
            for key in self._raw:
                self[key]
        finally:
            if collecting:
                gc.enable()
        self._raw = dict.fromkeys(self._raw)  # keys and order only: let the file's bytes go


def decode_entry(raw: Raw, broken: Broken) -> Any:
    """One entry's value: msgspec, else the standard library for what only it accepts (numbers
    beyond a float); ``broken`` raises for bytes neither accepts."""
    try:
        return _decoder("entry").decode(raw)
    except Exception:  # msgspec.DecodeError or ValidationError
        pass
    try:
        return json.loads(bytes(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        broken(exc)


def decode_lazy(raw: bytes, check: EntryCheck | None, broken: Broken) -> dict[str, Any] | None:
    """The document with its keyed sections as :class:`LazySection` objects, or None when it
    is not an object of objects or msgspec rejects any of it (the caller then decodes it whole,
    which reports a broken file with its line). The syntax of the whole document is checked
    here; the only thing it leaves unchecked, UTF-8 inside strings, by :func:`utf8_valid`."""
    try:
        top: dict[str, dict[str, Raw] | None] = _decoder("top").decode(raw)
    except Exception:  # malformed, or a top-level value that is not an object: decode eagerly
        return None
    if not utf8_valid(raw):
        return None
    data: dict[str, Any] = {}
    for name, section in top.items():
        if section is None:
            data[name] = None
        elif name in LAZY_SECTIONS:
            data[name] = LazySection(name, section, check, broken)
        else:
            data[name] = {key: decode_entry(value, broken) for key, value in section.items()}
    return data


UTF8_CHUNK = 1 << 16


def utf8_valid(raw: bytes) -> bool:
    """Whether ``raw`` is valid UTF-8, without decoding all of it: only the 64 KiB chunks that
    hold non-ASCII bytes are decoded (Fusion writes UTF-8 unescaped; decoding a whole 10 MB
    manifest with a few accents builds a 10-20 MB str in ~18 ms, the chunks ~1 ms). A chunk ends
    where a character starts (not on a continuation byte), so no valid sequence is split."""
    if raw.isascii():
        return True
    size, start = len(raw), 0
    while start < size:
        end = min(start + UTF8_CHUNK, size)
        for _ in range(3):  # a character has at most three continuation bytes
            if end < size and 0x80 <= raw[end] < 0xC0:
                end += 1
        chunk = raw[start:end]
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return False
        start = end
    return True


def materialize(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-dict copy of an artifact from ``load_artifact`` with every lazy section decoded,
    for code that needs real dicts (writing it out with ``json.dumps``, C extensions). Entries
    are shared with ``data``, not copied."""
    return {key: value.materialize() if isinstance(value, LazySection) else value
            for key, value in data.items()}


def is_lazy(data: Mapping[str, Any]) -> bool:
    """Whether any section of ``data`` is still a :class:`LazySection`."""
    return any(isinstance(value, LazySection) for value in data.values())
