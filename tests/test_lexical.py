"""The lexical half (tantivy) through the Index: what FTS5 did, plus how it commits with the
store: ghosts of deleted passages, the marker, reconciling after a failed commit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import HOSTILE_QUERIES, HOSTILE_REFUSED, FakeEmbedder, write_articles

import search.query.searcher
import search.storage.lexical
from search import Index, IndexWriteError, QueryError
from search.storage.lexical import LexicalIndex, Marker, query_terms
from search.storage.manifest import lexical_commit

NEWS = {
    "strike.txt": "Depot strike\n\nWorkers at the bus depot walked out on Monday over pay.\n\n"
    "The drivers' union said the strikes would go on until Easter.\n",
    "zurich.txt": "Banking\n\nShares rose in Zürich after the report.\n",
    "drones.txt": "Drones\n\nDrones were seen over the base.\n",
    "rockets.txt": "Rockets\n\nRockets hit the airfield at night.\n",
}


@pytest.fixture
def ix(tmp_path: Path) -> Index:
    index = Index.create(tmp_path / "index", model=FakeEmbedder())
    index.update([write_articles(tmp_path / "news", NEWS)])
    yield index
    index.close()


def ids(ix: Index, text: str, k: int = 10) -> list[str]:
    return [h.article_id for h in ix.search(text, k=k, mode="lexical")]


def test_a_body_word_a_title_word_and_any_word_are_found(ix: Index) -> None:
    assert ids(ix, "airfield") == ["news/rockets.txt"]
    # A title word matches every passage of its article.
    assert ids(ix, "depot") == ["news/strike.txt", "news/strike.txt"]
    assert sorted(ids(ix, "rockets drones")) == ["news/drones.txt", "news/rockets.txt"]


def test_words_are_stemmed_case_folded_and_accent_folded(ix: Index) -> None:
    assert "news/strike.txt" in ids(ix, "striking")
    assert ids(ix, "ZURICH") == ["news/zurich.txt"]
    assert query_terms("Strikes ZÜRICH") == ["strike", "zurich"]
    assert query_terms("Generalization generalizations") == ["gener"]  # Porter, as FTS5


def test_a_word_in_most_passages_weighs_next_to_nothing(ix: Index) -> None:
    # FTS5's idf, which fusion was tuned on: "the" is in most passages here.
    (only,) = ix.search("the airfield", k=1, mode="lexical")
    (alone,) = ix.search("airfield", k=1, mode="lexical")
    assert only.article_id == alone.article_id == "news/rockets.txt"
    assert abs(only.score - alone.score) < 1e-3


def test_scores_are_higher_for_better_and_best_first(ix: Index) -> None:
    hits = ix.search("depot strike union", k=10, mode="lexical")
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score > 0 for a, b in zip(hits, hits[1:], strict=False))
    assert "union" in hits[0].text  # the passage with all three words


def test_the_limit_is_kept(ix: Index) -> None:
    assert len(ix.search("night depot base", k=2, mode="lexical")) == 2


EVERY_ARTICLE = ["news/drones.txt", "news/rockets.txt", "news/strike.txt", "news/zurich.txt"]
# The articles some hostile queries find, by what they ask.
FOUND = {
    "*": EVERY_ARTICLE,  # every article
    "-x": EVERY_ARTICLE,  # every article without "x"
    "+x": [],  # "x" is in no article
    "title:x": [],
    "depot " * 2000: ["news/strike.txt", "news/strike.txt"],
    "\x00": [],
}


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_are_searched_or_refused_in_one_line(ix: Index, query: str) -> None:
    """No text reaches tantivy's own query parser or its fields: what the query syntax
    does not refuse (conftest's HOSTILE_REFUSED) is searched; ``body:`` and ``id:``, names
    of tantivy's fields, are fields the index does not hold."""
    if query in HOSTILE_REFUSED:
        with pytest.raises(QueryError) as raised:
            ix.search(query, k=5, mode="lexical")
        message = str(raised.value)
        assert message.startswith(HOSTILE_REFUSED[query]), message
        assert "\n" not in message
        return
    found = sorted(ids(ix, query, k=5))
    assert all(key in EVERY_ARTICLE for key in found), found
    if query in FOUND:
        assert found == FOUND[query]


def test_operators_in_capitals_are_syntax_and_in_lower_case_words(
    ix: Index, tmp_path: Path
) -> None:
    write_articles(
        tmp_path / "news", {"weather.txt": "Weather\n\nRain and shine, or not a drop.\n"}
    )
    ix.update([tmp_path / "news"])
    for word in ["and", "or", "not"]:
        assert ids(ix, word) == ["news/weather.txt"], word
    without = ["news/drones.txt", "news/strike.txt", "news/weather.txt", "news/zurich.txt"]
    assert sorted(set(ids(ix, "NOT airfield"))) == without
    assert sorted(ids(ix, "not airfield")) == ["news/rockets.txt", "news/weather.txt"]
    for lower in ["and", "or", "not"]:  # after an operator, still a word
        assert ids(ix, f"rain AND {lower}") == ["news/weather.txt"], lower
        assert ids(ix, f"airfield AND {lower}") == [], lower
    assert sorted(ids(ix, "airfield OR shine")) == ["news/rockets.txt", "news/weather.txt"]
    assert sorted(ids(ix, "airfield or shine")) == ["news/rockets.txt", "news/weather.txt"]
    assert ids(ix, "airfield AND shine") == []  # no article holds both
    assert sorted(ids(ix, "airfield and shine")) == ["news/rockets.txt", "news/weather.txt"]


def test_a_term_of_punctuation_alone_matches_nothing(ix: Index) -> None:
    """A term of punctuation alone ("--" quoted) holds no word: excluded it excludes
    nothing, and asked present it matches no article. ('--' and "+'" unquoted are plain
    text, as pasted copy has them: no sign before anything but a letter, digit, quote or
    parenthesis.)"""
    for query in ['"--"', '+"--"', "title:--", '+"\'"']:
        assert ids(ix, query) == [], query
        assert ix.count(query) == 0, query
    assert sorted(ids(ix, '-"--"')) == EVERY_ARTICLE
    assert ids(ix, 'airfield -"--"') == ["news/rockets.txt"]
    assert ids(ix, 'airfield -"\'"') == ["news/rockets.txt"]
    assert ids(ix, "airfield --") == ids(ix, "airfield") == ["news/rockets.txt"]


def test_removed_and_replaced_passages_never_come_back(ix: Index, tmp_path: Path) -> None:
    ix.remove("news/drones.txt")
    assert ids(ix, "drones") == []
    (tmp_path / "news" / "rockets.txt").write_text("Rockets\n\nA quiet night at the base.\n")
    ix.update([tmp_path / "news"])
    assert ids(ix, "airfield") == []
    assert ids(ix, "quiet") == ["news/rockets.txt"]
    write_articles(tmp_path / "news", {"drones.txt": NEWS["drones.txt"]})
    ix.update([tmp_path / "news"])
    assert ids(ix, "drones") == ["news/drones.txt"]
    assert ix.check().ok


def test_ghosts_stay_one_commit_then_go(ix: Index, tmp_path: Path) -> None:
    lexical = LexicalIndex(tmp_path / "index" / "lexical")
    documents = lexical.documents()
    ix.remove("news/drones.txt")  # one passage deleted: a ghost for one more commit
    assert LexicalIndex(tmp_path / "index" / "lexical").documents() == documents
    ix.remove("news/rockets.txt")  # this commit removes the first ghost
    assert LexicalIndex(tmp_path / "index" / "lexical").documents() == documents - 1
    ix.optimize()  # and any commit after, merges included, the second
    assert LexicalIndex(tmp_path / "index" / "lexical").documents() == documents - 2
    assert ix.check().ok


def test_a_store_commit_that_fails_after_the_lexical_commit_is_undone(
    ix: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = search.storage.lexical.LexicalWriter.commit

    def commit_then_fail(self: search.storage.lexical.LexicalWriter, marker: Marker) -> None:
        real_commit(self, marker)
        raise OSError(28, "No space left on device")  # the store's commit never happens

    write_articles(tmp_path / "news", {"volcano.txt": "Volcano\n\nLava reached the sea.\n"})
    with monkeypatch.context() as patch:
        patch.setattr(search.storage.lexical.LexicalWriter, "commit", commit_then_fail)
        with pytest.raises(IndexWriteError, match="No space left"):
            ix.update([tmp_path / "news"])
    # The lexical index holds passages under ids the store never committed (and will give to
    # the next passages): readers drop them, and the next write removes them.
    assert ids(ix, "lava") == []
    write_articles(tmp_path / "other", {"storm.txt": "Storm\n\nWind felled the pylons.\n"})
    ix.add([tmp_path / "other"])  # takes the ids the failed commit had used
    assert ids(ix, "lava") == [] and ids(ix, "pylons") == ["other/storm.txt"]
    assert ix.check().ok
    assert ix.update([tmp_path / "news"]).added == 1
    assert ids(ix, "lava") == ["news/volcano.txt"]


def _answers(ix: Index) -> list[list[tuple[str, int, float]]]:
    """What queries answer, scores exact, in each mode that reads the lexical index."""
    return [
        [(h.article_id, h.start, h.score) for h in ix.search(text, k=10, mode=mode, by=by)]
        for text in ("depot strike", "the base at night", "shares rose")
        for mode in ("lexical", "hybrid")
        for by in ("passage", "article")
    ]


def _fail_the_store_commit(ix: Index, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index ``folder``, the lexical index committing and the store's commit failing, as
    on a full disk."""
    real_commit = search.storage.lexical.LexicalWriter.commit

    def commit_then_fail(self: search.storage.lexical.LexicalWriter, marker: Marker) -> None:
        real_commit(self, marker)
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(search.storage.lexical.LexicalWriter, "commit", commit_then_fail)
        with pytest.raises(IndexWriteError, match="No space left"):
            ix.update([folder])


def test_after_a_failed_store_commit_queries_score_as_the_last_commit_did(
    ix: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _answers(ix)
    more = {
        f"more{n}.txt": f"Strike {n}\n\nThe depot strike spread to site {n}.\n" for n in range(8)
    }
    write_articles(tmp_path / "news", more)
    _fail_the_store_commit(ix, tmp_path / "news", monkeypatch)
    # The lexical index holds a commit the store never made: queries, in this process and
    # in a new one, read the last complete one, with its statistics.
    assert _answers(ix) == before
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as fresh:
        assert _answers(fresh) == before
        report = fresh.check()
    assert report.ok
    (repair,) = report.repairs
    assert "never completed" in repair and "the next `newssearch index` run puts it" in repair
    # As it says: the next indexing run (nothing new in it) puts it right.
    assert ix.update([tmp_path / "news"]).added == 8
    report = ix.check()
    assert report.ok and report.repairs == ()


def test_the_next_run_puts_right_what_a_failed_store_commit_left(
    ix: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    before = _answers(ix)
    write_articles(tmp_path / "more", {"strike.txt": "Strike\n\nThe depot strike spread.\n"})
    _fail_the_store_commit(ix, tmp_path / "more", monkeypatch)
    ix.close()
    check = cli("check", "--index", tmp_path / "index")
    assert check.exit_code == 0, check.output
    assert "the next `newssearch index` run puts it right" in check.stdout
    assert cli("index", tmp_path / "news", "--index", tmp_path / "index").exit_code == 0
    check = cli("check", "--index", tmp_path / "index")
    assert check.exit_code == 0 and "note:" not in check.stdout, check.output
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as reopened:
        assert _answers(reopened) == before  # the same articles, scored as before
        assert reopened.check().repairs == ()
    views = list((tmp_path / "index" / "lexical").glob("commit-*"))
    assert len(views) == 1  # the one of the store's commit: the failed one's is swept


def test_a_reader_whose_view_lost_its_ghosts_reads_again(
    ix: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_view = LexicalIndex.view
    calls = {"n": 0}

    def view_once_too_new(self: LexicalIndex, generation: int, token: int) -> tuple[object, Marker]:
        calls["n"] += 1
        searcher, marker = real_view(self, generation, token)
        if calls["n"] == 1:  # as if a writer had cleaned ghosts this snapshot still needs
            return searcher, Marker(marker.generation + 2, generation + 1, marker.token)
        return searcher, marker

    monkeypatch.setattr(LexicalIndex, "view", view_once_too_new)
    assert ids(ix, "airfield") == ["news/rockets.txt"]
    assert calls["n"] == 2


def test_where_hard_links_cannot_be_made_the_lexical_index_is_read_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")  # EPERM, as some file systems answer

    monkeypatch.setattr(search.storage.lexical.os, "link", no_links)
    with Index.create(tmp_path / "index", model=FakeEmbedder()) as ix:
        ix.update([write_articles(tmp_path / "news", NEWS)])
        assert list((tmp_path / "index" / "lexical").glob("commit-*")) == []
        assert ids(ix, "airfield") == ["news/rockets.txt"]
        ix.remove("news/rockets.txt")
        assert ids(ix, "airfield") == []
        report = ix.check()
        assert report.ok and report.repairs == ()


def test_one_view_is_kept_and_it_is_of_the_last_commit(ix: Index, tmp_path: Path) -> None:
    lexical = tmp_path / "index" / "lexical"
    for n in range(12):  # enough commits for tantivy to merge its segments
        write_articles(tmp_path / "news", {f"n{n}.txt": f"Note {n}\n\nThe depot note {n}.\n"})
        ix.update([tmp_path / "news"])
    (view,) = lexical.glob("commit-*")
    assert (view / "meta.json").stat().st_ino == (lexical / "meta.json").stat().st_ino
    # Every segment file of the lexical index is named by its commit: none left behind.
    named = (lexical / "meta.json").read_text()
    for file in lexical.iterdir():
        if file.is_file() and not file.name.startswith(".") and file.name != "meta.json":
            assert file.name.split(".")[0] in named.replace("-", ""), file.name
    assert ids(ix, "depot note 11")[0] == "news/n11.txt" and ix.check().ok


@pytest.mark.parametrize("include", [True, False])
def test_a_restriction_gives_the_best_of_the_passages_it_allows(
    tmp_path: Path, include: bool
) -> None:
    """Among some passages (``include``) or all but them, the search is the whole ranking
    filtered: when they are common among the best (fetched deeper and kept or dropped),
    when few of the best are kept (every excluded one is fetched past), and when those
    asked for are rare (asked of tantivy as a term set)."""
    notes = {
        f"n{n:03d}.txt": f"Note {n}\n\n" + "depot " * (1 + n % 7) + f"strike number {n}.\n"
        for n in range(200)
    }
    with Index.create(tmp_path / "index", model=FakeEmbedder()) as index:
        index.update([write_articles(tmp_path / "news", notes)])
        lexical = index.searcher.lexical_index()
        view = index.searcher.read_rows(
            lambda store, _v, current: lexical.view(
                current, lexical_commit(store.get_meta(), store.path)
            )[0]
        )
        ranking = lexical.search(view, "depot strike", 10_000)
        ranked = [pid for pid, _ in ranking]
        for chosen in (ranked[::2], ranked[:100], ranked[-3:], []):
            wanted = np.asarray(sorted(chosen), dtype=np.int64)
            found = lexical.search(view, "depot strike", 5, passages=(wanted, include))
            expected = [hit for hit in ranking if (hit[0] in set(chosen)) == include][:5]
            assert found == expected


class PanicException(BaseException):
    """As pyo3 raises a Rust panic: tantivy asserting on data it read torn."""


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_a_panic_reading_the_index_itself_is_read_again(
    ix: Index, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Read while another process's writer changes it (no committed view at hand), the
    lexical index can be read torn, and tantivy panics: the query reads again, and answers
    as it would have."""
    expected = ix.search("airfield rockets", mode=mode)
    ix.close()
    for view in (ix.path / "lexical").glob("commit-*"):
        search.storage.lexical._remove_tree(view)  # as an index written before views
    reopened = Index.open(ix.path, model=FakeEmbedder())
    first = search.storage.lexical._best
    calls: list[int] = []

    def torn(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise PanicException("Compressed array seems too small. (417 < 448)")
        return first(*args)

    monkeypatch.setattr(search.storage.lexical, "_best", torn)
    assert reopened.search("airfield rockets", mode=mode) == expected
    assert len(calls) == 2
    reopened.close()


def test_a_panic_reading_a_committed_view_is_damage_in_one_line(
    ix: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed view's files never change: a panic reading one is a damaged index."""
    assert list((ix.path / "lexical").glob("commit-*"))

    def torn(*args: object) -> object:
        raise PanicException("index out of bounds: the len is 10955 but the index is 3147399")

    monkeypatch.setattr(search.storage.lexical, "_best", torn)
    with pytest.raises(search.IndexCorruptError) as raised:
        ix.search("airfield", mode="lexical")
    assert "is unreadable (index out of bounds" in str(raised.value)
    assert "rebuild the index" in str(raised.value) and "\n" not in str(raised.value)
