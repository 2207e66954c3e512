"""What ``/openapi.json`` says of the API, written from the query contract.

The HTTP door reads its parameters as the strings a URL holds and lets the contract
(``search.query.contract``) check them, so that every door refuses a bad value with the same
message. FastAPI therefore cannot see the parameters' types; this module states them, each
exactly as wide as the contract: a schema-valid request is answered, a schema-invalid one is
refused (``tests/test_server_protocol.py`` holds the two to each other). Two rules no
per-parameter schema can state are in the descriptions: ``since`` may not be after
``until``, and ``where`` names a field the index has.

Each operation also lists every status it can answer, each error as ``Error``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from search.query.alerts import MAX_NAME_CHARS, Alert
from search.query.contract import (
    FLAGS,
    MAX_DAY_CHARS,
    MAX_FILTER_VALUES,
    MAX_ID_CHARS,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    MAX_SERVED_K,
    MODES,
    PERIODS,
    SORTS,
    SPLITS,
    UNITS,
    Facets,
    Hit,
)
from search.serve.export import FORMATS, MEDIA_TYPES

__all__ = [
    "ALERT_NAME",
    "ALERT_PARAMETERS",
    "ARTICLE_PARAMETERS",
    "EXPORT_PARAMETERS",
    "SEARCH_PARAMETERS",
    "SIMILAR_PARAMETERS",
    "TIMELINE_PARAMETERS",
    "Alerts",
    "Error",
    "Health",
    "Hits",
    "Removed",
    "SearchPage",
    "answers",
    "common_answers",
    "export_answers",
    "parameters",
    "security",
]

# What str.strip() removes, which the contract calls empty. JSON Schema's \s is
# ECMAScript's, which differs from Python's (U+001C to U+001F, U+0085, U+FEFF), so the
# characters are listed, as the schema's regular expressions take them.
_SPACE = "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())
_WORD = f"[^{_SPACE}]"  # a character that is not white space
_YEAR = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"  # 0001 to 9999
_MONTH = "(0[1-9]|1[0-2])"
_LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_DATE = "|".join(
    [
        f"{_YEAR}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])",
        f"{_YEAR}-(0[469]|11)-(0[1-9]|[12][0-9]|30)",
        f"{_YEAR}-02-(0[1-9]|1[0-9]|2[0-8])",
        f"{_LEAP_YEAR}-02-29",
    ]
)
# A day as the filters read it: a year, a month or a real date, white space around it
# ignored; or nothing at all (no bound).
_DAY = f"^([{_SPACE}]*({_YEAR}|{_YEAR}-{_MONTH}|{_DATE})[{_SPACE}]*)?$"


def _text(*, pattern: str = _WORD) -> dict[str, Any]:
    """A served text: not blank, at most the contract's length."""
    return {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": pattern}


def _texts(*, pattern: str = _WORD) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_FILTER_VALUES, "items": _text(pattern=pattern)}


def _day(edge: str) -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": MAX_DAY_CHARS,
        "pattern": _DAY,
        "description": f"Published on or {edge}: a day (YYYY-MM-DD), a month (YYYY-MM) or a "
        "year (YYYY), inclusive; empty, no bound.",
    }


def _count(what: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_SERVED_K,
        "default": 10,
        "description": f"How many {what}.",
    }


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


def _query(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    described = {key: value for key, value in schema.items() if key != "description"}
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": schema["description"],
        "schema": described,
    }


def _choice(values: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(values),
        "default": values[0],
        "description": description,
    }


def _flag(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": f"^({'|'.join(_any_case(word) for word in FLAGS)})$",
        "default": "false",
        "description": description + " Any case; true may also be 1, yes or empty, and "
        "false 0 or no.",
    }


_Q = _query(
    "q",
    {
        **_text(),
        "description": "What to search for: words, or the query syntax (docs/cli.md): "
        '"a phrase", -word, NOT, AND, OR, ( ), title:word, FIELD:value, word*, * for every '
        "article. A query the syntax cannot read is refused, saying where it breaks.",
    },
    required=True,
)
_MODE = _query("mode", _choice(MODES, "How to match."))
_FILTERS = [
    _query("since", _day("after")),
    _query("until", _day("before")),
    _query("source", {**_texts(), "description": "An outlet (`/api/stats`); several: any."}),
    _query("collection", {**_texts(), "description": "A collection; several: any of them."}),
    _query(
        "where",
        {
            **_texts(pattern=f"^[^=]*[^={_SPACE}][^=]*="),
            "description": "FIELD=VALUE, a field the index has (`/api/stats`); several: all.",
        },
    ),
]
_ALL = _query(
    "all",
    _flag(
        "true: every copy of a wire story as its own hit (counted on its own); false: one "
        "for the story."
    ),
)
_SORT = _query(
    "sort",
    _choice(
        SORTS,
        "relevance: best first; newest or oldest: the matching articles by date, one hit "
        "each (those without a date last).",
    ),
)
SEARCH_PARAMETERS = [
    _Q,
    _query("k", _count("hits")),
    _MODE,
    *_FILTERS,
    _query(
        "by",
        {
            **_choice(UNITS, ""),
            "description": "`article`: one hit for each article, its best passage.",
        },
    ),
    _ALL,
    _SORT,
    _query(
        "offset",
        {
            # Empty, as a URL may give it, is no offset (as an empty since is no bound).
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                {"type": "string", "maxLength": 0},
            ],
            "default": 0,
            "description": "Hits to skip: a page's `next_offset` asks for the next page.",
        },
    ),
    _query(
        "facets",
        _flag(
            "true: the answer's `facets` count the matching articles by outlet, collection "
            "and field value."
        ),
    ),
]
TIMELINE_PARAMETERS = [
    _Q,
    _query(
        "every",
        {
            **_choice(PERIODS, ""),
            "default": "week",
            "description": "The periods counted: day, week (from Monday) or month.",
        },
    ),
    _query(
        "split",
        {
            "type": "string",
            "enum": list(SPLITS),
            "description": "outlet: each period counted for each outlet apart.",
        },
    ),
    _MODE,
    *_FILTERS,
    _ALL,
]
EXPORT_PARAMETERS = [
    _Q,
    _query("format", _choice(FORMATS, "csv (with a header row) or jsonl, one article a line.")),
    _SORT,
    _MODE,
    *_FILTERS,
    _ALL,
]
_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "description": "An article's id, as a hit's `article_id` gives it (it may hold slashes).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
}
ARTICLE_PARAMETERS = [_ID]
SIMILAR_PARAMETERS = [_ID, _query("k", _count("articles"))]
ALERT_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The alert's name: letters, digits, '.', '_' and '-', from a letter or digit.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_CHARS,
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$",
    },
}
# What an alert watches for: the search's query and filters, as /api/search takes them
# (not how to show hits: a run lists new matches newest first).
ALERT_PARAMETERS = [
    ALERT_NAME,
    *(p for p in SEARCH_PARAMETERS if p["name"] not in ("k", "by", "sort", "offset", "facets")),
]


def parameters(listed: list[dict[str, Any]]) -> dict[str, Any]:
    """A route's ``openapi_extra``: its parameters, as this module states them."""
    return {"parameters": listed}


class Error(TypedDict):
    """Every error's body."""

    error: str  # what happened, and what to do: the CLI's message
    exit_code: NotRequired[int]  # the CLI's exit code for it, where it has one
    index: NotRequired[str]  # the index, when the message names it as the server was given it


class Hits(TypedDict):
    hits: list[Hit]  # each as `query --json` prints it
    took_ms: float


class SearchPage(TypedDict):
    hits: list[Hit]  # each as `query --json` prints it
    took_ms: float
    next_offset: int | None  # the offset of the next page; null: there is none
    facets: NotRequired[Facets]  # asked for with facets=true


class Alerts(TypedDict):
    alerts: list[Alert]  # by name, each as `alert list --json` prints it


class Removed(TypedDict):
    removed: str  # the alert's name


class Health(TypedDict):
    status: Literal["ok"]
    index: str
    generation: int
    articles: int
    shards: NotRequired[list[dict[str, Any]]]  # a sharded server: what each shard holds


_ERRORS = {
    400: "A bad parameter, or an address that is not UTF-8: the contract's message.",
    401: "No token, or the wrong one.",
    403: "A write (an alert saved, removed or run) to a server started without a token.",
    404: "No such article, or no such alert.",
    409: "An alert of that name is saved already.",
    421: "Addressed to a host name this server does not answer for.",
    431: "The request's head (its address and headers) is too long.",
    503: "No index at the path yet, or it is damaged; a sharded server's shard is down; an "
    "alert's write finds the index locked by another writer, read-only or its disk full.",
}


def answers(ok: type | None = None, *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses`` for FastAPI: the answer (a 200 with ``ok``), then errors, each an
    ``Error``. Hits link to their article and to the articles like it."""
    listed: dict[int | str, dict[str, Any]] = {}
    if ok is not None:
        listed[200] = {"model": ok, "description": "The answer."}
    if ok in (Hits, SearchPage):
        listed[200]["links"] = {
            f"{operation}_of_first_hit": {
                "operationId": operation,
                "parameters": {"article_id": "$response.body#/hits/0/article_id"},
            }
            for operation in ("article", "similar")
        }
    for status in errors:
        listed[status] = {"model": Error, "description": _ERRORS[status]}
    return listed


def export_answers(*errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses`` for the export: text, streamed, in the format asked for."""
    listed = answers(None, *errors)
    listed[200] = {
        "description": "Every matching article, a row (or line) each, streamed.",
        "content": {
            media.split(";")[0]: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()
        },
    }
    return listed


def common_answers(*, token: bool) -> dict[int | str, dict[str, Any]]:
    """The errors every operation can answer: 400, 421, 431, and 401 with a token."""
    return answers(None, 400, *([401] if token else []), 421, 431)


def security(*, token: bool) -> list[Any]:
    """With a token, dependencies that only state it in the schema, as a bearer token or
    ``?token=`` (the server's guard checks it; the page's cookie is its own affair)."""
    if not token:
        return []
    from fastapi import Depends
    from fastapi.security import APIKeyQuery, HTTPBearer

    return [
        Depends(HTTPBearer(auto_error=False, description="`--token`, as a bearer token.")),
        Depends(APIKeyQuery(name="token", auto_error=False, description="Or as ?token=.")),
    ]
