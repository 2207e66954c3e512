"""The query contract: the one request every door builds, and the hit every door returns.

A door (the CLI, its fast path through a running server, the HTTP API, MCP, the page, and
``Index.search``) only translates its own parameters into ``SearchRequest.make`` and formats
the ``Hit``s that come back. The limits, the vocabularies and the messages are here, once;
a ``Door`` says what that door calls each parameter (``--since`` on the command line,
``since`` in a URL) and which limits it applies (a server bounds what one request may ask).

This module imports only the standard library and the domain layer, so that the CLI's fast
path can check a query before it asks a server.

>>> request = SearchRequest.make("oil prices", k="5", since="1987-03", door=HTTP)
>>> request.k, request.only.since is not None
(5, True)
>>> SearchRequest.make("oil", k=0, door=CLI)
Traceback (most recent call last):
...
search.errors.QueryError: --top must be a whole number from 1 to 1,000,000, not 0
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from search.domain.filters import Filter
from search.domain.text import is_text, not_text
from search.errors import ArticleNotFoundError, InputError, QueryError
from search.query.syntax import Parsed, parse

__all__ = [
    "CLI",
    "FAST_PATH",
    "FLAGS",
    "HTTP",
    "MAX_DAY_CHARS",
    "MAX_FILTER_VALUES",
    "MAX_ID_CHARS",
    "MAX_K",
    "MAX_QUERY_CHARS",
    "MAX_OFFSET",
    "MAX_SERVED_K",
    "MCP",
    "MODES",
    "PERIODS",
    "PYTHON",
    "SORTS",
    "SPLITS",
    "UNITS",
    "Counted",
    "Door",
    "Facets",
    "Hit",
    "Match",
    "Period",
    "SearchRequest",
    "Timeline",
    "checked_article_id",
    "checked_choice",
    "checked_flag",
    "checked_k",
    "unknown_article",
]

MODES = ("hybrid", "dense", "lexical")
UNITS = ("passage", "article")
SORTS = ("relevance", "newest", "oldest")
PERIODS = ("day", "week", "month")  # a timeline's periods: weeks start on Monday
SPLITS = ("outlet",)  # what a timeline may be split by
MAX_OFFSET = 100_000  # hits a served request may skip (paging)
MAX_K = 1_000_000  # hits a search may ask for in-process
MAX_SERVED_K = 1000  # hits one request to a server may ask for
MAX_QUERY_CHARS = 2000  # a served query's length: a paragraph, not a document
MAX_FILTER_VALUES = 64  # outlets and field values in one served request
MAX_DAY_CHARS = 64  # a served since or until
MAX_ID_CHARS = 4096  # a served article id's length (a path inside the archive)

# The words a served door takes for true and false (any case): ``?all`` alone is true.
FLAGS = {"": True, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Door:
    """How one door names a request's parameters and an article id (``article``), where its
    user finds ids (``ids``), and the limits it applies. A served door (``served``) bounds
    the query's length, the number of filter values and the days' length; a loose one
    (``loose``) takes values as a URL gives them, all text (``k="5"``, ``all="yes"``)."""

    k: str = "k"
    mode: str = "mode"
    by: str = "by"
    since: str = "since"
    until: str = "until"
    sources: str = "sources"
    where: str = "where"
    every_copy: str = "every_copy"
    collections: str = "collections"
    sort: str = "sort"
    offset: str = "offset"
    article: str = "article_id"
    ids: str = "ids are shown by `newssearch query --json`"
    served: bool = False
    loose: bool = False

    @property
    def max_k(self) -> int:
        return MAX_SERVED_K if self.served else MAX_K

    def filter_names(self) -> dict[str, str]:
        return {"since": self.since, "until": self.until, "sources": self.sources,
                "where": self.where, "collections": self.collections}  # fmt: skip


PYTHON = Door()
CLI = Door(
    k="--top",
    mode="--mode",
    by="--by",
    since="--since",
    until="--until",
    sources="--source",
    where="--where",
    every_copy="--all",
    article="ID",
    collections="--collection",
    sort="--sort",
    offset="--offset",
)
# The CLI's words, a server's limits (else: the CLI), and the URL's text it sends.
FAST_PATH = replace(CLI, served=True, loose=True)
HTTP = Door(sources="source", every_copy="all", collections="collection", served=True, loose=True)
MCP = Door(  # JSON has types: `k: true` or `all: "yes"` is refused, not read as 1 and true
    every_copy="all", article="id", ids="ids are the article_id of search's hits", served=True
)


@dataclass(frozen=True)
class SearchRequest:
    """A query and its options, checked: what ``Index.search`` runs. ``only`` is the
    checked filter (None: nothing filtered); ``since``, ``until``, ``sources`` and
    ``where`` are kept as given, for a door that passes the request on."""

    text: str
    k: int = 10
    mode: str = "hybrid"
    by: str = "passage"
    every_copy: bool = False
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    only: Filter | None = None
    collections: tuple[str, ...] = ()
    sort: str = "relevance"
    offset: int = 0
    parsed: Parsed | None = None  # the text read as a query (``make`` sets it)

    @classmethod
    def make(
        cls,
        text: object,
        *,
        k: object = 10,
        mode: object = "hybrid",
        by: object = "passage",
        since: object = None,
        until: object = None,
        sources: object = None,
        where: object = None,
        every_copy: object = False,
        collections: object = None,
        sort: object = "relevance",
        offset: object = 0,
        door: Door = PYTHON,
    ) -> SearchRequest:
        """A request from the values a door was given, or a ``QueryError`` that names the
        door's own parameter and says what to do."""
        checked_text = _text(text, door)
        parsed = parse(checked_text)
        top = checked_k(k, door)
        chosen_mode = _choice(mode, door.mode, MODES)
        unit = _choice(by, door.by, UNITS)
        first, last = _day_text(since, door.since, door), _day_text(until, door.until, door)
        outlets = _texts(sources, door.sources, door)
        pairs: Any = where if isinstance(where, Mapping) else _texts(where, door.where, door)
        groups = _texts(collections, door.collections, door)
        only = Filter.make(
            since=first,
            until=last,
            sources=outlets,
            where=pairs,
            collections=groups,
            names=door.filter_names(),
        )
        if isinstance(pairs, Mapping):
            pairs = tuple(f"{name}={value}" for name, value in pairs.items())
        return cls(
            text=checked_text,
            k=top,
            mode=chosen_mode,
            by=unit,
            every_copy=_flag(every_copy, door.every_copy, loose=door.loose),
            since=_iso(first),
            until=_iso(last),
            sources=outlets,
            where=pairs,
            only=only,
            collections=groups,
            sort=_choice(sort, door.sort, SORTS),
            offset=_offset(offset, door),
            parsed=parsed,
        )

    @property
    def query(self) -> Parsed:
        """The text read as a query (syntax: docs/cli.md)."""
        return self.parsed if self.parsed is not None else parse(self.text)

    @property
    def collapse(self) -> bool:
        """Whether wire copies fold into one hit."""
        return not self.every_copy


@dataclass(frozen=True)
class Hit:
    """One ranked passage; searching by article, an article's best passage, with the
    number of its passages among the candidates (``matched``). ``source`` is the outlet,
    ``path`` the file the article came from; ``duplicates`` the ids of the article's other
    copies, as COLLECTION/ID (collapsed into this hit unless the search asked for every
    copy). ``article_id`` is the article's id in its ``collection``: ``show`` takes it
    where no other collection holds the same id, and ``COLLECTION/ID`` always."""

    rank: int
    score: float
    article_id: str
    title: str
    paragraph: int
    text: str
    published: str | None
    source: str | None
    path: str
    url: str | None
    fields: dict[str, Any]
    duplicates: tuple[str, ...]
    passage_id: int
    start: int
    end: int
    matched: int = 1
    collection: str = ""
    relevance: float | None = None


@dataclass(frozen=True)
class Counted:
    """A value (a collection, an outlet, a field's value) and its number of articles."""

    value: str
    articles: int


@dataclass(frozen=True)
class Match:
    """One article of a query's matching set (docs/cli.md "Which articles match"), with
    the passage that shows it best and its relevance (0 to 1; None where the set was
    read without ranking, as for ``*``)."""

    article_id: str
    collection: str
    published: str | None
    source: str | None
    title: str
    url: str | None
    passage: str
    passage_id: int
    relevance: float | None


@dataclass(frozen=True)
class Period:
    """One period of a timeline: ``start`` its first day (ISO 8601), ``count`` the matching
    articles published in it, ``total_count`` all articles published in it within the same
    scope (filters, collections), ``ratio`` the one over the other (0 when there are none);
    ``outlet``, the outlet, when the timeline is split by outlet."""

    start: str
    count: int
    total_count: int
    ratio: float
    outlet: str | None = None


@dataclass(frozen=True)
class Timeline:
    """A query's matching articles over time: ``periods`` in order (every period between
    the scope's first and last, empty ones included), ``matched`` and ``total`` the
    articles counted, ``undated`` the matching articles with no date (counted nowhere)."""

    every: str
    split: str | None
    periods: tuple[Period, ...]
    matched: int
    total: int
    undated: int


@dataclass(frozen=True)
class Facets:
    """The matching articles counted by outlet, collection and each field's values, the
    largest first (``limit`` of each)."""

    matched: int
    outlets: tuple[Counted, ...]
    collections: tuple[Counted, ...]
    fields: dict[str, tuple[Counted, ...]]


def checked_k(value: object, door: Door = PYTHON) -> int:
    """How many hits a door asked for (``similar``'s count too), or a ``QueryError``."""
    return _whole_number(value, door.k, door.max_k, loose=door.loose)


def checked_choice(value: object, name: str, allowed: Iterable[str]) -> str:
    """One of ``allowed``, or a ``QueryError`` naming the parameter ``name`` and them."""
    return _choice(value, name, allowed)


def checked_flag(value: object, name: str, door: Door = PYTHON) -> bool:
    """A door's true or false (a served door that is ``loose`` also takes ``FLAGS``' words),
    or a ``QueryError`` naming ``name``."""
    return _flag(value, name, loose=door.loose)


def checked_article_id(value: object, door: Door = PYTHON) -> str:
    """An article id as a door was given it, or an ``InputError``."""
    if not isinstance(value, str) or not value or (door.served and len(value) > MAX_ID_CHARS):
        raise InputError(f"{door.article} must be an article id, a non-empty text — {door.ids}")
    if not is_text(value):
        raise InputError(not_text(door.article))
    return value


def unknown_article(article_id: str, index: object, door: Door = PYTHON) -> ArticleNotFoundError:
    """The error for an id that names no article in ``index``, in the door's words."""
    return ArticleNotFoundError(f"no article with id {article_id!r} in {index} — {door.ids}")


def _text(text: object, door: Door) -> str:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty — give some words to search for")
    if door.served and len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
        )
    if not is_text(text):
        raise QueryError(not_text("the query"))
    return text


def _whole_number(value: object, name: str, limit: int, *, loose: bool) -> int:
    given = _short(value)
    if loose and isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        digits = value.strip()
        given = digits if len(digits) <= 60 else digits[:57] + "..."
        # Any number of digits beyond the limit's is beyond the limit: not parsed (a
        # long enough string is slow to parse, and Python refuses past 4,300 digits).
        significant = digits.lstrip("0") or "0"
        value = int(significant) if len(significant) <= len(str(limit)) else limit + 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise QueryError(f"{name} must be a whole number from 1 to {limit:,}, not {given}")
    return value


def _choice(value: object, name: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(allowed)}, not {_short(value)}")
    return value


def _day_text(value: object, name: str, door: Door) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not door.served:
        return value
    if not isinstance(value, str) or (door.served and len(value) > MAX_DAY_CHARS):
        raise QueryError(f"{name} must be a day such as 1987-03-01, not {_short(value)}")
    if not is_text(value):
        raise QueryError(not_text(name))
    return value


def _iso(day: str | dt.date | None) -> str | None:
    return day.isoformat() if isinstance(day, dt.date) else day


def _texts(values: object, name: str, door: Door) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise QueryError(f"{name} must be a list of texts")
    found = tuple(values)
    if door.served and len(found) > MAX_FILTER_VALUES:
        raise QueryError(f"at most {MAX_FILTER_VALUES} {name} values in one request")
    for value in found:
        if not isinstance(value, str) or not value or len(value) > MAX_QUERY_CHARS:
            raise QueryError(f"each {name} value must be a non-empty text, not {_short(value)}")
        if not is_text(value):
            raise QueryError(not_text(name))
    return found


def _offset(value: object, door: Door) -> int:
    if value is None or value == 0 or (door.loose and value == ""):
        return 0
    if isinstance(value, str) and door.loose and value.strip().isdigit() and len(value) < 12:
        value = int(value)
    limit = MAX_OFFSET if door.served else MAX_K
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise QueryError(
            f"{door.offset} must be a whole number from 0 to {limit:,}, not {_short(value)}"
        )
    return value


def _flag(value: object, name: str, *, loose: bool) -> bool:
    if isinstance(value, bool):
        return value
    if loose and isinstance(value, str) and value.lower() in FLAGS:
        return FLAGS[value.lower()]
    raise QueryError(f"{name} must be true or false, not {_short(value)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
