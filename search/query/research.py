"""Research over an index: a query's matching set (``matching``), read on one snapshot.

``Research`` joins the parts: the catalog of the generation a snapshot sees (cached, one
per generation), the lexical index for a constraint's words and phrases, the segments for
the query's cosine with every passage, and the store for what a listing shows. The
``Index`` facade calls it; the doors format what it returns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial

import numpy as np

from search.domain.filters import Filter, outlet_key, term_value
from search.errors import QueryError
from search.query.contract import Facets, Hit, Match, SearchRequest, Timeline
from search.query.matching import (
    RELEVANCE_THRESHOLD,
    Catalog,
    MatchSet,
    build_catalog,
    constraint_mask,
    facet_counts,
    filter_mask,
    fold_copies,
    ordered,
    showing_mask,
    timeline,
)
from search.query.searcher import (
    Part,
    Restriction,
    Searcher,
    Snapshot,
    _check_filter,
    _with_outlets,
    hydrate,
)
from search.query.syntax import Parsed, Term, Value
from search.storage.database import Store
from search.storage.ids import places
from search.storage.lexical import LexicalIndex, View, analyse, folded_words
from search.storage.manifest import lexical_commit
from search.storage.segments import Segment

__all__ = ["LISTING_BATCH", "Research"]

LISTING_BATCH = 512  # articles read from the store at a time, listing a matching set
_SETS_KEPT = 8  # matching sets kept, per generation: a page asks hits, chart and facets


class Research:
    """Matching sets, timelines, facets and listings over one index's ``Searcher``."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._sets: OrderedDict[tuple[object, ...], MatchSet] = OrderedDict()
        # Per generation: where each segment's rows sit in the catalog, and outlets' names
        # as articles give them; each costs a pass over the archive to find.
        self._places: dict[tuple[int, str], np.ndarray] = {}
        self._names: tuple[int, dict[str, str]] = (-1, {})

    # The matching set.

    def match_set(
        self,
        request: SearchRequest,
        query_vector: np.ndarray | None,
        *,
        added: list[str] | None = None,
    ) -> MatchSet:
        """The request's matching set. ``added``: only among these articles (keys), read
        without the whole archive's catalog (an alert's new articles)."""

        def read(store: Store, snapshot: Snapshot) -> MatchSet:
            return self._match_set(store, snapshot, request, query_vector, added)

        return self.searcher.read(read)

    def _match_set(
        self,
        store: Store,
        snapshot: Snapshot,
        request: SearchRequest,
        query_vector: np.ndarray | None,
        added: list[str] | None,
    ) -> MatchSet:
        if snapshot.format_version < 2:
            raise QueryError(
                "query syntax, sorting by date, timelines and facets need a format-2 index — "
                "run `newssearch index` on it once"
            )
        vector_key = None if query_vector is None else query_vector.tobytes()
        key = (snapshot.generation, request.text, request.only, request.collapse, vector_key)
        if added is None:
            with self._lock:
                if (cached := self._sets.get(key)) is not None:
                    self._sets.move_to_end(key)
                    return cached
            catalog = self.catalog(store, snapshot.generation)
        else:
            catalog = _build(store, snapshot.generation, added)
        found = self._evaluate(store, snapshot, catalog, request, query_vector, added is not None)
        if added is None:
            with self._lock:
                self._sets[key] = found
                while len(self._sets) > _SETS_KEPT:
                    self._sets.popitem(last=False)
        return found

    def _evaluate(
        self,
        store: Store,
        snapshot: Snapshot,
        catalog: Catalog,
        request: SearchRequest,
        query_vector: np.ndarray | None,
        subset: bool,
    ) -> MatchSet:
        parsed = request.query
        only = _with_outlets(store, request.only)
        if only is not None:
            _check_filter(store, only)
        scope = filter_mask(catalog, only)
        mask = scope.copy()
        showing = None
        if parsed.constraint is not None:
            held, showing = self._constraint(store, snapshot, catalog, parsed, subset)
            mask &= held
        relevance = None
        scores = np.zeros(len(catalog.passages), dtype=np.float32)
        if query_vector is not None and parsed.words.strip():
            wanted = _wanted(catalog, mask, subset=subset, thresholded=parsed.thresholded)
            scores = self._passage_scores(snapshot, catalog, query_vector, wanted)
            relevance, _ = catalog.best_passages(scores)
            if parsed.thresholded:
                mask &= relevance >= RELEVANCE_THRESHOLD
        if relevance is not None:  # found now: the scores are not kept
            shown = _shown(catalog, scores, showing)
            choose = lambda: shown  # noqa: E731
        else:  # the first passage showing it, found when a listing asks
            choose = partial(_first_showing, catalog, showing)
        if request.collapse:  # copies count once, in the matching set and in its scope
            mask = fold_copies(catalog, mask, relevance)
            scope = fold_copies(catalog, scope, None) | mask
        return MatchSet(catalog, mask, scope, relevance, showing, choose)

    def _constraint(
        self, store: Store, snapshot: Snapshot, catalog: Catalog, parsed: Parsed, subset: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The articles the query's constraint holds for, and the passages that show what it
        asks present (None: it asks nothing present)."""
        assert parsed.constraint is not None
        restrict = catalog.passages if subset else None
        lexical = self.searcher.lexical_index()
        token = lexical_commit(store.get_meta(), store.path)
        view, _marker = lexical.view(snapshot.generation, token)  # one for every term
        found: dict[int, np.ndarray] = {}  # each term's passages' positions, found once

        def term(node: Term) -> np.ndarray:
            if id(node) not in found:
                ids = _term_passages(lexical, view, node, restrict)
                found[id(node)] = catalog.positions(ids)
            return found[id(node)]

        def value(node: Value) -> np.ndarray:
            return self._value_articles(store, catalog, node)

        held = constraint_mask(catalog, parsed.constraint, term, value)
        showing = None
        if parsed.positive:
            showing = showing_mask(catalog, parsed.constraint, term, value)
        return held, showing

    def catalog(self, store: Store, generation: int) -> Catalog:
        """The catalog of ``generation`` (cached: the last one read)."""
        with self._lock:
            cached = self._catalog
        if cached is not None and cached.generation == generation:
            return cached
        catalog = _build(store, generation, None)
        with self._lock:
            if self._catalog is None or self._catalog.generation <= generation:
                self._catalog = catalog
        return catalog

    def _passage_scores(
        self,
        snapshot: Snapshot,
        catalog: Catalog,
        query: np.ndarray,
        wanted: np.ndarray | None,
    ) -> np.ndarray:
        """The query's cosine with the ``wanted`` passages of the catalog (None: every one),
        by position (-inf: the others). A segment's few wanted rows (an eighth of it or
        fewer) are gathered and scored alone; more, and scanning the whole segment costs
        less; a segment whose ids lie apart from them all (an alert's new passages are the
        newest) is not read."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        scores = np.full(len(catalog.passages), -np.inf, dtype=np.float32)
        for part in snapshot.parts:
            segment = part.vectors
            if not isinstance(segment, Segment):
                continue
            keep = None if part.deleted is None else ~part.deleted
            if wanted is not None:
                low, high = segment.id_span
                if not len(wanted) or wanted[-1] < low or wanted[0] > high:
                    continue
                asked = np.isin(segment.ids, wanted)
                keep = asked if keep is None else asked & keep
            held_rows = segment.rows if keep is None else int(keep.sum())
            if not held_rows:
                continue
            if keep is not None and wanted is not None and held_rows * 8 <= segment.rows:
                ids, values = segment.search_rows(query, held_rows, np.flatnonzero(keep))
                at = places(ids, catalog.passages)
            else:
                values, at = segment.scores(query), self._placed(catalog, part)
                if keep is not None:
                    values, at = values[keep], at[keep]
            held = at >= 0
            scores[at[held]] = values[held]
        return scores

    def _placed(self, catalog: Catalog, part: Part) -> np.ndarray:
        """Where each row of ``part`` sits in ``catalog`` (``places``), kept for the
        archive's catalog: every free-text question scans every row."""
        key = (catalog.generation, part.name)
        with self._lock:
            whole = self._catalog is catalog
            found = self._places.get(key) if whole else None
        if found is None:
            found = places(part.vectors.ids, catalog.passages)  # type: ignore[attr-defined]
            with self._lock:
                if whole and self._catalog is catalog:
                    self._places = {k: v for k, v in self._places.items() if k[0] == key[0]}
                    self._places[key] = found
        return found

    def _outlet_names(self, store: Store, generation: int) -> Callable[[list[str]], list[str]]:
        """``store.outlet_display``, remembered for ``generation``: it reads every article
        of each outlet asked for."""

        def names(keys: list[str]) -> list[str]:
            with self._lock:
                if self._names[0] != generation:
                    self._names = (generation, {})
                known = dict(self._names[1])
            missing = [key for key in keys if key not in known]
            if missing:
                known |= dict(zip(missing, store.outlet_display(missing), strict=True))
                with self._lock:
                    if self._names[0] == generation:
                        self._names[1].update(known)
            return [known[key] for key in keys]

        return names

    def _value_articles(self, store: Store, catalog: Catalog, value: Value) -> np.ndarray:
        name = value.field
        if name in ("source", "outlet"):
            only = _with_outlets(store, Filter.make(sources=[value.value]))
            return filter_mask(catalog, only)
        if name == "collection":
            return filter_mask(catalog, Filter(collections=(value.value.strip(),)))
        known = store.known_fields()
        if name not in known:
            listed = ", ".join(known) if known else "none (its articles have no fields)"
            raise QueryError(
                f"unknown field {name!r} in the query — fields in this index: {listed}, "
                "and title, source, collection"
            )
        return filter_mask(catalog, Filter(where=((name, term_value(value.value)),)))

    # What is built on it.

    def restriction(self, request: SearchRequest) -> Restriction | None:
        """The passages a request's constraint allows, for ranking (None: no constraint):
        the constraint and the filters, no relevance threshold (ranking is the cut)."""
        if request.query.constraint is None:
            return None
        matches = self.match_set(replace(request, every_copy=True), None)
        catalog = matches.catalog
        inside = matches.mask[catalog.owner]
        if request.by == "passage" and matches.showing is not None:
            inside &= matches.showing  # a passage hit holds what the query asks present
        count = int(inside.sum())
        include = count * 2 <= len(catalog.passages)
        few = catalog.passages[inside if include else ~inside]  # the shorter side
        beyond = np.append(inside, False)  # a row the catalog does not hold (-1): not allowed

        def rows(part: Part) -> np.ndarray | None:
            """A segment's rows that the constraint allows: the smaller side's rows found
            by binary search when it is small beside the segment, else each row's place in
            the catalog looked up. (Rows the catalog lacks are deleted ones, masked by the
            snapshot of this generation: the searcher uses this only on that one.)"""
            segment = part.vectors
            if not isinstance(segment, Segment):
                return None
            if len(few) * 8 <= segment.rows:
                keep = np.full(segment.rows, not include)
                keep[segment.rows_of(few)] = include
                return keep
            return beyond[self._placed(catalog, part)]

        return Restriction(few, include, catalog.passages, inside, rows, catalog.generation)

    def sorted_hits(self, request: SearchRequest, query_vector: np.ndarray | None) -> list[Hit]:
        """The matching articles in the request's sort order, one hit each (its best
        passage), ``request.k`` of them after ``request.offset``."""
        matches = self.match_set(request, query_vector)
        rows = ordered(matches, request.sort)[request.offset : request.offset + request.k]
        catalog = matches.catalog
        chosen = np.where(matches.shown[rows] >= 0, matches.shown[rows], catalog.first[rows])
        results = []
        for row, position in zip(rows.tolist(), chosen.tolist(), strict=True):
            if position < 0:
                continue
            relevance = 0.0 if matches.relevance is None else float(matches.relevance[row])
            results.append((int(catalog.passages[position]), relevance, 1))
        hits = self.searcher.read_rows(lambda store, _v, _g: hydrate(store, results))
        return [
            replace(
                hit,
                rank=request.offset + n,
                relevance=None if matches.relevance is None else _readable(hit.score),
            )
            for n, hit in enumerate(hits, start=1)
        ]

    def timeline(
        self, request: SearchRequest, query_vector: np.ndarray | None, every: str, split: str | None
    ) -> Timeline:
        matches = self.match_set(request, query_vector)
        return self.searcher.read_rows(
            lambda store, _v, current: timeline(
                matches, every, split, self._outlet_names(store, current)
            )
        )

    def facets(self, request: SearchRequest, query_vector: np.ndarray | None, limit: int) -> Facets:
        matches = self.match_set(request, query_vector)

        def read(store: Store, _version: int, current: int) -> Facets:
            names = self._outlet_names(store, current)
            outlets, collections, fields = facet_counts(matches, limit, names)
            return Facets(matches.count, tuple(outlets), tuple(collections), fields)

        return self.searcher.read_rows(read)

    def listing(
        self,
        request: SearchRequest,
        query_vector: np.ndarray | None,
        *,
        added: list[str] | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[Match]:
        """The matching articles in the request's sort order, from ``start`` to ``stop``,
        read from the store a batch at a time."""
        matches = self.match_set(request, query_vector, added=added)
        rows = ordered(matches, request.sort)[start:stop]
        for first in range(0, len(rows), LISTING_BATCH):
            batch = rows[first : first + LISTING_BATCH]

            def read(store: Store, _version: int, _generation: int) -> list[Match]:
                return _matches(store, matches, batch)  # noqa: B023 - read at once

            yield from self.searcher.read_rows(read)


def _term_passages(
    lexical: LexicalIndex, view: View, term: Term, restrict: np.ndarray | None
) -> np.ndarray:
    """The passages (of ``restrict`` only, if given) that hold a term, from ``view``."""
    field = "title" if term.field == "title" else "body"
    text = " ".join(term.words)
    if term.prefix:
        words = folded_words(text)
        if len(words) != 1:
            raise QueryError(f"{text}* must be one word, to stand for the words it begins")
        terms = words
    else:
        terms = analyse(text)
    if not terms:  # punctuation alone ("-!!"): no word, so no passage holds it
        return np.empty(0, dtype=np.int64)
    phrase = term.phrase or len(terms) > 1
    return lexical.matching(view, field, terms, phrase=phrase, prefix=term.prefix, within=restrict)


def _build(store: Store, generation: int, only: list[str] | None) -> Catalog:
    """The catalog of every article, or of ``only`` these (keys)."""
    names = {host: outlet_key(name) for host, name in store.outlet_names().items()}
    return build_catalog(
        generation,
        store.catalog_articles(only),
        store.catalog_passages(only),
        store.catalog_terms(only),
        names,
    )


def _first_showing(catalog: Catalog, showing: np.ndarray | None) -> np.ndarray:
    """The passage that shows each article, unranked: the first holding what is asked
    present (its first, if none does)."""
    return catalog.first if showing is None else catalog.first_of(showing)


def _shown(catalog: Catalog, scores: np.ndarray, showing: np.ndarray | None) -> np.ndarray:
    """The passage that shows each article, ranked: the most relevant of those holding
    what is asked present (of all its passages, if none does)."""
    if showing is not None:
        scores = np.where(showing, np.nan_to_num(scores, neginf=-1.0) + 4.0, scores)
    return catalog.best_passages(scores)[1]


def _wanted(
    catalog: Catalog, mask: np.ndarray, *, subset: bool, thresholded: bool
) -> np.ndarray | None:
    """The passages whose relevance a matching set reads (None: every one). Without the
    threshold, only the matching articles' are: those alone, when they are half or fewer."""
    if not thresholded:
        few = catalog.passages_of(mask)
        if len(few) * 2 <= len(catalog.passages):
            return few
    return catalog.passages if subset else None


def _matches(store: Store, matches: MatchSet, rows: np.ndarray) -> list[Match]:
    catalog = matches.catalog
    keys = [str(catalog.keys[r]) for r in rows]
    chosen = np.where(matches.shown[rows] >= 0, matches.shown[rows], catalog.first[rows])
    chosen = chosen.tolist()
    passage_ids = [int(catalog.passages[p]) for p in chosen if p >= 0]
    articles, texts = store.matched_rows(keys, passage_ids)
    names = store.outlet_names()
    found = []
    for row, key, position in zip(rows.tolist(), keys, chosen, strict=True):
        article = articles.get(key)
        if article is None:
            continue
        pid = int(catalog.passages[position]) if position >= 0 else 0
        source = article.source
        if source and (name := names.get(outlet_key(source))):
            source = name
        relevance = None
        if matches.relevance is not None and np.isfinite(matches.relevance[row]):
            relevance = _readable(float(matches.relevance[row]))
        found.append(
            Match(
                article_id=article.local_id or article.id,
                collection=article.collection,
                published=article.published,
                source=source,
                title=article.title,
                url=article.url,
                passage=texts.get(pid, ""),
                passage_id=pid,
                relevance=relevance,
            )
        )
    return found


def _readable(cosine: float) -> float:
    """A relevance a reader can read: the cosine, 0 to 1 (a negative one is 0)."""
    return round(max(0.0, min(1.0, cosine)), 4)
