"""What an index is: its format version, model and settings, typed and checked.

Two records say it. ``store.sqlite``'s ``meta`` table is the source of truth, written in
the same transaction as the data; ``manifest.json`` is its summary for people and tools,
rewritten after each commit. Both are decoded here, and only here, into ``Settings`` and
``Manifest``; a value of the wrong type or out of range is an ``IndexCorruptError``, never a
traceback.

Format versions: 1 kept every vector in one FAISS file rewritten by each commit; 2 keeps
them in immutable segments (``segments.py``). A version-1 index is read as it is and
upgraded by the first command that writes to it (``migrations.m003_vectors_into_segments``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from search._version import __version__
from search.errors import IndexCorruptError, IndexNotFoundError, IndexVersionError
from search.storage import folder as storage

__all__ = [
    "FORMAT_VERSION",
    "Manifest",
    "Meta",
    "Settings",
    "now",
    "read_manifest",
    "write_manifest",
]

FORMAT_VERSION = 2
_MANIFEST_LIMIT = 1 << 20  # a manifest is a few hundred bytes; anything over 1 MiB is not ours


@dataclass(frozen=True)
class Settings:
    """How an index embeds, fixed when it is created."""

    model: str
    fingerprint: str
    dimension: int
    max_tokens: int
    passage_tokens: int
    title_context: bool
    compact: bool
    chunking: int  # the rules that cut articles into passages (``ingest.chunking``)

    @classmethod
    def from_meta(cls, meta: Mapping[str, str], where: Path) -> Settings:
        read = _Reader(meta, where)
        model = read.text("model")
        fingerprint = read.text("fingerprint")
        dimension = read.number("dimension", low=1, high=65_536)
        max_tokens = read.number("max_tokens", low=1, high=1 << 20)
        return cls(
            model=model,
            fingerprint=fingerprint,
            dimension=dimension,
            max_tokens=max_tokens,
            # Indexes from before passage_tokens cut passages at the model's window.
            passage_tokens=read.number(
                "passage_tokens", low=1, high=1 << 20, default=str(max_tokens)
            ),
            title_context=read.flag("title_context", default="0"),
            compact=read.flag("compact", default="0"),
            # Indexes from before chunking was kept were cut by its first rules.
            chunking=read.number("chunking", low=1, high=1 << 30, default="1"),
        )

    def to_meta(self) -> dict[str, str]:
        return {
            "model": self.model,
            "fingerprint": self.fingerprint,
            "dimension": str(self.dimension),
            "max_tokens": str(self.max_tokens),
            "passage_tokens": str(self.passage_tokens),
            "title_context": "1" if self.title_context else "0",
            "compact": "1" if self.compact else "0",
            "chunking": str(self.chunking),
        }


@dataclass(frozen=True)
class Meta:
    """The store's ``meta`` table, typed: read once, with the defaults of the keys an older
    index lacks. Written by the writer, in the transaction of the data it describes."""

    format_version: int
    settings: Settings
    generation: int  # the last commit's number
    next_segment: int = 1  # the number of the next segment file's name
    lexical_commit: int = 0  # the lexical index's commit that goes with the store's; 0: none
    news: int = 0  # the lexical schema the news backfill built (m004); 0: not had it
    vectors_file: str | None = None  # format 1's one vector file, until its upgrade
    created: str | None = None
    updated: str | None = None

    @classmethod
    def read(cls, meta: Mapping[str, str], where: Path) -> Meta:
        """``meta`` typed and checked: the format version first (a newer index is refused
        before anything else is read), then the settings, then the rest."""
        version = format_version(meta, where)
        settings = Settings.from_meta(meta, where)
        read = _Reader(meta, where)
        return cls(
            format_version=version,
            settings=settings,
            generation=generation(meta, where),
            next_segment=read.number("next_segment", low=1, high=1 << 62, default="1"),
            lexical_commit=lexical_commit(meta, where),
            news=read.number("news", low=0, high=1 << 30, default="0"),
            vectors_file=read.optional("vectors_file"),
            created=read.optional("created"),
            updated=read.optional("updated"),
        )

    @property
    def last_change(self) -> str | None:
        """When the index last changed, as the manifest says it: updated, else created."""
        return self.updated if self.updated is not None else self.created


def format_version(meta: Mapping[str, str], where: Path) -> int:
    """The store's format version, checked to be one this code reads."""
    version = _Reader(meta, where).number("format_version", low=1, high=1 << 30)
    if version > FORMAT_VERSION:
        raise IndexVersionError(
            f"the index at {where.parent} has format version {version}; this newssearch "
            f"reads up to version {FORMAT_VERSION} — upgrade newssearch"
        )
    return version


def generation(meta: Mapping[str, str], where: Path) -> int:
    return _Reader(meta, where).number("generation", low=0, high=1 << 62)


def lexical_commit(meta: Mapping[str, str], where: Path) -> int:
    """The token of the lexical index's commit that goes with the store's (0: none yet)."""
    return _Reader(meta, where).number("lexical_commit", low=0, high=1 << 63, default="0")


class _Reader:
    """Typed reads of ``meta``: anything missing or malformed names the key at fault."""

    def __init__(self, meta: Mapping[str, str], where: Path) -> None:
        self.meta, self.where = meta, where

    def _raw(self, key: str, default: str | None = None) -> str:
        value = self.meta.get(key, default)
        if value is None:
            raise IndexCorruptError(f"{self.where} lacks {key} — rebuild the index")
        if not isinstance(value, str):
            raise self._bad(key, value)
        return value

    def _bad(self, key: str, value: object) -> IndexCorruptError:
        shown = repr(value)[:40]
        return IndexCorruptError(f"{self.where} has {key} = {shown}, which is not valid")

    def text(self, key: str) -> str:
        value = self._raw(key)
        if not value or len(value) > 1000:
            raise self._bad(key, value)
        return value

    def number(self, key: str, *, low: int, high: int, default: str | None = None) -> int:
        value = self._raw(key, default)
        if not value.isascii() or not value.isdigit() or len(value) > 20:
            raise self._bad(key, value)
        number = int(value)
        if not low <= number <= high:
            raise self._bad(key, value)
        return number

    def flag(self, key: str, *, default: str) -> bool:
        value = self._raw(key, default)
        if value not in ("0", "1"):
            raise self._bad(key, value)
        return value == "1"

    def optional(self, key: str) -> str | None:
        """Text that may be missing (``None``); anything but text is malformed."""
        if key not in self.meta:
            return None
        return self._raw(key)


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says; checked against the store when an index is opened."""

    format_version: int
    fingerprint: str
    generation: int


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the index at ``folder``, or the error that says why there is none."""
    file = folder / storage.MANIFEST
    try:
        data = storage.read_small(file, _MANIFEST_LIMIT)
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index at {folder} — run `newssearch index DIR` first"
        ) from None
    except NotADirectoryError:
        raise IndexNotFoundError(f"no index at {folder}: it is not a folder") from None
    try:
        record = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise IndexCorruptError(f"{file} is unreadable ({reason}) — rebuild the index") from None
    if not isinstance(record, dict) or record.get("format") != "newssearch-index":
        raise IndexCorruptError(f"{file} is not a newssearch manifest — is {folder} an index?")
    version = record.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise IndexCorruptError(f"{file} has no valid format version — rebuild the index")
    if version > FORMAT_VERSION:
        raise IndexVersionError(
            f"the index at {folder} has format version {version}; this newssearch reads up "
            f"to version {FORMAT_VERSION} — upgrade newssearch"
        )
    model = record.get("model")
    fingerprint = model.get("fingerprint") if isinstance(model, dict) else None
    generation = record.get("generation")
    if not isinstance(fingerprint, str) or not isinstance(generation, int):
        raise IndexCorruptError(f"{file} lacks its model or generation — rebuild the index")
    return Manifest(version, fingerprint, generation)


def write_manifest(
    folder: Path,
    settings: Settings,
    *,
    generation: int,
    articles: int,
    passages: int,
    vectors: dict[str, Any],
    updated: str,
) -> None:
    record = {
        "format": "newssearch-index",
        "format_version": FORMAT_VERSION,
        "written_by": f"newssearch {__version__}",
        "model": {
            "name": settings.model,
            "fingerprint": settings.fingerprint,
            "dimension": settings.dimension,
            "max_tokens": settings.max_tokens,
        },
        "vectors": vectors,
        "settings": {
            "title_context": settings.title_context,
            "passage_tokens": settings.passage_tokens,
            "compact": settings.compact,
            "chunking": settings.chunking,
        },
        "counts": {"articles": articles, "passages": passages},
        "generation": generation,
        "updated": updated,
    }
    text = json.dumps(record, indent=2) + "\n"
    data = text.encode()
    storage.write_atomic(folder, storage.MANIFEST, lambda handle: _write_all(handle, data))


def _write_all(handle: BinaryIO, data: bytes) -> None:
    handle.write(data)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
