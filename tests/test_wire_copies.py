"""Exact and near-exact copies always group (issue 19), in the index as it is built: the
copies the issue found apart on the shared data, and copies planted in real articles (exact,
white space, case, punctuation, Unicode form, another headline, a byline, a sign-off) found
with recall 1.0 whether they come in the first run or a later one, without grouping
distinct articles. The pure functions are tested in test_duplicates.py.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need_shared
from fakes import FakeEmbedder

from search import Index
from search.write import minhash

SEED = 19


def _records(*parts: str) -> list[dict]:
    with gzip.open(need_shared("data", *parts), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "articles.jsonl").write_text(lines, encoding="utf-8")
    return folder


def _two_runs(path: Path, first: list[dict], later: list[dict]) -> Index:
    """An index of ``first``, then ``later`` added by a second, incremental run."""
    with Index.create(path / "index", model=FakeEmbedder()) as ix:
        ix.add(_write(path / "first", first))
    ix = Index.open(path / "index", model=FakeEmbedder())
    ix.add(_write(path / "later", later))
    return ix


# ---------------------------------------------------------------------------
# The copies issue 19 found apart

KILROY = ("politics/111", "politics/293")  # one text; the second adds readers' comments
OPEC = ("6177", "6208")  # one headline, one day; the second a cut of the first


def _ids(duplicates: tuple[str, ...]) -> tuple[str, ...]:
    """Copies' ids in their collections (``duplicates`` name them COLLECTION/ID)."""
    return tuple(key.partition("/")[2] for key in duplicates)


@pytest.fixture(scope="module")
def bbc_politics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    records = [r for r in _records("bbc_news", "bbc_news.jsonl.gz") if r["category"] == "politics"]
    later = [r for r in records if r["id"] == KILROY[1]]
    first = [r for r in records if r["id"] != KILROY[1]]
    ix = _two_runs(tmp_path_factory.mktemp("bbc"), first, later)
    yield ix
    ix.close()


@pytest.fixture(scope="module")
def reuters_march(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    records = [
        r
        for r in _records("reuters21578", "reuters21578.jsonl.gz")
        if r["lewis_split"] == "TRAIN" and 6000 <= int(r["id"]) < 6400
    ]
    later = [r for r in records if r["id"] == OPEC[1]]
    first = [r for r in records if r["id"] != OPEC[1]]
    ix = _two_runs(tmp_path_factory.mktemp("reuters"), first, later)
    yield ix
    ix.close()


def test_the_kilroy_texts_are_one_group_and_one_hit(bbc_politics: Index) -> None:
    ix = bbc_politics
    assert _ids(ix.article(KILROY[0]).duplicates) == (KILROY[1],)
    for mode in ("hybrid", "lexical", "dense"):
        hits = ix.search("Kilroy-Silk", k=10, mode=mode)
        shown = [h for h in hits if h.article_id in KILROY]
        assert len({h.article_id for h in shown}) == 1, mode
        assert set(_ids(shown[0].duplicates)) == set(KILROY) - {shown[0].article_id}
    every = ix.search("Kilroy-Silk", k=10, mode="lexical", collapse=False)
    assert set(KILROY) <= {h.article_id for h in every}  # --all still shows both


def test_similar_articles_show_the_kilroy_texts_once(bbc_politics: Index) -> None:
    ix = bbc_politics
    assert not set(KILROY) & {h.article_id for h in ix.similar(KILROY[0], k=10)}
    about = {h.article_id for h in ix.search("Kilroy-Silk Veritas", k=10, by="article")}
    for article_id in sorted(about - set(KILROY)):
        similar = [h.article_id for h in ix.similar(article_id, k=10)]
        assert len(set(KILROY) & set(similar)) <= 1, article_id


def test_the_opec_cut_is_grouped_with_its_story_and_ranks_once(reuters_march: Index) -> None:
    ix = reuters_march
    assert _ids(ix.article(OPEC[0]).duplicates) == (OPEC[1],)
    hits = ix.search("OPEC wants 18 dlr oil price OAPEC official", k=5, by="article")
    assert hits[0].article_id in OPEC
    assert set(_ids(hits[0].duplicates)) == set(OPEC) - {hits[0].article_id}
    assert not set(OPEC) & {h.article_id for h in hits[1:]}


# ---------------------------------------------------------------------------
# Planted copies: recall 1.0 on exact and near-exact copies, distinct articles apart

BYLINE = "By Jane Smith, Staff Reporter\n\n"
SIGN_OFF = "\n\n(Reporting by Jane Smith; Editing by Tom Brown)"


def _punctuated(text: str) -> str:
    """The same words, other punctuation: curly quotes, dashes, no commas before spaces."""
    text = text.replace("'", "\u2019").replace('"', "\u201d").replace(" - ", " \u2014 ")
    return re.sub(r",(?=\s)", "", text)


def _copies(record: dict, headline: str) -> dict[str, tuple[str, str]]:
    """Copies of an article that must be grouped with it, each as (title, text)."""
    title, text = record["title"], record["text"]
    return {
        "exact": (title, text),
        "white space": (f" {title} ", "\n" + text.replace(" ", "  ").replace("\n\n", "\n \n")),
        "case": (title.upper(), text.upper()),
        "punctuation": (_punctuated(title), _punctuated(text)),
        "unicode form": (unicodedata.normalize("NFD", title), unicodedata.normalize("NFD", text)),
        "new headline": (headline, text),
        "byline": (title, BYLINE + text),
        "sign-off": (title, text + SIGN_OFF),
    }


def _features(record: dict) -> frozenset[bytes]:
    return frozenset(minhash.features(minhash.words(record["title"], record["text"])))


def _distinct(records: list[dict], n: int, rng: random.Random) -> list[dict]:
    """``n`` articles of at least ``MIN_WORDS`` words of text, no two of which share half
    of either's features (counted exactly, with no MinHash): distinct stories."""
    chosen: list[dict] = []
    kept: list[frozenset[bytes]] = []
    for record in rng.sample(records, len(records)):
        if len(minhash.words("", record["text"], with_title=False)) < minhash.MIN_WORDS:
            continue
        mine = _features(record)
        if all(len(mine & other) < 0.5 * min(len(mine), len(other)) for other in kept):
            chosen.append(record)
            kept.append(mine)
            if len(chosen) == n:
                return chosen
    raise AssertionError(f"only {len(chosen)} distinct articles")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Index, dict, list]]:
    """20 originals from each of BBC, Reuters TRAIN and AG News, with 8 copies each that a
    later run adds, among 60 more distinct articles from each."""
    rng = random.Random(SEED)
    bbc = _records("bbc_news", "bbc_news.jsonl.gz")
    reuters = [
        r for r in _records("reuters21578", "reuters21578.jsonl.gz") if r["lewis_split"] == "TRAIN"
    ]
    ag = _records("ag_news", "ag_news_test.jsonl.gz")
    first: list[dict] = []
    later: list[dict] = []
    copies: dict[str, list[str]] = {}
    distinct: list[str] = []
    for name, records in (("bbc", bbc), ("reuters", reuters), ("ag", ag)):
        chosen = _distinct(records, 80, rng)
        first += [{**r, "id": f"{name}:{r['id']}"} for r in chosen]
        distinct += [f"{name}:{r['id']}" for r in chosen[20:]]
        for record in chosen[:20]:
            original = f"{name}:{record['id']}"
            headline = rng.choice(chosen[20:])["title"]
            copies[original] = []
            for kind, (title, text) in _copies(record, headline).items():
                copy = f"{original}#{kind}"
                later.append({"id": copy, "title": title, "text": text})
                copies[original].append(copy)
    ix = _two_runs(tmp_path_factory.mktemp("planted"), first, later)
    yield ix, copies, distinct
    ix.close()


def test_every_planted_copy_is_grouped_with_its_original_and_nothing_else(
    planted: tuple[Index, dict, list],
) -> None:
    ix, copies, _ = planted
    missed = {}
    for original, mine in copies.items():
        grouped = set(_ids(ix.article(original).duplicates))
        if grouped != set(mine):
            missed[original] = sorted(set(mine) ^ grouped)
    assert not missed  # recall 1.0, and no foreign article in a group
    assert ix.stats().duplicate_groups == len(copies)
    assert ix.stats().articles_in_groups == len(copies) * 9


def test_distinct_articles_are_not_grouped(planted: tuple[Index, dict, list]) -> None:
    ix, _, distinct = planted
    assert len(distinct) == 180
    assert [i for i in distinct if ix.article(i).duplicates] == []


@pytest.mark.slow
def test_thousands_of_planted_copies_are_all_grouped_by_the_batch_reference() -> None:
    """``minhash.group``, the reference the index agrees with, on 300 originals of each
    dataset with their 8 copies each (7,200), among 1,000 more real articles of each."""
    rng = random.Random(SEED + 1)
    articles: list[tuple[str, str, str]] = []
    copies: dict[str, list[str]] = {}
    for name, parts in (
        ("bbc", ("bbc_news", "bbc_news.jsonl.gz")),
        ("reuters", ("reuters21578", "reuters21578.jsonl.gz")),
        ("ag", ("ag_news", "ag_news_test.jsonl.gz")),
    ):
        records = rng.sample(_records(*parts), 1300)
        long = [r for r in records if len(minhash.words("", r["text"])) >= minhash.MIN_WORDS]
        articles += [(f"{name}:{r['id']}", r["title"], r["text"]) for r in records]
        for record in long[:300]:
            original = f"{name}:{record['id']}"
            planted = _copies(record, rng.choice(records)["title"])
            articles += [(f"{original}#{k}", title, text) for k, (title, text) in planted.items()]
            copies[original] = [f"{original}#{kind}" for kind in planted]
    assert len(copies) == 900
    group_of = {member: set(g) for g in minhash.group(articles) for member in g}
    missed = [c for o, mine in copies.items() for c in mine if c not in group_of.get(o, ())]
    assert missed == []
