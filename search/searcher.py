"""The searcher: answers queries over one consistent view of an index, from many threads.

A query runs in stages, each a function of its own:

1. ``snapshot``: inside a SQLite read transaction, the generation it sees, its segments
   (memory-mapped, shared by every query) and the deletions that mask their rows;
2. candidates from each retriever, each keeping its own score: ``dense_candidates`` (cosine
   over every live segment, merged) and the store's BM25 (``Store.lexical_search``);
3. ``fuse`` (hybrid mode): the two rankings combined (docs/QUALITY.md);
4. ``hydrate``: the passages' rows, read in the same transaction as the candidates.

Each thread reads through its own read-only SQLite connection; a snapshot is immutable, so a
new commit is picked up by the next query without reopening, and a reader never writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from . import storage
from .errors import IndexCorruptError, IndexLockedError
from .fusion import reciprocal_rank_fusion, score_fusion
from .lexical import FOLDER, LexicalIndex
from .manifest import Settings, format_version, generation, lexical_commit
from .segments import Segment, SegmentRow
from .store import PassageRow, Store
from .vectors import load_legacy

__all__ = [
    "CANDIDATES",
    "MODES",
    "Hit",
    "Searcher",
    "Snapshot",
    "dense_candidates",
    "fuse",
    "hydrate",
]

MODES = ("hybrid", "dense", "lexical")
CANDIDATES = 300  # passages each retriever hands to fusion
HYBRID_FUSION = "zscore"  # "rrf", or "minmax"/"zscore" score fusion weighted as below
HYBRID_DENSE_WEIGHT = 0.5
_RETRIES = 5

_T = TypeVar("_T")
Ranking = list[tuple[int, float]]
"""(passage id, score), best first."""


@dataclass(frozen=True)
class Hit:
    """One ranked passage."""

    rank: int
    score: float
    article_id: str
    title: str
    paragraph: int
    text: str
    source: str
    date: str | None
    url: str | None
    passage_id: int
    start: int
    end: int


class _Stale(Exception):
    """The lexical view is newer than a snapshot can use: read again on a newer one."""


class Searchable(Protocol):
    def search(
        self, query: np.ndarray, k: int, deleted: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Part:
    """A vector file as a snapshot searches it: a segment (or format 1's one file), with the
    rows that deletions mask."""

    name: str
    kind: str
    rows: int
    vectors: Searchable
    deleted: np.ndarray | None

    @property
    def live(self) -> int:
        return self.rows - (0 if self.deleted is None else int(self.deleted.sum()))


@dataclass(frozen=True)
class Snapshot:
    """One generation of an index's vectors. Immutable: safe to share between threads."""

    generation: int
    format_version: int
    parts: tuple[Part, ...]

    @property
    def vectors(self) -> int:
        return sum(p.live for p in self.parts)


class Searcher:
    """Reads one index folder. Share one between threads; ``close`` when done."""

    def __init__(self, folder: Path, settings: Settings) -> None:
        self.folder, self.settings = folder, settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stores: list[Store] = []
        self._segments: dict[str, Segment] = {}
        self._snapshot: Snapshot | None = None
        self._lexical: LexicalIndex | None = None

    def close(self) -> None:
        with self._lock:
            for store in self._stores:
                store.close()
            self._stores.clear()
            self._segments.clear()
            self._snapshot = None
            self._lexical = None
            self._local = threading.local()

    @property
    def opened(self) -> bool:
        """Whether a snapshot has been read already (the files are open)."""
        return self._snapshot is not None

    def store(self) -> Store:
        """This thread's read-only connection."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.folder / storage.STORE, readonly=True)
            with self._lock:
                self._stores.append(store)
            self._local.store = store
        return store

    def read(self, read: Callable[[Store, Snapshot], _T]) -> _T:
        """Run ``read`` on one consistent view: the store's read transaction and the
        snapshot of vectors it names."""
        store = self.store()
        missing = ""
        for _attempt in range(_RETRIES):
            try:
                with store.snapshot():
                    return read(store, self.snapshot(store))
            except FileNotFoundError as error:
                missing = str(error.filename or self.folder)
                continue  # a merge removed a segment between our reads: look again
            except _Stale:
                continue
        if missing:
            raise IndexCorruptError(f"{missing} is missing — rebuild the index")
        raise IndexLockedError(f"{self.folder} changed under every read — try again")

    def read_rows(self, read: Callable[[Store, int, int], _T]) -> _T:
        """Run ``read(store, format version, generation)`` in one read transaction of the
        store alone: no vectors are opened."""
        store = self.store()
        for _attempt in range(_RETRIES):
            with store.snapshot():
                meta = store.get_meta()
                try:
                    return read(
                        store, format_version(meta, store.path), generation(meta, store.path)
                    )
                except _Stale:
                    continue
        raise IndexLockedError(f"{self.folder} changed under every read — try again")

    def lexical_index(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex(self.folder / FOLDER)
            return self._lexical

    def lexical_candidates(
        self, store: Store, version: int, current: int, text: str, depth: int
    ) -> Ranking:
        """BM25 candidates as of store generation ``current`` (ghosts included: the caller
        hydrates from the same snapshot, which drops them)."""
        if version == 1:
            return store.lexical_search(text, depth)  # format 1 kept full text in FTS5
        lexical = self.lexical_index()
        searcher, marker = lexical.view(current, lexical_commit(store.get_meta(), store.path))
        if marker.cleaned > current:
            raise _Stale  # passages live in our snapshot may be gone from this view
        return lexical.search(searcher, text, depth)

    def snapshot(self, store: Store) -> Snapshot:
        """The snapshot of the generation ``store``'s transaction sees (cached)."""
        meta = store.get_meta()
        where = store.path
        current = generation(meta, where)
        cached = self._snapshot
        if cached is not None and cached.generation == current:
            return cached
        version = format_version(meta, where)
        if version == 1:
            parts: tuple[Part, ...] = (self._legacy(meta),)
        else:
            parts = self._parts(store.segments(), np.asarray(store.deletions(), dtype=np.int64))
        snapshot = Snapshot(current, version, parts)
        with self._lock:
            if self._snapshot is None or self._snapshot.generation < current:
                self._snapshot = snapshot
                names = {p.name for p in parts}
                for name in list(self._segments):
                    if name not in names:
                        del self._segments[name]  # queries under way keep their reference
        return snapshot

    def _parts(self, rows: list[SegmentRow], deleted: np.ndarray) -> tuple[Part, ...]:
        parts = []
        for row in rows:
            segment = self._segment(row)
            mask = segment.deleted_mask(row.deleted_within(deleted))
            parts.append(Part(row.name, row.kind, row.rows, segment, mask))
        return tuple(parts)

    def _segment(self, row: SegmentRow) -> Segment:
        with self._lock:
            segment = self._segments.get(row.name)
        if segment is None:
            segment = Segment.open(self.folder, row, self.settings.dimension)
            with self._lock:
                segment = self._segments.setdefault(row.name, segment)
        return segment

    def _legacy(self, meta: dict[str, str]) -> Part:
        legacy = load_legacy(self.folder, meta, self.settings.dimension)
        return Part(meta["vectors_file"], legacy.kind, legacy.rows, legacy, None)

    def search(self, text: str, query_vector: np.ndarray | None, k: int, mode: str) -> list[Hit]:
        """The stages, in one read transaction."""

        depth = k if mode != "hybrid" else max(k, CANDIDATES)

        def lexical(store: Store, version: int, current: int) -> Ranking:
            if mode == "dense":
                return []
            return self.lexical_candidates(store, version, current, text, depth)

        def run(store: Store, snapshot: Snapshot) -> list[Hit]:
            dense: Ranking = []
            if query_vector is not None:
                dense = dense_candidates(snapshot, query_vector, depth)
            found = lexical(store, snapshot.format_version, snapshot.generation)
            ranked = fuse(dense, found) if mode == "hybrid" else dense or found
            return hydrate(store, ranked[:k])

        if mode == "lexical":  # full-text search needs no vectors

            def rows(store: Store, version: int, current: int) -> list[Hit]:
                return hydrate(store, lexical(store, version, current)[:k])

            return self.read_rows(rows)
        return self.read(run)


def dense_candidates(snapshot: Snapshot, query: np.ndarray, depth: int) -> Ranking:
    """The ``depth`` passages nearest ``query`` over every part of the snapshot."""
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    found_ids, found_scores = [], []
    for part in snapshot.parts:
        ids, scores = part.vectors.search(query, depth, part.deleted)
        found_ids.append(ids)
        found_scores.append(scores)
    if not found_ids:
        return []
    ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
    order = np.lexsort((ids, -scores))[:depth]
    return [(int(i), float(s)) for i, s in zip(ids[order], scores[order], strict=True)]


def fuse(dense: Ranking, lexical: Ranking) -> Ranking:
    """The hybrid ranking: how dense and lexical candidates are combined (see QUALITY.md)."""
    if HYBRID_FUSION == "rrf":
        return reciprocal_rank_fusion([dense, lexical])
    weights = [HYBRID_DENSE_WEIGHT, 1.0 - HYBRID_DENSE_WEIGHT]
    return score_fusion([dense, lexical], weights=weights, normalization=HYBRID_FUSION)


def hydrate(store: Store, ranked: Ranking) -> list[Hit]:
    """Hits for a ranking, with their passages' rows; ids no longer stored are dropped."""
    rows = store.passages([i for i, _ in ranked])
    kept = [(pid, score) for pid, score in ranked if pid in rows]
    return [_hit(rank, score, rows[pid]) for rank, (pid, score) in enumerate(kept, start=1)]


def _hit(rank: int, score: float, row: PassageRow) -> Hit:
    return Hit(
        rank=rank,
        score=score,
        article_id=row.article_id,
        title=row.title,
        paragraph=row.paragraph,
        text=row.text,
        source=row.source,
        date=row.date,
        url=row.url,
        passage_id=row.id,
        start=row.start,
        end=row.end,
    )
