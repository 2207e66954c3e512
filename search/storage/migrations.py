"""The history of an index's schema: every change, as a named function, in order.

In the style of simonw/llm's ``embeddings_migrations.py``: ``@migrations(...)`` registers
``m001_...``, ``m002_...``, run in that order; each owns its schema change (the SQL given
to the decorator) and its backfill (the function's body), applied together in one
transaction and recorded as applied in the same transaction.

What records a migration is what has always recorded it, so an index made by any earlier
newssearch reads the same: ``PRAGMA user_version`` counts the schema changes applied, and
the ``meta`` table's ``format_version`` (1: one vector file; 2: segments) and ``news`` (the
lexical schema the news backfill built) the upgrades that rewrote data. A migration is
applied when all its records are reached.

A new index is made at the newest schema with every record set (``schema_script``,
``created_records``): it has nothing to backfill. An existing one is brought forward when
it is opened for writing (``write.writer.open_writer``), and only then: a reader changes
nothing. The writer runs the pending migrations (``Writer.migrate``), each in a transaction
of its own, so a migration that fails leaves the index as readers saw it; one that makes a
new generation is a commit, whose manifest is then written.

Backfills that need code above storage (segment files, MinHash, the lexical index) call
named steps of the writer (``Backfills``), which is handed in: storage imports nothing of
``write``. ``database.py`` builds on this module (it creates and checks the schema from the
scripts here), so the store is named here by what migrations use of it (``MigratingStore``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from search.domain.collections import collection_name
from search.domain.dates import normalise_date
from search.domain.filters import article_terms
from search.storage.manifest import Meta, now

__all__ = [
    "ALERTS",
    "COLLECTIONS",
    "ANCHORS",
    "NEWS",
    "SCHEMA_VERSION",
    "Backfills",
    "MigratingStore",
    "Migration",
    "Migrations",
    "Upgrade",
    "created_records",
    "migrations",
    "pending",
    "schema_script",
]

_NAME = re.compile(r"m(\d{3})_[a-z0-9_]+")


class MigratingStore(Protocol):
    """What a migration uses of ``database.Store``."""

    path: Path

    @property
    def version(self) -> int:
        """The schema changes applied (``PRAGMA user_version``)."""
        ...

    def apply_schema(self, number: int) -> None: ...

    def get_meta(self) -> dict[str, str]: ...

    def set_meta(self, values: dict[str, str]) -> None: ...

    def delete_meta(self, keys: Sequence[str]) -> None: ...

    def record_counts(self) -> None: ...

    def articles_for_backfill(
        self, batch: int = ...
    ) -> Iterator[list[tuple[str, str, str | None]]]: ...

    def set_published(self, article_id: str, published: str | None) -> None: ...

    def article_origins(self) -> list[tuple[str, str, str | None, str | None, str]]: ...

    def rekey_article(self, key: str, collection: str, local_id: str) -> str: ...

    def set_article_terms(self, key: str, terms: Sequence[tuple[str, str]]) -> None: ...

    def learn_outlet(self, url: str | None, outlet: str | None) -> None: ...


class Backfills(Protocol):
    """The writer's steps that backfills call: the parts that need code above storage."""

    def move_vectors(self, generation: int) -> None:
        """Format 1's one vector file into a segment of ``generation``, counts checked."""
        ...

    def add_news(self) -> None:
        """Every stored article's MinHash signature and duplicate group."""
        ...

    def regroup_copies(self) -> None:
        """Every stored article's wire copies found again, by the rules of this code."""
        ...

    def rebuild_lexical(self, generation: int) -> None:
        """Every stored passage indexed anew in the lexical index, as of ``generation``."""
        ...


@dataclass
class Upgrade:
    """What a migration's function works with, inside the transaction opened for it."""

    store: MigratingStore
    writer: Backfills
    generation: int | None = None  # the new generation, once the migration has made one

    def new_generation(self) -> int:
        """Make this migration a commit readers see: the store's generation, one up."""
        self.generation = Meta.read(self.store.get_meta(), self.store.path).generation + 1
        self.store.set_meta({"generation": str(self.generation)})
        return self.generation


@dataclass(frozen=True)
class Migration:
    """One registered migration: its schema change, its backfill, and what records it."""

    name: str
    summary: str  # its docstring: what it changes
    function: Callable[[Upgrade], None]  # the backfill (nothing to do for a schema alone)
    schema: str | None  # the SQL it applies; ``None``: it changes no table
    version: int  # ``PRAGMA user_version`` once it is applied
    format_version: int | None = None  # the ``format_version`` it records, if any
    news: int | None = None  # the ``news`` it records, if any

    def applied(self, version: int, meta: Meta) -> bool:
        """Whether a store at schema ``version`` with ``meta`` has had this migration."""
        return (
            version >= self.version
            and meta.format_version >= (self.format_version or 0)
            and meta.news >= (self.news or 0)
        )

    def records(self) -> dict[str, str]:
        """The ``meta`` values that record this migration as applied."""
        values = {"format_version": self.format_version, "news": self.news}
        return {key: str(value) for key, value in values.items() if value is not None}

    def apply(self, store: MigratingStore, writer: Backfills) -> bool:
        """Run this migration inside the caller's transaction: its schema change (unless
        the store has it already), its backfill, its records. Returns whether it made a
        new generation (a commit, whose manifest the caller then writes)."""
        if self.schema is not None and store.version < self.version:
            store.apply_schema(self.version)
        upgrade = Upgrade(store, writer)
        self.function(upgrade)
        if self.records():
            store.set_meta(self.records())
        return upgrade.generation is not None


_F = TypeVar("_F", bound=Callable[[Upgrade], None])


@dataclass
class Migrations:
    """The registry: migrations in the order they run, each named ``mNNN_what_it_does``."""

    _all: list[Migration] = field(default_factory=list)

    def __call__(
        self,
        *,
        schema: str | None = None,
        format_version: int | None = None,
        news: int | None = None,
    ) -> Callable[[_F], _F]:
        """Register the decorated function as the next migration: ``schema`` the SQL it
        applies, ``format_version`` and ``news`` the ``meta`` values it records."""

        def register(function: _F) -> _F:
            name = function.__name__
            match = _NAME.fullmatch(name)
            if match is None or int(match.group(1)) != len(self._all) + 1:
                raise ValueError(f"migration {name} must be named m{len(self._all) + 1:03d}_...")
            summary = (function.__doc__ or "").strip()
            if not summary or "\n" in summary:
                raise ValueError(f"migration {name} needs a one-line docstring")
            version = self.schema_version + (schema is not None)
            self._all.append(
                Migration(name, summary, function, schema, version, format_version, news)
            )
            return function

        return register

    def __iter__(self) -> Iterator[Migration]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def __getitem__(self, name: str) -> Migration:
        for migration in self._all:
            if migration.name == name:
                return migration
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._all]

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` once every migration is applied."""
        return self._all[-1].version if self._all else 0


migrations = Migrations()


@migrations(
    schema="""
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
    """
)
def m001_create_tables(up: Upgrade) -> None:
    """The first schema: metadata, sources, articles, passages, and FTS5 over them."""


@migrations(
    # Each segment file holds the vectors of some passages; a deleted passage's vector stays
    # in its segment, masked, until a merge drops it. Applied on its own, before format 1's
    # upgrade (m003), as every writer of a format-1 index once did when it opened the store.
    schema="""
    CREATE TABLE segments (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        rows INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        crc32 INTEGER NOT NULL,
        min_id INTEGER NOT NULL,
        max_id INTEGER NOT NULL,
        generation INTEGER NOT NULL
    );
    CREATE TABLE deletions (passage_id INTEGER PRIMARY KEY);
    -- Deleted passages still in the lexical index, and the generation that deleted them.
    CREATE TABLE lexical_deletions (
        passage_id INTEGER PRIMARY KEY,
        generation INTEGER NOT NULL
    );
    """
)
def m002_segment_tables(up: Upgrade) -> None:
    """Tables for vector segments, their deletions, and the lexical index's deletions."""


@migrations(
    schema="""
    DROP TRIGGER passages_fts_insert;
    DROP TRIGGER passages_fts_delete;
    DROP TABLE passages_fts;
    DROP VIEW passage_documents;
    """,
    format_version=2,
)
def m003_vectors_into_segments(up: Upgrade) -> None:
    """Format 1 to 2: the one vector file becomes a segment, FTS5 gives way to tantivy."""
    store = up.store
    generation = up.new_generation()
    up.writer.move_vectors(generation)
    store.delete_meta([key for key in store.get_meta() if key.startswith("vectors_")])
    store.set_meta({"upgraded": now()})
    store.record_counts()
    up.writer.rebuild_lexical(generation)


@migrations(
    # ``articles.source`` has always held the file an article came from (``path`` in the
    # library); the outlet is ``outlet``. ``article_terms`` holds what filters match: (field,
    # case-folded value), the outlet under "source". ``signatures`` and ``bands`` are MinHash
    # signatures and their LSH band keys; ``near_duplicates`` the confirmed pairs, both ways;
    # ``dup_group`` the smallest id of an article's duplicate group (NULL when it has none).
    # ``news`` records the lexical schema (``lexical.SCHEMA``) the backfill built: one with
    # the day and terms fields that filters match. (A store at schema 4 without ``news``,
    # left by an upgrade of format 1 whose backfill failed, gets the backfill alone.)
    schema="""
    ALTER TABLE articles ADD COLUMN published TEXT;
    ALTER TABLE articles ADD COLUMN outlet TEXT;
    ALTER TABLE articles ADD COLUMN fields TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE articles ADD COLUMN dup_group TEXT;
    CREATE INDEX articles_published ON articles (published);
    CREATE INDEX articles_dup_group ON articles (dup_group);
    CREATE TABLE article_terms (
        article_id TEXT NOT NULL,
        field TEXT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX article_terms_value ON article_terms (field, value);
    CREATE INDEX article_terms_article ON article_terms (article_id);
    CREATE TABLE known_fields (field TEXT PRIMARY KEY);
    CREATE TABLE signatures (article_id TEXT PRIMARY KEY, signature BLOB NOT NULL);
    CREATE TABLE bands (
        band INTEGER NOT NULL,
        key INTEGER NOT NULL,
        article_id TEXT NOT NULL
    );
    CREATE INDEX bands_key ON bands (band, key);
    CREATE INDEX bands_article ON bands (article_id);
    CREATE TABLE near_duplicates (
        article_id TEXT NOT NULL,
        other_id TEXT NOT NULL,
        PRIMARY KEY (article_id, other_id)
    ) WITHOUT ROWID;
    """,
    news=2,
)
def m004_news_metadata(up: Upgrade) -> None:
    """News metadata: published dates, outlets, fields, duplicate groups; lexical filters."""
    # Outlets and fields were not kept before: an article gains them when its file is
    # indexed again. Its published date is read from the date it stored.
    store = up.store
    for batch in store.articles_for_backfill():
        for article_id, _title, date in batch:
            store.set_published(article_id, normalise_date(date))
    up.writer.add_news()
    generation = up.new_generation()
    store.set_meta({"updated": now()})
    up.writer.rebuild_lexical(generation)


@migrations(
    # ``articles.id`` becomes the key COLLECTION/ID (and so does every column that names an
    # article); ``local_id`` is the article's own id, ``collection`` its collection.
    # ``outlet_hosts`` maps a web host to the outlet's name that pages from it give.
    schema="""
    ALTER TABLE articles ADD COLUMN collection TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN local_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX articles_collection ON articles (collection);
    CREATE INDEX articles_local_id ON articles (local_id);
    CREATE TABLE outlet_hosts (host TEXT PRIMARY KEY, outlet TEXT NOT NULL);
    """
)
def m005_collections(up: Upgrade) -> None:
    """Collections: each article keyed COLLECTION/ID; outlets folded to one name per site."""
    # An index made before collections does not know which folder each article was given
    # under: a file's article whose id is its path (``seeds/000.txt``) names the folder
    # given (or the file, given alone); any other goes to its file's folder's collection.
    # The next run of ``index`` over a folder moves its articles to that run's collection.
    store = up.store
    for key, path, outlet, url, fields in store.article_origins():
        collection = legacy_collection(key, path)
        new = store.rekey_article(key, collection, key)
        store.set_article_terms(new, article_terms(outlet, _fields(fields), collection))
        store.learn_outlet(url, outlet)
    generation = up.new_generation()
    store.set_meta({"updated": now()})
    up.writer.rebuild_lexical(generation)


def legacy_collection(article_id: str, path: str) -> str:
    """The collection m005 puts an article of an older index in.

    >>> legacy_collection("seeds/000.txt", "/data/seeds/000.txt")
    'seeds'
    >>> legacy_collection("bbc.jsonl#3", "/data/bbc/bbc.jsonl")
    'bbc'
    >>> legacy_collection("17", "/data/reuters/r.jsonl")
    'reuters'
    """
    label = article_id.split("#", 1)[0]
    if label and path.endswith("/" + label):
        first, slash, _ = label.partition("/")
        return (
            collection_name(first, folder=True) if slash else collection_name(first, folder=False)
        )
    parent = Path(path).parent.name
    return collection_name(parent, folder=True)


def _fields(text: str) -> dict[str, object]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@migrations(
    # ``anchors`` holds keys of each article's long sentences and of its whole text
    # (``minhash.anchors``): articles that share one are compared word for word, which
    # finds a copy cut from or extended into another, that the MinHash bands miss.
    schema="""
    CREATE TABLE anchors (
        key INTEGER NOT NULL,
        article_id TEXT NOT NULL
    );
    CREATE INDEX anchors_key ON anchors (key);
    CREATE INDEX anchors_article ON anchors (article_id);
    """
)
def m006_copy_anchors(up: Upgrade) -> None:
    """Anchors of wire copies; every article's copies found again, cut or extended ones too."""
    # Groups change where readers see them, in this transaction; no file changes, so it
    # is no new generation.
    up.writer.regroup_copies()


@migrations(news=3)
def m007_lexical_phrases(up: Upgrade) -> None:
    """Word positions and titles in the lexical index, for phrases and title: queries."""
    # tantivy cannot add positions to an index: every passage is indexed again (lexical
    # schema 3), as of a new generation that readers then see.
    generation = up.new_generation()
    up.store.set_meta({"updated": now()})
    up.writer.rebuild_lexical(generation)


@migrations(
    # ``articles.added`` is the commit (generation) that last wrote an article: a new or
    # changed article gets its commit's, an unchanged one keeps its own. Articles stored
    # before have 0, older than any commit an alert can be saved at, so an upgrade makes
    # none of them new. ``alerts`` are saved searches (``search/query/alerts.py``): the
    # search's parameters as JSON, when it was saved and last run, and the generation it
    # has reported up to: it reports the articles added after that one.
    schema="""
    ALTER TABLE articles ADD COLUMN added INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX articles_added ON articles (added);
    CREATE TABLE alerts (
        name TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        created TEXT NOT NULL,
        generation INTEGER NOT NULL,
        last_run TEXT
    );
    """
)
def m008_alerts(up: Upgrade) -> None:
    """Alerts: saved searches, and the commit that wrote each article, which they report by."""
    # Nothing to backfill: the column's default, 0, is what an older article is.


SCHEMA_VERSION = migrations.schema_version
NEWS = migrations["m004_news_metadata"].version  # the first schema with news metadata
COLLECTIONS = migrations["m005_collections"].version  # the first keyed COLLECTION/ID
ANCHORS = migrations["m006_copy_anchors"].version  # the first schema with copy anchors
ALERTS = migrations["m008_alerts"].version  # the first with alerts and articles' commits


def schema_script(number: int) -> str:
    """The SQL of schema change ``number`` (1 to ``SCHEMA_VERSION``)."""
    for migration in migrations:
        if migration.version == number and migration.schema is not None:
            return migration.schema
    raise ValueError(f"there is no schema change {number}")


def created_records() -> dict[str, str]:
    """The ``meta`` values of a new index: every migration recorded as applied."""
    records: dict[str, str] = {}
    for migration in migrations:
        records.update(migration.records())
    return records


def pending(store: MigratingStore) -> list[Migration]:
    """The migrations ``store`` has not had, in the order they run."""
    meta = Meta.read(store.get_meta(), store.path)
    return [m for m in migrations if not m.applied(store.version, meta)]
