"""Alerts: saved searches that report what is new.

An alert is a name and a search (its query and filters, checked as any door's request is),
kept in the index's store with the commit it has reported up to. Running it reports the
matching articles that a later commit wrote: new ones, and changed ones written anew
(``Store.articles_added_after``), then moves it up to the commit it ran at. A new alert
starts at the commit it was saved at, so its first run reports what came after.

>>> alert = Alert.saving("opec", SearchRequest.make('"oil prices" -Japan', since="1987"),
...                      generation=4, created="2024-05-01T09:00:00Z")
>>> alert.request().query.text, alert.request().since, alert.generation
('"oil prices" -Japan', '1987', 4)
>>> checked_name("oil prices")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
search.errors.InputError: 'oil prices' is no alert name: use 1 to 64 letters, digits, ...
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from search.errors import IndexCorruptError, InputError
from search.query.contract import Match, SearchRequest
from search.storage.database import AlertRow

__all__ = ["ALERT_ORDER", "MAX_NAME_CHARS", "Alert", "AlertRun", "checked_name"]

MAX_NAME_CHARS = 64
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_CHARS - 1}}}")
ALERT_ORDER = "newest"  # a run's articles, newest first


@dataclass(frozen=True)
class Alert:
    """A saved search: its ``name``, the search (``query`` and filters, as
    ``SearchRequest.make`` takes them), when it was ``created`` and ``last_run`` (ISO 8601,
    UTC; None: never), and ``generation``, the commit it has reported up to: its next run
    reports the matching articles written by a later commit."""

    name: str
    query: str
    mode: str = "hybrid"
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    every_copy: bool = False
    created: str = ""
    last_run: str | None = None
    generation: int = 0

    @classmethod
    def saving(cls, name: str, request: SearchRequest, *, generation: int, created: str) -> Alert:
        """The alert ``name`` for a checked request, saved at commit ``generation``."""
        return cls(
            name=checked_name(name),
            query=request.text,
            mode=request.mode,
            since=request.since,
            until=request.until,
            sources=request.sources,
            where=request.where,
            collections=request.collections,
            every_copy=request.every_copy,
            created=created,
            generation=generation,
        )

    def request(self) -> SearchRequest:
        """The saved search as a request, its matches newest first."""
        return SearchRequest.make(
            self.query,
            mode=self.mode,
            since=self.since,
            until=self.until,
            sources=self.sources,
            where=self.where,
            collections=self.collections,
            every_copy=self.every_copy,
            sort=ALERT_ORDER,
        )

    def row(self) -> AlertRow:
        """As the store keeps it: the search's parameters as JSON."""
        search = {
            "query": self.query,
            "mode": self.mode,
            "since": self.since,
            "until": self.until,
            "sources": list(self.sources),
            "where": list(self.where),
            "collections": list(self.collections),
            "every_copy": self.every_copy,
        }
        text = json.dumps(search, ensure_ascii=False, sort_keys=True)
        return AlertRow(self.name, text, self.created, self.generation, self.last_run)

    @classmethod
    def from_row(cls, row: AlertRow, where: object) -> Alert:
        """The alert a store row holds; one whose search cannot be read is a damaged
        index (``where``: the store, for the message)."""
        try:
            search = json.loads(row.request)
            return cls(
                name=row.name,
                query=_text(search["query"]),
                mode=_text(search["mode"]),
                since=_text_or_none(search["since"]),
                until=_text_or_none(search["until"]),
                sources=_texts(search["sources"]),
                where=_texts(search["where"]),
                collections=_texts(search["collections"]),
                every_copy=search["every_copy"] is True,
                created=row.created,
                last_run=row.last_run,
                generation=int(row.generation),
            )
        except (ValueError, TypeError, KeyError, RecursionError):
            raise IndexCorruptError(
                f"alert {row.name!r} in {where} is damaged — remove it (`newssearch alert "
                f"remove {row.name}`) and add it again"
            ) from None


@dataclass(frozen=True)
class AlertRun:
    """What one run of an alert reported: the articles matching it (newest first) that
    commits after ``after`` and up to ``generation`` wrote, and when it ran (``ran``,
    ISO 8601, UTC). Its next run reports from ``generation`` on."""

    name: str
    after: int
    generation: int
    ran: str
    matches: tuple[Match, ...]


def checked_name(value: object) -> str:
    """An alert's name, or an ``InputError``: it goes in a URL and a shell unquoted."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InputError(
            f"{shown} is no alert name: use 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(value)
    return tuple(_text(v) for v in value)
