"""Filters on article metadata: a query's time window, outlets and field values.

A ``Filter`` is checked and normalised once (``Filter.make``), then each retriever applies
it inside its own search, before its top-k cut: the store turns it into SQL over articles
(which passages the vector search may return), the lexical index into tantivy clauses. So a
filtered query returns k hits whenever k passages match.

What is matched, for both retrievers, is written when an article is stored:

- ``day_number``: the UTC day an article was published, as a day number (``date.toordinal``);
- ``article_terms``: (field, value) pairs, values case-folded: ``("source", "reuters")`` for
  the outlet (as ``outlet_key`` folds it: "The Harbour Times" and "harbour times" are one
  outlet), ``("@collection", "bbc")`` for its collection, and one pair per value of each
  record field (each item of a list field).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from search.errors import QueryError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "COLLECTION_FIELD",
    "SOURCE_FIELD",
    "Filter",
    "Scope",
    "article_terms",
    "day_number",
    "outlet_key",
    "term_value",
    "url_host",
]

SOURCE_FIELD = "source"  # the outlet, among an article's terms
COLLECTION_FIELD = "@collection"  # its collection: no record field is named so (``@``)
_MAX_VALUE = 200  # characters of a field value kept for filtering
_DAY = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")  # not \d: any script's digits
_NAMES = {
    "since": "since",
    "until": "until",
    "sources": "sources",
    "where": "where",
    "collections": "collections",
}
_LEADING_THE = re.compile(r"^the\s+")
_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Filter:
    """Which articles a query may return. Every part given must hold; ``sources`` match
    when any of them is the article's outlet; a list field matches when it holds the value."""

    since: int | None = None  # first day allowed (a day number), inclusive
    until: int | None = None  # last day allowed, inclusive
    sources: tuple[str, ...] = ()  # case-folded outlets
    where: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (field, folded value)
    collections: tuple[str, ...] = ()  # collection names, as given

    @classmethod
    def make(
        cls,
        *,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        sources: Iterable[str] | str | None = None,
        where: Mapping[str, object] | Iterable[str] | None = None,
        collections: Iterable[str] | str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Filter | None:
        """A checked filter, or None when nothing is filtered. Dates are days (``2024-07``
        and ``2024`` mean their first day for ``since`` and their last for ``until``);
        ``where`` is a mapping or ``FIELD=VALUE`` strings; ``sources`` are outlets, matched
        as ``outlet_key`` folds them; ``collections`` are collection names. ``names`` are
        what the caller calls ``since``, ``until``, ``sources``, ``where`` and
        ``collections``, for its messages (the CLI's ``--since``).

        >>> Filter.make(since="1987-03", where=["topics=Crude"]).where
        (('topics', 'crude'),)
        >>> Filter.make() is None
        True
        """
        named = {**_NAMES, **(names or {})}
        first = _day(since, named["since"], last=False)
        last = _day(until, named["until"], last=True)
        if first is not None and last is not None and first > last:
            raise QueryError(
                f"{named['since']} {since} is after {named['until']} {until} — nothing could match"
            )
        outlets = _sources(sources, named["sources"])
        pairs = _where(where, named["where"])
        groups = _collections(collections, named["collections"])
        if first is None and last is None and not outlets and not pairs and not groups:
            return None
        return cls(first, last, outlets, pairs, groups)

    def fields(self) -> list[str]:
        return sorted({name for name, _ in self.where})


FIRST_DAY = dt.date.min.toordinal()
LAST_DAY = dt.date.max.toordinal()
UNDATED = -1  # the day of an undated passage, in the arrays ``Scope.holds`` takes


@dataclass(frozen=True)
class Scope:
    """A part of an index, as a shard holds it: the dated passages published from
    ``first_day`` to ``last_day`` (day numbers, inclusive; None leaves that end open) if
    ``dated``, and the undated passages with ids from ``first_id`` to ``last_id`` (inclusive;
    None: open) if ``undated``. Open ends let passages committed later find their shard."""

    dated: bool = True
    first_day: int | None = None
    last_day: int | None = None
    undated: bool = True
    first_id: int = 1
    last_id: int | None = None

    def holds(self, ids: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Which of these passages (ids, and days with ``UNDATED`` for none) are in scope."""
        import numpy as np  # here, not at the top: the CLI's fast path imports this module

        kept = np.zeros(len(ids), dtype=bool)
        if self.dated:
            low, high = self.day_range
            kept |= (days != UNDATED) & (days >= low) & (days <= high)
        if self.undated:
            last = np.iinfo(np.int64).max if self.last_id is None else self.last_id
            kept |= (days == UNDATED) & (ids >= self.first_id) & (ids <= last)
        return kept

    @property
    def day_range(self) -> tuple[int, int]:
        """The dated days held, both ends closed."""
        first = FIRST_DAY if self.first_day is None else self.first_day
        return first, LAST_DAY if self.last_day is None else self.last_day

    def meets(self, only: Filter | None) -> bool:
        """Whether a filter could allow any passage in scope: a time window excludes
        undated passages, and every dated one outside it."""
        if only is None or (only.since is None and only.until is None):
            return True
        if not self.dated:
            return False
        low, high = self.day_range
        since = FIRST_DAY if only.since is None else only.since
        until = LAST_DAY if only.until is None else only.until
        return since <= high and low <= until

    def describe(self) -> str:
        """``1987-02-26 … 1987-03-31, undated ids 1…5000`` and the like."""
        parts = []
        if self.dated:
            low = "…" if self.first_day is None else day_text(self.first_day)
            high = "…" if self.last_day is None else day_text(self.last_day)
            parts.append("any date" if low == high == "…" else f"{low} to {high}")
        if self.undated:
            last = "…" if self.last_id is None else str(self.last_id)
            parts.append(f"undated passages {self.first_id}–{last}")
        return ", ".join(parts) or "nothing"


def _day(value: str | dt.date | None, name: str, *, last: bool) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.toordinal()
    match = _DAY.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError
        year, month, day = match.groups()
        if month is None:
            return dt.date(int(year), 12 if last else 1, 31 if last else 1).toordinal()
        if day is None:
            start = dt.date(int(year), int(month), 1)
            if not last:
                return start.toordinal()
            following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
            return following.toordinal() - 1
        return dt.date(int(year), int(month), int(day)).toordinal()
    except ValueError:
        raise QueryError(
            f"{name} {value!r} is not a date — use YYYY-MM-DD, YYYY-MM or YYYY"
        ) from None


def _sources(sources: Iterable[str] | str | None, name: str) -> tuple[str, ...]:
    if sources is None:
        return ()
    listed = [sources] if isinstance(sources, str) else list(sources)
    if not all(isinstance(s, str) and s.strip() for s in listed):
        raise QueryError(f"{name} takes an outlet's name, as a hit's source gives it")
    return tuple(dict.fromkeys(outlet_key(s) for s in listed))


def _collections(collections: Iterable[str] | str | None, name: str) -> tuple[str, ...]:
    if collections is None:
        return ()
    listed = [collections] if isinstance(collections, str) else list(collections)
    if not all(isinstance(c, str) and c.strip() for c in listed):
        raise QueryError(f"{name} takes a collection's name, as `info` lists them")
    return tuple(dict.fromkeys(c.strip() for c in listed))


def _where(
    where: Mapping[str, object] | Iterable[str] | None, option: str
) -> tuple[tuple[str, str], ...]:
    if where is None:
        return ()
    if isinstance(where, Mapping):
        items = list(where.items())
    else:
        if isinstance(where, str):
            where = [where]
        items = []
        for clause in where:
            name, equals, value = str(clause).partition("=")
            if not equals or not name.strip():
                raise QueryError(f"{option} {clause!r} is not FIELD=VALUE (e.g. topics=crude)")
            items.append((name.strip(), value.strip()))
    pairs = []
    for name, value in items:
        if not isinstance(name, str) or not name:
            raise QueryError(f"a field name must be text, not {name!r}")
        if isinstance(value, list | tuple | set | dict) or value is None:
            raise QueryError(f"the value for field {name!r} must be one text, number or boolean")
        pairs.append((name, term_value(value)))
    return tuple(dict.fromkeys(pairs))


def term_value(value: object) -> str:
    """A value as filters compare it: text, case-folded and trimmed.

    >>> term_value("  Crude "), term_value(True), term_value(3)
    ('crude', 'true', '3')
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return " ".join(text.split()).casefold()[:_MAX_VALUE]


def outlet_key(name: object) -> str:
    """An outlet's name as filters compare it: case, a leading "The", a web host's "www."
    and punctuation do not tell outlets apart.

    >>> outlet_key("The Harbour Times"), outlet_key("harbour-times"), outlet_key("AP")
    ('harbour times', 'harbour times', 'ap')
    >>> outlet_key("www.ElwoodGazette.example")
    'elwoodgazette example'
    """
    text = term_value(name)
    text = _LEADING_THE.sub("", text.removeprefix("www."))
    return " ".join(_NOT_WORD.sub(" ", text).split()) or text


def url_host(url: str | None) -> str | None:
    """The host of a web address, without "www.", or None.

    >>> url_host("https://www.elwoodgazette.example/2024/story.html")
    'elwoodgazette.example'
    """
    if not url or "//" not in url:
        return None
    host = url.split("//", 1)[1].split("/", 1)[0].split("@")[-1].split(":")[0].lower()
    return host.removeprefix("www.") or None


def day_number(published: str | None) -> int | None:
    """The day number of an ISO 8601 ``published`` (its UTC day), or None.

    >>> day_number("1987-02-26T15:01:01Z") == day_number("1987-02-26")
    True
    """
    if not published or len(published) < 10:
        return None
    try:
        return dt.date.fromisoformat(published[:10]).toordinal()
    except ValueError:
        return None


def day_text(number: int) -> str:
    """The ISO date of a day number: ``published`` values are compared with it in SQL."""
    return dt.date.fromordinal(number).isoformat()


def article_terms(
    source: str | None, fields: Mapping[str, object], collection: str = ""
) -> list[tuple[str, str]]:
    """The (field, value) pairs an article can be filtered by."""
    terms: list[tuple[str, str]] = []
    if collection:
        terms.append((COLLECTION_FIELD, collection))
    if source:
        terms.append((SOURCE_FIELD, outlet_key(source)))
    for name, value in fields.items():
        values: Sequence[object] = value if isinstance(value, list) else [value]
        terms += [(name, term_value(v)) for v in values if v is not None]
    return list(dict.fromkeys(t for t in terms if t[1]))
