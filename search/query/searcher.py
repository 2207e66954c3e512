"""The searcher: answers queries over one consistent view of an index, from many threads.

A query runs in stages, each a function of its own:

1. ``snapshot``: inside a SQLite read transaction, the generation it sees, its segments
   (memory-mapped, shared by every query) and the deletions that mask their rows;
2. candidates from each retriever, each keeping its own score: ``dense_candidates`` (cosine
   over every live segment, merged) and the store's BM25 (``Store.lexical_search``);
3. ``fuse`` (hybrid mode): the two rankings combined (docs/QUALITY.md);
   by article, ``article_ranking`` and each article's ``snippets``;
4. ``hydrate``: the passages' rows, read in the same transaction as the candidates.

Each thread reads through its own read-only SQLite connection; a snapshot is immutable, so a
new commit is picked up by the next query without reopening, and a reader never writes.
"""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from search.domain.filters import Filter, Scope, outlet_key
from search.errors import IndexCorruptError, IndexLockedError, QueryError
from search.query.contract import Hit
from search.query.fusion import reciprocal_rank_fusion, score_fusion
from search.query.highlight import words_matched
from search.storage import folder as storage
from search.storage.database import PassageRow, Store
from search.storage.ids import among
from search.storage.lexical import FOLDER, LexicalIndex
from search.storage.manifest import Settings, format_version, generation, lexical_commit
from search.storage.segments import Segment, SegmentRow
from search.storage.vectors import load_legacy

__all__ = [
    "CANDIDATES",
    "Restriction",
    "Searcher",
    "Snapshot",
    "article_ranking",
    "collapse",
    "dense_candidates",
    "fuse",
    "hydrate",
    "snippets",
]

CANDIDATES = 300  # passages each retriever hands to fusion
ARTICLE_CANDIDATES = 1000  # passages each retriever hands on when ranking articles
MAX_DEPTH = 40_000  # candidates fetched at most, deepening while collapsing leaves too few
# An article's score (tuned on Reuters TRAIN and BBC topic queries: docs/QUALITY.md): its
# passages' evidence, the candidates' scores min-max normalised, the best plus
# ARTICLE_FURTHER times the next ARTICLE_FURTHER_PASSAGES; fused, each z-scored over the
# candidate articles, with the query's cosine to the article's centroid (the normalised mean
# of its passage vectors) and to its lead passage, by ARTICLE_WEIGHTS.
ARTICLE_FURTHER = 0.3
ARTICLE_FURTHER_PASSAGES = 2
ARTICLE_WEIGHTS = (0.5, 0.3, 0.2)  # passage evidence, centroid, lead
# Pseudo-relevance feedback: the query's vector moved toward the centroid of its
# ARTICLE_FEEDBACK_ARTICLES best articles, by ARTICLE_FEEDBACK, and the articles scored again.
ARTICLE_FEEDBACK = 1.0
ARTICLE_FEEDBACK_ARTICLES = 5
# IVF probes may miss a filter's few rows: a segment whose allowed rows are this few (or
# this share) is scored exactly over them.
EXACT_ROWS = 20_000
EXACT_SHARE = 0.125
EXACT_UNLESS = 0.5  # ... unless they are this share of its rows or more: probed then
FILTERS_KEPT = 16  # filters whose allowed passages a searcher keeps, per generation
HYBRID_FUSION = "zscore"  # "rrf", or "minmax"/"zscore" score fusion weighted as below
HYBRID_DENSE_WEIGHT = 0.5
_RETRIES = 5

_T = TypeVar("_T")
Ranking = list[tuple[int, float]]
"""(passage id, score), best first."""


class _Stale(Exception):
    """The lexical view is newer than a snapshot can use: read again on a newer one."""


@dataclass(frozen=True)
class Restriction:
    """The passages a constraint allows (``inside``, a mask over a catalog's ``passages``),
    as both halves of a search take them: ``allowed`` (sorted ids) for the dense half, and
    for the lexical half whichever side is shorter: ``allowed`` itself, or the live
    passages it leaves out (``include`` False)."""

    lexical: np.ndarray
    include: bool
    passages: np.ndarray = field(repr=False)
    inside: np.ndarray | None = field(repr=False)  # None: every one of ``passages``
    rows: Callable[[Part], np.ndarray | None] | None = field(default=None, compare=False)
    """Where known without a search: a segment's allowed rows, as a mask over its rows
    (testing each of a million ids against ``allowed`` costs more than the search), for a
    snapshot of ``generation`` only."""
    generation: int = -1

    @cached_property
    def allowed(self) -> np.ndarray:
        """Made when asked: a search on the restriction's own generation, with no filter,
        finds each segment's rows from the shorter side instead."""
        if self.include:
            return self.lexical
        return self.passages if self.inside is None else self.passages[self.inside]

    def shipped(self) -> Restriction:
        """The restriction as a shard takes it: the allowed list itself, not the catalog's
        arrays it was made from (a phrase's few passages, not the archive's million ids
        and mask, with each question), and no row masks (a shard's rows are not the whole
        segments')."""
        return Restriction(self.lexical, self.include, self.allowed, None)


def restricted(allowed: np.ndarray | None, restriction: Restriction | None) -> np.ndarray | None:
    """The passages a filter allows (None: every one) that a constraint allows as well."""
    if restriction is None:
        return allowed
    if allowed is None:
        return restriction.allowed
    return np.intersect1d(allowed, restriction.allowed, assume_unique=True)


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
        self._filters: OrderedDict[tuple[int, Filter], np.ndarray] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            for store in self._stores:
                store.close()
            self._stores.clear()
            self._segments.clear()
            self._snapshot = None
            self._lexical = None
            self._filters.clear()
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

    def article_vector(self, article_id: str) -> np.ndarray | None:
        """The mean of an article's passage vectors, normalised (None: no such article)."""

        def read(store: Store, snapshot: Snapshot) -> np.ndarray | None:
            return centroid(store, lambda ids: passage_vectors(snapshot, ids), article_id)

        return self.read(read)

    def _allowed(self, store: Store, current: int, only: Filter | None) -> np.ndarray | None:
        """The passage ids a filter allows, sorted, as of generation ``current``; the last
        few filters' are kept, so that a reader paging or refining with one pays once."""
        if only is None:
            return None
        key = (current, only)
        with self._lock:
            cached = self._filters.get(key)
            if cached is not None:
                self._filters.move_to_end(key)
                return cached
        _check_filter(store, only)
        allowed = np.sort(np.asarray(store.filtered_passages(only), dtype=np.int64))
        with self._lock:
            self._filters[key] = allowed
            while len(self._filters) > FILTERS_KEPT:
                self._filters.popitem(last=False)
        return allowed

    def lexical_index(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex(self.folder / FOLDER)
            return self._lexical

    def lexical_candidates(
        self,
        store: Store,
        version: int,
        current: int,
        text: str,
        depth: int,
        only: Filter | None = None,
        within: Scope | None = None,
        restriction: Restriction | None = None,
    ) -> Ranking:
        """BM25 candidates as of store generation ``current`` (ghosts included: the caller
        hydrates from the same snapshot, which drops them); ``within``: a shard's alone;
        ``restriction``: the passages a query's constraint allows."""
        if version == 1:
            return store.lexical_search(text, depth)  # format 1 kept full text in FTS5
        lexical = self.lexical_index()
        try:
            view, marker = lexical.view(current, lexical_commit(store.get_meta(), store.path))
        except FileNotFoundError:
            raise _Stale from None  # a newer commit replaced the view: read the store again
        if marker.cleaned > current:
            raise _Stale  # passages live in our snapshot may be gone from this view
        passages = None if restriction is None else (restriction.lexical, restriction.include)
        try:
            return lexical.search(view, text, depth, only, within, passages)
        except FileNotFoundError:
            raise _Stale from None  # the index itself changed under the read: read again

    def lexical_beyond_ghosts(
        self,
        store: Store,
        version: int,
        current: int,
        text: str,
        depth: int,
        only: Filter | None = None,
        within: Scope | None = None,
        restriction: Restriction | None = None,
    ) -> Ranking:
        """``lexical_candidates`` deep enough that ``depth`` of them are live: as many more
        as the lexical index holds ghosts (deleted passages not yet removed from it)."""
        ghosts = store.lexical_ghost_count() if version > 1 else 0
        return self.lexical_candidates(
            store, version, current, text, depth + ghosts, only, within, restriction
        )

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

    def search(
        self,
        text: str,
        query_vector: np.ndarray | None,
        k: int,
        mode: str,
        *,
        only: Filter | None = None,
        by: str = "passage",
        collapse: bool = True,
        exclude: frozenset[str] = frozenset(),
        restriction: Restriction | None = None,
    ) -> list[Hit]:
        """The stages, in one read transaction; articles in ``exclude`` are left out, and
        with ``restriction`` every passage it does not allow."""
        plan = _Search(k, mode, by, collapse, exclude, text)
        return self._answer(plan, text, query_vector, only, restriction)

    def with_relevance(self, hits: list[Hit], query: np.ndarray, *, by: str) -> list[Hit]:
        """Hits with their ``relevance``: the query's cosine with the hit's passage, or by
        article with the article's best passage, 0 to 1."""
        if not hits:
            return hits

        def read(store: Store, snapshot: Snapshot) -> list[Hit]:
            owned: dict[int, list[int]] = {h.passage_id: [h.passage_id] for h in hits}
            if by == "article":
                keys = store.passage_groups([h.passage_id for h in hits])
                passages = store.article_passage_ids(k for k, _ in keys.values())
                owned = {pid: passages.get(key, [pid]) for pid, (key, _) in keys.items()}
            every = np.asarray(sorted({p for ids in owned.values() for p in ids}), dtype=np.int64)
            vectors = passage_vectors(snapshot, every)
            vector = np.asarray(query, dtype=np.float32).reshape(-1)

            def relevance(hit: Hit) -> float | None:
                held = [vectors[p] for p in owned.get(hit.passage_id, []) if p in vectors]
                if not held:
                    return None
                return round(max(0.0, min(1.0, float(np.max(np.stack(held) @ vector)))), 4)

            return [replace(hit, relevance=relevance(hit)) for hit in hits]

        return self.read(read)

    def _answer(
        self,
        plan: _Search,
        text: str,
        query_vector: np.ndarray | None,
        only: Filter | None,
        restriction: Restriction | None = None,
    ) -> list[Hit]:
        """``plan`` run on this index's candidates (a sharded searcher's come from shards)."""
        mode = plan.mode

        def lexical(
            store: Store, version: int, current: int, depth: int, only: Filter | None
        ) -> Ranking:
            if mode == "dense":
                return []
            return self.lexical_beyond_ghosts(
                store, version, current, text, depth, only, restriction=restriction
            )

        def run(store: Store, snapshot: Snapshot) -> list[Hit]:
            outlets = _with_outlets(store, only)
            filtered = self._allowed(store, snapshot.generation, outlets)
            exactly = None  # the restriction alone, on its own generation
            if restriction is not None and filtered is None:
                if restriction.generation == snapshot.generation:
                    exactly = restriction
            allowed = None if exactly is not None else restricted(filtered, restriction)
            version, current = snapshot.format_version, snapshot.generation

            def candidates(depth: int) -> tuple[Ranking, Ranking]:
                dense: Ranking = []
                if query_vector is not None:
                    dense = dense_candidates(snapshot, query_vector, depth, allowed, exactly)
                return dense, lexical(store, version, current, depth, outlets)

            signals = None
            if query_vector is not None:
                vector = query_vector
                signals = lambda articles: article_signals(  # noqa: E731
                    store, lambda ids: passage_vectors(snapshot, ids), vector, articles
                )
            return plan.run(store, candidates, signals)

        if mode == "lexical":  # full-text search needs no vectors

            def rows(store: Store, version: int, current: int) -> list[Hit]:
                outlets = _with_outlets(store, only)
                if outlets is not None:
                    _check_filter(store, outlets)
                return plan.run(
                    store, lambda depth: ([], lexical(store, version, current, depth, outlets))
                )

            return self.read_rows(rows)
        return self.read(run)


@dataclass(frozen=True)
class _Search:
    """One query's stages after the candidates: fusion, grouping by article, collapsing
    duplicates, hydrating; fetching deeper while too few hits are left."""

    k: int
    mode: str
    by: str
    collapse: bool
    exclude: frozenset[str] = frozenset()
    text: str = ""  # the query's own words, that choose an article's snippet

    def run(
        self,
        store: Store,
        candidates: Callable[[int], tuple[Ranking, Ranking]],
        signals: Signals | None = None,
    ) -> list[Hit]:
        depth = self._first_depth()
        while True:
            dense, lexical = candidates(depth)
            ranked = fuse(dense, lexical) if self.mode == "hybrid" else dense or lexical
            results = self._results(store, ranked, signals)
            exhausted = all(len(found) < depth for found in self._used(dense, lexical))
            if len(results) >= self.k or exhausted or depth >= MAX_DEPTH:
                shown = results[: self.k]
                if self.by == "article":
                    shown = snippets(store, shown, ranked, self.text)
                return hydrate(store, shown)
            depth = min(depth * 4, MAX_DEPTH)

    def _results(
        self, store: Store, ranked: Ranking, signals: Signals | None
    ) -> list[tuple[int, float, int]]:
        """(passage id, score, passages matched), best first, as many as ``ranked`` gives.

        Passages are kept or folded greedily from the top, so their first k results come
        from a prefix of ``ranked``: their owners are read for a prefix first (hundreds of
        candidates, a few dozen hits), and for all of them only when it falls short."""
        take = len(ranked) if self.by == "article" else min(len(ranked), max(4 * self.k, 40))
        while True:
            owners = store.passage_groups([pid for pid, _ in ranked[:take]])
            kept = [
                (pid, score)
                for pid, score in ranked[:take]
                if pid in owners and owners[pid][0] not in self.exclude
            ]
            results = (
                article_ranking(kept, owners, signals)
                if self.by == "article"
                else [(pid, score, 1) for pid, score in kept]
            )
            if self.collapse:
                results = collapse(results, owners)
            if len(results) >= self.k or take >= len(ranked):
                return results
            take = min(len(ranked), take * 4)

    def _first_depth(self) -> int:
        if self.by == "article":
            return max(self.k * 10, ARTICLE_CANDIDATES)
        if self.mode == "hybrid":
            return max(self.k, CANDIDATES)
        return self.k

    def _used(self, dense: Ranking, lexical: Ranking) -> list[Ranking]:
        return {"hybrid": [dense, lexical], "dense": [dense], "lexical": [lexical]}[self.mode]


def _with_outlets(store: Store, only: Filter | None) -> Filter | None:
    """The filter with each outlet it names widened to every name the index holds for
    that outlet (a site's name, and its web host where pages gave only that), or a
    ``QueryError`` naming the index's nearest outlets when it holds none of them."""
    if only is None or not only.sources or not store.has_news:
        return only
    held = store.outlet_keys()
    hosts = store.outlet_names()
    names = {host: outlet_key(name) for host, name in hosts.items()}
    wanted: list[str] = []
    for source in only.sources:
        same = {source, *(h for h, n in names.items() if n == source)}
        if source in names:
            same |= {names[source], *(h for h, n in names.items() if n == names[source])}
        found = sorted(same & held)
        if not found:
            raise QueryError(_unknown_outlet(store, source, held))
        wanted += found
    return replace(only, sources=tuple(dict.fromkeys(wanted)))


def _unknown_outlet(store: Store, source: str, held: set[str]) -> str:
    if not held:
        return f"no outlet {source!r}: the articles of this index name no outlet"
    nearest = difflib.get_close_matches(source, sorted(held), n=5, cutoff=0.5)
    if not nearest:  # nothing alike: the largest outlets instead
        nearest = [outlet_key(name) for name, _ in store.outlets(limit=5)]
    shown = ", ".join(store.outlet_display(nearest))
    return f"no outlet {source!r} in this index — nearest: {shown} (`newssearch info` lists them)"


def _check_filter(store: Store, only: Filter) -> None:
    """A filter must name what the index holds: one line saying what it does hold."""
    if not store.has_news:
        raise QueryError(
            f"the index at {store.path.parent} was made before filters — run any writing "
            "command on it once (`newssearch index` of its folders) to add them"
        )
    known = store.known_fields()
    unknown = [name for name in only.fields() if name not in known]
    if unknown:
        listed = ", ".join(known) if known else "none (its articles have no fields)"
        raise QueryError(f"unknown field {unknown[0]!r} — fields in this index: {listed}")


Signals = Callable[[list[str]], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""Articles to (the query's vector, their centroids, their lead passages' vectors)."""


def article_ranking(
    ranked: Ranking,
    owners: dict[int, tuple[str, str | None]],
    signals: Signals | None = None,
) -> list[tuple[int, float, int]]:
    """Articles best first, as (best passage id, score, passages matched), scored from
    their passages in ``ranked`` and, given ``signals``, their vectors (see ``ARTICLE_*``)."""
    if not ranked:
        return []
    values = np.asarray([score for _, score in ranked], dtype=np.float64)
    low, span = float(values.min()), float(values.max() - values.min())
    best: dict[str, int] = {}
    found: dict[str, list[float]] = {}
    for pid, score in ranked:
        article = owners[pid][0]
        best.setdefault(article, pid)
        found.setdefault(article, []).append((score - low) / span if span > 0 else 1.0)
    articles = list(best)  # in the order of their best passages
    evidence = np.asarray(
        [
            found[a][0] + ARTICLE_FURTHER * sum(found[a][1 : 1 + ARTICLE_FURTHER_PASSAGES])
            for a in articles
        ]
    )
    scores = evidence
    if signals is not None:
        query, centroids, leads = signals(articles)
        weights = ARTICLE_WEIGHTS

        def fused(vector: np.ndarray) -> np.ndarray:
            return (
                weights[0] * _z(evidence)
                + weights[1] * _z(centroids @ vector)
                + weights[2] * _z(leads @ vector)
            )

        scores = fused(query)
        if ARTICLE_FEEDBACK > 0:
            # Pseudo-relevance feedback: the query moved toward its best articles' centroid.
            top = np.argsort(-scores, kind="stable")[:ARTICLE_FEEDBACK_ARTICLES]
            moved = query + ARTICLE_FEEDBACK * _normalised(centroids[top].mean(axis=0))
            scores = fused(_normalised(moved))
    order = sorted(range(len(articles)), key=lambda i: -scores[i])  # stable: ties keep order
    return [(best[articles[i]], float(scores[i]), len(found[articles[i]])) for i in order]


def snippets(
    store: Store, results: list[tuple[int, float, int]], ranked: Ranking, query: str
) -> list[tuple[int, float, int]]:
    """Articles' results with the passage each shows: of its passages, the one holding the
    most of the query's own words (its title's not counted), the better ranked in ``ranked``
    on a tie, then the earlier; its best ranked when none holds any. Scores and order stay
    the articles'."""
    if not query.strip() or not results:
        return results
    position = {pid: n for n, (pid, _) in enumerate(ranked)}
    owners = store.passage_groups([pid for pid, _, _ in results])
    passages = store.article_passage_ids(owner for owner, _ in owners.values())
    rows = store.passages([pid for ids in passages.values() for pid in ids])

    def shown(best: int) -> int:
        ids = [i for i in passages.get(owners[best][0], []) if i in rows]
        if not ids:
            return best
        words = {i: words_matched(rows[i].text, query) for i in ids}
        # max keeps the first of equals: ids in text order, so the earlier wins a tie.
        choice = max(ids, key=lambda i: (words[i], -position.get(i, len(ranked))))
        return choice if words[choice] > 0 else best

    return [(shown(pid) if pid in owners else pid, score, n) for pid, score, n in results]


def _z(values: np.ndarray) -> np.ndarray:
    deviation = float(values.std())
    return (values - values.mean()) / deviation if deviation > 0 else np.zeros_like(values)


def passage_vectors(snapshot: Snapshot, ids: np.ndarray) -> dict[int, np.ndarray]:
    """The stored vectors of these passages (float32), by id."""
    found: dict[int, np.ndarray] = {}
    for part in snapshot.parts:
        if isinstance(part.vectors, Segment) and len(ids):
            part_ids, vectors = part.vectors.contents(part.vectors.rows_of(ids))
            found.update(zip(part_ids.tolist(), vectors, strict=True))
    return found


VectorLookup = Callable[[np.ndarray], dict[int, np.ndarray]]
"""Passage ids (sorted) to the vectors of those stored, by id."""


def article_signals(
    store: Store, lookup: VectorLookup, query: np.ndarray, articles: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The query's vector, and each article's centroid (the normalised mean of its passage
    vectors, looked up by ``lookup``) and lead passage's vector, one row per article (zeros
    if it has none)."""
    passages = store.article_passage_ids(articles)
    every = np.asarray(sorted(p for ids in passages.values() for p in ids), dtype=np.int64)
    vectors = lookup(every)
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    centroids = np.zeros((len(articles), len(query)), dtype=np.float32)
    leads = np.zeros_like(centroids)
    for row, article in enumerate(articles):
        held = [vectors[p] for p in passages.get(article, []) if p in vectors]
        if held:
            centroids[row] = _normalised(np.mean(held, axis=0))
            leads[row] = held[0]
    return query, centroids, leads


def centroid(store: Store, lookup: VectorLookup, article_id: str) -> np.ndarray | None:
    """The normalised mean of an article's passage vectors (None: no such article)."""
    ids = store.article_passage_ids([article_id]).get(article_id, [])
    vectors = lookup(np.asarray(sorted(ids), dtype=np.int64))
    if not vectors:
        return None
    return _normalised(np.mean([vectors[i] for i in sorted(vectors)], axis=0))


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def collapse(
    results: list[tuple[int, float, int]], owners: dict[int, tuple[str, str | None]]
) -> list[tuple[int, float, int]]:
    """One copy of each duplicate group: the hits of the copy that ranks first are kept
    (by article, its one hit), the other copies' dropped."""
    chosen: dict[str, str] = {}
    kept = []
    for result in results:
        article, group = owners[result[0]]
        if group is None or chosen.setdefault(group, article) == article:
            kept.append(result)
    return kept


def dense_candidates(
    snapshot: Snapshot,
    query: np.ndarray,
    depth: int,
    allowed: np.ndarray | None = None,
    exactly: Restriction | None = None,
) -> Ranking:
    """The ``depth`` passages nearest ``query`` over every part of the snapshot; with
    ``allowed`` (sorted passage ids), only among those, prefiltered in each segment; or
    ``exactly`` among those a restriction made on this snapshot's generation allows, whose
    rows each segment finds faster than by testing every id against a list."""
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    found_ids, found_scores = [], []
    for part in snapshot.parts:
        if exactly is not None:
            found = _excluding(part, query, depth, exactly)
            if found is None:
                known = None if exactly.rows is None else exactly.rows(part)
                listed = exactly.allowed if known is None else None
                found = _filtered_search(part, query, depth, listed, known)
            ids, scores = found
        elif allowed is None:
            ids, scores = part.vectors.search(query, depth, part.deleted)
        else:
            ids, scores = _filtered_search(part, query, depth, allowed)
        found_ids.append(ids)
        found_scores.append(scores)
    if not found_ids:
        return []
    ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
    order = np.lexsort((ids, -scores))[:depth]
    return [(int(i), float(s)) for i, s in zip(ids[order], scores[order], strict=True)]


def _excluding(
    part: Part, query: np.ndarray, depth: int, restriction: Restriction
) -> tuple[np.ndarray, np.ndarray] | None:
    """A part's nearest but for the few passages an exclusion leaves out, as
    ``_filtered_search`` finds them, but with no mask over every row: the best fetched
    twice as deep and the excluded dropped. None when that cannot be sure of the same
    answer: the restriction is not a short list of exclusions, the segment may be scored
    exactly (most of it excluded), or too few are left."""
    segment = part.vectors
    excluded = restriction.lexical
    if restriction.include or not isinstance(segment, Segment) or not len(segment.ids):
        return None
    if segment.offsets is not None:  # probed unless few rows are left: count them, at most
        low, high = segment.id_span
        inside = int(np.searchsorted(excluded, high, "right") - np.searchsorted(excluded, low))
        deleted = 0 if part.deleted is None else int(part.deleted.sum())
        if len(segment.ids) - deleted - inside < EXACT_UNLESS * len(segment.ids):
            return None
    ids, scores = segment.search(query, 2 * depth, part.deleted)
    keep = ~among(ids, excluded)
    if int(keep.sum()) < depth and (segment.offsets is not None or len(ids) == 2 * depth):
        return None  # more may lie deeper (or, probed, be scored exactly): mask them
    return ids[keep][:depth], scores[keep][:depth]


def _filtered_search(
    part: Part,
    query: np.ndarray,
    depth: int,
    allowed: np.ndarray | None,
    known: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A part's nearest among the allowed rows (``known``: their mask, where the caller
    has it). A flat segment masks the rest; an IVF segment scores few allowed rows
    exactly, and many through its probes, exactly again if the probes found fewer than
    were asked for and exist."""
    segment = part.vectors
    if not isinstance(segment, Segment):
        raise QueryError("filters need a format-2 index — run `newssearch index` on it once")
    if known is not None:
        keep = known.copy()
    else:
        assert allowed is not None
        keep = np.isin(segment.ids, allowed)
    if part.deleted is not None:
        keep &= ~part.deleted
    count = int(keep.sum())
    if count == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if segment.offsets is None:
        return segment.search(query, depth, ~keep)
    # Probes miss few allowed rows when most rows are allowed (an exclusion's): only a
    # filter that leaves few is scored exactly over them.
    exact = (count <= EXACT_ROWS or count <= EXACT_SHARE * segment.whole_rows) and (
        count < EXACT_UNLESS * len(segment.ids)
    )
    if not exact:
        ids, scores = segment.search(query, depth, ~keep)
        if len(ids) >= min(depth, count):
            return ids, scores
    return segment.search_rows(query, depth, np.flatnonzero(keep))


def fuse(dense: Ranking, lexical: Ranking) -> Ranking:
    """The hybrid ranking: how dense and lexical candidates are combined (see QUALITY.md)."""
    if HYBRID_FUSION == "rrf":
        return reciprocal_rank_fusion([dense, lexical])
    weights = [HYBRID_DENSE_WEIGHT, 1.0 - HYBRID_DENSE_WEIGHT]
    return score_fusion([dense, lexical], weights=weights, normalization=HYBRID_FUSION)


def hydrate(store: Store, results: list[tuple[int, float, int]]) -> list[Hit]:
    """Hits for (passage id, score, passages matched), with their passages' rows and their
    articles' copies; ids no longer stored are dropped."""
    rows = store.passages([pid for pid, _, _ in results])
    kept = [result for result in results if result[0] in rows]
    names = store.outlet_names() if kept else {}
    if names:  # a page that named only its host shows the outlet that host is
        for pid, _, _ in kept:
            source = rows[pid].source
            if source and (name := names.get(outlet_key(source))):
                rows[pid] = replace(rows[pid], source=name)
    members = store.group_members(g for pid, _, _ in kept if (g := rows[pid].dup_group))
    hits = []
    for rank, (pid, score, matched) in enumerate(kept, start=1):
        row = rows[pid]
        copies = members.get(row.dup_group, []) if row.dup_group else []
        others = tuple(a for a in copies if a != row.article_id)
        hits.append(_hit(rank, score, row, others, matched))
    return hits


def _hit(
    rank: int, score: float, row: PassageRow, duplicates: tuple[str, ...], matched: int
) -> Hit:
    return Hit(
        rank=rank,
        score=score,
        article_id=row.local_id or row.article_id,
        title=row.title,
        paragraph=row.paragraph,
        text=row.text,
        published=row.published,
        source=row.source,
        path=row.path,
        url=row.url,
        fields=row.fields,
        duplicates=duplicates,
        passage_id=row.id,
        start=row.start,
        end=row.end,
        matched=matched,
        collection=row.collection,
    )
