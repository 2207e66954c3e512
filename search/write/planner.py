"""Incremental planning: what an indexing run must write, worked out before any embedding.

``plan`` compares files and folders with what the store holds and returns a ``Plan``: the
articles to (re)embed with their passages, the ones to remove, source files whose state to
record or forget, and articles that only moved. Nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

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
    """An article to (re)embed, with its passages."""

    article: Article
    content_hash: str
    spans: list[Span]
    context: str = ""  # embedded before each passage: the title, when the index says so
    vectors: np.ndarray | None = None

    def row(self) -> ArticleRow:
        a = self.article
        return ArticleRow(
            a.id, a.path, a.title, a.published, a.url, self.content_hash, a.source, a.fields
        )

    def terms(self) -> list[tuple[str, str]]:
        """What filters match for this article."""
        return article_terms(self.article.source, self.article.fields)

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
) -> Plan:
    """The plan that brings the index in line with ``sources`` (found under ``roots``)."""
    if settings.chunking > CHUNKING:
        raise IndexVersionError(
            f"the index at {store.path.parent} cuts articles into passages by chunking rules "
            f"{settings.chunking}; this newssearch knows rules up to {CHUNKING} — upgrade "
            "newssearch to add to it"
        )
    planner = _Planner(store, embedder, settings, reader or Reader())
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
        self, store: Store, embedder: Embedder, settings: Settings, reader: Reader
    ) -> None:
        self.store, self.embedder, self.settings = store, embedder, settings
        self.reader = reader
        self.plan = Plan()
        self.claimed: dict[str, str] = {}  # article id -> the file that gave it in this run

    def run(self, sources: list[SourceFile], roots: list[Path], remove_missing: bool) -> Plan:
        plan, store = self.plan, self.store
        found = {str(s.path) for s in sources}
        self.reader.submit([s for s in sources if self._changed(s)])
        for source in sources:
            self._source(source, found)
        if remove_missing:
            for root in roots:
                for gone in store.sources_under(str(root)):
                    if gone not in found and not os.path.exists(gone):
                        plan.removals += sorted(set(store.articles_from(gone)) - set(self.claimed))
                        plan.forget.append(gone)
        plan.removals = sorted(set(plan.removals))
        return plan

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
            return
        if self.store.source_state(path) == (status.st_size, status.st_mtime_ns):
            plan.unchanged += len(before)
            self._claim(before, path)
            return
        read = self.reader.get(source)
        articles, skips = read.articles, read.skips
        plan.skipped += skips
        current: set[str] = set()
        for article in articles:
            row = self.store.article(article.id)
            owner = self.claimed.get(article.id) or _other_owner(row, path, found)
            if owner is not None:
                plan.skipped.append(Skip(path, "duplicate id", f"{article.id} is also in {owner}"))
                continue
            self.claimed[article.id] = path
            current.add(article.id)
            self._article(article, row, path, read.prepared)
        if skips:
            # Some records could not be read: keep the articles they were, and read the
            # file again next run rather than record it as done.
            self._claim({i for i in before if i not in current}, path)
            return
        plan.removals += sorted(set(before) - current)
        plan.sources.append((len(plan.changes) - 1, path, status.st_size, status.st_mtime_ns))

    def _article(
        self,
        article: Article,
        row: ArticleRow | None,
        path: str,
        prepared: dict[str, Prepared] | None,
    ) -> None:
        """Plan one article read from ``path``; ``row`` is what the index holds under its id."""
        plan = self.plan
        digest = content_hash(article)
        if row is not None and row.content_hash == digest:
            plan.unchanged += 1
            if row.path != path:
                plan.moved.append((article.id, path))
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
        plan.changes.append(Change(article, digest, passages, context))


def content_hash(article: Article) -> str:
    fields: list[object] = [article.title, article.text, article.published, article.url]
    if article.source or article.fields:
        fields += [article.source, article.fields]
    return hashlib.sha256(
        json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()


def _other_owner(row: ArticleRow | None, path: str, found: set[str]) -> str | None:
    """The file that already holds this article, if it is another file still there."""
    if row is None or row.path == path:
        return None
    if row.path in found or os.path.exists(row.path):
        return row.path
    return None  # its old file is gone: the article has moved here
