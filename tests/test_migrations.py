"""Migrations as named functions (search/storage/migrations.py): the registry, and the one
path that opens an index for writing (``open_writer``) running each pending one once, on the
format-1 and format-2 fixtures that tests/test_upgrade.py and test_upgrade_news.py use, and
on index_lexical2 (made just before m007: a lexical index without positions or titles)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder

from search import Index, IndexWriteError, QueryError
from search.storage import folder as storage
from search.storage import lexical, migrations
from search.storage.database import NEWS, SCHEMA_VERSION, Store
from search.storage.manifest import FORMAT_VERSION
from search.storage.migrations import Migrations, Upgrade
from search.write.writer import Writer, open_writer

FIXTURES = Path(__file__).with_name("fixtures")
EVERY = [
    "m001_create_tables",
    "m002_segment_tables",
    "m003_vectors_into_segments",
    "m004_news_metadata",
    "m005_collections",
    "m006_copy_anchors",
    "m007_lexical_phrases",
    "m008_alerts",
]
# Those that make a new generation (a commit readers see): each rebuilds the lexical index.
COMMITS = (
    "m003_vectors_into_segments",
    "m004_news_metadata",
    "m005_collections",
    "m007_lexical_phrases",
)
LATEST = (SCHEMA_VERSION, str(FORMAT_VERSION), str(lexical.SCHEMA))


# SQL that takes a store back to before m008_alerts.
_BEFORE_ALERTS = (
    "DROP TABLE alerts; DROP INDEX articles_added; ALTER TABLE articles DROP COLUMN added;"
)


def _copy(name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    shutil.copytree(FIXTURES / name, path)
    return path


def _level(path: Path) -> tuple[int, str, str | None]:
    """(``PRAGMA user_version``, ``format_version``, ``news``), read without writing."""
    db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    return version, meta["format_version"], meta.get("news")


def _generation(path: Path) -> int:
    return int(json.loads((path / "manifest.json").read_text())["generation"])


def _write(path: Path, then: Callable[[Writer], object] = lambda writer: None) -> list[str]:
    """Open the index for writing as a writing command does; the migrations it ran."""
    with Index.open(path) as ix:
        settings = ix.settings
    with storage.lock(path), storage.writing(path), open_writer(path, settings) as writer:
        try:
            then(writer)
            return writer.migrated
        finally:
            writer.store.close()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each migration's function runs."""
    counted: Counter[str] = Counter()

    def counting(migration: migrations.Migration) -> migrations.Migration:
        def run(up: Upgrade) -> None:
            counted[migration.name] += 1
            migration.function(up)

        return dataclasses.replace(migration, function=run)

    registry = migrations.migrations
    monkeypatch.setattr(registry, "_all", [counting(m) for m in registry])
    return counted


def test_the_registry_lists_the_migrations_in_order_with_unique_numbered_names() -> None:
    registry = list(migrations.migrations)
    assert [m.name for m in registry] == EVERY == migrations.migrations.names
    assert len(set(EVERY)) == len(EVERY)
    for number, migration in enumerate(registry, start=1):
        assert re.fullmatch(rf"m{number:03d}_[a-z0-9_]+", migration.name)
        assert migration.summary and "\n" not in migration.summary
        assert migration.function.__doc__ and migration.function.__doc__.strip()
    # Each schema change counts one up in ``PRAGMA user_version``; m007 changes no table
    # (it rebuilds the lexical index, recorded as news=3).
    changes = [m.version for m in registry if m.schema is not None]
    assert changes == list(range(1, 8))
    assert [m.name for m in registry if m.schema is None] == ["m007_lexical_phrases"]
    assert migrations.migrations["m007_lexical_phrases"].version == 6
    assert migrations.migrations["m007_lexical_phrases"].records() == {"news": "3"}
    assert SCHEMA_VERSION == migrations.SCHEMA_VERSION == 7
    assert NEWS == migrations.migrations["m004_news_metadata"].version == 4
    # A new index records every migration as applied, in the numbers that always meant so.
    assert migrations.created_records() == {
        "format_version": str(FORMAT_VERSION),
        "news": str(lexical.SCHEMA),
    }
    assert lexical.SCHEMA == 3


def test_a_migration_out_of_order_or_without_its_docstring_is_refused() -> None:
    registry = Migrations()

    def m002_too_soon(up: Upgrade) -> None:
        """Skips m001."""

    def m001_undocumented(up: Upgrade) -> None:
        pass

    def first(up: Upgrade) -> None:
        """Not named mNNN_."""

    for function in (m002_too_soon, m001_undocumented, first):
        with pytest.raises(ValueError):
            registry()(function)
    assert len(registry) == 0


@pytest.mark.parametrize(
    ("fixture", "start", "expected"),
    [
        ("index_v1", (1, "1", None), EVERY[1:]),  # format 1, store schema 1
        ("index_v2", (3, "2", None), EVERY[3:]),  # format 2 from before news, schema 3
    ],
)
def test_an_old_index_opened_for_writing_ends_at_the_latest_with_each_migration_once(
    tmp_path: Path, calls: Counter[str], fixture: str, start: tuple, expected: list[str]
) -> None:
    path = _copy(fixture, tmp_path)
    assert _level(path) == start
    generation = _generation(path)
    again: list[list[str]] = []
    assert _write(path, lambda writer: again.append(writer.migrate())) == expected
    assert again == [[]]  # the runner run twice: nothing the second time
    assert calls == Counter(expected)
    assert _level(path) == LATEST
    commits = sum(n in COMMITS for n in expected)
    assert _generation(path) == generation + commits  # each backfill is one commit
    assert _write(path) == []  # and nothing when the index is opened again
    assert calls == Counter(expected)
    with Index.open(path) as ix:
        assert ix.stats().format_version == FORMAT_VERSION
        assert ix.check().ok


def test_a_new_index_has_every_migration_and_runs_none(tmp_path: Path, calls: Counter) -> None:
    path = tmp_path / "index"
    Index.create(path, model=FakeEmbedder()).close()
    assert _level(path) == LATEST
    assert _write(path) == [] and not calls


def test_a_store_with_the_news_schema_but_not_its_backfill_gets_the_backfill(
    tmp_path: Path, calls: Counter[str]
) -> None:
    """As an upgrade of format 1 by an earlier newssearch left it when its backfill failed:
    schema 4 applied with the upgrade, ``news`` not recorded."""
    path = _copy("index_v2", tmp_path)
    store = Store.open(path / "store.sqlite")
    with store.transaction():
        store.apply_schema(4)
    store.close()
    assert _level(path) == (4, "2", None)
    assert _write(path) == EVERY[3:]
    assert _level(path) == LATEST and calls == Counter(EVERY[3:])


def test_a_failed_migration_is_run_again_by_the_next_writer_and_the_ones_before_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy("index_v1", tmp_path)

    def fail(self: Writer) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Writer, "add_news", fail)
        with pytest.raises(IndexWriteError, match="No space left on device"):
            _write(path)
    assert _level(path) == (3, "2", None)  # m002 and m003 committed; m004 left nothing
    assert _write(path) == EVERY[3:]
    assert _level(path) == LATEST


def test_an_index_from_before_anchors_groups_its_cut_copies_on_its_next_write(
    tmp_path: Path, calls: Counter[str]
) -> None:
    """Made before m006 (schema 5, copies linked by resemblance alone): readers keep seeing
    its groups as they were, and its next writer finds a copy cut to a third of its story."""
    from test_duplicates import LONG_STORY

    title = "U.K. money market given late help"
    records = [
        {"id": "long", "title": title, "text": LONG_STORY},
        {"id": "cut", "title": title, "text": LONG_STORY.split("\n\n")[0]},
        {"id": "other", "title": "Wheat harvest grows", "text": "Farmers reaped. " * 30},
    ]
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "wire.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = tmp_path / "index"
    with Index.create(path, model=FakeEmbedder()) as ix:
        ix.add(folder)
        assert ix.article("long").duplicates == ("wire/cut",)
    db = sqlite3.connect(path / "store.sqlite")  # as newssearch before m006 left it
    db.executescript(
        "DROP TABLE anchors; DELETE FROM near_duplicates; UPDATE articles SET dup_group = NULL;"
        f" {_BEFORE_ALERTS} UPDATE meta SET value = '2' WHERE key = 'news';"
        " PRAGMA user_version = 5;"
    )
    db.close()
    with Index.open(path) as ix:
        assert ix.article("long").duplicates == ()
    upgrades = ["m006_copy_anchors", "m007_lexical_phrases", "m008_alerts"]  # lexical 2 then
    assert _write(path) == upgrades and calls == Counter(upgrades)
    assert _level(path) == LATEST
    with Index.open(path) as ix:
        assert ix.article("long").duplicates == ("wire/cut",)
        assert ix.article("other").duplicates == ()
        assert ix.check().ok


def _passages(path: Path) -> list[tuple[int, str, str, str]]:
    """(id, article key, its title, text) of every stored passage, read without writing."""
    db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT p.id, a.id, a.title, p.text FROM passages p"
            " JOIN articles a ON a.id = p.article_id ORDER BY p.id"
        ).fetchall()
    finally:
        db.close()


def _found(ix: Index, query: str) -> list[int]:
    return [h.passage_id for h in ix.search(query, k=50, mode="lexical", collapse=False)]


def test_an_index_without_positions_gets_phrases_and_titles_on_its_next_write(
    tmp_path: Path, calls: Counter[str]
) -> None:
    """index_lexical2, made by the code just before m007 (store schema 6, lexical schema 2:
    word counts without positions, no title apart): readers are told to write it once; its
    next writer runs m007 (one commit) and m008; then phrases and title: work, and every
    passage the old code indexed is found, and none it had removed."""
    path = _copy("index_lexical2", tmp_path)
    expected = json.loads((path / "EXPECTED.json").read_text())
    assert _level(path) == (6, "2", "2")
    generation = _generation(path)
    rows = _passages(path)
    assert {str(pid): key for pid, key, _, _ in rows} == expected["passage_articles"]
    with Index.open(path, model=FakeEmbedder()) as ix:
        for query in ['"buffer stock"', "title:cocoa"]:
            with pytest.raises(QueryError, match="run any writing command on it once"):
                ix.search(query, mode="lexical")
        for case in expected["queries"]:  # plain words: as the old code found them
            assert _found(ix, case["query"])[: case["k"]] == case["passage_ids"], case

    pending = ["m007_lexical_phrases", "m008_alerts"]  # m008 adds a table, no commit
    assert _write(path) == pending
    assert calls == Counter(pending)
    assert _level(path) == LATEST and _generation(path) == generation + 1
    assert _write(path) == [] and calls == Counter(pending)

    by_article: dict[str, set[int]] = {}
    for pid, key, _title, _text in rows:
        by_article.setdefault(key, set()).add(pid)
    cocoa = by_article["news/reuters-0001"] | by_article["news/reuters-0002"]
    with Index.open(path, model=FakeEmbedder()) as ix:
        for case in expected["queries"]:  # the same passages (BM25's statistics change:
            # the rebuild drops the removed passages the old index still counted)
            assert set(_found(ix, case["query"])) == set(case["passage_ids"]), case
        assert set(_found(ix, '"buffer stock"')) == cocoa  # the title counts
        assert _found(ix, '"stock buffer"') == []  # in this order only
        assert set(_found(ix, "title:cocoa")) == cocoa
        assert set(_found(ix, 'title:"tram line"')) == by_article["news/news/tram-line.txt"]
        trolleys = [pid for pid, _, _, text in rows if "trolleys" in text]
        assert len(trolleys) == 1 and _found(ix, "trolleys") == trolleys
        assert _found(ix, "title:trolleys") == []  # in a text, in no title
        for pid, key, title, text in rows:  # every passage, by its whole text and its title
            assert pid in _found(ix, '"' + " ".join(re.findall(r"\w+", text)) + '"'), pid
            assert set(_found(ix, f'title:"{title}"')) >= by_article[key], key
        assert _found(ix, "volcano") == _found(ix, '"ash cloud"') == []  # removed before
        assert ix.check().ok


def test_a_failed_rebuild_of_the_lexical_index_leaves_it_as_readers_saw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m007 failing (the disk full while it indexes every passage again): readers find what
    they found before, and the next writer runs it again."""
    path = _copy("index_lexical2", tmp_path)
    expected = json.loads((path / "EXPECTED.json").read_text())
    generation = _generation(path)

    real_add = lexical.LexicalWriter.add

    def add_then_fail(self: lexical.LexicalWriter, documents: object) -> None:
        real_add(self, documents)  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(lexical.LexicalWriter, "add", add_then_fail)
        with pytest.raises(IndexWriteError, match="No space left on device"):
            _write(path)
    assert _level(path) == (6, "2", "2") and _generation(path) == generation
    with Index.open(path, model=FakeEmbedder()) as ix:
        for case in expected["queries"]:
            assert _found(ix, case["query"])[: case["k"]] == case["passage_ids"], case
        with pytest.raises(QueryError, match="run any writing command on it once"):
            ix.search('"buffer stock"', mode="lexical")
    assert _write(path) == ["m007_lexical_phrases", "m008_alerts"]
    assert _level(path) == LATEST and _generation(path) == generation + 1
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert len(_found(ix, '"buffer stock"')) == 8
        for case in expected["queries"]:
            assert set(_found(ix, case["query"])) == set(case["passage_ids"]), case
        assert ix.check().ok
