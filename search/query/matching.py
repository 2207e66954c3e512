"""The set of articles a query matches, and what is counted over it: dates, outlets, fields.

One definition (docs/cli.md, "Which articles match") serves sorting by date, the timeline,
facets, export and alerts:

* a query with syntax (``syntax.parse``) that requires something present matches every
  article its constraint holds for, tested on the article as a whole: a word or phrase
  matches an article when its title or any of its passages holds it, and ``-word`` leaves
  out every article that holds the word anywhere;
* free text (plain words, and no such constraint) matches every article whose relevance
  clears ``RELEVANCE_THRESHOLD``: the query's cosine with the article's best passage,
  calibrated on Reuters TRAIN topics and BBC and AG News categories (docs/QUALITY.md);
* filters (since, until, outlets, fields, collections) bound both: the scope;
* wire copies count once, as the best of their group, unless every copy is asked for.

Everything here works on a ``Catalog``: one generation's articles as arrays (their passages,
days, copy groups and filter terms), read once per generation, so that a timeline or facets
are a few numpy passes over it, not SQL over the archive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from search.domain.filters import COLLECTION_FIELD, SOURCE_FIELD, Filter, day_number, day_text
from search.query.contract import Counted, Period, Timeline
from search.query.syntax import Clauses, Every, Node, Term, Value
from search.storage.ids import places

__all__ = [
    "NO_DAY",
    "RELEVANCE_THRESHOLD",
    "Catalog",
    "FieldTerms",
    "MatchSet",
    "build_catalog",
    "constraint_mask",
    "facet_counts",
    "filter_mask",
    "fold_copies",
    "ordered",
    "showing_mask",
    "timeline",
]

# The free-text match set's relevance threshold: the query's cosine with an article's best
# passage (all-MiniLM-L6-v2), chosen for the best mean F1 over the calibration queries.
RELEVANCE_THRESHOLD = 0.45
NO_DAY = -1  # an undated article's day
_EPOCH = dt.date(1970, 1, 1).toordinal()
MAX_SPLIT = 50  # outlets a split timeline shows, the most matched first


@dataclass(frozen=True)
class FieldTerms:
    """One filter field's values over the catalog's articles: article ``rows``, the
    ``codes`` of their values, and the ``values`` those codes stand for."""

    rows: np.ndarray
    codes: np.ndarray
    values: tuple[str, ...]

    def mask(self, wanted: Sequence[str], articles: int) -> np.ndarray:
        """The articles holding any of ``wanted``."""
        index = {value: code for code, value in enumerate(self.values)}
        codes = [index[v] for v in wanted if v in index]
        found = np.zeros(articles, dtype=bool)
        if codes:
            found[self.rows[np.isin(self.codes, codes)]] = True
        return found

    def counts(self, mask: np.ndarray, limit: int | None) -> list[tuple[str, int]]:
        """Values by their number of articles in ``mask``, the most first, then by value."""
        kept = self.codes[mask[self.rows]]
        totals = np.bincount(kept, minlength=len(self.values))
        listed = [(self.values[c], int(totals[c])) for c in np.flatnonzero(totals)]
        listed.sort(key=lambda pair: (-pair[1], pair[0]))
        return listed if limit is None else listed[:limit]


@dataclass(frozen=True)
class Catalog:
    """One generation's articles as arrays, by article row (0 to ``articles`` - 1):
    ``passages`` (live passage ids, sorted) and each one's article (``owner``); each
    article's ``keys`` (COLLECTION/ID), ``days`` (``NO_DAY`` if undated) and copy ``groups``
    (-1: none); ``terms``, the filter fields' values; ``outlets``, each article's outlet as
    one name (a web host that pages named an outlet for counts as that outlet), -1: none,
    with the names in ``outlet_names``."""

    generation: int
    passages: np.ndarray
    owner: np.ndarray
    keys: np.ndarray
    days: np.ndarray
    groups: np.ndarray
    terms: dict[str, FieldTerms]
    outlets: np.ndarray
    outlet_names: tuple[str, ...]
    first: np.ndarray  # each article's first passage's position (-1: none)

    @property
    def articles(self) -> int:
        return len(self.keys)

    def rows_of(self, keys: Sequence[str]) -> np.ndarray:
        """The rows of these article keys (those the catalog holds)."""
        index = {key: row for row, key in enumerate(self.keys.tolist())}
        return np.asarray(sorted(index[k] for k in keys if k in index), dtype=np.int64)

    def positions(self, passage_ids: np.ndarray) -> np.ndarray:
        """Where these passages sit in ``passages`` (those it holds)."""
        at = places(passage_ids, self.passages)
        return at[at >= 0]

    def passages_of(self, mask: np.ndarray) -> np.ndarray:
        """The passage ids of these articles, sorted."""
        return self.passages[mask[self.owner]]

    def first_of(self, passages: np.ndarray) -> np.ndarray:
        """Each article's first passage (position) among ``passages`` (a mask by position),
        or its first passage when it has none of them (-1: it has no passage)."""
        where = self.first.copy()
        held = np.flatnonzero(passages)[::-1]
        where[self.owner[held]] = held  # the first wins, written last
        return where

    def best_passages(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each article's best passage score (-inf: none scored) and that passage's position
        (-1), from a score per passage position."""
        best = np.full(self.articles, -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owner, scores)
        where = np.full(self.articles, -1, dtype=np.int64)
        top = np.flatnonzero(np.isfinite(scores) & (scores == best[self.owner]))
        where[self.owner[top[::-1]]] = top[::-1]  # the first of equals wins
        return best, where


@dataclass(frozen=True)
class MatchSet:
    """A query's matching articles in a catalog (``mask``), within its ``scope`` (the
    articles the filters allow), with each article's ``relevance`` (None: the query has no
    words to rank by) and the passage that shows it (``shown``, a position in
    ``catalog.passages``: one holding what the query asks present, the most relevant of
    those; -1: none); ``showing``, the passages that hold what it asks present (None: it
    asks nothing present)."""

    catalog: Catalog
    mask: np.ndarray
    scope: np.ndarray
    relevance: np.ndarray | None
    showing: np.ndarray | None
    choose: Callable[[], np.ndarray] = field(repr=False, compare=False)  # makes ``shown``

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    @cached_property
    def shown(self) -> np.ndarray:
        """Found when first asked (a listing's, not a ranked search's restriction)."""
        return self.choose()


def filter_mask(catalog: Catalog, only: Filter | None) -> np.ndarray:
    """The articles a filter allows, from the catalog's arrays (as ``Store.filtered_passages``
    finds them in SQL)."""
    allowed = np.ones(catalog.articles, dtype=bool)
    if only is None:
        return allowed
    if only.since is not None:
        allowed &= (catalog.days != NO_DAY) & (catalog.days >= only.since)
    if only.until is not None:
        allowed &= (catalog.days != NO_DAY) & (catalog.days <= only.until)
    for name, values in ((SOURCE_FIELD, only.sources), (COLLECTION_FIELD, only.collections)):
        if values:
            allowed &= _field(catalog, name).mask(values, catalog.articles)
    for name, value in only.where:
        allowed &= _field(catalog, name).mask([value], catalog.articles)
    return allowed


def _field(catalog: Catalog, name: str) -> FieldTerms:
    empty = np.empty(0, dtype=np.int64)
    return catalog.terms.get(name) or FieldTerms(empty, empty, ())


def constraint_mask(
    catalog: Catalog,
    node: Node,
    term: Callable[[Term], np.ndarray],
    value: Callable[[Value], np.ndarray],
) -> np.ndarray:
    """The articles ``node`` holds for: ``term`` gives the passages (positions in the
    catalog) that hold a term (any of an article's passages holds it for the article),
    ``value`` the articles holding a field's value."""
    if isinstance(node, Every):
        return np.ones(catalog.articles, dtype=bool)
    if isinstance(node, Term):
        found = np.zeros(catalog.articles, dtype=bool)
        found[catalog.owner[term(node)]] = True
        return found
    if isinstance(node, Value):
        return value(node)
    assert isinstance(node, Clauses)
    return _combined(
        [constraint_mask(catalog, n, term, value) for n in node.must],
        [constraint_mask(catalog, n, term, value) for n in node.should],
        [constraint_mask(catalog, n, term, value) for n in node.must_not],
        catalog.articles,
    )


def showing_mask(
    catalog: Catalog,
    node: Node,
    term: Callable[[Term], np.ndarray],
    value: Callable[[Value], np.ndarray],
) -> np.ndarray:
    """The passages that show what ``node`` asks to be present: each holds the words and
    phrases its article matched by (what is excluded is the article's business, and a
    field's value its article's). A passage hit must be one of these."""
    if isinstance(node, Every):
        return np.ones(len(catalog.passages), dtype=bool)
    if isinstance(node, Term):
        found = np.zeros(len(catalog.passages), dtype=bool)
        found[term(node)] = True
        return found
    if isinstance(node, Value):
        return value(node)[catalog.owner]
    assert isinstance(node, Clauses)
    return _combined(
        [showing_mask(catalog, n, term, value) for n in node.must],
        [showing_mask(catalog, n, term, value) for n in node.should],
        [],
        len(catalog.passages),
    )


def _combined(
    must: list[np.ndarray], should: list[np.ndarray], must_not: list[np.ndarray], size: int
) -> np.ndarray:
    """Lucene's boolean clause: every ``must``, no ``must_not``, and at least one ``should``
    when there is no ``must``."""
    result = np.ones(size, dtype=bool)
    for part in must:
        result &= part
    if should and not must:
        result &= np.logical_or.reduce(should)
    for part in must_not:
        result &= ~part
    return result


def fold_copies(catalog: Catalog, mask: np.ndarray, relevance: np.ndarray | None) -> np.ndarray:
    """``mask`` with each group of wire copies down to one article: the most relevant, or
    the first indexed."""
    grouped = np.flatnonzero(mask & (catalog.groups >= 0))
    if not len(grouped):
        return mask
    if relevance is not None:
        grouped = grouped[np.argsort(-relevance[grouped], kind="stable")]
    _, first = np.unique(catalog.groups[grouped], return_index=True)
    folded = mask.copy()
    folded[grouped] = False
    folded[grouped[first]] = True
    return folded


def ordered(matches: MatchSet, sort: str) -> np.ndarray:
    """The matching articles' rows in ``sort`` order: ``relevance`` (then newest),
    ``newest`` or ``oldest`` (undated last; then the more relevant). Without relevance,
    ``relevance`` is ``newest``."""
    rows = np.flatnonzero(matches.mask)
    days = matches.catalog.days[rows]
    dated = days != NO_DAY
    relevance = (
        np.zeros(len(rows), dtype=np.float32)
        if matches.relevance is None
        else matches.relevance[rows]
    )
    if sort == "relevance" and matches.relevance is not None:
        keys: tuple[np.ndarray, ...] = (rows, -np.where(dated, days, NO_DAY), -relevance)
    elif sort == "oldest":
        keys = (rows, -relevance, days, ~dated)
    else:
        keys = (rows, -relevance, -days, ~dated)
    return rows[np.lexsort(keys)]


def timeline(
    matches: MatchSet, every: str, split: str | None, names: Callable[[list[str]], list[str]]
) -> Timeline:
    """The matching articles counted per period (``every``: day, week, month) beside all
    the scope's articles in it; split by outlet, each outlet's against its own total.
    ``names`` gives outlets' names as articles give them, for their keys."""
    catalog = matches.catalog
    dated = catalog.days != NO_DAY
    scope, mask = matches.scope & dated, matches.mask & dated
    undated = int((matches.mask & ~dated).sum())
    starts = _period_starts(catalog.days, every)
    if not scope.any():
        return Timeline(every, split, (), int(mask.sum()), 0, undated)
    periods = _periods(int(starts[scope].min()), int(starts[scope].max()), every)
    found: list[Period] = []
    if split is None:
        counts = _count(starts[mask], periods)
        totals = _count(starts[scope], periods)
        found = [_period(p, c, t) for p, c, t in zip(periods, counts, totals, strict=True)]
    else:
        outlets = catalog.outlets
        matched = np.bincount(outlets[mask & (outlets >= 0)], minlength=len(catalog.outlet_names))
        chosen = [int(c) for c in np.argsort(-matched, kind="stable") if matched[c] > 0]
        chosen = chosen[:MAX_SPLIT]
        shown = names([catalog.outlet_names[c] for c in chosen])
        for code, name in zip(chosen, shown, strict=True):
            own = outlets == code
            counts = _count(starts[mask & own], periods)
            totals = _count(starts[scope & own], periods)
            found += [
                _period(p, c, t, name) for p, c, t in zip(periods, counts, totals, strict=True)
            ]
    return Timeline(every, split, tuple(found), int(mask.sum()), int(scope.sum()), undated)


def _period(start: int, count: int, total: int, outlet: str | None = None) -> Period:
    ratio = round(count / total, 6) if total else 0.0
    return Period(day_text(start), int(count), int(total), ratio, outlet)


def _period_starts(days: np.ndarray, every: str) -> np.ndarray:
    """Each day's period's first day (day numbers; undated days stay ``NO_DAY``)."""
    if every == "day":
        return days
    if every == "week":  # day 1 (0001-01-01) was a Monday: weeks start on Mondays
        return np.where(days == NO_DAY, NO_DAY, days - (days - 1) % 7)
    months = (days - _EPOCH).astype("datetime64[D]").astype("datetime64[M]")
    return np.where(
        days == NO_DAY, NO_DAY, months.astype("datetime64[D]").astype(np.int64) + _EPOCH
    )


def _periods(first: int, last: int, every: str) -> np.ndarray:
    if every == "day":
        return np.arange(first, last + 1, dtype=np.int64)
    if every == "week":
        return np.arange(first, last + 1, 7, dtype=np.int64)
    start = np.datetime64(dt.date.fromordinal(first), "M")
    end = np.datetime64(dt.date.fromordinal(last), "M")
    months = np.arange(start, end + 1)
    return months.astype("datetime64[D]").astype(np.int64) + _EPOCH


def _count(starts: np.ndarray, periods: np.ndarray) -> np.ndarray:
    at = np.searchsorted(periods, starts)
    return np.bincount(at, minlength=len(periods))[: len(periods)]


def facet_counts(
    matches: MatchSet, limit: int, names: Callable[[list[str]], list[str]]
) -> tuple[list[Counted], list[Counted], dict[str, tuple[Counted, ...]]]:
    """The matching articles' top outlets, collections and each field's top values."""
    catalog, mask = matches.catalog, matches.mask
    outlets = catalog.outlets[mask]
    totals = np.bincount(outlets[outlets >= 0], minlength=len(catalog.outlet_names))
    top = sorted(
        (int(c) for c in np.flatnonzero(totals)),
        key=lambda c: (-int(totals[c]), catalog.outlet_names[c]),
    )[:limit]
    shown = names([catalog.outlet_names[c] for c in top])
    outlet_counts = [Counted(n, int(totals[c])) for c, n in zip(top, shown, strict=True)]
    collections = [Counted(v, n) for v, n in _field(catalog, COLLECTION_FIELD).counts(mask, limit)]
    fields = {
        name: tuple(Counted(v, n) for v, n in terms.counts(mask, limit))
        for name, terms in sorted(catalog.terms.items())
        if name not in (SOURCE_FIELD, COLLECTION_FIELD)
    }
    return outlet_counts, collections, fields


def build_catalog(
    generation: int,
    articles: list[tuple[int, str, str | None, str | None]],
    passages: tuple[np.ndarray, np.ndarray],
    terms: list[tuple[int, str, str]],
    outlet_home: dict[str, str],
) -> Catalog:
    """A catalog from the store's rows (``Store.catalog_articles``, ``catalog_passages``,
    ``catalog_terms``); ``outlet_home`` folds a web host's outlet key to the outlet's."""
    rowids = np.asarray([a[0] for a in articles], dtype=np.int64)
    keys = np.asarray([a[1] for a in articles], dtype=object)
    days = np.asarray(
        [NO_DAY if (d := day_number(a[2])) is None else d for a in articles], dtype=np.int64
    )
    group_codes: dict[str, int] = {}
    groups = np.asarray(
        [-1 if a[3] is None else group_codes.setdefault(a[3], len(group_codes)) for a in articles],
        dtype=np.int64,
    )
    ids, owners = passages
    owner = np.searchsorted(rowids, owners)
    by_field: dict[str, tuple[list[int], list[str]]] = {}
    for rowid, name, value in terms:
        rows, values = by_field.setdefault(name, ([], []))
        rows.append(rowid)
        values.append(value)
    fields = {name: _field_terms(rowids, rows, values) for name, (rows, values) in by_field.items()}
    outlets = np.full(len(articles), -1, dtype=np.int64)
    outlet_names: tuple[str, ...] = ()
    if SOURCE_FIELD in fields:
        source = fields[SOURCE_FIELD]
        homes = [outlet_home.get(v, v) for v in source.values]
        outlet_names = tuple(sorted(set(homes)))
        code_of = {name: code for code, name in enumerate(outlet_names)}
        folded = np.asarray([code_of[h] for h in homes], dtype=np.int64)
        outlets[source.rows] = folded[source.codes]
    first = np.full(len(articles), -1, dtype=np.int64)
    first[owner[::-1]] = np.arange(len(owner), dtype=np.int64)[::-1]
    return Catalog(generation, ids, owner, keys, days, groups, fields, outlets, outlet_names, first)


def _field_terms(rowids: np.ndarray, rows: list[int], values: list[str]) -> FieldTerms:
    names, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return FieldTerms(
        np.searchsorted(rowids, np.asarray(rows, dtype=np.int64)),
        codes.astype(np.int64),
        tuple(str(n) for n in names),
    )
