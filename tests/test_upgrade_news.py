"""News metadata on an index made before it: tests/fixtures/index_v2, built by the code of
commit eb69079 (format 2, store schema 3) by scripts/make_v2_fixture.py, is read as it is,
and the first writing command gives it published dates, duplicate groups and filters."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

import search.write.writer
from search import Index, IndexWriteError, QueryError
from search.storage.lexical import SCHEMA as LEXICAL_SCHEMA
from search.storage.migrations import SCHEMA_VERSION

FIXTURE = Path(__file__).with_name("fixtures") / "index_v2"
EXPECTED = json.loads((FIXTURE / "EXPECTED.json").read_text(encoding="utf-8"))
MODES = ("lexical", "dense", "hybrid")
COPIES = tuple(EXPECTED["copies"])
KEYS = tuple(f"news/{c}" for c in COPIES)  # as COLLECTION/ID: m005 names the folder "news"
# What the stored raw dates become (ISO 8601, UTC); None: no date, or none could be read.
PUBLISHED = {
    "news/library-budget.txt": None,
    "news/river-cleanup.txt": None,
    "news/tram-line.txt": None,
    "reuters-0001": "1987-02-26T15:01:01Z",  # "26-FEB-1987 15:01:01.79"
    "reuters-0002": "1987-02-26T15:03:12Z",
    "reuters-0003": "1987-03-02T09:15:00Z",
    "wire-0004": "1987-03-05",
    "wire-0005": "1987-03-09T13:30:00Z",  # "1987-03-09T14:30:00+01:00"
    "wire-0006": None,  # "sometime last spring"
    "wire-0007": "2024-03-05T08:00:00Z",
    "wire-0008": "1987-04-01",
}
# The commits of the upgrade that the first writing command runs before its own: the
# backfills of m004 (news metadata), m005 (collections) and m007 (the lexical index again,
# with positions and titles); m006 changes no file.
UPGRADE_COMMITS = 3
# A word of each article's title, so that a lexical search can find every article.
EVERY_ARTICLE = "cocoa grain crude bank harvest port museum tram library volunteers"


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    path = tmp_path / "index"
    shutil.copytree(FIXTURE, path)
    return path


def _files(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime, SQLite's -wal and -shm aside (a reader may make them)."""
    return {
        str(p.relative_to(path)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith("store.sqlite-")
    }


def _store(path: Path) -> tuple[int, dict[str, str]]:
    """The store's schema version and meta, read without writing."""
    db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    return version, meta


def _passages_of(path: Path, keys: tuple[str, ...]) -> set[int]:
    """The ids of these articles' (COLLECTION/ID) passages, read without writing."""
    db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True)
    try:
        marks = ", ".join("?" * len(keys))
        rows = db.execute(f"SELECT id FROM passages WHERE article_id IN ({marks})", keys)
        return {pid for (pid,) in rows}
    finally:
        db.close()


def _window(since: str | None, until: str | None) -> set[str]:
    """The articles whose published day is in [since, until] (whole days)."""
    return {
        article
        for article, published in PUBLISHED.items()
        if published is not None
        and (since is None or published[:10] >= since)
        and (until is None or published[:10] <= until)
    }


def test_an_index_from_before_news_is_read_as_it_is_and_reading_writes_nothing(
    v2: Path, cli: Callable
) -> None:
    before = _files(v2)
    assert _store(v2)[0] == EXPECTED["schema_version"] == 3
    with Index.open(v2, model=FakeEmbedder()) as ix:
        stats = ix.stats()
        assert (stats.format_version, stats.generation, stats.articles, stats.passages) == (
            2,
            EXPECTED["generation"],
            EXPECTED["articles"],
            EXPECTED["passages"],
        )
        assert (stats.duplicate_groups, stats.articles_in_groups) == (0, 0)
        for case in EXPECTED["queries"]:
            hits = ix.search(case["query"], k=case["k"], mode=case["mode"])
            assert [h.passage_id for h in hits] == case["passage_ids"], case
        for mode in MODES:
            hits = ix.search("cocoa buffer stock", k=5, mode=mode)
            assert {h.article_id for h in hits} == set(COPIES), mode  # no groups yet
        for article_id, count in EXPECTED["passages_per_article"].items():
            article = ix.article(article_id)
            assert (article.title, article.passages, article.duplicates) == (
                EXPECTED["titles"][article_id],
                count,
                (),
            )
        filters = [{"since": "1987"}, {"until": "1987-03-01"}, {"sources": "Reuters"}]
        filters.append({"where": {"topics": "cocoa"}})
        for mode in MODES:
            for only in filters:
                with pytest.raises(QueryError) as raised:
                    ix.search("cocoa", k=3, mode=mode, **only)
                message = str(raised.value)
                assert "\n" not in message and "writing command" in message, message
                assert "newssearch index" in message, message
        for query in ['"buffer stock"', "title:cocoa"]:  # phrases and titles: m007's
            for mode in MODES:
                with pytest.raises(QueryError, match="run any writing command on it once"):
                    ix.search(query, k=3, mode=mode)
        assert ix.check().ok
    line = one_line_error(cli("query", "cocoa", "--since", "1987-02", "--index", v2), 3)
    assert "writing command" in line
    assert cli("query", "cocoa", "--index", v2).exit_code == 0
    assert _files(v2) == before
    version, meta = _store(v2)
    assert version == 3 and "news" not in meta
    assert meta["generation"] == str(EXPECTED["generation"])


def _optimize(path: Path, more: Path, cli: Callable) -> int:
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.optimize() == 2  # the fixture's two segments
    return 1  # the merge's commit


def _add(path: Path, more: Path, cli: Callable) -> int:
    with Index.open(path, model=FakeEmbedder()) as ix:
        report = ix.add([more])
    assert (report.added, report.updated, report.removed) == (1, 0, 0), report
    return report.commits


def _cli_index(path: Path, more: Path, cli: Callable) -> int:
    result = cli("index", more, "--index", path, "--keep-missing")
    assert result.exit_code == 0, result.output
    return 1  # the new article's commit


def _remove(path: Path, more: Path, cli: Callable) -> int:
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.remove("wire-0008").removed == ("wire-0008",)
    return 1


WRITES = {"optimize": _optimize, "add": _add, "cli-index": _cli_index, "remove": _remove}


def _more(tmp_path: Path) -> Path:
    """A folder with one new article: a record dated as Reuters dates its stories."""
    record = {
        "id": "extra-0001",
        "title": "Storm floods the coast road",
        "text": "A storm flooded the coast road and closed the harbour for a day.",
        "date": "03-MAR-1987 10:00:00.00",
    }
    return write_articles(tmp_path / "more", {"extra.jsonl": json.dumps(record) + "\n"})


@pytest.mark.parametrize("write", list(WRITES))
def test_one_writing_command_adds_dates_groups_and_filters_and_keeps_everything(
    v2: Path, tmp_path: Path, cli: Callable, write: str
) -> None:
    commits = WRITES[write](v2, _more(tmp_path), cli)
    version, meta = _store(v2)
    assert version == SCHEMA_VERSION and meta["news"] == str(LEXICAL_SCHEMA)
    kept = [i for i in EXPECTED["article_ids"] if not (write == "remove" and i == "wire-0008")]
    added = ["extra-0001"] if write in ("add", "cli-index") else []
    with Index.open(v2, model=FakeEmbedder()) as ix:
        stats = ix.stats()
        assert stats.generation == EXPECTED["generation"] + UPGRADE_COMMITS + commits
        assert stats.articles == len(kept) + len(added)
        assert (stats.duplicate_groups, stats.articles_in_groups) == (1, 2)
        assert ix.check().ok
        for article_id in kept:
            article = ix.article(article_id)
            assert article.published == PUBLISHED[article_id], article_id
            assert article.title == EXPECTED["titles"][article_id]
            assert article.passages == EXPECTED["passages_per_article"][article_id], article_id
            others = tuple(f"news/{c}" for c in COPIES if c != article_id)
            others = others if article_id in COPIES else ()
            assert article.duplicates == others, article_id
        for article_id in added:
            assert ix.article(article_id).published == "1987-03-03T10:00:00Z"
        if write == "optimize":  # nothing else changed: the same passages, order and scores
            assert stats.passages == EXPECTED["passages"]
        for case in EXPECTED["queries"]:
            hits = ix.search(case["query"], k=case["k"] + 10, mode=case["mode"], collapse=False)
            found = [h.passage_id for h in hits if h.article_id in kept][: case["k"]]
            if case["mode"] == "dense" or write == "optimize":
                assert found == case["passage_ids"], case
            else:  # an article more or less changes BM25's statistics, not what is found
                assert set(found) == set(case["passage_ids"]), case
        for mode in MODES:
            hits = ix.search("cocoa buffer stock", k=5, mode=mode)
            copies = [h for h in hits if h.article_id in COPIES]
            assert copies and {h.article_id for h in copies} == {COPIES[0]}, mode
            assert all(h.duplicates == (KEYS[1],) for h in copies), mode
            assert copies[0] is hits[0]
            hits = ix.search("cocoa buffer stock", k=10, mode=mode, collapse=False)
            assert {h.article_id for h in hits[:2]} == set(COPIES), mode
        cocoa = _passages_of(v2, KEYS)  # as m007 indexed them again: the title counts,
        assert len(cocoa) == sum(EXPECTED["passages_per_article"][c] for c in COPIES)
        for mode in MODES:  # so every passage of the copies holds both words
            for query in ['"buffer stock"', "title:cocoa", 'title:"buffer stock"']:
                hits = ix.search(query, k=20, mode=mode, collapse=False)
                assert {h.passage_id for h in hits} == cocoa, (query, mode)
            assert ix.search('"stock buffer"', k=20, mode=mode) == [], mode


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("1987-02-26", "1987-02-26"),
        ("1987-02-27", None),
        (None, "1987-03-05"),
        ("1987-03-02", "1987-03-09"),
        ("1987-03-06", "1987-03-31"),
        ("2024-03-05", "2024-03-05"),
        ("1990-01-01", "2000-12-31"),
    ],
)
def test_since_and_until_agree_with_the_dates_in_every_mode(
    v2: Path, mode: str, since: str | None, until: str | None
) -> None:
    with Index.open(v2, model=FakeEmbedder()) as ix:
        ix.optimize()
        hits = ix.search(
            EVERY_ARTICLE, k=100, mode=mode, since=since, until=until, by="article", collapse=False
        )
        assert {h.article_id for h in hits} == _window(since, until)
        for hit in hits:
            assert hit.published == PUBLISHED[hit.article_id]
        collapsed = ix.search(EVERY_ARTICLE, k=100, mode=mode, since=since, until=until)
        assert {h.article_id for h in collapsed} <= _window(since, until)


@pytest.mark.parametrize("mode", MODES)
def test_months_and_years_cover_their_days(v2: Path, mode: str) -> None:
    with Index.open(v2, model=FakeEmbedder()) as ix:
        ix.remove("wire-0007")  # a writing command: the backfill comes first

        def found(**only: str) -> set[str]:
            hits = ix.search(EVERY_ARTICLE, k=100, mode=mode, by="article", collapse=False, **only)
            return {h.article_id for h in hits}

        assert found(since="1987-03", until="1987-03") == {"reuters-0003", "wire-0004", "wire-0005"}
        assert found(until="1987-02") == set(COPIES)
        dated = {i for i, p in PUBLISHED.items() if p is not None and i != "wire-0007"}
        assert found(since="1987", until="1987") == dated
        assert found(since="1987-04") == {"wire-0008"}


def test_a_second_writing_command_does_not_backfill_again(
    v2: Path, tmp_path: Path, cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = EXPECTED["generation"]
    with Index.open(v2, model=FakeEmbedder()) as ix:
        assert ix.remove("wire-0008").removed == ("wire-0008",)
        assert ix.stats().generation == start + UPGRADE_COMMITS + 1  # and the removal
    _, meta = _store(v2)
    assert meta["news"] == str(LEXICAL_SCHEMA)

    def again(self: object, *args: object) -> None:
        raise AssertionError("the backfill ran again")

    monkeypatch.setattr(search.write.writer.Writer, "add_news", again)
    monkeypatch.setattr(search.write.writer.Writer, "rebuild_lexical", again)
    upgraded = start + UPGRADE_COMMITS + 1
    with Index.open(v2, model=FakeEmbedder()) as ix:
        assert ix.remove("wire-0007").removed == ("wire-0007",)
        assert ix.stats().generation == upgraded + 1
        assert ix.optimize() == 2  # the fixture's two segments, as one commit
        assert ix.stats().generation == upgraded + 2
        assert ix.optimize() == 0  # nothing to do: no commit
        assert ix.stats().generation == upgraded + 2
    assert cli("index", _more(tmp_path), "--index", v2, "--keep-missing").exit_code == 0
    with Index.open(v2, model=FakeEmbedder()) as ix:
        assert ix.stats().generation == upgraded + 3
        assert ix.article("reuters-0001").published == PUBLISHED["reuters-0001"]
        assert ix.article("reuters-0001").duplicates == (KEYS[1],)
        assert ix.check().ok
    assert _store(v2)[1]["news"] == meta["news"]


def _fail(self: object) -> None:
    raise OSError(28, "No space left on device")


def test_a_backfill_that_fails_leaves_the_index_as_readers_saw_it(
    v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Index.open(v2, model=FakeEmbedder()) as ix:
        before = {i: ix.article(i).published for i in EXPECTED["article_ids"]}
    with monkeypatch.context() as patch:
        patch.setattr(search.write.writer.Writer, "add_news", _fail)
        with Index.open(v2, model=FakeEmbedder()) as ix:
            with pytest.raises(IndexWriteError, match="the index is as it was"):
                ix.optimize()
    with Index.open(v2, model=FakeEmbedder()) as ix:
        assert {i: ix.article(i).published for i in EXPECTED["article_ids"]} == before
        for mode in MODES:
            with pytest.raises(QueryError, match="writing command"):
                ix.search("cocoa", k=3, mode=mode, since="1987")
    assert _store(v2)[0] == 3


def test_a_writing_command_after_a_failed_backfill_completes_it(
    v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(search.write.writer.Writer, "add_news", _fail)
        with Index.open(v2, model=FakeEmbedder()) as ix:
            with pytest.raises(IndexWriteError, match="No space left on device"):
                ix.optimize()
    with Index.open(v2, model=FakeEmbedder()) as ix:
        assert ix.optimize() == 2
        stats = ix.stats()
        assert stats.generation == EXPECTED["generation"] + UPGRADE_COMMITS + 1  # and the merge
        assert (stats.articles, stats.passages) == (EXPECTED["articles"], EXPECTED["passages"])
        assert {i: ix.article(i).published for i in EXPECTED["article_ids"]} == PUBLISHED
        assert ix.article(COPIES[0]).duplicates == (KEYS[1],)
        hits = ix.search("cocoa", k=5, mode="hybrid", since="1987-02-26", until="1987-02-26")
        assert hits and {h.article_id for h in hits} == {COPIES[0]}
        assert ix.check().ok
    assert _store(v2)[1]["news"] == str(LEXICAL_SCHEMA)
