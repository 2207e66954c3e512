"""Incremental planning: what an indexing run must write, worked out before any embedding.

``plan`` compares files and folders with what the store holds and returns a ``Plan``: the
articles to (re)embed with their passages, the ones to remove, source files whose state to
record or forget, and articles that only moved. Nothing here writes.

A file that discovery now leaves out by rule (a pattern, a dataset's note, a link out of the
folders) is, for the index, a file no longer there: its articles are removed as a deleted
file's are, and another file may take their ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from search.domain.collections import article_key
from search.domain.filters import article_terms
from search.embedding import Embedder
from search.errors import IndexVersionError
from search.ingest.article import Article, Skip, SourceFile
from search.ingest.chunking import CHUNKING, chunk_text
from search.ingest.read import read_source
from search.storage.database import ArticleRow, Store
from search.storage.manifest import Settings

__all__ = ["Change", "Engine", "Plan", "Read", "Reader", "plan", "prepare", "read_and_prepare"]

Span = tuple[int, int, int, int, str]
"""A passage as planned: (paragraph, part, start, end, text)."""


@dataclass
class Change:
    """An article to (re)embed, with its passages, and the collection it goes in."""

    article: Article
    content_hash: str
    spans: list[Span]
    context: str = ""  # embedded before each passage: the title, when the index says so
    vectors: np.ndarray | None = None
    collection: str = ""

    @property
    def key(self) -> str:
        """How the index keys the article: COLLECTION/ID."""
        return article_key(self.collection, self.article.id)

    def row(self) -> ArticleRow:
        a = self.article
        return ArticleRow(
            id=self.key,
            path=a.path,
            title=a.title,
            published=a.published,
            url=a.url,
            content_hash=self.content_hash,
            source=a.source,
            fields=a.fields,
            collection=self.collection,
            local_id=a.id,
        )

    def terms(self) -> list[tuple[str, str]]:
        """What filters match for this article."""
        return article_terms(self.article.source, self.article.fields, self.collection)

    def texts(self) -> list[str]:
        """What the model embeds for each passage."""
        return [f"{self.context}\n{s[4]}" if self.context else s[4] for s in self.spans]


@dataclass
class Plan:
    """What an indexing run will write."""

    changes: list[Change] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    # Source states to record once the source's last change is committed: the index of
    # that change in ``changes`` (-1: record with the first commit), path, size, mtime.
    sources: list[tuple[int, str, int, int]] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    updated: int = 0
    unparsed_dates: int = 0  # articles kept without a date: theirs could not be read
    skipped: list[Skip] = field(default_factory=list)
    # Same-id conflicts in one collection: (collection/id, the file that won, the other).
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)  # source path -> its articles after
    removed_left_out: int = 0  # of ``removals``: articles of files now left out


Prepared = tuple[str, list[Span]]
"""An article made ready to embed: the context before each passage, and its passages."""


@dataclass
class Read:
    """One source file read: its articles, what could not be read, and (when read
    elsewhere, by a distributed engine) each article already prepared, by id."""

    articles: list[Article]
    skips: list[Skip]
    prepared: dict[str, Prepared] | None = None


class Reader:
    """Reads the source files that changed, perhaps elsewhere and all at once: ``submit``
    them first, then ``get`` each in turn. This one reads each file when it is asked for."""

    def submit(self, sources: list[SourceFile]) -> None:
        pass

    def get(self, source: SourceFile) -> Read:
        return Read(*read_source(source))


class Engine(Protocol):
    """Where reading and embedding run instead of here (``search.scale.ray_build``'s
    ``RayEngine``): the same plan and commits, the work elsewhere."""

    def embedder(self, local: Embedder, model: str) -> Embedder: ...

    def reader(self, settings: Settings) -> Reader: ...


def plan(
    store: Store,
    embedder: Embedder,
    settings: Settings,
    sources: list[SourceFile],
    roots: list[Path],
    *,
    remove_missing: bool,
    reader: Reader | None = None,
    move: bool = False,
    left_out: Iterable[str] = (),
) -> Plan:
    """The plan that brings the index in line with ``sources`` (found under ``roots``);
    ``left_out`` are the paths discovery left out by rule, files or whole folders. A file
    already indexed keeps its articles in their collection, unless ``move`` (the collection
    was named for this run): they then move to the source's."""
    if settings.chunking > CHUNKING:
        raise IndexVersionError(
            f"the index at {store.path.parent} cuts articles into passages by chunking rules "
            f"{settings.chunking}; this newssearch knows rules up to {CHUNKING} — upgrade "
            "newssearch to add to it"
        )
    planner = _Planner(store, embedder, settings, reader or Reader(), left_out, move)
    return planner.run(sources, roots, remove_missing)


def read_and_prepare(source: SourceFile, settings: Settings, embedder: Embedder) -> Read:
    """A source read and each of its articles prepared: what a distributed engine's task
    does, so that only vectors are left to compute."""
    articles, skips = read_source(source)
    prepared = {
        a.id: prepare(a, settings, embedder.token_spans, embedder.max_tokens) for a in articles
    }
    return Read(articles, skips, prepared)


def prepare(
    article: Article,
    settings: Settings,
    token_spans: Callable[[str], list[tuple[int, int]]],
    window: int,
) -> Prepared:
    """The title as embedded before each passage (at most a quarter of the window) and the
    article's passages, each within the tokens the title leaves."""
    context, budget = "", settings.passage_tokens
    title = article.title
    if settings.title_context and title.strip():
        spans = token_spans(title)
        limit = window // 4
        used = min(len(spans), limit)
        context = title if len(spans) <= limit else title[: spans[limit - 1][1]]
        # The title and a line break share the window with the passage.
        budget = min(budget, window - used - 1)
    chunks = chunk_text(
        article.text, max_tokens=budget, token_spans=token_spans, rules=settings.chunking
    )
    return context, [
        (c.paragraph, c.part, c.start, c.end, article.text[c.start : c.end]) for c in chunks
    ]


class _Planner:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        reader: Reader,
        left_out: Iterable[str],
        move: bool,
    ) -> None:
        self.store, self.embedder, self.settings = store, embedder, settings
        self.reader, self.move = reader, move
        self.plan = Plan()
        self.claimed: dict[str, str] = {}  # article id -> the file that gave it in this run
        self.left_out = frozenset(left_out)

    def run(self, sources: list[SourceFile], roots: list[Path], remove_missing: bool) -> Plan:
        plan, store = self.plan, self.store
        found = {str(s.path) for s in sources}
        self.reader.submit(
            [s for s in sources if self._changed(s) or self._other_collection(s, str(s.path))]
        )
        for source in sources:
            self._source(source, found)
        if remove_missing:
            for root in roots:
                for gone in store.sources_under(str(root)):
                    if self._gone(gone, found):
                        removed = set(store.articles_from(gone)) - set(self.claimed)
                        plan.removals += sorted(removed)
                        if self._is_left_out(gone):
                            plan.removed_left_out += len(removed)
                        plan.forget.append(gone)
        plan.removals = sorted(set(plan.removals))
        return plan

    def _is_left_out(self, path: str) -> bool:
        """Whether discovery left this path out, or a folder above it."""
        return bool(self.left_out) and any(
            str(p) in self.left_out for p in (Path(path), *Path(path).parents)
        )

    def _gone(self, path: str, found: set[str]) -> bool:
        """Whether a file the index knows is no longer part of the archive."""
        return path not in found and (self._is_left_out(path) or not os.path.exists(path))

    def _claim(self, articles: dict[str, str] | set[str], path: str) -> None:
        """Mark already-indexed articles as taken, so no other file takes their ids."""
        for article_id in articles:
            self.claimed.setdefault(article_id, path)

    def _changed(self, source: SourceFile) -> bool:
        """Whether a source must be read: not as recorded (or not readable: said later)."""
        try:
            status = source.path.stat()
        except OSError:
            return False
        return self.store.source_state(str(source.path)) != (status.st_size, status.st_mtime_ns)

    def _source(self, source: SourceFile, found: set[str]) -> None:
        plan, path = self.plan, str(source.path)
        before = self.store.articles_from(path)
        try:
            status = source.path.stat()
        except OSError as error:
            plan.skipped.append(Skip(path, "unreadable", error.strerror or str(error)))
            self._claim(before, path)
            plan.held[path] = len(before)
            return
        recorded = self.store.source_state(path) == (status.st_size, status.st_mtime_ns)
        if recorded and not self._other_collection(source, path):
            plan.unchanged += len(before)
            self._claim(before, path)
            plan.held[path] = len(before)
            return
        read = self.reader.get(source)
        articles, skips = read.articles, read.skips
        plan.skipped += skips
        current: set[str] = set()
        lost = False  # an id left to another file
        collection = self._collection(source, path)
        for article in articles:
            key = article_key(collection, article.id)
            row = self.store.article(key)
            owner = self.claimed.get(key) or self._other_owner(row, path, found)
            if owner is not None:
                self._conflict(key, owner, path)
                lost = True
                continue
            self.claimed[key] = path
            current.add(key)
            self._article(article, key, collection, row, path, read.prepared)
        plan.held[path] = len(current)
        if skips:
            # Some records could not be read: keep the articles they were, and read the
            # file again next run rather than record it as done.
            kept = {i for i in before if i not in current and i not in self.claimed}
            self._claim(kept, path)
            plan.held[path] += len(kept)
            return
        plan.removals += sorted(set(before) - current)
        if not lost:
            plan.sources.append((len(plan.changes) - 1, path, status.st_size, status.st_mtime_ns))
        # else read again next run, unchanged or not: it takes the id back when the file that
        # holds it is deleted or left out, rather than the article being lost with that file.

    def _other_owner(self, row: ArticleRow | None, path: str, found: set[str]) -> str | None:
        """The file that already holds this article, if it is another file still there (and
        not left out by this run's rules)."""
        if row is None or row.path == path or self._gone(row.path, found):
            return None  # new, its own, or its old file is gone: the article moves here
        return row.path

    def _conflict(self, key: str, owner: str, path: str) -> None:
        """An id another file of the same collection gives too: that file keeps it."""
        self.plan.conflicts.append((key, owner, path))
        self.plan.skipped.append(Skip(path, "duplicate id", f"{key} is also in {owner}"))

    def _other_collection(self, source: SourceFile, path: str) -> bool:
        """Whether an unchanged file's articles are in another collection than the one
        this run names (``--collection``): it is then read again, and its articles move
        (embedded again)."""
        if not self.move:
            return False
        held = self.store.source_collections(path).values()
        return any(collection != source.collection for collection, _ in held)

    def _collection(self, source: SourceFile, path: str) -> str:
        """The collection a file's articles go in: the one named for this run, else the
        one they are in already, else the default named after the path given."""
        if self.move:
            return source.collection
        held = sorted(
            {collection for collection, _ in self.store.source_collections(path).values()}
        )
        return held[0] if held else source.collection

    def _article(
        self,
        article: Article,
        key: str,
        collection: str,
        row: ArticleRow | None,
        path: str,
        prepared: dict[str, Prepared] | None,
    ) -> None:
        """Plan one article read from ``path``; ``row`` is what the index holds under its key."""
        plan = self.plan
        digest = content_hash(article)
        if row is not None and row.content_hash == digest:
            plan.unchanged += 1
            if row.path != path:
                plan.moved.append((key, path))
            return
        if row is not None:
            plan.updated += 1
        if article.unparsed_date is not None:
            plan.unparsed_dates += 1
        if prepared is not None and article.id in prepared:
            context, passages = prepared[article.id]
        else:
            embedder = self.embedder
            context, passages = prepare(
                article, self.settings, embedder.token_spans, embedder.max_tokens
            )
        plan.changes.append(Change(article, digest, passages, context, collection=collection))


def content_hash(article: Article) -> str:
    fields: list[object] = [article.title, article.text, article.published, article.url]
    if article.source or article.fields:
        fields += [article.source, article.fields]
    return hashlib.sha256(
        json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
