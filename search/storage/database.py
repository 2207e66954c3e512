"""SQLite storage: articles, passages, the FTS5 index over them, and the index's metadata.

The only module that runs SQL. The schema's history, and the SQL of each change, is the
named migrations in ``migrations.py``, recorded in ``PRAGMA user_version``: a new store is
made at the newest schema here, an existing one is brought forward by the writer
(``Writer.migrate``). All writes happen inside ``Store.transaction()``; readers take a
consistent snapshot with ``Store.snapshot()`` (WAL mode lets both run at once).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from search.domain.dates import normalise_date
from search.domain.filters import (
    COLLECTION_FIELD,
    SOURCE_FIELD,
    UNDATED,
    Filter,
    day_number,
    day_text,
    outlet_key,
    url_host,
)
from search.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexVersionError,
    IndexWriteError,
    SearchError,
)
from search.storage.migrations import (
    ALERTS,
    ANCHORS,
    COLLECTIONS,
    NEWS,
    SCHEMA_VERSION,
    schema_script,
)
from search.storage.segments import SegmentRow

__all__ = [
    "COLLECTIONS",
    "NEWS",
    "SCHEMA_VERSION",
    "AlertRow",
    "ArticleRow",
    "PassageRow",
    "SegmentRow",
    "Store",
    "fts_query",
    "is_empty_store",
]

# BM25 weights of the title and the passage text (tuned: docs/QUALITY.md).
BM25_WEIGHTS = (1.0, 1.0)
_MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ArticleRow:
    id: str
    path: str  # the file it was read from (the ``source`` column)
    title: str
    published: str | None
    url: str | None
    content_hash: str
    source: str | None = None  # the outlet (the ``outlet`` column)
    fields: dict[str, Any] = field(default_factory=dict)
    dup_group: str | None = None
    collection: str = ""  # and the article's own id (``id`` is the key, COLLECTION/ID)
    local_id: str = ""


@dataclass(frozen=True)
class AlertRow:
    """A saved search as the store keeps it (``search.query.alerts.Alert`` reads it)."""

    name: str
    request: str  # the search's parameters, as JSON
    created: str  # ISO 8601, UTC
    generation: int  # it reports the articles added after this commit
    last_run: str | None = None


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
    path: str
    published: str | None
    url: str | None
    source: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    dup_group: str | None = None
    collection: str = ""
    local_id: str = ""


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
    def open(
        cls, path: Path, *, create: bool = False, readonly: bool = False, schema: int | None = None
    ) -> Store:
        """Open the store. A writer's (the default) with ``create`` makes the file (at schema
        ``schema``, default the newest); otherwise the schema is left as it is, for
        ``Writer.migrate`` to bring forward. A ``readonly`` one writes nothing, so it also
        opens an index on a read-only folder or mount."""
        if not create:
            _check_regular(path)
        try:
            connection = _connect(path, readonly=readonly)
        except sqlite3.Error as error:
            raise IndexCorruptError(
                f"{path} is not a readable index database ({error}) — rebuild the index"
            ) from error
        store = cls(connection, path)
        try:
            store._prepare(readonly=readonly, create=create, schema=schema or SCHEMA_VERSION)
        except sqlite3.DatabaseError as error:
            connection.close()
            reported = store._translate(error)
            if isinstance(reported, IndexCorruptError):
                reported = IndexCorruptError(
                    f"{path} is not a readable index database ({error}) — rebuild the index"
                )
            raise reported from error
        except BaseException:
            connection.close()
            raise
        return store

    def _prepare(self, *, readonly: bool, create: bool, schema: int) -> None:
        # A doctored schema is refused whole (_check_schema). Readers also run no function of
        # the schema's with side effects; a writer needs its own triggers into FTS5.
        if readonly:
            self._db.execute("PRAGMA trusted_schema = OFF")
        self._db.execute("PRAGMA cell_size_check = ON")
        if not readonly:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._check_version(writable=not readonly, create=create, schema=schema)
        self._check_schema()

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """All rows of a query; SQLite's failures become the errors a user is told."""
        with self._reported():
            return self._db.execute(sql, params).fetchall()

    def _rows_in(
        self, sql: str, values: Iterable[object], before: Sequence[object] = ()
    ) -> list[tuple]:
        """All rows of ``sql`` over ``values``, whose ``{marks}`` is an IN list's
        placeholders: run 500 values at a time (SQLite caps a statement's parameters),
        each run given ``before`` first."""
        rows: list[tuple] = []
        for chunk in _chunks(list(values), 500):
            marks = ",".join("?" * len(chunk))
            rows += self._rows(sql.replace("{marks}", marks), [*before, *chunk])
        return rows

    def _run(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        with self._reported():
            return self._db.execute(sql, params)

    def _check_version(self, *, writable: bool, create: bool, schema: int) -> None:
        """Refuse a newer schema, and a file without one. With ``create``, a writer makes the
        schema (up to ``schema``) of a new file, or of one whose creation was cut off; an
        existing index is brought forward only by ``Writer.migrate``, with its backfills."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexVersionError(
                f"{self.path} has schema version {version}; this newssearch reads up to "
                f"{SCHEMA_VERSION} — upgrade newssearch"
            )
        self.version = version
        creating = create and writable and version < schema
        if version == 0 and (not creating or self._has_tables()):
            raise IndexCorruptError(f"{self.path} holds no index tables — rebuild the index")
        if creating:
            with self.transaction():
                while self.version < schema:
                    self.apply_schema(self.version + 1)

    def apply_schema(self, number: int) -> None:
        """Apply schema change ``number`` (``migrations.schema_script``) inside the caller's
        transaction, and record it in ``PRAGMA user_version``."""
        if number != self.version + 1:
            raise ValueError(f"schema change {number} does not follow version {self.version}")
        for statement in _split_script(schema_script(number)):
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {number}")
        self.version = number

    def _check_schema(self) -> None:
        """The file's tables, views and triggers must be exactly what our migrations make:
        a table swapped for a (recursive) view, or a planted trigger, is a damaged index."""
        rows = self._db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        if rows != _expected_schema(self.version):
            raise IndexCorruptError(
                f"{self.path} does not hold the tables newssearch makes — rebuild the index"
            )

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
                # A writer may have migrated the store since this connection opened it:
                # read at the schema this transaction sees.
                self.version = self._db.execute("PRAGMA user_version").fetchone()[0]
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
        except sqlite3.DatabaseError as error:
            raise self._translate(error) from error

    def _translate(self, error: sqlite3.DatabaseError) -> SearchError:
        message = str(error)
        if "locked" in message or "busy" in message:
            return IndexLockedError(f"{self.path} stayed locked by another process — try again")
        if "disk is full" in message or "disk I/O error" in message:
            return IndexWriteError(
                f"cannot write {self.path}: {message} — free some space and run it again; "
                "the index keeps its last commit"
            )
        if "readonly" in message or "read-only" in message:
            return IndexWriteError(
                f"cannot write {self.path}: the index is read-only here — query it, or copy it "
                "somewhere writable to change it"
            )
        return IndexCorruptError(f"{self.path}: {message} — rebuild the index")

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

    def delete_meta(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._run("DELETE FROM meta WHERE key = ?", (key,))

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
            f"SELECT {self._article_columns()} FROM articles WHERE id = ?", (article_id,)
        )
        if not rows:
            return None
        row = _article_row(rows[0])
        return row if self.has_news else replace(row, published=normalise_date(row.published))

    def _article_columns(self) -> str:
        if self.version >= COLLECTIONS:
            return (
                "id, source, title, published, url, content_hash, outlet, fields, dup_group,"
                " collection, local_id"
            )
        if self.version >= NEWS:
            return (
                "id, source, title, published, url, content_hash, outlet, fields, dup_group, '', id"
            )
        return "id, source, title, date, url, content_hash, NULL, '{}', NULL, '', id"

    @property
    def has_news(self) -> bool:
        """Whether the store holds news metadata (filters, duplicate groups)."""
        return self.version >= NEWS

    @property
    def has_collections(self) -> bool:
        """Whether articles are keyed COLLECTION/ID (before: by their id alone)."""
        return self.version >= COLLECTIONS

    def find_articles(self, ref: str) -> list[str]:
        """The keys of the articles ``ref`` names: ``COLLECTION/ID`` (always one article),
        else an article's own id, in whichever collections hold it."""
        if self._rows("SELECT 1 FROM articles WHERE id = ?", (ref,)):
            return [ref]
        if not self.has_collections:
            return []
        rows = self._rows("SELECT id FROM articles WHERE local_id = ? ORDER BY id", (ref,))
        return [r[0] for r in rows]

    def collections(self) -> list[tuple[str, int]]:
        """Each collection's name and its number of articles, largest first."""
        if not self.has_collections:
            return []
        return [
            (name, count)
            for name, count in self._rows(
                "SELECT collection, count(*) AS n FROM articles GROUP BY collection"
                " ORDER BY n DESC, collection"
            )
        ]

    def source_collections(self, source: str) -> dict[str, tuple[str, str]]:
        """Key to (collection, own id), for the articles read from ``source``."""
        if not self.has_collections:
            return {}
        rows = self._rows(
            "SELECT id, collection, local_id FROM articles WHERE source = ?", (source,)
        )
        return {key: (collection, local) for key, collection, local in rows}

    def rekey_article(self, key: str, collection: str, local_id: str) -> str:
        """Move an article into ``collection`` under its own id ``local_id``: its key and
        every row that names it. Returns the new key."""
        new = f"{collection}/{local_id}"
        if new == key:
            return key
        # Passages name their article (a foreign key): checked when the transaction ends.
        self._run("PRAGMA defer_foreign_keys = ON")
        self._run(
            "UPDATE articles SET id = ?, collection = ?, local_id = ? WHERE id = ?",
            (new, collection, local_id, key),
        )
        self._run("UPDATE articles SET dup_group = ? WHERE dup_group = ?", (new, key))
        tables = ["passages", "article_terms", "signatures", "bands", "near_duplicates"]
        for table in tables + (["anchors"] if self.has_anchors else []):
            self._run(f"UPDATE {table} SET article_id = ? WHERE article_id = ?", (new, key))
        self._run("UPDATE near_duplicates SET other_id = ? WHERE other_id = ?", (new, key))
        self._run(
            "UPDATE article_terms SET value = ? WHERE article_id = ? AND field = ?",
            (collection, new, COLLECTION_FIELD),
        )
        return new

    def article_origins(self) -> list[tuple[str, str, str | None, str | None, str]]:
        """(key, file, outlet, url, fields as JSON) of every article, for m005's backfill."""
        return [
            tuple(r)
            for r in self._rows("SELECT id, source, outlet, url, fields FROM articles ORDER BY id")
        ]

    def learn_outlet(self, url: str | None, outlet: str | None) -> None:
        """Remember that ``url``'s host is the outlet ``outlet``, when the outlet is a name
        (not the host itself): a page from that host that names no outlet is then its."""
        host = url_host(url)
        if host is None or not outlet or outlet_key(outlet) == outlet_key(host):
            return
        self._run(
            "INSERT INTO outlet_hosts (host, outlet) VALUES (?, ?)"
            " ON CONFLICT (host) DO UPDATE SET outlet = excluded.outlet",
            (outlet_key(host), outlet),
        )

    def outlet_names(self) -> dict[str, str]:
        """Each folded host (``outlet_key``) that pages gave an outlet's name for, to that
        name."""
        if not self.has_collections:
            return {}
        return dict(self._rows("SELECT host, outlet FROM outlet_hosts"))

    def outlet_keys(self) -> set[str]:
        """Every outlet the index holds, as ``outlet_key`` folds it."""
        if not self.has_news:
            return set()
        rows = self._rows(
            "SELECT DISTINCT value FROM article_terms WHERE field = ?", (SOURCE_FIELD,)
        )
        return {r[0] for r in rows}

    def outlets(self, limit: int | None = None) -> list[tuple[str, int]]:
        """Each outlet's name (as its articles give it) and its number of articles, most
        first; a web host that pages named as an outlet counts as that outlet."""
        if not self.has_news:
            return []
        rows = self._rows(
            "SELECT t.value, min(a.outlet), count(*) FROM article_terms t"
            " JOIN articles a ON a.id = t.article_id WHERE t.field = ? GROUP BY t.value",
            (SOURCE_FIELD,),
        )
        names = {host: outlet_key(name) for host, name in self.outlet_names().items()}
        counted: dict[str, list] = {}
        for key, name, count in rows:
            home = names.get(key, key)
            entry = counted.setdefault(home, [name, 0])
            if home == key:
                entry[0] = name
            entry[1] += count
        ranked = sorted(((n, c) for n, c in counted.values()), key=lambda x: (-x[1], x[0]))
        return ranked[:limit] if limit is not None else ranked

    def date_span(self) -> tuple[str | None, str | None]:
        """The first and last ``published`` of the dated articles (None, None: none)."""
        if not self.has_news:
            return None, None
        first, last = self._rows("SELECT min(published), max(published) FROM articles")[0]
        return first, last

    def top_values(self, per_field: int = 5) -> dict[str, list[tuple[str, int]]]:
        """Each record field's most frequent values (case-folded, as filters match them)
        and their number of articles."""
        top: dict[str, list[tuple[str, int]]] = {}
        for name in self.known_fields():
            if name == SOURCE_FIELD:  # outlets are counted by ``outlets``
                continue
            rows = self._rows(
                "SELECT value, count(*) AS n FROM article_terms WHERE field = ?"
                " GROUP BY value ORDER BY n DESC, value LIMIT ?",
                (name, per_field),
            )
            top[name] = [(value, count) for value, count in rows]
        return top

    def outlet_display(self, keys: Sequence[str]) -> list[str]:
        """The names, as articles give them, of outlets folded to ``keys``, in that order."""
        if not keys:
            return []
        rows = self._rows_in(
            "SELECT t.value, min(a.outlet) FROM article_terms t JOIN articles a"
            f" ON a.id = t.article_id WHERE t.field = '{SOURCE_FIELD}'"
            " AND t.value IN ({marks}) GROUP BY t.value",
            keys,
        )
        names = dict(rows)
        return [names.get(key) or key for key in keys]

    def set_article_terms(self, key: str, terms: Sequence[tuple[str, str]]) -> None:
        """Replace the (field, value) terms filters match for an article."""
        self._run("DELETE FROM article_terms WHERE article_id = ?", (key,))
        self._db.executemany(
            "INSERT INTO article_terms (article_id, field, value) VALUES (?, ?, ?)",
            [(key, name, value) for name, value in terms],
        )

    @property
    def has_anchors(self) -> bool:
        """Whether the store keeps the anchors that find cut or extended copies."""
        return self.version >= ANCHORS

    def existing_articles(self, ids: Iterable[str]) -> list[str]:
        return [r[0] for r in self._rows_in("SELECT id FROM articles WHERE id IN ({marks})", ids)]

    def delete_articles(self, ids: Iterable[str]) -> list[int]:
        """Delete articles, their passages and their metadata; returns the deleted passage ids.
        Their duplicate links go too: ``regroup`` the groups they were in afterwards."""
        removed: list[int] = []
        for article_id in ids:
            removed += [
                r[0]
                for r in self._rows("SELECT id FROM passages WHERE article_id = ?", (article_id,))
            ]
            gone = self._run("DELETE FROM passages WHERE article_id = ?", (article_id,)).rowcount
            if self.has_news:
                tables = ["article_terms", "signatures", "bands"]
                tables += ["anchors"] if self.has_anchors else []
                for table in tables:
                    self._run(f"DELETE FROM {table} WHERE article_id = ?", (article_id,))
                self._run(
                    "DELETE FROM near_duplicates WHERE article_id = ? OR other_id = ?",
                    (article_id, article_id),
                )
            self._count(
                articles=-self._run("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount,
                passages=-gone,
            )
        return removed

    def insert_article(
        self,
        row: ArticleRow,
        passages: Sequence[tuple[int, int, int, int, str]],
        terms: Sequence[tuple[str, str]] = (),
        *,
        generation: int = 0,
    ) -> list[int]:
        """Insert an article, its (paragraph, part, start, end, text) passages and the
        (field, value) terms filters match, as written by commit ``generation``; returns
        the passages' new ids."""
        if self.has_news:
            self._run(
                "INSERT INTO articles (id, source, title, published, url, content_hash, outlet,"
                " fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.path,
                    row.title,
                    row.published,
                    row.url,
                    row.content_hash,
                    row.source,
                    json.dumps(row.fields, ensure_ascii=False),
                ),
            )
            if self.has_collections:
                later: dict[str, object] = {
                    "collection": row.collection,
                    "local_id": row.local_id or row.id,
                }
                if self.has_alerts:
                    later["added"] = generation
                self._run(
                    f"UPDATE articles SET {', '.join(f'{c} = ?' for c in later)} WHERE id = ?",
                    (*later.values(), row.id),
                )
                self.learn_outlet(row.url, row.source)
            self._db.executemany(
                "INSERT INTO article_terms (article_id, field, value) VALUES (?, ?, ?)",
                [(row.id, name, value) for name, value in terms],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO known_fields (field) VALUES (?)",
                [(name,) for name in {name for name, _ in terms} if not name.startswith("@")],
            )
        else:  # a store before news metadata (format 1's, until its upgrade)
            self._run(
                "INSERT INTO articles (id, source, title, date, url, content_hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row.id, row.path, row.title, row.published, row.url, row.content_hash),
            )
        ids = []
        for paragraph, part, start, end, text in passages:
            cursor = self._run(
                "INSERT INTO passages (article_id, paragraph, part, start_char, end_char, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (row.id, paragraph, part, start, end, text),
            )
            ids.append(int(cursor.lastrowid))  # type: ignore[arg-type]
        self._count(articles=1, passages=len(ids))
        return ids

    def _count(self, *, articles: int, passages: int) -> None:
        """Keep the counts in the metadata (where an index records them) in step."""
        for key, change in (("articles", articles), ("passages", passages)):
            if change:
                self._run(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?",
                    (change, key),
                )

    def record_counts(self) -> None:
        """Count articles and passages once, and keep the counts in the metadata from now on:
        ``counts`` then reads them instead of scanning a million rows."""
        articles, passages = self.counted()
        self.set_meta({"articles": str(articles), "passages": str(passages)})

    def move_article(self, article_id: str, path: str) -> None:
        self._run("UPDATE articles SET source = ? WHERE id = ?", (path, article_id))

    def counts(self) -> tuple[int, int]:
        """(articles, passages), as the metadata keeps them (counted when it does not)."""
        meta = dict(self._rows("SELECT key, value FROM meta WHERE key IN ('articles', 'passages')"))
        kept = [meta.get("articles"), meta.get("passages")]
        if all(isinstance(v, str) and v.isdigit() for v in kept):
            return int(kept[0]), int(kept[1])  # type: ignore[arg-type]
        return self.counted()

    def counted(self) -> tuple[int, int]:
        """(articles, passages), counted row by row."""
        articles = self._rows("SELECT count(*) FROM articles")[0][0]
        passages = self._rows("SELECT count(*) FROM passages")[0][0]
        return articles, passages

    def passage_ids(self) -> list[int]:
        return [r[0] for r in self._rows("SELECT id FROM passages ORDER BY id")]

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        """The passages with these ids, with their article's fields."""
        found: dict[int, PassageRow] = {}
        columns = "a.title, a.source, a.date, a.url, NULL, '{}', NULL, '', a.id"
        if self.has_collections:
            columns = (
                "a.title, a.source, a.published, a.url, a.outlet, a.fields, a.dup_group,"
                " a.collection, a.local_id"
            )
        elif self.has_news:
            columns = (
                "a.title, a.source, a.published, a.url, a.outlet, a.fields, a.dup_group, '', a.id"
            )
        rows = self._rows_in(
            "SELECT p.id, p.article_id, p.paragraph, p.part, p.start_char, p.end_char, p.text,"
            f" {columns}"
            " FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})",
            ids,
        )
        for row in rows:
            passage = _passage_row(row)
            if not self.has_news:
                passage = replace(passage, published=normalise_date(passage.published))
            found[row[0]] = passage
        return found

    def article_passages(self, article_id: str) -> list[PassageRow]:
        """An article's passages in text order."""
        ids = self.article_passage_ids([article_id]).get(article_id, [])
        found = self.passages(ids)
        return [found[i] for i in ids if i in found]

    def article_passage_ids(self, articles: Iterable[str]) -> dict[str, list[int]]:
        """Each article's passage ids, in text order."""
        found: dict[str, list[int]] = {}
        rows = self._rows_in(
            "SELECT article_id, id FROM passages WHERE article_id IN ({marks})"
            " ORDER BY article_id, start_char",
            sorted(set(articles)),
        )
        for article, pid in rows:
            found.setdefault(article, []).append(pid)
        return found

    def passage_groups(self, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        """Passage id to (article id, duplicate group), for ranking before hydrating."""
        group = "a.dup_group" if self.has_news else "NULL"
        rows = self._rows_in(
            f"SELECT p.id, p.article_id, {group} FROM passages p"
            " JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})",
            ids,
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def group_members(self, groups: Iterable[str]) -> dict[str, list[str]]:
        """Each duplicate group's article ids, sorted."""
        members: dict[str, list[str]] = {}
        rows = self._rows_in(
            "SELECT dup_group, id FROM articles WHERE dup_group IN ({marks}) ORDER BY id",
            sorted(set(groups)),
        )
        for group, article_id in rows:
            members.setdefault(group, []).append(article_id)
        return members

    # Filters.

    def known_fields(self) -> list[str]:
        """The record fields articles of this index have (that ``where`` can name)."""
        if not self.has_news:
            return []
        rows = self._rows("SELECT field FROM known_fields ORDER BY field")
        return [r[0] for r in rows if not r[0].startswith("@")]  # "@collection" is no field

    def filtered_passages(self, only: Filter) -> list[int]:
        """Ids of the passages whose article passes the filter (in no order: sorting them
        in SQL doubled the time)."""
        clauses, params = _filter_sql(only)
        rows = self._rows(
            "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id"
            f" WHERE {' AND '.join(clauses)}",
            params,
        )
        return [r[0] for r in rows]

    # The catalog: what a query's matching set is counted over (``query.catalog``).

    def catalog_articles(
        self, keys: Sequence[str] | None = None
    ) -> list[tuple[int, str, str | None, str | None]]:
        """(rowid, key, published, duplicate group) of every article (or of these), by
        rowid."""
        published = "published" if self.has_news else "NULL"
        group = "dup_group" if self.has_news else "NULL"
        columns = f"SELECT rowid, id, {published}, {group} FROM articles"
        if keys is None:
            return [tuple(r) for r in self._rows(f"{columns} ORDER BY rowid")]
        rows = self._rows_in(f"{columns} WHERE id IN ({{marks}})", keys)
        return sorted(tuple(r) for r in rows)

    def catalog_passages(self, keys: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every passage's id (or these articles' passages') and its article's rowid, in
        id order."""
        join = "SELECT p.id, a.rowid FROM passages p JOIN articles a ON a.id = p.article_id"
        if keys is None:
            rows = self._rows(f"{join} ORDER BY p.id")
        else:
            rows = sorted(self._rows_in(f"{join} WHERE p.article_id IN ({{marks}})", keys))
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        table = np.asarray(rows, dtype=np.int64)
        return table[:, 0].copy(), table[:, 1].copy()

    def catalog_terms(self, keys: Sequence[str] | None = None) -> list[tuple[int, str, str]]:
        """(article rowid, field, value) of every article's (or these articles') filter
        terms: outlets as ``outlet_key`` folds them, ``@collection``, record fields."""
        if not self.has_news:
            return []
        join = (
            "SELECT a.rowid, t.field, t.value FROM article_terms t"
            " JOIN articles a ON a.id = t.article_id"
        )
        if keys is None:
            return [tuple(r) for r in self._rows(join)]
        return [tuple(r) for r in self._rows_in(f"{join} WHERE t.article_id IN ({{marks}})", keys)]

    def matched_rows(
        self, articles: Sequence[str], passage_ids: Sequence[int]
    ) -> tuple[dict[str, ArticleRow], dict[int, str]]:
        """The rows of these articles, and the text of these passages, for a matching set's
        listing (export)."""
        rows = self._rows_in(
            f"SELECT {self._article_columns()} FROM articles WHERE id IN ({{marks}})", articles
        )
        found = {row.id: row for row in map(_article_row, rows)}
        texts = dict(
            self._rows_in("SELECT id, text FROM passages WHERE id IN ({marks})", passage_ids)
        )
        return found, texts

    # Duplicates.

    def add_signature(self, article_id: str, signature: bytes, keys: Sequence[int]) -> None:
        self._run(
            "INSERT OR REPLACE INTO signatures (article_id, signature) VALUES (?, ?)",
            (article_id, signature),
        )
        self._db.executemany(
            "INSERT INTO bands (band, key, article_id) VALUES (?, ?, ?)",
            [(band, key, article_id) for band, key in enumerate(keys)],
        )

    def band_matches(self, keys: Sequence[int]) -> list[str]:
        """Articles that share at least one band key with these."""
        found: set[str] = set()
        for band, key in enumerate(keys):
            rows = self._rows(
                "SELECT article_id FROM bands WHERE band = ? AND key = ?", (band, key)
            )
            found.update(r[0] for r in rows)
        return sorted(found)

    def add_anchors(self, article_id: str, keys: Sequence[int]) -> None:
        """Keep an article's anchors (nothing before the store has their table: m006
        finds every article's anchors once it has made it)."""
        if self.has_anchors:
            self._db.executemany(
                "INSERT INTO anchors (key, article_id) VALUES (?, ?)",
                [(key, article_id) for key in keys],
            )

    def anchor_matches(self, keys: Sequence[int]) -> list[str]:
        """Articles that share at least one anchor with these."""
        if not self.has_anchors:
            return []
        rows = self._rows_in("SELECT DISTINCT article_id FROM anchors WHERE key IN ({marks})", keys)
        return sorted({r[0] for r in rows})

    def forget_copies(self) -> None:
        """Drop every signature, band key, anchor, duplicate link and group, to find them
        all again."""
        tables = ["signatures", "bands", "near_duplicates"]
        tables += ["anchors"] if self.has_anchors else []
        for table in tables:
            self._run(f"DELETE FROM {table}")
        self._run("UPDATE articles SET dup_group = NULL WHERE dup_group IS NOT NULL")

    def signatures(self, ids: Iterable[str]) -> dict[str, bytes]:
        rows = self._rows_in(
            "SELECT article_id, signature FROM signatures WHERE article_id IN ({marks})", ids
        )
        return {r[0]: bytes(r[1]) for r in rows}

    def link_duplicates(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO near_duplicates (article_id, other_id) VALUES (?, ?)",
            [p for a, b in pairs for p in ((a, b), (b, a))],
        )

    def duplicate_links(self, ids: Iterable[str]) -> list[tuple[str, str]]:
        """The confirmed duplicate pairs that touch these articles."""
        rows = self._rows_in(
            "SELECT article_id, other_id FROM near_duplicates WHERE article_id IN ({marks})",
            sorted(set(ids)),
        )
        return [(r[0], r[1]) for r in rows]

    def dup_groups(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Article id to its duplicate group, for the articles that exist."""
        rows = self._rows_in(
            "SELECT id, dup_group FROM articles WHERE id IN ({marks})", sorted(set(ids))
        )
        return {r[0]: r[1] for r in rows}

    def set_group(self, ids: Iterable[str], group: str | None) -> None:
        self._rows_in(
            "UPDATE articles SET dup_group = ? WHERE id IN ({marks})", sorted(set(ids)), [group]
        )

    def duplicate_counts(self) -> tuple[int, int]:
        """(groups of duplicates, articles in them)."""
        if not self.has_news:
            return 0, 0
        rows = self._rows(
            "SELECT count(DISTINCT dup_group), count(*) FROM articles WHERE dup_group IS NOT NULL"
        )
        return int(rows[0][0]), int(rows[0][1])

    def articles_for_backfill(
        self, batch: int = 1000
    ) -> Iterator[list[tuple[str, str, str | None]]]:
        """(id, title, date as stored) of every article, in batches, in id order."""
        last = ""
        while True:
            rows = self._rows(
                "SELECT id, title, date FROM articles WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            yield [(r[0], r[1], r[2]) for r in rows]
            last = rows[-1][0]

    def set_published(self, article_id: str, published: str | None) -> None:
        self._run("UPDATE articles SET published = ? WHERE id = ?", (published, article_id))

    # Alerts: saved searches, and the commit that wrote each article.

    @property
    def has_alerts(self) -> bool:
        """Whether the store keeps alerts and the commit that wrote each article."""
        return self.version >= ALERTS

    def articles_added_after(self, generation: int) -> list[str]:
        """The keys of the articles that a commit after ``generation`` wrote (added, or
        changed), sorted: what an alert saved at ``generation`` has not reported. Read
        through ``articles.added``'s index, so it costs what those articles cost, whatever
        the archive's size. Articles stored before the store kept commits count as older
        than any; a store from before then has none."""
        if not self.has_alerts:
            return []
        # Sorted here: ``ORDER BY id`` led SQLite to walk the whole key index instead.
        rows = self._rows("SELECT id FROM articles WHERE added > ?", (generation,))
        return sorted(r[0] for r in rows)

    def alerts(self) -> list[AlertRow]:
        """Every saved alert, by name."""
        if not self.has_alerts:
            return []
        rows = self._rows(
            "SELECT name, request, created, generation, last_run FROM alerts ORDER BY name"
        )
        return [AlertRow(*row) for row in rows]

    def alert(self, name: str) -> AlertRow | None:
        if not self.has_alerts:
            return None
        rows = self._rows(
            "SELECT name, request, created, generation, last_run FROM alerts WHERE name = ?",
            (name,),
        )
        return AlertRow(*rows[0]) if rows else None

    def add_alert(self, row: AlertRow) -> None:
        """Save an alert (its name must be free: ``alert`` says)."""
        self._run(
            "INSERT INTO alerts (name, request, created, generation, last_run)"
            " VALUES (?, ?, ?, ?, ?)",
            (row.name, row.request, row.created, row.generation, row.last_run),
        )

    def remove_alert(self, name: str) -> bool:
        """Forget an alert; whether there was one of that name."""
        return self._run("DELETE FROM alerts WHERE name = ?", (name,)).rowcount > 0

    def alert_ran(self, name: str, generation: int, when: str) -> None:
        """Record that an alert has reported everything up to commit ``generation``."""
        self._run(
            "UPDATE alerts SET generation = ?, last_run = ? WHERE name = ?",
            (generation, when, name),
        )

    # Segments and deletions.

    def segments(self) -> list[SegmentRow]:
        rows = self._rows(
            "SELECT name, kind, rows, bytes, crc32, min_id, max_id, generation FROM segments"
            " ORDER BY generation, name"
        )
        segments = [SegmentRow(*row) for row in rows]
        for segment in segments:
            numbers = (segment.rows, segment.bytes, segment.crc32, segment.min_id, segment.max_id)
            if not isinstance(segment.name, str) or not all(
                isinstance(n, int) and n >= 0 for n in numbers
            ):
                raise IndexCorruptError(
                    f"{self.path} has a damaged segment record — rebuild the index"
                )
        return segments

    def add_segment(self, row: SegmentRow) -> None:
        self._run(
            "INSERT INTO segments (name, kind, rows, bytes, crc32, min_id, max_id, generation)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.name,
                row.kind,
                row.rows,
                row.bytes,
                row.crc32,
                row.min_id,
                row.max_id,
                row.generation,
            ),
        )

    def drop_segments(self, names: Sequence[str]) -> None:
        for name in names:
            self._run("DELETE FROM segments WHERE name = ?", (name,))

    def deletions(self) -> list[int]:
        """Passage ids whose vectors are still in a segment, masked."""
        ids = [r[0] for r in self._rows("SELECT passage_id FROM deletions ORDER BY passage_id")]
        if not all(isinstance(i, int) for i in ids):
            raise IndexCorruptError(
                f"{self.path} has a damaged deletion record — rebuild the index"
            )
        return ids

    def add_deletions(self, ids: Iterable[int]) -> None:
        for chunk in _chunks(list(ids), 500):
            self._db.executemany(
                "INSERT OR IGNORE INTO deletions (passage_id) VALUES (?)", [(i,) for i in chunk]
            )

    def forget_deletions(self, ids: Iterable[int]) -> None:
        """Drop deletions whose vectors a merge has left out."""
        self._rows_in("DELETE FROM deletions WHERE passage_id IN ({marks})", ids)

    def add_lexical_deletions(self, ids: Iterable[int], generation: int) -> None:
        for chunk in _chunks(list(ids), 500):
            self._db.executemany(
                "INSERT OR REPLACE INTO lexical_deletions (passage_id, generation) VALUES (?, ?)",
                [(i, generation) for i in chunk],
            )

    def lexical_ghosts(self, up_to: int) -> list[int]:
        """Deleted passages still in the lexical index, deleted at ``up_to`` or before."""
        rows = self._rows(
            "SELECT passage_id FROM lexical_deletions WHERE generation <= ?", (up_to,)
        )
        return [r[0] for r in rows]

    def forget_lexical_deletions(self, ids: Iterable[int]) -> None:
        self._rows_in("DELETE FROM lexical_deletions WHERE passage_id IN ({marks})", ids)

    def lexical_ghost_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM lexical_deletions")[0][0])

    def last_passage_id(self) -> int:
        """The largest passage id ever committed (ids are never reused)."""
        rows = self._rows("SELECT seq FROM sqlite_sequence WHERE name = 'passages'")
        return int(rows[0][0]) if rows else 0

    def passage_documents(
        self, batch: int = 10_000
    ) -> Iterator[list[tuple[int, str, str, str | None, list[tuple[str, str]]]]]:
        """Every passage as (id, its article's title, its text, its article's published, its
        article's filter terms), in batches, in id order."""
        last = 0
        published = "a.published" if self.has_news else "NULL"
        while True:
            rows = self._rows(
                f"SELECT p.id, a.title, p.text, {published}, a.id FROM passages p JOIN articles a"
                " ON a.id = p.article_id WHERE p.id > ? ORDER BY p.id LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            terms = self.article_terms({r[4] for r in rows})
            yield [(r[0], r[1], r[2], r[3], terms.get(r[4], [])) for r in rows]
            last = rows[-1][0]

    def passage_days(self) -> tuple[np.ndarray, np.ndarray]:
        """Every passage's id and its article's publication day (``day_number``, as the
        lexical index holds it; ``UNDATED`` for none), in id order: what shards split by."""
        published = "a.published" if self.has_news else "NULL"
        rows = self._rows(
            f"SELECT p.id, {published} FROM passages p JOIN articles a ON a.id = p.article_id"
            " ORDER BY p.id"
        )
        days: dict[str | None, int] = {}
        for _, value in rows:
            if value not in days:
                days[value] = _day_or_undated(value)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        numbers = np.fromiter((days[r[1]] for r in rows), dtype=np.int64, count=len(rows))
        return ids, numbers

    def article_terms(self, ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        terms: dict[str, list[tuple[str, str]]] = {}
        if not self.has_news:
            return terms
        rows = self._rows_in(
            "SELECT article_id, field, value FROM article_terms"
            " WHERE article_id IN ({marks}) ORDER BY rowid",
            sorted(set(ids)),
        )
        for article_id, name, value in rows:
            terms.setdefault(article_id, []).append((name, value))
        return terms

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
        """'ok', or what SQLite found wrong (reads every page)."""
        rows = self._rows("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file, so that a copied or published
        index is whole in ``store.sqlite`` alone."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if not readonly:
        return sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    uri = path.resolve().as_uri()
    connection = sqlite3.connect(
        f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30.0, check_same_thread=False
    )
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        # A folder or mount we cannot write: SQLite cannot make the files its log needs.
        # Nobody can be writing it either, so read the file as it stands.
        connection.close()
        return sqlite3.connect(
            f"{uri}?mode=ro&immutable=1",
            uri=True,
            isolation_level=None,
            timeout=30.0,
            check_same_thread=False,
        )


def _check_regular(path: Path) -> None:
    """The store must be a regular file of the folder, not a link to one elsewhere."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing — rebuild the index") from None
    except OSError as error:
        raise IndexCorruptError(f"cannot read {path}: {error.strerror}") from error
    if not stat.S_ISREG(mode):
        raise IndexCorruptError(
            f"{path} is not a regular file (a link or device?) — rebuild the index"
        )
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.lstat(f"{path}{suffix}").st_mode):
                raise IndexCorruptError(f"{path}{suffix} is not a regular file — remove it")


@functools.cache
def _expected_schema(version: int) -> list[tuple]:
    """sqlite_master as our migrations up to schema ``version`` leave it."""
    connection = sqlite3.connect(":memory:")
    try:
        for number in range(1, version + 1):
            for statement in _split_script(schema_script(number)):
                connection.execute(statement)
        return connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        connection.close()


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
        if not 1 <= version <= SCHEMA_VERSION:
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


def _day_or_undated(published: str | None) -> int:
    day = day_number(published)
    return UNDATED if day is None else day


def _chunks(items: list, size: int) -> Iterator[list]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def _filter_sql(only: Filter) -> tuple[list[str], list[object]]:
    """SQL conditions on articles (``a``) for a filter. ``published`` is ISO 8601 text, so
    days compare as strings: a timestamp of the day sorts after the day itself."""
    clauses: list[str] = []
    params: list[object] = []
    if only.since is not None:
        clauses.append("a.published >= ?")
        params.append(day_text(only.since))
    if only.until is not None:
        clauses.append("a.published < ?")
        params.append(day_text(only.until + 1))
    for name, values in ((SOURCE_FIELD, only.sources), (COLLECTION_FIELD, only.collections)):
        if values:  # any of them
            marks = ",".join("?" * len(values))
            clauses.append(
                "a.id IN (SELECT article_id FROM article_terms"
                f" WHERE field = ? AND value IN ({marks}))"
            )
            params += [name, *values]
    for name, value in only.where:
        clauses.append(
            "a.id IN (SELECT article_id FROM article_terms WHERE field = ? AND value = ?)"
        )
        params += [name, value]
    return clauses or ["1"], params


def _fields(text: object) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _article_row(row: Sequence[Any]) -> ArticleRow:
    return ArticleRow(
        id=row[0],
        path=row[1],
        title=row[2],
        published=row[3],
        url=row[4],
        content_hash=row[5],
        source=row[6],
        fields=_fields(row[7]),
        dup_group=row[8],
        collection=row[9],
        local_id=row[10],
    )


def _passage_row(row: Sequence[Any]) -> PassageRow:
    return PassageRow(
        id=row[0],
        article_id=row[1],
        paragraph=row[2],
        part=row[3],
        start=row[4],
        end=row[5],
        text=row[6],
        title=row[7],
        path=row[8],
        published=row[9],
        url=row[10],
        source=row[11],
        fields=_fields(row[12]),
        dup_group=row[13],
        collection=row[14],
        local_id=row[15],
    )
