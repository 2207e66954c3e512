"""schemathesis hooks for ``tests/test_server_protocol.py`` (``SCHEMATHESIS_HOOKS``).

/api/search, /api/timeline, /api/export and /api/alerts/{name} (which saves a search)
have rules that no schema of a single parameter can state, and which their schemas
therefore only describe: ``q`` is read by the query
syntax (docs/cli.md), whose grammar no regular expression holds, and whose ``FIELD:value``
must name a field the index has; ``since`` may not be after ``until``; a ``where`` clause
must name a field the index has, and a ``source`` an outlet it has. A request that
schemathesis generated as valid (its positive cases) is made to keep them before it is
sent: a ``q`` the syntax refuses, or one with a colon, is sent as plain lower-case words;
the two days are swapped when ``since`` is after ``until``; each clause's field becomes one
the test's index has (``NEWSSEARCH_TEST_FIELDS``, comma-separated), and each outlet one it
has (``NEWSSEARCH_TEST_OUTLETS``). Every other value, and every case generated to be
invalid, is sent as generated, so both checks still see what the schema says.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from search.domain.filters import Filter
from search.errors import QueryError
from search.query.contract import MAX_QUERY_CHARS
from search.query.syntax import parse

# The operations that take a search's parameters: a search, and an alert saved.
SEARCHES = ("/api/search", "/api/alerts/{name}")
FIELDS = sorted(os.environ.get("NEWSSEARCH_TEST_FIELDS", "").split(","), key=len)
OUTLETS = os.environ.get("NEWSSEARCH_TEST_OUTLETS", "").split(",")
QUERIES = ("/api/search", "/api/timeline", "/api/export")  # the operations that take q


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if case.operation.path not in (*QUERIES, *SEARCHES) or meta is None:
        return
    if not meta.generation.mode.is_positive or not isinstance(case.query, dict):
        return
    query = case.query
    if isinstance(query.get("q"), str):
        query["q"] = plain_query(query["q"])
    if _day(query.get("since"), last=False) > _day(query.get("until"), last=True):
        query["since"], query["until"] = query["until"], query["since"]
    if "where" in query and FIELDS[0]:
        clauses = query["where"] if isinstance(query["where"], list) else [query["where"]]
        query["where"] = [_known_field(clause) for clause in clauses]
    if "source" in query and OUTLETS[0]:
        given = query["source"] if isinstance(query["source"], list) else [query["source"]]
        query["source"] = [OUTLETS[n % len(OUTLETS)] for n in range(len(given))]


def plain_query(text: str) -> str:
    """``text`` if the syntax reads it and it names no field; else its letters and digits
    as plain words, in lower case (``AND`` would be an operator), of the same length."""
    if not text.strip():
        return text  # empty: refused as such
    if ":" not in text:
        try:
            parse(text)
            return text
        except QueryError:
            pass
    words = "".join(c.lower() if c.isalnum() and len(c.lower()) == 1 else " " for c in text)
    return words if words.strip() else "x" + words[1:]


def _day(value: object, *, last: bool) -> float:
    """The day a bound names, or an open end (-inf for since, inf for until)."""
    open_end = float("inf") if last else float("-inf")
    if not isinstance(value, str):
        return open_end
    try:
        only = Filter.make(until=value) if last else Filter.make(since=value)
    except QueryError:
        return open_end
    day = None if only is None else (only.until if last else only.since)
    return open_end if day is None else day


def _known_field(clause: object) -> object:
    if not isinstance(clause, str) or "=" not in clause:
        return clause
    value = clause.partition("=")[2]
    return f"{FIELDS[0]}={value}"[:MAX_QUERY_CHARS]
