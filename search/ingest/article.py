"""What reading files gives: ``Article``s, ``Skip``s, and the ``SourceFile``s they come from.

Also the limits on what one article or document may take (``MAX_ARTICLE_BYTES``,
``MAX_DOCUMENT_BYTES``), and what the readers of ``search.ingest.formats`` share: the
``_Unusable`` problem that becomes a ``Skip``, and ``_Records``, a file's articles and skips
gathered as its records are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.ingest.metadata import FieldValue, has_lone_surrogate

__all__ = [
    "MAX_ARTICLE_BYTES",
    "MAX_DOCUMENT_BYTES",
    "Article",
    "FieldValue",
    "Skip",
    "SourceFile",
]


MAX_ARTICLE_BYTES = 64 * 1024 * 1024
"""The most one article may take, decompressed: a JSON Lines line, a WARC page, a
``.txt``, ``.md`` or ``.html`` file. Longer than any news article by far, and room for a
book-length text (a 50 MB one is tested)."""


MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""The most a ``.json`` file or a feed may take, decompressed: these are parsed whole."""


@dataclass(frozen=True)
class Article:
    """One news article as read from a file.

    ``text`` is the body with paragraphs separated by one blank line ("\\n\\n");
    passage offsets index into it. ``published`` is ISO 8601: ``1987-02-26T15:01:01Z`` (UTC)
    or ``1987-02-26`` when only the day is known. ``source`` is the outlet ("Reuters"),
    ``path`` the file the article was read from. ``fields`` holds the record's other
    scalar and list-of-strings fields (Reuters ``topics``, BBC ``category``).
    ``unparsed_date`` is a date the record gave that could not be read (``published`` is
    then None): the run's summary counts such articles.
    """

    id: str
    title: str
    text: str
    path: str
    published: str | None = None
    source: str | None = None
    url: str | None = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    unparsed_date: str | None = None


@dataclass(frozen=True)
class Skip:
    """Something that was not indexed, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class SourceFile:
    """A file found under an indexed path, with the id its articles derive from and the
    collection they belong to (``discover`` names it)."""

    path: Path
    id_base: str
    collection: str = ""


class _Unusable(Exception):
    """Raised inside the readers for content that becomes a ``Skip``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


class _Records:
    """The articles and skips of one file, gathered as its records are read."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.articles: list[Article] = []
        self.skips: list[Skip] = []

    def skip(self, reason: str, detail: str = "") -> None:
        self.skips.append(Skip(str(self.source.path), reason, detail))

    def add(self, make: Callable[..., Article], *args: Any) -> None:
        """Add the article ``make(*args)`` builds, or its problem as a skip."""
        try:
            self.articles.append(make(*args))
        except _Unusable as problem:
            self.skip(problem.reason, problem.detail)

    def result(self) -> tuple[list[Article], list[Skip]]:
        return self.articles, self.skips


def _strerror(err: OSError) -> str:
    return err.strerror or str(err)


def _checked(article: Article, where: str) -> Article:
    """The article, unless a string of it cannot be stored as UTF-8 (a lone surrogate)."""
    strings = [article.id, article.title, article.text, article.url, article.source]
    if has_lone_surrogate([*strings, article.unparsed_date, article.fields]):
        raise _Unusable("invalid record", f"{where}: {_SURROGATE_PROBLEM}")
    return article


_SURROGATE_PROBLEM = "a string holds a lone surrogate, which UTF-8 cannot store"
