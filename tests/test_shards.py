"""Sharded search without Ray: the plan covers every passage once, a shard answers only for
its own passages, and the router's merged answers equal a single index's, through commits,
removals, filters and a shard that fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st
from test_news import FILTERS, make_records, write_jsonl

from search import Index, QueryError
from search.domain.filters import UNDATED, Filter, Scope
from search.errors import ShardUnavailableError
from search.query.shards import LocalShard, ShardedSearcher, local_shards, plan_shards
from search.storage.database import Store

FIRST = dt.date(1985, 1, 1).toordinal()


def passage_days(ix: Index) -> tuple[np.ndarray, np.ndarray]:
    store = Store.open(ix.path / "store.sqlite", readonly=True)
    try:
        return store.passage_days()
    finally:
        store.close()


class Recording:
    """A shard client that counts the calls it passes on (or fails them all)."""

    def __init__(self, inner: LocalShard, fail: bool = False) -> None:
        self.inner, self.number, self.scope = inner, inner.number, inner.scope
        self.fail, self.asked = fail, 0

    def ask(self, method: str, *args: Any) -> Any:
        self.asked += 1
        if self.fail:

            def unavailable() -> Any:
                raise ShardUnavailableError(f"shard {self.number + 1} is not answering")

            return unavailable
        return self.inner.ask(method, *args)


def sharded(ix: Index, count: int, fake: FakeEmbedder, **options: Any) -> tuple[Index, list]:
    """The index opened again with a router over ``count`` in-process shards."""
    scopes = plan_shards(*passage_days(ix), count)
    clients: list[Recording] = []

    def router(path: Path, settings: Any) -> ShardedSearcher:
        clients.extend(
            Recording(shard, **options) for shard in local_shards(path, settings, scopes)
        )
        return ShardedSearcher(path, settings, clients)

    return Index.open(ix.path, model=fake, searcher=router), clients


@pytest.fixture
def news(tmp_path: Path, fake: FakeEmbedder) -> Index:
    records = make_records(count=160, seed=11)
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.add(write_jsonl(tmp_path / "wire", records))
    yield ix
    ix.close()


# ---------------------------------------------------------------------------
# The plan


@st.composite
def archives(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    count = draw(st.integers(0, 300))
    ids = np.asarray(sorted(draw(st.sets(st.integers(1, 10_000), min_size=count, max_size=count))))
    spread = draw(st.sampled_from([0, 3, 40, 400, 3000]))  # days the archive spans
    undated = draw(st.floats(0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    days = FIRST + rng.integers(0, spread + 1, size=len(ids))
    days[rng.random(len(ids)) < undated] = UNDATED
    return ids.astype(np.int64), days.astype(np.int64)


@settings(max_examples=150, deadline=None)
@given(archives(), st.integers(1, 9))
def test_the_plan_puts_every_passage_and_every_later_one_in_exactly_one_shard(
    archive: tuple[np.ndarray, np.ndarray], count: int
) -> None:
    ids, days = archive
    scopes = plan_shards(ids, days, count)
    assert 1 <= len(scopes) <= count
    held = np.stack([scope.holds(ids, days) for scope in scopes])
    assert (held.sum(axis=0) == 1).all()
    if len(scopes) > 1:
        assert held.any(axis=1).all(), "a shard planned with no passages"
    # Passages committed later: any day (before, within, after the archive), any new id.
    later_ids = np.arange(10_001, 10_400, dtype=np.int64)
    later_days = np.where(later_ids % 3 == 0, UNDATED, FIRST - 400 + (later_ids * 37) % 4000)
    assert (np.stack([s.holds(later_ids, later_days) for s in scopes]).sum(axis=0) == 1).all()


@settings(max_examples=150, deadline=None)
@given(archives(), st.integers(1, 6), st.integers(-100, 3100), st.integers(0, 400))
def test_a_shard_skipped_for_a_time_window_holds_nothing_inside_it(
    archive: tuple[np.ndarray, np.ndarray], count: int, start: int, length: int
) -> None:
    ids, days = archive
    only = Filter(since=FIRST + start, until=FIRST + start + length)
    for scope in plan_shards(ids, days, count):
        inside = scope.holds(ids, days) & (days >= only.since) & (days <= only.until)
        if not scope.meets(only):
            assert not inside.any()


def test_a_year_in_four_shards_is_four_quarters() -> None:
    days = []
    for month in range(1, 13):
        first = dt.date(2024, month, 1).toordinal()
        days += [first + offset for offset in range(0, 28, 2)]  # 14 passages a month
    ids = np.arange(1, len(days) + 1)
    scopes = plan_shards(ids, np.asarray(days), 4)
    assert [s.describe() for s in scopes] == [
        "… to 2024-03-31",
        "2024-04-01 to 2024-06-30",
        "2024-07-01 to 2024-09-30",
        "2024-10-01 to …, undated passages 1–…",
    ]


def test_undated_passages_split_by_id_and_days_are_never_split() -> None:
    day = dt.date(2024, 5, 6).toordinal()
    ids = np.arange(1, 101)
    days = np.where(ids <= 50, day, UNDATED)  # one day, then 50 undated
    scopes = plan_shards(ids, days, 4)
    counts = [int(s.holds(ids, days).sum()) for s in scopes]
    assert counts == [50, 25, 25]  # the day is one shard; the undated split in two
    assert [s.first_id for s in scopes[1:]] == [1, 76]


def test_shards_out_of_range_are_refused() -> None:
    with pytest.raises(Exception, match="--shards must be from 1"):
        plan_shards(np.arange(1, 3), np.asarray([UNDATED, UNDATED]), 0)


# ---------------------------------------------------------------------------
# Shards and the router


QUERIES = [
    "oil crude price",
    "bank yen dollar",
    "wheat harvest export",
    "court minister",
    "x",
    'crude -bank -"yen dollar"',  # the query syntax: the router works the constraint out once
    "+wheat (harvest OR export) -minister",
]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"mode": "dense"},
    {"mode": "lexical"},
    {"by": "article"},
    {"collapse": False},
    {"k": 40},
    *FILTERS,
]


def same_hits(single: list, sharded: list) -> None:
    assert [h.passage_id for h in sharded] == [h.passage_id for h in single]
    assert [h.article_id for h in sharded] == [h.article_id for h in single]
    assert [h.score for h in sharded] == [h.score for h in single]  # computed alike


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_sharded_answers_equal_a_single_index(news: Index, fake: FakeEmbedder, count) -> None:
    router, clients = sharded(news, count, fake)
    assert len(clients) == count
    try:
        for options in OPTIONS:
            for query in QUERIES:
                same_hits(news.search(query, **options), router.search(query, **options))
        article = news.search("oil")[0].article_id
        same_hits(news.similar(article, k=8), router.similar(article, k=8))
        assert router.stats().passages == news.stats().passages
    finally:
        router.close()


def test_a_compact_index_sharded_gives_the_same_scores(tmp_path: Path, fake: FakeEmbedder) -> None:
    ix = Index.create(tmp_path / "ix", model=fake, compact=True)
    ix.add(write_jsonl(tmp_path / "wire", make_records(count=120, seed=5)))
    router, _ = sharded(ix, 3, fake)
    try:
        assert ix.stats().vector_layout.endswith("sq8")
        for options in OPTIONS[:4]:
            for query in QUERIES:
                same_hits(ix.search(query, **options), router.search(query, **options))
    finally:
        router.close()
        ix.close()


def test_ivf_segments_sharded_probe_the_same_lists(
    tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard keeps an inverted file's lists and probes, each list holding its rows: the
    merged probes find what the whole segment's probes find."""
    monkeypatch.setattr("search.storage.segments.FLAT_LIMIT", 40)
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.add(write_jsonl(tmp_path / "wire", make_records(count=240, seed=3)))
    router, clients = sharded(ix, 3, fake)
    try:
        assert ix.stats().vector_layout == "ivf"
        for options in OPTIONS:
            for query in QUERIES:
                same_hits(ix.search(query, **options), router.search(query, **options))
        held = [c.inner.reader.describe()["vectors"] for c in clients]
        assert sum(held) == ix.stats().vectors and min(held) > 0
    finally:
        router.close()
        ix.close()


def test_tied_scores_are_ordered_by_passage_id_in_one_index_and_in_shards(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    """Wire copies: the same paragraphs in many articles, over months, in several commits
    (tantivy's own order of ties then differs from the passages' ids)."""
    ix = Index.create(tmp_path / "ix", model=fake)
    paragraph = "Crude oil output rose as the cartel met in Vienna on prices."
    for batch in range(4):
        records = [
            {
                "id": f"copy{batch}-{n}",
                "title": "Wire report",
                "text": f"{paragraph}\n\nItem {batch * 100 + n} of the day's wires.",
                "date": f"1987-0{2 + (n + batch) % 6}-1{n % 9} 10:00:00",
            }
            for n in range(12)
        ]
        ix.add(write_jsonl(tmp_path / f"w{batch}", records, name=f"w{batch}.jsonl"))
    router, _ = sharded(ix, 3, fake)
    try:
        for k in (3, 10, 25):
            single = ix.search("cartel vienna crude", k=k, mode="lexical", collapse=False)
            tied = [h for h in single if h.score == single[0].score]
            assert len(tied) >= min(k, 10)
            assert [h.passage_id for h in tied] == sorted(h.passage_id for h in tied)
            same_hits(
                single, router.search("cartel vienna crude", k=k, mode="lexical", collapse=False)
            )
    finally:
        router.close()
        ix.close()


def test_each_shard_answers_only_for_its_own_passages(news: Index, fake: FakeEmbedder) -> None:
    router, clients = sharded(news, 3, fake)
    ids, days = passage_days(news)
    vector = fake.embed_query("oil crude price bank")
    try:
        seen = []
        for client in clients:
            mine = set(ids[client.scope.holds(ids, days)].tolist())
            reader = client.inner.reader
            found = reader.candidates("oil crude price bank", vector, 10_000, "hybrid", None)
            dense, lexical = set(found.dense[0].tolist()), set(found.lexical[0].tolist())
            assert dense == mine  # every passage of the shard, and nothing else
            assert lexical and lexical <= mine
            assert reader.describe()["vectors"] == len(mine)
            seen.append(mine)
        assert sum(len(s) for s in seen) == len(ids)
    finally:
        router.close()


def test_a_time_window_asks_only_the_shards_it_meets(news: Index, fake: FakeEmbedder) -> None:
    router, clients = sharded(news, 3, fake)
    try:
        assert all(c.scope.dated for c in clients[:2]) and clients[0].scope.last_day
        last_day = clients[0].scope.last_day
        window = {"until": dt.date.fromordinal(last_day).isoformat()}
        for client in clients:
            client.asked = 0
        same_hits(news.search("oil price", **window), router.search("oil price", **window))
        assert clients[0].asked > 0 and all(c.asked == 0 for c in clients[1:])
        for client in clients:
            client.asked = 0
        router.search("oil price", sources=["reuters"])  # no time window: every shard
        assert all(c.asked > 0 for c in clients)
    finally:
        router.close()


def test_commits_and_removals_after_the_plan_are_answered_whole(
    news: Index, fake: FakeEmbedder, tmp_path: Path
) -> None:
    router, clients = sharded(news, 3, fake)
    try:
        router.search("oil")  # the shards have read the first commit
        later = make_records(count=30, seed=99)
        for number, record in enumerate(later):
            record["id"] = f"later{number}"
            if number % 3 == 0:
                record["date"] = "2030-01-05"  # after every shard's last month
            elif number % 3 == 1:
                record["date"] = "1970-06-01"  # before the first
            else:
                record.pop("date", None)
        news.add(write_jsonl(tmp_path / "later", later))
        news.remove([f"a{n:03d}" for n in range(0, 160, 7)])
        for options in OPTIONS[:5]:
            for query in QUERIES:
                same_hits(news.search(query, **options), router.search(query, **options))
        ids, days = passage_days(news)
        counts = [c.inner.reader.describe()["vectors"] for c in clients]
        assert sum(counts) == len(ids)
    finally:
        router.close()


def test_a_shard_that_does_not_answer_fails_the_query_naming_it(
    news: Index, fake: FakeEmbedder
) -> None:
    router, clients = sharded(news, 2, fake)
    try:
        clients[1].fail = True
        with pytest.raises(ShardUnavailableError, match="shard 2"):
            router.search("oil price")
        with pytest.raises(ShardUnavailableError, match="shard 2"):
            router.similar(news.search("oil")[0].article_id)
        clients[1].fail = False
        same_hits(news.search("oil price"), router.search("oil price"))
    finally:
        router.close()


def test_a_filter_error_is_said_once_by_the_router(news: Index, fake: FakeEmbedder) -> None:
    router, clients = sharded(news, 2, fake)
    try:
        with pytest.raises(QueryError, match="unknown field 'nope'"):
            router.search("oil", where=["nope=1"])
        assert all(c.asked == 0 for c in clients)
    finally:
        router.close()


def test_scope_describes_its_days_and_ids() -> None:
    scope = Scope(True, dt.date(1987, 3, 1).toordinal(), None, True, 10, 99)
    assert scope.describe() == "1987-03-01 to …, undated passages 10–99"
    assert Scope(False, None, None, True).describe() == "undated passages 1–…"
