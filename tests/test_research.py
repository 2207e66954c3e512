"""Query syntax and the matching set against brute force over every passage.

The reference here reads every passage from the store and tests each query the slow,
obvious way: the passage's words as the lexical index analyses them, Lucene's boolean
rules, per article. Every operator, in every mode, must give what it gives."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import numpy as np
import pytest
from conftest import FakeEmbedder
from test_news import OUTLETS, TOPICS, WORDS, write_jsonl

from search import Index, QueryError
from search.domain.filters import outlet_key, term_value
from search.query import matching
from search.query.syntax import Clauses, Every, Node, Term, Value, parse
from search.storage.database import Store
from search.storage.lexical import analyse, folded_words

PHRASES = ["oil price", "crude output", "grain harvest", "interest rate", "coffee export"]


def _records(count: int = 90, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for number in range(count):
        paragraphs = []
        for _ in range(rng.randint(1, 4)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(12, 24))]
            if rng.random() < 0.3:
                at = rng.randrange(len(words))
                words[at:at] = rng.choice(PHRASES).split()
            paragraphs.append(" ".join(words) + ".")
        record = {
            "id": f"r{number:03d}",
            "title": " ".join(rng.choice(WORDS) for _ in range(4)),
            "text": "\n\n".join(paragraphs),
            "date": f"1987-0{rng.randint(2, 5)}-{rng.randint(10, 28)}",
            "source": rng.choice(OUTLETS),
            "topics": rng.sample(TOPICS, rng.randint(0, 2)),
        }
        if number % 9 == 4:
            del record["date"]
        records.append(record)
    return records


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Index, list[dict]]:
    folder = tmp_path_factory.mktemp("research")
    records = _records()
    ix = Index.create(folder / "ix", model=FakeEmbedder())
    ix.add(write_jsonl(folder / "wire", records))
    yield ix, records
    ix.close()


class Reference:
    """Every passage, and each query tested on them the obvious way."""

    def __init__(self, ix: Index, records: list[dict]) -> None:
        store = Store.open(ix.path / "store.sqlite", readonly=True)
        try:
            rows = store._rows(
                "SELECT p.id, p.article_id, a.title, p.text FROM passages p"
                " JOIN articles a ON a.id = p.article_id ORDER BY p.id"
            )
        finally:
            store.close()
        self.passages = {pid: (key, analyse(f"{title}\n{text}"), analyse(title), text)
                         for pid, key, title, text in rows}  # fmt: skip
        self.by_id = {f"wire/{r['id']}": r for r in records}
        self.articles = sorted({key for key, *_ in self.passages.values()})

    def holds(self, pid: int, term: Term) -> bool:
        _, body, title, _ = self.passages[pid]
        tokens = title if term.field == "title" else body
        if term.prefix:
            start = folded_words(term.words[0])[0]
            return any(
                t.startswith(start)
                or (start.startswith(t) and len(t) >= max(4, len(start) - 3) and t != start)
                for t in tokens
            )
        wanted = analyse(" ".join(term.words))
        if len(wanted) == 1:
            return wanted[0] in tokens
        return any(tokens[i : i + len(wanted)] == wanted for i in range(len(tokens)))

    def has_value(self, key: str, value: Value) -> bool:
        record = self.by_id[key]
        if value.field == "source":
            return outlet_key(record["source"]) == outlet_key(value.value)
        if value.field == "collection":
            return value.value == "wire"
        given = record.get(value.field, [])
        given = given if isinstance(given, list) else [given]
        return term_value(value.value) in {term_value(v) for v in given}

    def article_matches(self, key: str, node: Node) -> bool:
        if isinstance(node, Every):
            return True
        if isinstance(node, Term):
            return any(self.holds(p, node) for p, (k, *_) in self.passages.items() if k == key)
        if isinstance(node, Value):
            return self.has_value(key, node)
        assert isinstance(node, Clauses)
        return self._boolean(node, lambda n: self.article_matches(key, n))

    def passage_shows(self, pid: int, node: Node) -> bool:
        if isinstance(node, Every):
            return True
        if isinstance(node, Term):
            return self.holds(pid, node)
        if isinstance(node, Value):
            return self.has_value(self.passages[pid][0], node)
        assert isinstance(node, Clauses)
        positive = Clauses(node.must, node.should, ())
        return self._boolean(positive, lambda n: self.passage_shows(pid, n))

    @staticmethod
    def _boolean(node: Clauses, test: object) -> bool:
        if not all(test(n) for n in node.must):  # type: ignore[operator]
            return False
        if node.should and not node.must and not any(test(n) for n in node.should):  # type: ignore[operator]
            return False
        return not any(test(n) for n in node.must_not)  # type: ignore[operator]

    def matching(self, text: str) -> set[str]:
        constraint = parse(text).constraint
        assert constraint is not None
        return {k for k in self.articles if self.article_matches(k, constraint)}


QUERIES = [
    '"oil price"',
    '"grain harvest" -wheat',
    '+oil -"oil price"',
    "crude AND output",
    "coffee OR cocoa",
    "(coffee OR cocoa) AND -tonnes",
    "NOT strike +bank",
    "+yen dollar",
    "title:oil",
    'title:"oil crude"',
    "topics:crude",
    "topics:grain -topics:crude",
    'source:"BBC News" interest',
    "collection:wire AND storm",
    "harv*",
    "shar* -profit",
    "*",
    "* -oil",
    "election OR (vote AND court)",
    "a AND b OR c".replace("a", "oil").replace("b", "price").replace("c", "rain"),
]


@pytest.mark.parametrize("text", QUERIES)
def test_every_operator_matches_what_brute_force_finds(
    corpus: tuple[Index, list[dict]], text: str
) -> None:
    ix, records = corpus
    reference = Reference(ix, records)
    expected = reference.matching(text)
    found = {f"{m.collection}/{m.article_id}" for m in ix.matches(text, collapse=False)}
    assert found == expected
    assert ix.count(text, collapse=False) == len(expected)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("text", [q for q in QUERIES if parse(q).words.strip()])
def test_ranked_hits_are_the_qualifying_passages_in_every_mode(
    corpus: tuple[Index, list[dict]], text: str, mode: str
) -> None:
    """A passage hit's article matches and the passage holds what is asked present; and
    the constraint filters the candidates before the cut, so that every qualifying
    passage comes back when as many are asked for."""
    ix, records = corpus
    reference = Reference(ix, records)
    parsed = parse(text)
    constraint = parsed.constraint
    assert constraint is not None
    articles = reference.matching(text)
    qualifying = {
        pid
        for pid, (key, *_rest) in reference.passages.items()
        if key in articles and (not parsed.positive or reference.passage_shows(pid, constraint))
    }
    if mode == "lexical":  # BM25 finds passages holding a word of the query, no others
        words = set(analyse(parsed.words))
        qualifying = {p for p in qualifying if words & set(reference.passages[p][1])}
    asked = max(len(qualifying), 1)
    hits = ix.search(text, k=asked, mode=mode, collapse=False)
    assert {h.passage_id for h in hits} == qualifying
    by_article = ix.search(text, k=len(reference.articles), mode=mode, by="article", collapse=False)
    assert {f"{h.collection}/{h.article_id}" for h in by_article} <= articles


def test_free_text_matches_by_relevance_threshold(corpus: tuple[Index, list[dict]]) -> None:
    """Plain words match every article whose best passage's cosine with the query clears
    the threshold (computed here from the fake embedder's own vectors)."""
    ix, records = corpus
    reference = Reference(ix, records)
    embedder = FakeEmbedder()
    for text in ["oil price crude", "coffee cocoa tonnes", "election vote court minister"]:
        query = embedder.embed_query(text)
        store = Store.open(ix.path / "store.sqlite", readonly=True)
        try:
            rows = store._rows(
                "SELECT p.id, a.title, p.text FROM passages p JOIN articles a"
                " ON a.id = p.article_id"
            )
        finally:
            store.close()
        best: dict[str, float] = {}
        for pid, title, passage in rows:
            vector = embedder.embed([f"{title}\n{passage}"])[0]
            key = reference.passages[pid][0]
            best[key] = max(best.get(key, -1.0), float(vector @ query))
        found = {f"{m.collection}/{m.article_id}" for m in ix.matches(text, collapse=False)}
        expected = {k for k, v in best.items() if v >= matching.RELEVANCE_THRESHOLD - 1e-6}
        near = {k for k, v in best.items() if abs(v - matching.RELEVANCE_THRESHOLD) < 1e-4}
        assert found - near == expected - near
        excluded = f"{text} -oil"
        kept = {f"{m.collection}/{m.article_id}" for m in ix.matches(excluded, collapse=False)}
        assert kept == {k for k in found if not reference.article_matches(k, Term(("oil",)))}


def test_sorting_by_date_lists_the_matching_set(corpus: tuple[Index, list[dict]]) -> None:
    ix, records = corpus
    reference = Reference(ix, records)
    expected = reference.matching('"oil price" OR "interest rate"')
    newest = ix.search('"oil price" OR "interest rate"', k=1000, sort="newest", collapse=False)
    assert {f"{h.collection}/{h.article_id}" for h in newest} == expected
    dated = [h.published for h in newest if h.published]
    assert dated == sorted(dated, reverse=True)
    assert all(h.published is None for h in newest[len(dated) :])  # undated last
    oldest = ix.search('"oil price" OR "interest rate"', k=1000, sort="oldest", collapse=False)
    assert [h.published for h in oldest if h.published] == sorted(dated)
    assert [h.rank for h in oldest] == list(range(1, len(oldest) + 1))
    page = ix.search('"oil price" OR "interest rate"', k=5, sort="oldest", offset=5, collapse=False)
    assert [h.article_id for h in page] == [h.article_id for h in oldest[5:10]]
    assert [h.rank for h in page] == list(range(6, 11))


def test_timeline_and_facets_count_the_matching_set(corpus: tuple[Index, list[dict]]) -> None:
    ix, records = corpus
    reference = Reference(ix, records)
    text = "oil OR crude"
    expected = reference.matching(text)
    weeks: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for key, record in reference.by_id.items():
        if "date" not in record:
            continue
        day = dt.date.fromisoformat(record["date"])
        monday = (day - dt.timedelta(days=day.weekday())).isoformat()
        totals[monday] += 1
        weeks[monday] += key in expected
    timeline = ix.timeline(text, every="week", collapse=False)
    shown = {p.start: (p.count, p.total_count) for p in timeline.periods}
    assert {w: c for w, (c, _) in shown.items() if c} == {w: c for w, c in weeks.items() if c}
    assert {w: t for w, (_, t) in shown.items() if t} == dict(totals)
    starts = [dt.date.fromisoformat(p.start) for p in timeline.periods]
    assert all(b - a == dt.timedelta(days=7) for a, b in zip(starts, starts[1:], strict=False))
    assert timeline.undated == sum(1 for k in expected if "date" not in reference.by_id[k])
    facets = ix.facets(text, collapse=False)
    outlets = Counter(reference.by_id[k]["source"] for k in expected)
    assert {c.value: c.articles for c in facets.outlets} == dict(outlets)
    topics = Counter(t for k in expected for t in reference.by_id[k]["topics"])
    assert {c.value: c.articles for c in facets.fields["topics"]} == dict(topics)
    assert facets.matched == len(expected)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('"oil price', "character 1: this quote is never closed"),
        ("(oil OR gas", "character 1: this '(' is never closed"),
        ("oil OR", "character 5: OR has nothing after it"),
        (" OR ".join(["oil"] * 10_000), "more than 1,024 terms"),
        ("nosuchfield:x", "unknown field 'nosuchfield'"),
        ("source:Nobody", "no outlet 'nobody'"),
    ],
)
def test_hostile_syntax_is_one_line_error(
    corpus: tuple[Index, list[dict]], text: str, where: str
) -> None:
    ix, _records = corpus
    with pytest.raises(QueryError) as raised:
        ix.search(text)
    assert where in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "pasted",
    [
        "Sen. David Boren (D-Okla.) said the bill would pass",
        "bonus wheat flour for north yemen  -- usda",
        "prices rose (about 3 pct) from -$5 a year ago (1986/87 season)",
        "the quota (January-December) was set (see (table) below)",
    ],
)
def test_pasted_text_reads_as_plain_words(pasted: str) -> None:
    """News copy's parentheses and dashes say nothing more than its words: no constraint,
    the text ranked whole, as before the syntax."""
    parsed = parse(pasted)
    assert parsed.constraint is None and parsed.plain and parsed.thresholded
    assert parsed.words == pasted


@pytest.mark.parametrize(
    ("text", "constraint"),
    [
        ("-(oil gas) price", Clauses(must_not=(Clauses(should=(Term(("oil",)), Term(("gas",)))),))),
        (
            "(oil OR gas) price",
            Clauses(should=(Clauses(should=(Clauses(should=(Term(("oil",)), Term(("gas",)))),)),)),
        ),
        (
            'x ("crude price")',
            Clauses(should=(Clauses(should=(Term(("crude", "price"), phrase=True),)),)),
        ),
        ("x (a -b)", Clauses(should=(Clauses(should=(Term(("a",)),), must_not=(Term(("b",)),)),))),
        ("-3 pct", Clauses(must_not=(Term(("3",)),))),
    ],
)
def test_parentheses_with_syntax_inside_still_constrain(text: str, constraint: Clauses) -> None:
    assert parse(text).constraint == constraint


def test_plain_words_rank_as_before(corpus: tuple[Index, list[dict]]) -> None:
    """No syntax, no constraint: the plain ranking itself (the golden answers pin it)."""
    ix, _records = corpus
    plain = ix.search("oil price crude", k=5)
    again = ix.searcher.search(
        "oil price crude", FakeEmbedder().embed_query("oil price crude"), 5, "hybrid"
    )
    assert [h.passage_id for h in plain] == [h.passage_id for h in again]
    assert all(0.0 <= (h.relevance or 0.0) <= 1.0 for h in plain)
    assert np.isfinite([h.score for h in plain]).all()


@pytest.mark.parametrize("text", ['"oil price"', "title:oil", "+yen dollar", "crude AND output"])
def test_matches_carry_their_best_passages_relevance(
    corpus: tuple[Index, list[dict]], text: str
) -> None:
    """A query with syntax scores only its matching articles' passages when they are few
    (the first three here; the fourth matches most articles, and all are scored): each
    match's relevance is still its article's best passage's cosine, and the passage shown
    is the most relevant of those holding what is asked (if one does)."""
    ix, records = corpus
    reference = Reference(ix, records)
    parsed = parse(text)
    embedder = FakeEmbedder()
    query = embedder.embed_query(parsed.words)
    store = Store.open(ix.path / "store.sqlite", readonly=True)
    try:
        rows = store._rows(
            "SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id"
        )
    finally:
        store.close()
    cosine = {
        pid: float(embedder.embed([f"{title}\n{body}"])[0] @ query) for pid, title, body in rows
    }
    matches = list(ix.matches(text, collapse=False))
    assert matches
    for match in matches:
        key = f"{match.collection}/{match.article_id}"
        own = [pid for pid, (k, *_) in reference.passages.items() if k == key]
        best = max(cosine[pid] for pid in own)
        assert match.relevance == pytest.approx(max(0.0, min(1.0, best)), abs=1e-4)
        showing = [pid for pid in own if reference.passage_shows(pid, parsed.constraint)]
        shown = showing or own  # AND across two passages: none holds both
        assert match.passage_id in shown
        assert cosine[match.passage_id] == pytest.approx(max(cosine[p] for p in shown), abs=1e-5)


@pytest.mark.parametrize("text", ["topics:crude", "*", "-oil"])
def test_a_query_without_words_shows_each_articles_first_passage(
    corpus: tuple[Index, list[dict]], text: str
) -> None:
    """Nothing ranks such a query's articles: each is shown by its first passage."""
    ix, records = corpus
    reference = Reference(ix, records)
    first: dict[str, int] = {}
    for pid, (key, *_rest) in sorted(reference.passages.items()):
        first.setdefault(key, pid)
    matches = list(ix.matches(text, collapse=False))
    assert matches
    assert all(m.passage_id == first[f"{m.collection}/{m.article_id}"] for m in matches)


SHARES = [0.0, 0.02, 0.3, 0.45, 0.49, 0.6, 0.97, 0.999, 1.0]  # of passages excluded


def test_a_restriction_searches_each_segment_as_a_list_of_its_ids_would(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dense half's fast ways through a restriction (an exclusion's best fetched deeper
    and dropped; each segment's rows found from the shorter side) answer exactly as testing
    every row's id against the allowed list, on inverted files and flat segments alike."""
    from search.query.searcher import Restriction, dense_candidates

    monkeypatch.setattr("search.storage.segments.FLAT_LIMIT", 40)
    monkeypatch.setattr("search.storage.segments._MIN_PROBES", 2)  # probes miss rows
    embedder = FakeEmbedder()
    ix = Index.create(tmp_path / "ix", model=embedder)
    ix.add(write_jsonl(tmp_path / "wire", _records(count=240, seed=5)))
    for name, count in [("more", 12), ("late", 120)]:  # a flat segment, an inverted file
        records = [{**r, "id": f"{name}-{r['id']}"} for r in _records(count, seed=count)]
        ix.add(write_jsonl(tmp_path / name, records))
    assert ix.stats().vector_layout == "ivf"
    snapshot = ix._searcher.read(lambda _store, snapshot: snapshot)
    catalog = ix._searcher.read(lambda store, snap: ix._research.catalog(store, snap.generation))
    late = snapshot.parts[-1].vectors
    assert late.offsets is not None and late.probes < late.lists
    rng = np.random.default_rng(3)
    masks = [rng.random(len(catalog.passages)) >= share for share in SHARES]
    # most of one segment excluded, little of the archive: that segment is scored exactly
    masks += [~np.isin(catalog.passages, late.ids[: len(late.ids) * 9 // 10])]
    for inside in masks:
        allowed = catalog.passages[inside]
        include = len(allowed) * 2 <= len(catalog.passages)
        few = catalog.passages[inside if include else ~inside]
        restriction = Restriction(
            few,
            include,
            catalog.passages,
            inside,
            lambda part, allowed=allowed: np.isin(part.vectors.ids, allowed),
            snapshot.generation,
        )
        for text in ["oil price crude", "court minister", "x", *WORDS[:12]]:
            vector = embedder.embed_query(text)
            for depth in [1, 3, 10, 100, 600]:
                listed = dense_candidates(snapshot, vector, depth, allowed)
                assert dense_candidates(snapshot, vector, depth, exactly=restriction) == listed
    for text in ['"oil price" -court', "oil -price", "-oil crude", "crude -bank -yen"]:
        restriction = ix._research.restriction(ix._request(text))
        assert restriction is not None and restriction.generation == snapshot.generation
        shipped = restriction.shipped()  # what a shard is sent: the list, not the catalog
        assert shipped.rows is None and shipped.passages is restriction.allowed
        assert np.array_equal(shipped.allowed, restriction.allowed)
        assert (shipped.lexical, shipped.include) == (restriction.lexical, restriction.include)
        vector = embedder.embed_query(text)
        for depth in [10, 300]:
            listed = dense_candidates(snapshot, vector, depth, restriction.allowed)
            assert dense_candidates(snapshot, vector, depth, exactly=restriction) == listed
    ix.close()
