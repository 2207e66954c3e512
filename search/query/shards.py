"""Sharded search: an index's passages split by publication month, each shard's vectors held
in its own process, and a router that merges their candidates before fusion.

- ``plan_shards``: contiguous month ranges balanced by passage count (undated passages split
  by id after the last month), each a ``Scope`` with open ends, so that every passage, one
  committed later included, belongs to exactly one shard.
- ``ShardReader`` (a shard's side): its passages' vectors copied out of the segments into
  memory, once a segment (segments never change), and the candidates of both retrievers
  restricted to them: dense by cosine, lexical by the whole index's BM25, so that scores
  from different shards compare.
- ``ShardedSearcher`` (the router's side): the query's stages of ``Searcher``, but its
  candidates come from the shards a filter allows, merged. Every later stage (fusion, article
  ranking, duplicates, hydrating) runs on the merged lists, so results equal a single index's.

Shards are reached through ``ShardClient``: ``LocalShard`` calls a reader in this process;
``ray_serve`` reaches Ray Serve replicas. A shard that does not answer fails the query with
``ShardUnavailableError`` naming it: never an answer from the other shards presented as whole.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from search.domain.filters import UNDATED, Filter, Scope
from search.errors import InputError, QueryError, SearchError, ShardUnavailableError
from search.query.contract import Hit
from search.query.searcher import (
    Part,
    Ranking,
    Restriction,
    Searcher,
    Snapshot,
    _check_filter,
    _Search,
    _Stale,
    article_signals,
    centroid,
    dense_candidates,
    passage_vectors,
    restricted,
)
from search.storage.database import Store
from search.storage.manifest import Settings
from search.storage.segments import MemorySegment, Segment

__all__ = [
    "Candidates",
    "Failure",
    "LocalShard",
    "ShardClient",
    "ShardReader",
    "ShardedSearcher",
    "local_shards",
    "plan_shards",
]

MAX_SHARDS = 256


# ---------------------------------------------------------------------------
# Planning


def plan_shards(ids: np.ndarray, days: np.ndarray, count: int) -> list[Scope]:
    """At most ``count`` scopes covering every passage, in order: ranges of publication days
    (balanced by passage count), then undated passages by id. A range ends with a month
    where that balances within a quarter of a shard, else with a day; never within a day.
    Fewer scopes when there are too few days to give each passages.

    >>> day = dt.date(1987, 3, 2).toordinal()
    >>> ids, days = np.arange(1, 5), np.array([day, day, day + 31, UNDATED])
    >>> [s.describe() for s in plan_shards(ids, days, 2)]
    ['… to 1987-03-31', '1987-04-01 to …, undated passages 1–…']
    """
    if not 1 <= count <= MAX_SHARDS:
        raise InputError(f"--shards must be from 1 to {MAX_SHARDS}, not {count}")
    dated = days != UNDATED
    day_numbers, day_counts = np.unique(days[dated], return_counts=True)
    undated_ids = np.sort(ids[~dated])
    ends = np.cumsum(day_counts)  # passages up to each day's end
    in_days = int(ends[-1]) if len(ends) else 0
    total = in_days + len(undated_ids)
    months = _months(day_numbers)
    month_ends = ends[np.flatnonzero(np.diff(months, append=-1))] if len(ends) else ends
    cuts = set()
    for shard in range(1, count):
        target = total * shard / count
        if target < in_days:  # a day is never split
            cut = int(month_ends[int(np.argmin(np.abs(month_ends - target)))])
            if abs(cut - target) > total / count / 4:
                cut = int(ends[int(np.argmin(np.abs(ends - target)))])
            cuts.add(cut)
        else:
            cuts.add(round(target))
    bounds = [0, *sorted(c for c in cuts if 0 < c < total), total]
    spans = list(zip(bounds[:-1], bounds[1:], strict=True)) or [(0, 0)]
    starts = [_start(spans[n][0], day_numbers, ends, months) for n in range(len(spans))]
    return [_scope(spans, n, starts, undated_ids, in_days) for n in range(len(spans))]


def _start(first: int, day_numbers: np.ndarray, ends: np.ndarray, months: np.ndarray) -> int:
    """The first day of a span starting at passage ``first``: the first of its month when
    the span before ends in an earlier month."""
    if first >= (int(ends[-1]) if len(ends) else 0):
        return 0  # starts among the undated
    at = int(np.searchsorted(ends, first, "right"))
    if at > 0 and months[at - 1] != months[at]:
        return _month_start(int(months[at]))
    return int(day_numbers[at])


def _scope(
    spans: list[tuple[int, int]],
    number: int,
    starts: list[int],
    undated_ids: np.ndarray,
    in_days: int,
) -> Scope:
    """The scope of span ``number``: its days (up to the next span's first day) and its
    undated ids (up to the next span's first one), open at either end."""
    first, last = spans[number]
    dated_spans = [i for i, (a, _) in enumerate(spans) if a < in_days]
    undated_spans = [i for i, (_, b) in enumerate(spans) if b > in_days]
    final = len(spans) - 1
    dated = number in dated_spans or (not dated_spans and number == final)
    undated = number in undated_spans or (not undated_spans and number == final)
    first_day = last_day = None
    if number in dated_spans and number != dated_spans[0]:
        first_day = starts[number]
    if number in dated_spans and number != dated_spans[-1]:
        last_day = starts[number + 1] - 1
    first_id, last_id = 1, None
    if number in undated_spans and number != undated_spans[0]:
        first_id = int(undated_ids[first - in_days])
    if number in undated_spans and number != undated_spans[-1]:
        last_id = int(undated_ids[last - in_days]) - 1
    return Scope(dated, first_day, last_day, undated, first_id, last_id)


def _months(days: np.ndarray) -> np.ndarray:
    """Day numbers to month numbers (year * 12 + month - 1)."""
    unique, inverse = np.unique(days, return_inverse=True)
    numbers = [(d.year * 12 + d.month - 1) for d in map(dt.date.fromordinal, unique.tolist())]
    return np.asarray(numbers, dtype=np.int64)[inverse] if len(days) else unique


def _month_start(month: int) -> int:
    return dt.date(month // 12, month % 12 + 1, 1).toordinal()


# ---------------------------------------------------------------------------
# A shard's side


@dataclass(frozen=True)
class Candidates:
    """What a shard hands the router for one query: both retrievers' candidates among its
    passages, as of one store generation."""

    generation: int
    dense: tuple[np.ndarray, np.ndarray]  # ids, scores, best first
    lexical: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Failure:
    """A ``SearchError`` a shard or router met, handed back as a value so that it arrives
    as itself (with its message and exit code) across processes."""

    error: SearchError


class ShardReader(Searcher):
    """One shard: the index's folder read as ``Searcher`` does, but its own passages'
    vectors held in memory and searched alone."""

    def __init__(self, folder: Path, settings: Settings, scope: Scope) -> None:
        super().__init__(folder, settings)
        self.scope = scope
        self._held: dict[str, tuple[np.ndarray, MemorySegment]] = {}
        self._shard: Snapshot | None = None
        self._building = threading.Lock()

    def close(self) -> None:
        with self._building:
            super().close()
            self._held, self._shard = {}, None

    @property
    def held_bytes(self) -> int:
        """Bytes of vectors this shard holds in memory."""
        return sum(piece.nbytes for _, piece in self._held.values())

    def candidates(
        self,
        text: str,
        vector: np.ndarray | None,
        depth: int,
        mode: str,
        only: Filter | None,
        restriction: Restriction | None = None,
    ) -> Candidates:
        """The ``depth`` best of this shard's passages by each retriever the mode uses
        (lexical: ``depth`` more the index's ghosts, as ``Searcher.search`` asks), among
        those ``restriction`` allows (a query's constraint, worked out by the caller)."""

        def run(store: Store, snapshot: Snapshot) -> Candidates:
            shard = self.shard_snapshot(store, snapshot)
            current = snapshot.generation
            allowed = restricted(self._allowed(store, current, only), restriction)
            dense: Ranking = []
            if vector is not None:
                dense = dense_candidates(shard, vector, depth, allowed)
            lexical: Ranking = []
            if mode != "dense":
                lexical = self.lexical_beyond_ghosts(
                    store,
                    snapshot.format_version,
                    current,
                    text,
                    depth,
                    only,
                    self.scope,
                    restriction,
                )
            return Candidates(current, _arrays(dense), _arrays(lexical))

        return self.read(run)

    def vectors(self, ids: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(generation, ids, vectors) of those of these passages that this shard holds."""

        def run(store: Store, snapshot: Snapshot) -> tuple[int, np.ndarray, np.ndarray]:
            found = passage_vectors(self.shard_snapshot(store, snapshot), np.asarray(ids))
            keys = np.asarray(sorted(found), dtype=np.int64)
            rows = [found[k] for k in keys.tolist()]
            matrix = np.vstack(rows) if rows else np.empty((0, self.settings.dimension))
            return snapshot.generation, keys, matrix.astype(np.float32)

        return self.read(run)

    def describe(self) -> dict[str, Any]:
        """What this shard holds now: passages, vectors' bytes, its generation."""

        def run(store: Store, snapshot: Snapshot) -> dict[str, Any]:
            shard = self.shard_snapshot(store, snapshot)
            return {
                "scope": self.scope.describe(),
                "generation": shard.generation,
                "vectors": shard.vectors,
                "held_bytes": self.held_bytes,
            }

        return self.read(run)

    def shard_snapshot(self, store: Store, snapshot: Snapshot) -> Snapshot:
        """The snapshot restricted to this shard: for each segment, its rows in scope,
        copied into memory the first time that segment is seen."""
        cached = self._shard
        if cached is not None and cached.generation == snapshot.generation:
            return cached
        if snapshot.format_version < 2:
            raise QueryError("sharded serving needs a format-2 index — run `newssearch index`")
        with self._building:
            cached = self._shard
            if cached is not None and cached.generation == snapshot.generation:
                return cached
            ids, days = store.passage_days()
            members = ids[self.scope.holds(ids, days)]
            held: dict[str, tuple[np.ndarray, MemorySegment]] = {}
            parts = []
            for part in snapshot.parts:
                segment = part.vectors
                assert isinstance(segment, Segment)
                rows = np.flatnonzero(np.isin(segment.ids, members))
                known = self._held.get(part.name)
                if known is None or not np.array_equal(known[0], rows):
                    known = (rows, MemorySegment.copy_of(segment, rows))
                held[part.name] = known
                deleted = None if part.deleted is None else part.deleted[rows]
                if deleted is not None and not deleted.any():
                    deleted = None
                parts.append(Part(part.name, known[1].kind, len(rows), known[1], deleted))
            self._held = held
            shard = Snapshot(snapshot.generation, snapshot.format_version, tuple(parts))
            if self._shard is None or self._shard.generation < shard.generation:
                self._shard = shard
            return shard


def _arrays(ranking: Ranking) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((i for i, _ in ranking), dtype=np.int64, count=len(ranking))
    scores = np.fromiter((s for _, s in ranking), dtype=np.float64, count=len(ranking))
    return ids, scores


# ---------------------------------------------------------------------------
# The router's side


class ShardClient(Protocol):
    """How the router reaches one shard: ``ask`` starts a call of one of ``ShardReader``'s
    methods and returns what waits for its answer (raising ``ShardUnavailableError``, or the
    ``SearchError`` the shard met)."""

    number: int
    scope: Scope

    def ask(self, method: str, *args: Any) -> Callable[[], Any]: ...


class LocalShard:
    """A shard read in this process (tests, and one machine without Ray)."""

    def __init__(self, number: int, reader: ShardReader) -> None:
        self.number, self.scope, self.reader = number, reader.scope, reader

    def ask(self, method: str, *args: Any) -> Callable[[], Any]:
        try:
            value = getattr(self.reader, method)(*args)
        except SearchError as error:
            failed = error

            def fail() -> Any:
                raise failed

            return fail
        return lambda: value


def local_shards(folder: Path, settings: Settings, scopes: Sequence[Scope]) -> list[LocalShard]:
    """A shard of each scope, all read in this process."""
    return [LocalShard(n, ShardReader(folder, settings, scope)) for n, scope in enumerate(scopes)]


class ShardedSearcher(Searcher):
    """Answers as ``Searcher`` does, from shards: the store (text, metadata) is read here,
    in one read transaction a query, and the vectors and candidates come from the shards,
    which must answer from that same generation (else the query reads again)."""

    def __init__(self, folder: Path, settings: Settings, shards: Sequence[ShardClient]) -> None:
        super().__init__(folder, settings)
        if not shards:
            raise InputError("a sharded searcher needs at least one shard")
        self.shards = tuple(shards)

    def _answer(
        self,
        plan: _Search,
        text: str,
        query_vector: np.ndarray | None,
        only: Filter | None,
        restriction: Restriction | None = None,
    ) -> list[Hit]:
        mode = plan.mode
        asked = [shard for shard in self.shards if shard.scope.meets(only)]
        sent = None if restriction is None else restriction.shipped()
        vector = None if mode == "lexical" else query_vector

        def rows(store: Store, version: int, current: int) -> list[Hit]:
            if version < 2:
                raise QueryError("sharded serving needs a format-2 index — run `newssearch index`")
            if only is not None:
                _check_filter(store, only)
            ghosts = store.lexical_ghost_count()

            def candidates(depth: int) -> tuple[Ranking, Ranking]:
                answers = _gather(
                    [(s, s.ask("candidates", text, vector, depth, mode, only, sent)) for s in asked]
                )
                if any(answer.generation != current for answer in answers):
                    raise _Stale  # a commit landed between our reads: read again
                dense = _merge([a.dense for a in answers], depth)
                lexical = _merge([a.lexical for a in answers], depth + ghosts)
                return dense, lexical

            signals = None
            if vector is not None:
                query = vector
                signals = lambda articles: article_signals(  # noqa: E731
                    store, lambda ids: self._vectors(ids, current, asked), query, articles
                )
            return plan.run(store, candidates, signals)

        return self.read_rows(rows)

    def article_vector(self, article_id: str) -> np.ndarray | None:
        def read(store: Store, version: int, current: int) -> np.ndarray | None:
            lookup = lambda ids: self._vectors(ids, current, self.shards)  # noqa: E731
            return centroid(store, lookup, article_id)

        return self.read_rows(read)

    def _vectors(
        self, ids: np.ndarray, current: int, shards: Sequence[ShardClient]
    ) -> dict[int, np.ndarray]:
        """The vectors of these passages, from whichever of ``shards`` hold them."""
        found: dict[int, np.ndarray] = {}
        if not len(ids):
            return found
        for generation, keys, vectors in _gather([(s, s.ask("vectors", ids)) for s in shards]):
            if generation != current:
                raise _Stale
            found.update(zip(keys.tolist(), vectors, strict=True))
        return found


def _gather(calls: list[tuple[ShardClient, Callable[[], Any]]]) -> list[Any]:
    """Every shard's answer, or the first failure once all have answered or failed."""
    answers, failures = [], []
    for _shard, wait in calls:
        try:
            answers.append(wait())
        except SearchError as error:
            failures.append(error)
    if failures:
        unavailable = [f for f in failures if isinstance(f, ShardUnavailableError)]
        raise (unavailable or failures)[0]
    return answers


def _merge(rankings: list[tuple[np.ndarray, np.ndarray]], depth: int) -> Ranking:
    """The ``depth`` best of several shards' rankings, ties by id as ``dense_candidates``."""
    if not rankings:
        return []
    ids = np.concatenate([r[0] for r in rankings])
    scores = np.concatenate([r[1] for r in rankings])
    order = np.lexsort((ids, -scores))[:depth]
    return [(int(i), float(s)) for i, s in zip(ids[order], scores[order], strict=True)]
