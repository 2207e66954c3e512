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
from search.errors import InputError, QueryError

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
    "MAX_SERVED_K",
    "MCP",
    "MODES",
    "PYTHON",
    "UNITS",
    "Door",
    "Hit",
    "SearchRequest",
    "checked_article_id",
    "checked_k",
]

MODES = ("hybrid", "dense", "lexical")
UNITS = ("passage", "article")
MAX_K = 1_000_000  # hits a search may ask for in-process
MAX_SERVED_K = 1000  # hits one request to a server may ask for
MAX_QUERY_CHARS = 2000  # a served query's length: a paragraph, not a document
MAX_FILTER_VALUES = 64  # outlets and field values in one served request
MAX_DAY_CHARS = 64  # a served since or until
MAX_ID_CHARS = 4096  # an article id's length (a path inside the archive)

# The words a served door takes for true and false (any case): ``?all`` alone is true.
FLAGS = {"": True, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Door:
    """How one door names a request's parameters, and the limits it applies. A served door
    (``served``) takes loose values, as a URL or JSON gives them (``k="5"``), and bounds
    the query's length, the number of filter values and the days' length."""

    k: str = "k"
    mode: str = "mode"
    by: str = "by"
    since: str = "since"
    until: str = "until"
    sources: str = "sources"
    where: str = "where"
    every_copy: str = "every_copy"
    served: bool = False

    @property
    def max_k(self) -> int:
        return MAX_SERVED_K if self.served else MAX_K

    def filter_names(self) -> dict[str, str]:
        return {"since": self.since, "until": self.until, "sources": self.sources,
                "where": self.where}  # fmt: skip


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
)
FAST_PATH = replace(CLI, served=True)  # the CLI's words, a server's limits (else: the CLI)
HTTP = Door(sources="source", every_copy="all", served=True)
MCP = Door(every_copy="all", served=True)


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
        door: Door = PYTHON,
    ) -> SearchRequest:
        """A request from the values a door was given, or a ``QueryError`` that names the
        door's own parameter and says what to do."""
        checked_text = _text(text, door)
        top = checked_k(k, door)
        chosen_mode = _choice(mode, door.mode, MODES)
        unit = _choice(by, door.by, UNITS)
        first, last = _day_text(since, door.since, door), _day_text(until, door.until, door)
        outlets = _texts(sources, door.sources, door)
        pairs: Any = where if isinstance(where, Mapping) else _texts(where, door.where, door)
        only = Filter.make(
            since=first, until=last, sources=outlets, where=pairs, names=door.filter_names()
        )
        if isinstance(pairs, Mapping):
            pairs = tuple(f"{name}={value}" for name, value in pairs.items())
        return cls(
            text=checked_text,
            k=top,
            mode=chosen_mode,
            by=unit,
            every_copy=_flag(every_copy, door.every_copy, loose=door.served),
            since=_iso(first),
            until=_iso(last),
            sources=outlets,
            where=pairs,
            only=only,
        )

    @property
    def collapse(self) -> bool:
        """Whether wire copies fold into one hit."""
        return not self.every_copy


@dataclass(frozen=True)
class Hit:
    """One ranked passage; searching by article, an article's best passage, with the
    number of its passages among the candidates (``matched``). ``source`` is the outlet,
    ``path`` the file the article came from; ``duplicates`` the ids of the article's other
    copies (collapsed into this hit unless the search asked for every copy)."""

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


def checked_k(value: object, door: Door = PYTHON) -> int:
    """How many hits a door asked for (``similar``'s count too), or a ``QueryError``."""
    return _whole_number(value, door.k, door.max_k, loose=door.served)


def checked_article_id(value: object) -> str:
    """An article id as a door was given it, or an ``InputError``."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise InputError("an article id is a non-empty string, as `query --json` shows it")
    return value


def _text(text: object, door: Door) -> str:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty — give some words to search for")
    if door.served and len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError(
            "the query is not valid text (invalid UTF-8, or a lone surrogate) — retype it"
        ) from None
    return text


def _whole_number(value: object, name: str, limit: int, *, loose: bool) -> int:
    if loose and isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise QueryError(f"{name} must be a whole number from 1 to {limit:,}, not {value!r}")
        value = int(text) if len(text) <= 9 else limit + 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise QueryError(f"{name} must be a whole number from 1 to {limit:,}, not {value!r}")
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
    return found


def _flag(value: object, name: str, *, loose: bool) -> bool:
    if isinstance(value, bool):
        return value
    if loose and isinstance(value, str) and value.lower() in FLAGS:
        return FLAGS[value.lower()]
    raise QueryError(f"{name} must be true or false, not {_short(value)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
