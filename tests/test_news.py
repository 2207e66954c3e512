"""News search: filters inside both retrievers, wire copies collapsed, articles as results
and as objects (``show``, ``similar``), and queries that must not give a traceback."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, one_line_error

from search import Index, InputError, QueryError
from search.domain.filters import Filter
from search.storage.database import Store
from search.storage.segments import Segment

WORDS = (
    "oil crude opec barrel output ceiling price bank yen dollar rate interest grain wheat "
    "harvest export strike union court minister election vote coffee cocoa tonnes shares "
    "profit merger bid talks ship port storm drought rain"
).split()
OUTLETS = ["Reuters", "BBC News", "Associated Press"]
TOPICS = ["crude", "money-fx", "grain", "trade", "acq"]


def _text(rng: random.Random, paragraphs: int) -> str:
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) + "."
        for _ in range(paragraphs)
    )


def make_records(count: int = 60, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for number in range(count):
        record = {
            "id": f"a{number:03d}",
            "title": " ".join(rng.choice(WORDS) for _ in range(5)),
            "text": _text(rng, rng.randint(1, 4)),
            "date": f"1987-0{rng.randint(2, 4)}-{rng.randint(10, 28)} 0{rng.randint(0, 9)}:15:00",
            "source": rng.choice(OUTLETS),
            "topics": rng.sample(TOPICS, rng.randint(0, 2)),
            "lewis_split": rng.choice(["TRAIN", "TEST"]),
        }
        if number % 10 == 3:
            del record["date"]
        records.append(record)
    return records


def write_jsonl(folder: Path, records: list[dict], name: str = "wire.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def passes(record: dict, only: Filter) -> bool:
    """The test's own reading of a filter, straight from the records."""
    day = None
    if "date" in record:
        day = np.datetime64(record["date"][:10]).astype(object).toordinal()
    if only.since is not None and (day is None or day < only.since):
        return False
    if only.until is not None and (day is None or day > only.until):
        return False
    if only.sources and record["source"].casefold() not in only.sources:
        return False
    for name, value in only.where:
        held = record.get(name)
        values = held if isinstance(held, list) else [held]
        if value not in [str(v).casefold() for v in values]:
            return False
    return True


@pytest.fixture
def news(tmp_path: Path, fake: FakeEmbedder) -> tuple[Index, list[dict]]:
    records = make_records()
    path = write_jsonl(tmp_path / "wire", records)
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.add(path)
    yield ix, records
    ix.close()


def all_vectors(ix: Index) -> tuple[np.ndarray, np.ndarray]:
    """Every live (passage id, vector) of the index, read from its segment files."""
    store = Store.open(ix.path / "store.sqlite", readonly=True)
    try:
        deleted = np.asarray(store.deletions(), dtype=np.int64)
        ids, vectors = [], []
        for row in store.segments():
            segment = Segment.open(ix.path, row, ix.settings.dimension)
            keep = ~np.isin(segment.ids, deleted)
            part_ids, part_vectors = segment.contents(keep)
            ids.append(part_ids)
            vectors.append(part_vectors)
        return np.concatenate(ids), np.concatenate(vectors)
    finally:
        store.close()


FILTERS = [
    {"since": "1987-03-01"},
    {"until": "1987-02-20"},
    {"since": "1987-03", "until": "1987-03"},
    {"sources": ["reuters"]},
    {"sources": ["BBC News", "Associated Press"]},
    {"where": {"topics": "crude"}},
    {"where": {"topics": "grain", "lewis_split": "TRAIN"}},
    {"since": "1987-03-15", "sources": "Reuters", "where": ["topics=acq"]},
]


@pytest.mark.parametrize("given", FILTERS)
def test_dense_filter_matches_brute_force_over_the_filtered_set(
    news: tuple[Index, list[dict]], fake: FakeEmbedder, given: dict
) -> None:
    ix, records = news
    only = Filter.make(**given)
    assert only is not None
    allowed_articles = {r["id"] for r in records if passes(r, only)}
    ids, vectors = all_vectors(ix)
    owner = {p.id: p.article_id for a in allowed_articles for p in _passages(ix, a)}
    query = "crude oil opec output"
    scores = vectors @ fake.embed_query(query)
    reference = [int(i) for i in ids[np.lexsort((ids, -scores))] if int(i) in owner]
    for k in (1, 5, 40):
        hits = ix.search(query, k=k, mode="dense", collapse=False, **given)
        assert len(hits) == min(k, len(reference))  # k hits whenever k passages match
        assert_same_ranking(
            [h.passage_id for h in hits], reference[:k], dict(zip(ids, scores, strict=True))
        )


@pytest.mark.parametrize("given", FILTERS)
def test_lexical_filter_matches_brute_force_over_the_filtered_set(
    news: tuple[Index, list[dict]], given: dict
) -> None:
    ix, records = news
    only = Filter.make(**given)
    assert only is not None
    allowed = {r["id"] for r in records if passes(r, only)}
    query = "crude oil harvest"
    everything = ix.search(query, k=10_000, mode="lexical", collapse=False)
    reference = [h for h in everything if h.article_id in allowed]
    for k in (1, 5, 40):
        hits = ix.search(query, k=k, mode="lexical", collapse=False, **given)
        assert len(hits) == min(k, len(reference))
        assert {h.article_id for h in hits} <= allowed
        # Same scores as unfiltered (filters add nothing), in the same order.
        assert [round(h.score, 4) for h in hits] == [round(h.score, 4) for h in reference[:k]]


@pytest.mark.parametrize("given", FILTERS)
def test_hybrid_filter_returns_k_hits_that_pass(
    news: tuple[Index, list[dict]], given: dict
) -> None:
    ix, records = news
    only = Filter.make(**given)
    assert only is not None
    allowed = {r["id"] for r in records if passes(r, only)}
    matching = sum(len(_passages(ix, a)) for a in allowed)
    hits = ix.search("crude oil opec", k=25, collapse=False, **given)
    assert {h.article_id for h in hits} <= allowed
    assert len(hits) == min(25, matching)


def test_dense_filter_through_ivf_segments_matches_brute_force(
    tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IVF probes see a few lists: a filter's rows outside them must still be found, by
    the exact pass over the allowed rows (or over probes, then exactly when short)."""
    monkeypatch.setattr("search.storage.segments.FLAT_LIMIT", 40)
    records = make_records(200, seed=11)
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.add(write_jsonl(tmp_path / "wire", records))
    assert ix.stats().vector_layout == "ivf"
    ids, vectors = all_vectors(ix)
    query = "bank yen dollar rate"
    scores = vectors @ fake.embed_query(query)
    order = ids[np.lexsort((ids, -scores))]
    for exact_rows in (0, 20_000):  # through the probes (approximate), exactly
        monkeypatch.setattr("search.query.searcher.EXACT_ROWS", exact_rows)
        monkeypatch.setattr("search.query.searcher.EXACT_SHARE", 0.0)
        for given in FILTERS:
            only = Filter.make(**given)
            assert only is not None
            allowed = {r["id"] for r in records if passes(r, only)}
            owner = {p.id for a in allowed for p in _passages(ix, a)}
            reference = [int(i) for i in order if int(i) in owner]
            for k in (3, 10, 60):
                hits = ix.search(query, k=k, mode="dense", collapse=False, **given)
                found = [h.passage_id for h in hits]
                assert len(found) == min(k, len(reference)), given  # probes short: exact
                assert set(found) <= owner
                if exact_rows:
                    assert_same_ranking(found, reference[:k], dict(zip(ids, scores, strict=True)))
    ix.close()


def assert_same_ranking(found: list[int], expected: list[int], score: dict) -> None:
    """The same passages in the same order, but for the order of equal scores (the hash
    embedder gives many): the same scores, and the same ids above the last score."""
    assert [round(float(score[i]), 5) for i in found] == [
        round(float(score[i]), 5) for i in expected
    ]
    if expected:
        last = round(float(score[expected[-1]]), 5)
        above = [i for i in expected if round(float(score[i]), 5) > last]
        assert set(above) <= set(found)


def _passages(ix: Index, article_id: str) -> list:
    store = ix.searcher.store()
    [key] = store.find_articles(article_id)
    return store.article_passages(key)


def test_filters_reach_articles_indexed_later_and_drop_removed_ones(
    news: tuple[Index, list[dict]], tmp_path: Path
) -> None:
    ix, _ = news
    extra = {
        "id": "late",
        "title": "Late cocoa story",
        "text": "Cocoa harvest figures from Bahia were revised upward by traders this week.",
        "date": "1990-05-05",
        "source": "Wire Two",
        "topics": ["cocoa"],
    }
    ix.add(write_jsonl(tmp_path / "more", [extra], "late.jsonl"))
    hits = ix.search("cocoa harvest", k=5, sources=["wire two"], since="1990")
    assert [h.article_id for h in hits] == ["late"]
    assert hits[0].source == "Wire Two" and hits[0].published == "1990-05-05"
    ix.remove("late")
    with pytest.raises(QueryError, match="no outlet 'wire two' in this index — nearest: "):
        ix.search("cocoa harvest", k=5, sources=["wire two"])
    assert ix.search("cocoa harvest", k=5, mode="lexical", where={"topics": "cocoa"}) == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"since": "yesterday"}, "is not a date — use YYYY-MM-DD"),
        ({"until": "1987-13-01"}, "is not a date — use YYYY-MM-DD"),
        ({"since": "1988", "until": "1987"}, "nothing could match"),
        ({"where": {"colour": "red"}}, "unknown field 'colour' — fields in this index: "),
        ({"where": ["topics"]}, "is not FIELD=VALUE"),
    ],
)
def test_a_bad_filter_is_one_clear_error(
    news: tuple[Index, list[dict]], given: dict, message: str
) -> None:
    ix, _ = news
    with pytest.raises(QueryError, match=message):
        ix.search("oil", **given)


def test_unknown_field_error_lists_the_fields(news: tuple[Index, list[dict]]) -> None:
    ix, _ = news
    with pytest.raises(QueryError) as caught:
        ix.search("oil", where={"colour": "red"})
    assert str(caught.value).endswith("fields in this index: lewis_split, source, topics")


@pytest.mark.parametrize(
    ("text", "k"),
    [
        ("oil", 100000000000000000000),
        ("oil", 2.5),
        ("oil", "3"),
        ("oil", True),
        ("oil", 0),
        ("x \ud800", 3),
        ("caf\udce9", 3),  # the bytes "caf\xe9" given as an argument that is not UTF-8
    ],
)
def test_queries_that_were_tracebacks_are_query_errors(
    news: tuple[Index, list[dict]], text: str, k: object
) -> None:
    ix, _ = news
    with pytest.raises(QueryError):
        ix.search(text, k=k)  # type: ignore[arg-type]


def test_cli_bad_queries_are_one_line_errors(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "wire", make_records(10))
    assert cli("index", tmp_path / "wire").exit_code == 0
    for args in (
        ["-k", "100000000000000000000"],
        ["--since", "5-MAR"],
        ["--where", "colour=red"],
        ["--where", "novalue"],
    ):
        line = one_line_error(cli("query", "oil", *args), 3)
        assert "Traceback" not in line
    line = one_line_error(cli("query", "x \udcff"), 3)
    assert "not valid text" in line


# ---------------------------------------------------------------------------
# Wire copies, articles as results, show and similar

STORY = (
    "Ministers from the oil exporting countries agreed on Sunday to hold the output ceiling "
    "at sixteen million barrels a day for the rest of the year, delegates said after talks.\n\n"
    "The agreement keeps quotas for each member unchanged and leaves the reference price at "
    "eighteen dollars a barrel, a level the cartel has defended since the winter."
)


def wire_records() -> list[dict]:
    copy = STORY.replace("on Sunday", "late on Sunday")  # an edited wire copy
    return [
        {
            "id": "opec-1",
            "title": "OPEC holds ceiling",
            "text": STORY,
            "source": "Reuters",
            "date": "1987-03-01",
        },
        {
            "id": "opec-2",
            "title": "OPEC keeps output ceiling",
            "text": copy,
            "source": "Associated Press",
            "date": "1987-03-01",
        },
        {
            "id": "opec-3",
            "title": "OPEC holds ceiling",
            "text": STORY,
            "source": "BBC News",
            "date": "1987-03-02",
        },
        {
            "id": "grain",
            "title": "Wheat harvest grows",
            "text": "Farmers in the plains brought in a record wheat harvest this summer, and "
            "grain prices fell as elevators filled across the region.",
            "date": "1987-07-01",
        },
        {
            "id": "yen",
            "title": "Bank of Japan buys dollars",
            "text": "The Bank of Japan bought dollars in Tokyo to slow the rise of the yen, "
            "dealers said, as the currency touched a new high against the dollar.\n\nREUTER",
            "date": "1987-03-03",
        },
        {"id": "brief", "title": "OPEC ministers to meet in Vienna"},
    ]


@pytest.fixture
def wire(tmp_path: Path, fake: FakeEmbedder) -> Index:
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.add(write_jsonl(tmp_path / "wire", wire_records()))
    yield ix
    ix.close()


def test_wire_copies_form_one_group_and_show_as_one_hit(wire: Index) -> None:
    assert wire.stats().duplicate_groups == 1 and wire.stats().articles_in_groups == 3
    hits = wire.search("OPEC output ceiling barrels", k=10)
    ids = [h.article_id for h in hits]
    copies = {"opec-1", "opec-2", "opec-3"}
    shown = [i for i in ids if i in copies]
    assert len(set(shown)) == 1  # one copy's passages, the others collapsed into it
    first = next(h for h in hits if h.article_id in copies)
    assert set(first.duplicates) == {f"wire/{i}" for i in copies - {first.article_id}}
    every = wire.search("OPEC output ceiling barrels", k=10, collapse=False)
    assert {h.article_id for h in every} >= copies


def test_removing_a_copy_keeps_the_others_grouped_and_the_last_alone(wire: Index) -> None:
    wire.remove("opec-2")
    assert set(wire.article("opec-1").duplicates) == {"wire/opec-3"}
    wire.remove("opec-3")
    assert wire.article("opec-1").duplicates == ()
    assert wire.stats().duplicate_groups == 0


def test_by_article_gives_one_hit_per_article_with_its_best_passage(wire: Index) -> None:
    passages = wire.search("OPEC ceiling quotas price barrel", k=20, collapse=False)
    articles = wire.search("OPEC ceiling quotas price barrel", k=20, by="article", collapse=False)
    ids = [h.article_id for h in articles]
    assert len(ids) == len(set(ids)) == len({h.article_id for h in passages})
    for hit in articles:
        mine = [p for p in passages if p.article_id == hit.article_id]
        assert hit.passage_id == mine[0].passage_id  # its best passage is shown
        assert hit.matched == len(mine)
    collapsed = wire.search("OPEC ceiling quotas price barrel", k=20, by="article")
    assert len([h for h in collapsed if h.article_id.startswith("opec-")]) == 1


SLURRY = [
    {
        "id": "slurry",
        "title": "Kilroy-Silk attacked with slurry",
        "text": "Euro MP Robert Kilroy-Silk, who quit his daytime television show last year, "
        "had a bucket of slurry thrown over him by a protester outside a school in "
        "Manchester.\n\n"
        "The attacker emerged from behind a bush as the MEP and a fellow guest arrived "
        "for the radio show.\n\n"
        "Officers took statements at the scene, but the man had gone by the time they "
        "arrived there.\n\n"
        "Greater Manchester Police made no arrests at the scene.",
    },
    {
        "id": "whip",
        "title": "MEP resigns party whip",
        "text": "The East Midlands MEP resigned the party whip in the European Parliament "
        "after criticising its leadership.",
    },
    # Short passages, so that the shortest of the article's is short beside the rest.
    *(
        {"id": f"council-{n}", "title": f"Council meeting {n}", "text": f"Council met on day {n}."}
        for n in range(40)
    ),
]


def test_an_article_shows_its_passage_that_holds_the_query_words(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    # As BBC politics/157: every passage matches "Kilroy-Silk" through its title, and the
    # shortest ranks first; by article it was the snippet shown ("Police want to hear...").
    with Index.create(tmp_path / "ix", model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "wire", SLURRY))
        passages = ix.search("Kilroy-Silk", k=5, mode="lexical")
        assert passages[0].text == "Greater Manchester Police made no arrests at the scene."
        hit = ix.search("Kilroy-Silk", k=5, mode="lexical", by="article")[0]
        assert hit.article_id == "slurry" and hit.text.startswith("Euro MP Robert Kilroy-Silk")
        assert hit.matched == 4
        # No passage holds the query's word (its title does): the best ranked is shown.
        hit = ix.search("attacked", k=5, mode="lexical", by="article")[0]
        best = ix.search("attacked", k=5, mode="lexical")[0]
        assert hit.passage_id == best.passage_id


def test_a_signature_or_dateline_paragraph_is_no_passage_of_its_own(wire: Index) -> None:
    article = wire.article("yen")
    assert article.paragraphs[-1] == "REUTER"
    assert article.passages == 1  # joined to the paragraph before it
    hit = wire.search("REUTER", k=1, mode="lexical")[0]
    assert hit.text.endswith("against the dollar.\n\nREUTER") and len(hit.text.split()) > 5


def test_a_title_only_record_is_a_findable_article(wire: Index) -> None:
    hit = wire.search("ministers meet Vienna", k=1, mode="lexical")[0]
    assert (hit.article_id, hit.text) == ("brief", "OPEC ministers to meet in Vienna")


def test_article_returns_the_whole_article(wire: Index) -> None:
    article = wire.article("opec-1")
    assert article.title == "OPEC holds ceiling"
    assert (article.published, article.source) == ("1987-03-01", "Reuters")
    assert "\n\n".join(article.paragraphs) == STORY
    assert article.path.endswith("wire.jsonl")
    assert set(article.duplicates) == {"wire/opec-2", "wire/opec-3"}
    with pytest.raises(InputError, match="no article with id 'nope'"):
        wire.article("nope")


def test_similar_leaves_out_the_article_and_its_copies(wire: Index) -> None:
    hits = wire.similar("opec-1", k=5)
    ids = [h.article_id for h in hits]
    assert not {"opec-1", "opec-2", "opec-3"} & set(ids)
    assert sorted(ids) == ["brief", "grain", "yen"]  # every other article, once
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_cli_show_similar_and_filters(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "wire", wire_records())
    assert cli("index", tmp_path / "wire").exit_code == 0
    shown = cli("show", "opec-1")
    assert shown.exit_code == 0
    assert re.search(r"published +1987-03-01\n", shown.stdout)
    assert re.search(r"source +Reuters\n", shown.stdout)
    assert "¶1  Ministers from the oil" in shown.stdout
    assert re.search(r"copies +wire/opec-2, wire/opec-3\n", shown.stdout)
    data = json.loads(cli("show", "opec-1", "--json").stdout)
    assert data["paragraphs"][1].startswith("The agreement keeps quotas")
    similar = [json.loads(line) for line in cli("similar", "opec-1", "--json").stdout.splitlines()]
    assert {row["article_id"] for row in similar} == {"brief", "grain", "yen"}
    one_line_error(cli("show", "nope"), 11)
    rows = [
        json.loads(line)
        for line in cli(
            "query", "OPEC ceiling", "--json", "--source", "BBC News", "--since", "1987-03-02"
        ).stdout.splitlines()
    ]
    assert {r["article_id"] for r in rows} == {"opec-3"}
    assert rows[0]["source"] == "BBC News" and rows[0]["published"] == "1987-03-02"
    every = cli("query", "OPEC ceiling", "--json", "--all", "--by", "article").stdout
    assert {"opec-1", "opec-2", "opec-3"} <= {
        json.loads(x)["article_id"] for x in every.splitlines()
    }
    plain = cli("query", "OPEC ceiling", "-k", "1", "--by", "article").stdout
    assert "1987-03-0" in plain and "+2 copies" in plain


def test_the_index_groups_as_the_batch_reference_does(tmp_path: Path, fake: FakeEmbedder) -> None:
    """Groups kept one article at a time in the store, through removals too, are the groups
    ``duplicates.group`` finds over the whole set at once."""
    import gzip

    from conftest import need_shared

    from search.write import minhash as duplicates

    source = need_shared("data", "reuters21578", "reuters21578.jsonl.gz")
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(3000), handle, strict=False)]
    records = [r for r in records if r["lewis_split"] == "TRAIN" and r["text"]]
    ix = Index.create(tmp_path / "ix", model=fake)
    half = len(records) // 2
    ix.add(write_jsonl(tmp_path / "a", records[:half]))
    ix.add(write_jsonl(tmp_path / "b", records[half:]))
    gone = [r["id"] for r in records[::7]]
    ix.remove(gone)
    kept = [r for r in records if r["id"] not in set(gone)]
    expected = duplicates.group((r["id"], r["title"], r["text"]) for r in kept)
    assert len(expected) >= 10  # Reuters' first 3,000 hold copies to find
    found = set()
    for record in kept:
        article = ix.article(record["id"])
        if article.duplicates:
            found.add(tuple(sorted([article.key, *article.duplicates])))
    assert found == {tuple(sorted(f"wire/{i}" for i in g)) for g in expected}
    assert ix.stats().duplicate_groups == len(expected)
    ix.close()


def test_feeds_warc_and_front_matter_are_searchable_by_outlet_and_date(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    """The formats archives come in, end to end: read, indexed, filtered, shown."""
    from test_formats import ATOM, RSS, WARC_RECORDS, write_warc

    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "example.rss").write_text(RSS, encoding="utf-8")
    (folder / "times.atom").write_text(ATOM, encoding="utf-8")
    write_warc(folder / "crawl.warc.gz", WARC_RECORDS, compress=True)
    (folder / "note.md").write_text(
        "---\ntitle: Harbour dredging resumes\ndate: 2023-11-02\nsource: Port Gazette\n"
        "tags: [harbour, shipping]\n---\n\nDredging of the old harbour channel resumed on "
        "Monday after a two-month pause for the autumn storms.\n",
        encoding="utf-8",
    )
    (folder / "page.html").write_text(
        "<html><body><p>Saved page body text here, kept as a page of its own.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "page_files").mkdir()
    (folder / "page_files" / "ad.html").write_text("<p>Buy now, ad frame text.</p>")
    with Index.create(tmp_path / "ix", model=fake) as ix:
        report = ix.add(folder)
        assert report.skip_counts().get("saved page assets") == 1
        storm = ix.search("storm coast", k=3, sources=["Example News"], collapse=False)
        assert storm and {h.source for h in storm} == {"Example News"}
        # The feed names its outlet for the host example.org: the crawl's page from that
        # host, which names none, is the same outlet (one name per outlet).
        by_url = {h.url: h for h in storm}
        assert by_url["https://example.org/storm"].published == "2024-01-25T09:00:00Z"
        assert "https://www.example.org/storm" in by_url
        crawl = ix.search("storm coast power", k=5, sources=["example.org"], collapse=False)
        assert {h.source for h in crawl} == {"Example News"}
        assert "https://www.example.org/storm" in {h.article_id for h in crawl}
        harbour = ix.search("harbour dredging", k=5, where={"tags": "shipping"})
        assert [h.article_id for h in harbour] == ["archive/note.md"]
        assert harbour[0].source == "Port Gazette" and harbour[0].published == "2023-11-02"
        dated = ix.search(
            "storm markets harbour",
            k=20,
            since="2024-01-25",
            until="2024-01-25",
            mode="lexical",
            by="article",
        )
        assert {h.published[:10] for h in dated} == {"2024-01-25"}
        assert ix.article("https://atom.example/markets").source == "Atom Times"
        assert not ix.search("ad frame", k=5, mode="lexical")  # the saved page's assets
