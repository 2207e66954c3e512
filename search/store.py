"""SQLite storage: articles, passages, the FTS5 index over them, and the index's metadata.

The only module that speaks SQL. The schema evolves through numbered migrations recorded
in ``PRAGMA user_version``. All writes happen inside ``Store.transaction()``; readers take a
consistent snapshot with ``Store.snapshot()`` (WAL mode lets both run at once).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import IndexCorruptError, IndexLockedError, IndexVersionError

__all__ = ["ArticleRow", "PassageRow", "Store", "fts_query", "is_empty_store"]

_MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sources (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL
    );
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        title TEXT NOT NULL,
        date TEXT,
        url TEXT,
        content_hash TEXT NOT NULL
    );
    CREATE INDEX articles_source ON articles (source);
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL REFERENCES articles (id),
        paragraph INTEGER NOT NULL,
        part INTEGER NOT NULL,
        start_char INTEGER NOT NULL,
        end_char INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX passages_article ON passages (article_id);
    -- The full-text index reads title and text through this view and stores no copy.
    CREATE VIEW passage_documents AS
        SELECT passages.id AS id, articles.title AS title, passages.text AS text
        FROM passages JOIN articles ON articles.id = passages.article_id;
    CREATE VIRTUAL TABLE passages_fts USING fts5 (
        title, text,
        content = 'passage_documents', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN
        INSERT INTO passages_fts (rowid, title, text) VALUES (
            new.id, (SELECT title FROM articles WHERE id = new.article_id), new.text);
    END;
    CREATE TRIGGER passages_fts_delete BEFORE DELETE ON passages BEGIN
        INSERT INTO passages_fts (passages_fts, rowid, title, text) VALUES (
            'delete', old.id, (SELECT title FROM articles WHERE id = old.article_id), old.text);
    END;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
# BM25 weights of the title and the passage text (tuned: docs/QUALITY.md).
BM25_WEIGHTS = (1.0, 1.0)
_MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ArticleRow:
    id: str
    source: str
    title: str
    date: str | None
    url: str | None
    content_hash: str


@dataclass(frozen=True)
class PassageRow:
    id: int
    article_id: str
    paragraph: int
    part: int
    start: int
    end: int
    text: str
    title: str
    source: str
    date: str | None
    url: str | None


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: its words, each quoted, any of them.

    No character of the user's text reaches FTS5 unquoted, so ``AND``, ``NEAR(``, ``*``,
    quotes and colons are only words. ``None`` when the text has no words at all.

    >>> fts_query('Kataib "Hezbollah" AND NEAR(')
    '"kataib" OR "hezbollah" OR "and" OR "near"'
    """
    terms = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:_MAX_QUERY_TERMS]
    if not terms:
        return None
    return " OR ".join(f'"{term}"' for term in terms)


class Store:
    """The SQLite file of one index."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        """Open (or with ``create``, create) the store, bringing its schema up to date."""
        if not create and not path.is_file():
            raise IndexCorruptError(f"{path} is missing — rebuild the index")
        connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            store = cls(connection, path)
            store._migrate(writable=create)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise IndexCorruptError(
                f"{path} is not a readable index database ({error}) — rebuild the index"
            ) from error
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """All rows of a query; SQLite's failures become the errors a user is told."""
        with self._reported():
            return self._db.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        with self._reported():
            return self._db.execute(sql, params)

    def _migrate(self, *, writable: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexVersionError(
                f"{self.path} has schema version {version}; this newssearch reads up to "
                f"{SCHEMA_VERSION} — upgrade newssearch"
            )
        if version == SCHEMA_VERSION:
            return
        if version == 0 and not writable and not self._has_tables():
            raise IndexCorruptError(f"{self.path} holds no index tables — rebuild the index")
        with self.transaction():
            for number in range(version, SCHEMA_VERSION):
                for statement in _split_script(_MIGRATIONS[number]):
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _has_tables(self) -> bool:
        return self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: everything inside commits together or not at all."""
        with self._reported():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees the same committed state."""
        with self._reported():
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")

    @contextmanager
    def _reported(self) -> Iterator[None]:
        """SQLite's failures as the errors a user is told about."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # a bug of ours, not a damaged file
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise IndexLockedError(
                    f"{self.path} stayed locked by another process — try again"
                ) from error
            raise IndexCorruptError(f"{self.path}: {error} — rebuild the index") from error
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"{self.path}: {error} — rebuild the index") from error

    # Metadata.

    def get_meta(self) -> dict[str, str]:
        return dict(self._rows("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._run(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # Sources: the files articles came from, with what they looked like when read.

    def source_state(self, path: str) -> tuple[int, int] | None:
        rows = self._rows("SELECT size, mtime_ns FROM sources WHERE path = ?", (path,))
        return None if not rows else (rows[0][0], rows[0][1])

    def set_source(self, path: str, size: int, mtime_ns: int) -> None:
        self._run(
            "INSERT INTO sources (path, size, mtime_ns) VALUES (?, ?, ?) ON CONFLICT (path) "
            "DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
            (path, size, mtime_ns),
        )

    def forget_source(self, path: str) -> None:
        self._run("DELETE FROM sources WHERE path = ?", (path,))

    def sources_under(self, root: str) -> list[str]:
        """Known source paths equal to ``root`` or inside the folder ``root``."""
        prefix = root.rstrip("/") + "/"
        rows = self._rows(
            "SELECT path FROM sources WHERE path = ? OR substr(path, 1, ?) = ? "
            "UNION SELECT DISTINCT source FROM articles"
            " WHERE source = ? OR substr(source, 1, ?) = ?",
            (root, len(prefix), prefix, root, len(prefix), prefix),
        )
        return sorted(r[0] for r in rows)

    # Articles and passages.

    def articles_from(self, source: str) -> dict[str, str]:
        """Article id to content hash, for the articles read from ``source``."""
        rows = self._rows("SELECT id, content_hash FROM articles WHERE source = ?", (source,))
        return dict(rows)

    def article(self, article_id: str) -> ArticleRow | None:
        rows = self._rows(
            "SELECT id, source, title, date, url, content_hash FROM articles WHERE id = ?",
            (article_id,),
        )
        return ArticleRow(*rows[0]) if rows else None

    def existing_articles(self, ids: Iterable[str]) -> list[str]:
        ids = list(ids)
        found: list[str] = []
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            found += [
                r[0] for r in self._rows(f"SELECT id FROM articles WHERE id IN ({marks})", chunk)
            ]
        return found

    def delete_articles(self, ids: Iterable[str]) -> list[int]:
        """Delete articles and their passages; returns the deleted passage ids."""
        removed: list[int] = []
        for article_id in ids:
            removed += [
                r[0]
                for r in self._rows("SELECT id FROM passages WHERE article_id = ?", (article_id,))
            ]
            # Passages first: their delete trigger reads the article's title.
            self._run("DELETE FROM passages WHERE article_id = ?", (article_id,))
            self._run("DELETE FROM articles WHERE id = ?", (article_id,))
        return removed

    def insert_article(
        self,
        row: ArticleRow,
        passages: Sequence[tuple[int, int, int, int, str]],
    ) -> list[int]:
        """Insert an article and its (paragraph, part, start, end, text) passages; new ids."""
        self._run(
            "INSERT INTO articles (id, source, title, date, url, content_hash) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row.id, row.source, row.title, row.date, row.url, row.content_hash),
        )
        ids = []
        for paragraph, part, start, end, text in passages:
            cursor = self._run(
                "INSERT INTO passages (article_id, paragraph, part, start_char, end_char, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (row.id, paragraph, part, start, end, text),
            )
            ids.append(int(cursor.lastrowid))  # type: ignore[arg-type]
        return ids

    def move_article(self, article_id: str, source: str) -> None:
        self._run("UPDATE articles SET source = ? WHERE id = ?", (source, article_id))

    def counts(self) -> tuple[int, int]:
        """(articles, passages)."""
        articles = self._rows("SELECT count(*) FROM articles")[0][0]
        passages = self._rows("SELECT count(*) FROM passages")[0][0]
        return articles, passages

    def passage_ids(self) -> list[int]:
        return [r[0] for r in self._rows("SELECT id FROM passages ORDER BY id")]

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        """The passages with these ids, with their article's fields."""
        found: dict[int, PassageRow] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                "SELECT p.id, p.article_id, p.paragraph, p.part, p.start_char, p.end_char, p.text,"
                " a.title, a.source, a.date, a.url"
                f" FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = PassageRow(*row)
        return found

    def lexical_search(
        self, text: str, limit: int, *, weights: tuple[float, float] = BM25_WEIGHTS
    ) -> list[tuple[int, float]]:
        """(passage id, BM25 score) best first; higher scores are better.

        ``weights`` scale the title's and the passage text's contributions."""
        expression = fts_query(text)
        if expression is None:
            return []
        rows = self._rows(
            "SELECT rowid, bm25(passages_fts, ?, ?) AS score FROM passages_fts "
            "WHERE passages_fts MATCH ? ORDER BY score LIMIT ?",
            (*weights, expression, limit),
        )
        # FTS5's bm25() is negated so that ascending order is best first.
        return [(int(r[0]), -float(r[1])) for r in rows]

    def integrity_check(self) -> str:
        """'ok', or what SQLite found wrong."""
        rows = self._rows("PRAGMA quick_check")
        return "; ".join(r[0] for r in rows)


def is_empty_store(path: Path) -> bool:
    """Whether ``path`` is a store of ours that holds nothing: the schema alone, as a
    creation cut off before its first commit leaves it. Read without writing anything."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0:
            return tables == 0
        if version != SCHEMA_VERSION:
            return False
        articles = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
        passages = connection.execute("SELECT count(*) FROM passages").fetchone()[0]
        return articles == 0 and passages == 0
    except sqlite3.Error:
        return False
    finally:
        connection.close()


def _split_script(script: str) -> list[str]:
    """Statements of a migration script; triggers keep their inner semicolons."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements


def _chunks(items: list, size: int) -> Iterator[list]:
    for first in range(0, len(items), size):
        yield items[first : first + size]
