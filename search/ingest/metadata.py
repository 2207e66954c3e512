"""An article's metadata, normalised: its date, its outlet and its other fields.

Pure functions over the values a record, a feed entry, a page or front matter gives;
``articles`` decides where those values come from.

>>> record = {"id": "1", "date": "26-FEB-1987 15:01:01.79", "topics": ["cocoa"]}
>>> record_date(record)
('1987-02-26T15:01:01Z', None)
>>> record_fields(record)
{'topics': ['cocoa']}
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from search.domain.dates import normalise_date

FieldValue = str | int | float | bool | list[str]
"""A kept record field: a scalar, or a list of strings (Reuters' ``topics``)."""

__all__ = [
    "BODY_KEYS",
    "FieldValue",
    "DATE_KEYS",
    "ID_KEYS",
    "OUTLET_KEYS",
    "URL_KEYS",
    "field_value",
    "has_lone_surrogate",
    "normalise_date",
    "read_date",
    "record_date",
    "record_fields",
    "record_outlet",
    "record_url",
    "url_host",
]

ID_KEYS = ("id", "_id")
BODY_KEYS = ("text", "body", "content")
# ``publishedAt`` is NewsAPI's name for it.
DATE_KEYS = ("date", "published", "pubDate", "published_at", "publishedAt")
OUTLET_KEYS = ("source", "publisher", "site_name")
URL_KEYS = ("url", "link")
_USED_KEYS = frozenset(("title", *ID_KEYS, *BODY_KEYS, *DATE_KEYS, *OUTLET_KEYS, *URL_KEYS))

# Caps on what a record may add to ``fields``: beyond them a value is dropped, not the article.
MAX_FIELDS = 64
MAX_FIELD_CHARS = 1000
MAX_LIST_ITEMS = 100
MAX_UNPARSED_CHARS = 200
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_INT64 = range(-(2**63), 2**63)


# ---------------------------------------------------------------------------
# Dates


def read_date(value: object) -> tuple[str | None, str | None]:
    """``(published, unparsed_date)`` for a date value: one of them is set, or neither when
    the value is missing or blank.

    >>> read_date("Thu, 25 Jan 2024 10:00:00 +0100")
    ('2024-01-25T09:00:00Z', None)
    >>> read_date("last Tuesday")
    (None, 'last Tuesday')
    >>> read_date(None)
    (None, None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    published = normalise_date(value)
    if published is not None:
        return published, None
    raw = value.strip() if isinstance(value, str) else str(value)
    return None, raw[:MAX_UNPARSED_CHARS]


def record_date(record: Mapping[str, object]) -> tuple[str | None, str | None]:
    """``read_date`` of the first of ``DATE_KEYS`` that the record gives (not null or blank)."""
    for key in DATE_KEYS:
        published, unparsed = read_date(record.get(key))
        if published or unparsed:
            return published, unparsed
    return None, None


def record_outlet(record: Mapping[str, object]) -> str | None:
    """The outlet a record names: the first string of ``OUTLET_KEYS``, or NewsAPI's
    ``{"source": {"name": ...}}``.

    >>> record_outlet({"publisher": " Reuters "})
    'Reuters'
    >>> record_outlet({"source": {"id": "bbc-news", "name": "BBC News"}})
    'BBC News'
    """
    for key in OUTLET_KEYS:
        value = record.get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:MAX_FIELD_CHARS]
    return None


def record_url(record: Mapping[str, object]) -> str | None:
    """``url``, or ``link`` when there is no ``url``; a string or nothing."""
    for key in URL_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def url_host(url: str | None) -> str | None:
    """The host of a URL, without ``www.``.

    >>> url_host("https://www.bbc.co.uk/news/world-123")
    'bbc.co.uk'
    >>> url_host("not a url") is None
    True
    """
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")


def record_fields(record: Mapping[Any, object]) -> dict[str, FieldValue]:
    """The record's other fields that can be kept: scalars and lists of strings, under a
    short identifier-like name, within the caps. The keys that give the id, title, text,
    date, outlet and url are left out; so are objects, nested lists, lists holding anything
    but strings, and values over the caps. Dates (from YAML) become ISO strings.

    >>> record_fields({"title": "T", "topics": ["a", "b"], "label": 3, "meta": {"x": 1}})
    {'topics': ['a', 'b'], 'label': 3}
    """
    fields: dict[str, FieldValue] = {}
    for key, value in record.items():
        if len(fields) == MAX_FIELDS:
            break
        if not isinstance(key, str) or key in _USED_KEYS or not _FIELD_NAME.fullmatch(key):
            continue
        kept = field_value(value)
        if kept is not None:
            fields[key] = kept
    return fields


def field_value(value: object) -> FieldValue | None:
    """``value`` as a field, or None when it cannot be kept.

    >>> field_value(["a", 1]) is None
    True
    >>> field_value(float("nan")) is None
    True
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value in _INT64 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= MAX_FIELD_CHARS else None
    if isinstance(value, dt.date):
        return normalise_date(value)
    if isinstance(value, list) and len(value) <= MAX_LIST_ITEMS:
        if all(isinstance(item, str) and len(item) <= MAX_FIELD_CHARS for item in value):
            return list(value)
    return None


def has_lone_surrogate(value: object) -> bool:
    """Whether a string anywhere in ``value`` (a JSON or YAML value: strings, lists, dicts
    and their keys) holds half of a surrogate pair, which UTF-8 cannot store.

    >>> has_lone_surrogate({"title": ["ok", "\\ud800"]})
    True
    >>> has_lone_surrogate({"title": "\\U0001F600"})
    False
    """
    # A stack, not recursion: json.loads accepts nesting deeper than a recursive walk could.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
