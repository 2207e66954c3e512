"""The SQLite store: articles, passages, full-text search, schema versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HOSTILE_QUERIES

from search.errors import IndexCorruptError, IndexVersionError
from search.storage.database import SCHEMA_VERSION, ArticleRow, Store, fts_query


def article(article_id: str, title: str = "Untitled", source: str = "/news/a.txt") -> ArticleRow:
    return ArticleRow(
        id=article_id,
        path=source,
        title=title,
        published="2024-02-03",
        url=f"https://example.org/{article_id}",
        content_hash=f"hash-{article_id}",
        local_id=article_id,
    )


def passages(*texts: str) -> list[tuple[int, int, int, int, str]]:
    """One passage per paragraph, laid out as chunking would for texts joined by blank lines."""
    rows, start = [], 0
    for number, text in enumerate(texts, start=1):
        rows.append((number, 1, start, start + len(text), text))
        start += len(text) + 2
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    # At schema 2, which still has FTS5: format 1's full text, read until an index is
    # upgraded. Format 2's lexical index is tantivy's (tests/test_lexical.py).
    store = Store.open(tmp_path / "index.db", create=True, schema=2)
    yield store
    store.close()


def add(store: Store, row: ArticleRow, *texts: str) -> list[int]:
    with store.transaction():
        return store.insert_article(row, passages(*texts))


# Inserting and reading back.


def test_insert_returns_new_passage_ids_in_order(store: Store) -> None:
    first = add(store, article("a"), "One.", "Two.")
    second = add(store, article("b"), "Three.")
    assert len(first) == 2 and len(second) == 1
    assert first[0] < first[1] < second[0]
    assert store.passage_ids() == first + second
    assert store.counts() == (2, 3)


def test_passages_come_back_with_their_article(store: Store) -> None:
    [first, second] = add(store, article("a", title="Strike news"), "One.", "Two more.")
    found = store.passages([second, first, 999])
    assert set(found) == {first, second}
    row = found[second]
    assert (row.article_id, row.paragraph, row.part, row.text) == ("a", 2, 1, "Two more.")
    assert (row.start, row.end) == (6, 15)
    assert (row.title, row.path, row.url) == ("Strike news", "/news/a.txt", article("a").url)
    assert store.article("a") == article("a", title="Strike news")
    assert store.article("missing") is None


def test_articles_from_and_existing_articles(store: Store) -> None:
    add(store, article("a", source="/news/x.txt"), "One.")
    add(store, article("b", source="/news/y.txt"), "Two.")
    assert store.articles_from("/news/x.txt") == {"a": "hash-a"}
    assert sorted(store.existing_articles(["b", "zz", "a"])) == ["a", "b"]
    assert store.existing_articles(f"id{i}" for i in range(1200)) == []


def test_meta_is_stored_and_overwritten(store: Store) -> None:
    with store.transaction():
        store.set_meta({"model": "m1", "dimension": "384"})
        store.set_meta({"model": "m2"})
    assert store.get_meta() == {"model": "m2", "dimension": "384"}


# Full-text search.


def test_lexical_search_finds_a_body_word(store: Store) -> None:
    [hit, _miss] = add(store, article("a"), "Drones struck the depot.", "Talks resume Monday.")
    assert [pid for pid, _ in store.lexical_search("depot", 10)] == [hit]


def test_lexical_search_finds_a_title_word_in_every_passage(store: Store) -> None:
    ids = add(store, article("a", title="Kataib Hezbollah"), "First.", "Second.")
    add(store, article("b", title="Weather"), "Rain.")
    assert sorted(pid for pid, _ in store.lexical_search("hezbollah", 10)) == ids


def test_lexical_search_stems_words(store: Store) -> None:
    [strike] = add(store, article("a"), "A strike hit the base.")
    add(store, article("b"), "Nothing happened today.")
    assert [pid for pid, _ in store.lexical_search("strikes", 10)] == [strike]
    assert [pid for pid, _ in store.lexical_search("striking", 10)] == [strike]


def test_lexical_search_ignores_case_and_diacritics(store: Store) -> None:
    [hit] = add(store, article("a"), "Talks in Zürich.")
    assert [pid for pid, _ in store.lexical_search("ZURICH", 10)] == [hit]


def test_lexical_search_ranks_best_first_with_higher_scores_better(store: Store) -> None:
    [weak] = add(store, article("w"), "The depot was quiet; officials talked about budgets.")
    [strong] = add(store, article("s"), "Depot strike: the depot burned after the strike.")
    [title] = add(store, article("t", title="Depot strike"), "Officials confirmed it.")
    add(store, article("x"), "Unrelated weather report.")
    results = store.lexical_search("depot strike", 10, weights=(2.0, 1.0))
    assert [pid for pid, _ in results] == [title, strong, weak]
    # With the title weighed like the text, the passage naming both words twice wins.
    assert store.lexical_search("depot strike", 10, weights=(1.0, 1.0))[0][0] == strong
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] > 0


def test_lexical_search_matches_any_query_word(store: Store) -> None:
    [a] = add(store, article("a"), "Rockets fell.")
    [b] = add(store, article("b"), "Drones flew.")
    assert sorted(pid for pid, _ in store.lexical_search("rockets drones", 10)) == [a, b]


def test_lexical_search_respects_the_limit(store: Store) -> None:
    for i in range(5):
        add(store, article(f"a{i}"), f"Strike number {i}.")
    assert len(store.lexical_search("strike", 3)) == 3


# Deleting.


def test_delete_returns_passage_ids_and_removes_them_from_search(store: Store) -> None:
    gone = add(store, article("a", title="Depot"), "Depot fire.", "Second depot.")
    [kept] = add(store, article("b"), "Depot rebuilt.")
    with store.transaction():
        removed = store.delete_articles(["a", "never-indexed"])
    assert sorted(removed) == gone
    assert [pid for pid, _ in store.lexical_search("depot", 10)] == [kept]
    assert store.lexical_search("fire", 10) == []
    assert store.counts() == (1, 1)
    assert store.article("a") is None
    assert store.integrity_check() == "ok"


def test_reinserting_a_deleted_article_is_searchable_again(store: Store) -> None:
    add(store, article("a", title="Old title"), "Old text.")
    with store.transaction():
        store.delete_articles(["a"])
    [new] = add(store, article("a", title="New title"), "New text.")
    assert store.lexical_search("old", 10) == []
    assert [pid for pid, _ in store.lexical_search("new", 10)] == [new]


# Transactions.


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    add(store, article("kept"), "Kept text.")
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_article(article("a"), passages("Rollback depot."))
        store.set_source("/news/a.txt", 10, 20)
        store.delete_articles(["kept"])
        raise RuntimeError("interrupted")
    assert store.counts() == (1, 1)
    assert store.article("a") is None
    assert store.source_state("/news/a.txt") is None
    assert store.lexical_search("rollback", 10) == []
    assert len(store.lexical_search("kept", 10)) == 1


def test_a_duplicate_article_id_rolls_back_its_transaction(store: Store) -> None:
    add(store, article("a"), "First.")
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.insert_article(article("b"), passages("Other."))
        store.insert_article(article("a"), passages("Again."))
    assert store.counts() == (1, 1)


# Hostile queries.


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_raise(store: Store, query: str) -> None:
    add(store, article("a", title="Depot"), "Depot strike, near the border: a b c.")
    results = store.lexical_search(query, 10)
    assert all(isinstance(pid, int) and isinstance(score, float) for pid, score in results)
    assert store.counts() == (1, 1)


@pytest.mark.parametrize("query", ['"', "*", "(", "):", "\U0001f4a5", "", " ", "--", "^*\"'"])
def test_queries_without_words_find_nothing(store: Store, query: str) -> None:
    add(store, article("a"), "Depot strike.")
    assert fts_query(query) is None
    assert store.lexical_search(query, 10) == []


def test_operator_words_are_searched_as_words(store: Store) -> None:
    [hit] = add(store, article("a"), "Stand near the depot.")
    add(store, article("b"), "Far away.")
    assert [pid for pid, _ in store.lexical_search("NEAR(", 10)] == [hit]


def test_fts_query_quotes_each_lowercased_word_once() -> None:
    assert fts_query('Kataib "Hezbollah" AND kataib NEAR(x') == (
        '"kataib" OR "hezbollah" OR "and" OR "near" OR "x"'
    )


def test_fts_query_caps_the_number_of_terms() -> None:
    expression = fts_query(" ".join(f"w{i}" for i in range(200)))
    assert expression is not None
    terms = expression.split(" OR ")
    assert len(terms) == 64
    assert terms[0] == '"w0"' and terms[-1] == '"w63"'


# Sources.


def test_source_state_is_set_updated_and_forgotten(store: Store) -> None:
    with store.transaction():
        store.set_source("/news/a.txt", 10, 100)
        store.set_source("/news/a.txt", 11, 200)
    assert store.source_state("/news/a.txt") == (11, 200)
    with store.transaction():
        store.forget_source("/news/a.txt")
    assert store.source_state("/news/a.txt") is None


def test_sources_under_keeps_to_the_folder(store: Store) -> None:
    with store.transaction():
        for path in ["/a/b", "/a/b/x.txt", "/a/b/sub/y.txt", "/a/bc", "/a/bc/z.txt", "/a/x.txt"]:
            store.set_source(path, 1, 1)
    add(store, article("a", source="/a/b/from-article.txt"), "Text.")
    add(store, article("b", source="/a/bc/other.txt"), "Text.")
    expected = ["/a/b", "/a/b/from-article.txt", "/a/b/sub/y.txt", "/a/b/x.txt"]
    assert store.sources_under("/a/b") == expected
    assert store.sources_under("/a/b/") == expected[1:]
    assert store.sources_under("/a/b/x.txt") == ["/a/b/x.txt"]
    assert store.sources_under("/nowhere") == []


def test_sources_under_treats_like_wildcards_literally(store: Store) -> None:
    with store.transaction():
        store.set_source("/a/b_c/x.txt", 1, 1)
        store.set_source("/a/bXc/y.txt", 1, 1)
        store.set_source("/a/b%/z.txt", 1, 1)
    assert store.sources_under("/a/b_c") == ["/a/b_c/x.txt"]
    assert store.sources_under("/a/b%") == ["/a/b%/z.txt"]


def test_move_article_changes_its_source(store: Store) -> None:
    add(store, article("a", source="/old/a.txt"), "Text.")
    with store.transaction():
        store.move_article("a", "/new/a.txt")
    assert store.articles_from("/new/a.txt") == {"a": "hash-a"}
    assert store.sources_under("/old") == []


# Opening.


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    store = Store.open(path, create=True, schema=2)
    ids = add(store, article("a", title="Depot"), "Depot strike.")
    with store.transaction():
        store.set_meta({"model": "m"})
    store.close()

    reopened = Store.open(path)
    try:
        assert reopened.counts() == (1, 1)
        assert reopened.get_meta() == {"model": "m"}
        assert [pid for pid, _ in reopened.lexical_search("depot", 10)] == ids
        assert reopened.version == 2  # a writer applies migration 3 only with the upgrade
    finally:
        reopened.close()


def test_a_read_only_store_applies_no_migration(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    Store.open(path, create=True, schema=1).close()
    reader = Store.open(path, readonly=True)
    try:
        assert reader.version == 1 and reader.counts() == (0, 0)
    finally:
        reader.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1


def test_new_store_records_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    Store.open(path, create=True).close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_missing_file_is_not_created_without_create(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with pytest.raises(IndexCorruptError):
        Store.open(path)
    assert not path.exists()


@pytest.mark.parametrize("create", [False, True])
def test_newer_schema_version_is_refused(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "index.db"
    Store.open(path, create=True).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(IndexVersionError, match="upgrade newssearch"):
        Store.open(path, create=create)


@pytest.mark.parametrize("create", [False, True])
def test_garbage_file_is_reported_corrupt(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "index.db"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(IndexCorruptError, match="not a readable index"):
        Store.open(path, create=create)
    assert path.read_bytes() == garbage


def test_empty_sqlite_file_is_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    sqlite3.connect(path).close()
    with pytest.raises(IndexCorruptError, match="no index tables"):
        Store.open(path)
