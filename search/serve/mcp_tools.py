"""``newssearch mcp``: the index as tools for an agent, over MCP on stdio.

Five read-only tools answer through the same ``Service`` as the HTTP API, so a hit is what
``query --json`` prints: ``search``, ``timeline``, ``show_article``, ``similar_articles``
and ``index_stats``. Four more keep alerts, for an agent that watches a story: ``alert_add``,
``alert_list``, ``alert_remove`` and ``alert_run`` (all but the list write the index, as
``newssearch alert`` does). Each tool lists an output schema, and each answer carries it as
``structuredContent`` and again as JSON text, for clients that read only text. A
``SearchError`` is the tool's error: its one-line message with ``isError`` set, and the
server goes on answering.

Arguments are taken as their JSON types, strictly: ``k: true`` or ``all: "yes"`` is refused
(the SDK would read them as 1 and true), and so is an unknown argument, each in one line
that names it; their values are then checked by the query contract's ``MCP`` door. Every
line on stdin gets its reply, an error one for a line that is no request
(``search.serve.mcp_stdio``).

Only protocol reaches stdout: while the SDK serves it points the process's stdout at
stderr, and the model is loaded inside that, so a library's stray output cannot corrupt the
stream. The tools are plain functions, which the SDK runs in worker threads.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, NotRequired, Protocol, TypedDict, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from search._version import __version__
from search.errors import SearchError
from search.index import Alert, AlertRun, ArticleDetail, IndexStats
from search.query.contract import (
    MAX_OFFSET,
    MAX_SERVED_K,
    MCP,
    MODES,
    PERIODS,
    SORTS,
    SPLITS,
    UNITS,
    Facets,
    Hit,
    SearchRequest,
    Timeline,
)
from search.serve.mcp_stdio import stdio_streams
from search.serve.service import Service
from search.storage.folder import check_path

INSTRUCTIONS = """\
Search a news archive by meaning and by words. Start with `search`: each hit is a passage \
of an article, with its `article_id`, title, text, date, outlet and fields. Pass an \
`article_id` to `show_article` for the whole article, or to `similar_articles` for related \
coverage. Narrow a search with since/until (YYYY-MM-DD, inclusive), sources (outlets), \
collections (independent archives in one index) and where ("FIELD=VALUE", e.g. \
"topics=crude"); the query itself takes "exact phrases", -exclusions, AND/OR/NOT and \
FIELD:value. `search` with facets=true counts the matching articles by outlet and field; \
`timeline` counts them by day, week or month. `index_stats` lists what the archive holds: \
its collections, outlets, date span and fields with their commonest values. To watch a \
story, save a search with `alert_add`; each `alert_run` then gives the matching articles \
committed since its last run."""

# The schema states every limit; the service checks them, so a wrong value is answered
# with the service's one-line message rather than a validation report.
Query = Annotated[
    str,
    Field(
        description="What to look for: a few words, a name, or a sentence; or with syntax: "
        '"an exact phrase", -word or NOT word (must not appear), a AND b, a OR b, ( ), '
        "title:word, FIELD:value (as where), word* (any word it starts), * (every article)."
    ),
]
Count = Annotated[
    int,
    Field(
        description=f"How many hits, 1 to {MAX_SERVED_K}.",
        json_schema_extra={"minimum": 1, "maximum": MAX_SERVED_K},
    ),
]
Mode = Annotated[
    str,
    Field(
        description="hybrid: by meaning and by words, fused (best in general); dense: by "
        "meaning only; lexical: by words only (BM25), for exact names and phrases.",
        json_schema_extra={"enum": list(MODES)},
    ),
]
Day = Annotated[
    str | None,
    Field(
        description="A day, YYYY-MM-DD (or a month YYYY-MM, a year YYYY); inclusive. "
        "Articles without a date are left out when it is given."
    ),
]
Sources = Annotated[
    list[str] | None,
    Field(
        description='Outlets, as hits show them in `source`, e.g. ["Reuters"]; an article '
        "from any of them matches. Case does not matter."
    ),
]
Collections = Annotated[
    list[str] | None,
    Field(
        description="Collections, as hits show them in `collection` and index_stats lists "
        "them; an article in any of them matches."
    ),
]
Where = Annotated[
    list[str] | None,
    Field(
        description='Field filters, each "FIELD=VALUE", e.g. ["topics=crude"]; all must '
        "hold. Fields are those hits show in `fields`; a list field matches if any of its "
        "values does. Case does not matter; an unknown field's error lists the index's fields."
    ),
]
Unit = Annotated[
    str,
    Field(
        description="passage: the best passages, several may come from one article; "
        "article: one hit per article, its best passage, `matched` counting its passages "
        "among the candidates.",
        json_schema_extra={"enum": list(UNITS)},
    ),
]
EveryCopy = Annotated[
    bool,
    Field(
        description="Show every copy of a wire story as a hit of its own. By default "
        "near-identical copies show as one hit whose `duplicates` lists the others' ids."
    ),
]
Sort = Annotated[
    str,
    Field(
        description="relevance: best first; newest or oldest: the matching articles by "
        "date, one hit each (those without a date last).",
        json_schema_extra={"enum": list(SORTS)},
    ),
]
Offset = Annotated[
    int,
    Field(
        description=f"Hits to skip, 0 to {MAX_OFFSET:,}: a page's `next_offset` asks for "
        "the next page.",
        json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET},
    ),
]
WithFacets = Annotated[
    bool,
    Field(
        description="Also count the matching articles by outlet, collection and each "
        "field's values (`facets`), the commonest first."
    ),
]
Every = Annotated[
    str,
    Field(
        description="The periods: day, week (from Monday) or month.",
        json_schema_extra={"enum": list(PERIODS)},
    ),
]
Split = Annotated[
    str | None,
    Field(
        description="outlet: count each outlet apart in every period, to compare their attention.",
        json_schema_extra={"enum": [*SPLITS, None]},
    ),
]
ArticleId = Annotated[
    str,
    Field(
        description="An article's id: COLLECTION/ID (a hit's `collection` and `article_id`), "
        "the id alone where one collection holds it, or one of a hit's `duplicates`."
    ),
]


class SearchResults(TypedDict):
    """The hits, in the order asked for; the offset of the next page (null: none); the
    facets, when asked for; and how long the search took."""

    hits: list[Hit]
    took_ms: float
    next_offset: int | None
    facets: NotRequired[Facets]


class SimilarArticles(TypedDict):
    """The articles most like the one asked about, best first (it and its copies left
    out), one hit each, with its best passage."""

    hits: list[Hit]
    took_ms: float


AlertName = Annotated[
    str,
    Field(
        description="The alert's name: 1 to 64 letters, digits, '.', '_' and '-', starting "
        "with a letter or digit."
    ),
]


class SavedAlerts(TypedDict):
    """The saved alerts, by name."""

    alerts: list[Alert]


class RemovedAlert(TypedDict):
    """The name of the alert removed."""

    removed: str


_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_REMOVES = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
_Tool = TypeVar("_Tool", bound=Callable[..., CallToolResult])


def make_server(service: Service) -> MCPServer[None]:
    """An MCP server whose tools answer from ``service``."""

    @asynccontextmanager
    async def warmed(app: MCPServer[None]) -> AsyncIterator[None]:
        # Before the first request is read, and inside the transport (stdout diverted).
        await anyio.to_thread.run_sync(service.warm)
        yield

    server = _StrictServer(
        "newssearch",
        title="newssearch",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        lifespan=warmed,
    )

    tool = _registrar(server)

    @tool("Search the news archive")
    def search(
        query: Query,
        k: Count = 10,
        mode: Mode = "hybrid",
        since: Day = None,
        until: Day = None,
        sources: Sources = None,
        where: Where = None,
        by: Unit = "passage",
        all: EveryCopy = False,
        collections: Collections = None,
        sort: Sort = "relevance",
        offset: Offset = 0,
        facets: WithFacets = False,
    ) -> Annotated[CallToolResult, SearchResults]:
        """Search the archive's articles by meaning and by words; hits come best first, or
        by date with sort="newest" or "oldest".

        Each hit is one passage: `article_id` and `collection` (give
        "COLLECTION/ID", or the id alone where one collection holds it, to show_article or
        similar_articles), `title`, `text` (the passage), `paragraph` (its number in the
        article, from 1), `published`, `source` (the outlet), `url`, `fields` (the record's
        other fields, such as topics), `duplicates` (ids of wire copies folded into this
        hit), `relevance` (0 to 1: how near the passage is to the query in meaning; null in
        lexical mode) and `score` (the ranking's own). Filters combine: since and until are
        days (YYYY-MM-DD, both inclusive), sources any of some outlets, where a list of
        "FIELD=VALUE" that must all hold. by="article" gives one hit per article; all=true
        shows every wire copy. For the next page, pass `next_offset` as offset.
        facets=true adds `facets`: the matching articles counted by outlet, collection and
        field value."""

        def ask() -> dict[str, Any]:
            request = _request(
                query,
                mode,
                since=since,
                until=until,
                sources=sources,
                where=where,
                every_copy=all,
                collections=collections,
                k=k,
                by=by,
                sort=sort,
                offset=offset,
            )
            return service.search(request, facets=facets)

        return _answer(ask)

    @tool("Count coverage over time")
    def timeline(
        query: Query,
        every: Every = "week",
        split: Split = None,
        mode: Mode = "hybrid",
        since: Day = None,
        until: Day = None,
        sources: Sources = None,
        where: Where = None,
        all: EveryCopy = False,
        collections: Collections = None,
    ) -> Annotated[CallToolResult, Timeline]:
        """How many articles match the query in each day, week or month, beside how many
        articles there are in all in that period (within the same filters): each of
        `periods` has `start` (its first day), `count`, `total_count` and `ratio`
        (count / total_count), and `outlet` with split="outlet". `matched` and `total`
        add them up; `undated` counts matching articles without a date. The query and
        filters are search's."""

        def ask() -> dict[str, Any]:
            request = _request(
                query,
                mode,
                since=since,
                until=until,
                sources=sources,
                where=where,
                every_copy=all,
                collections=collections,
            )
            return service.timeline(request, every, split)

        return _answer(ask)

    @tool("Show a whole article")
    def show_article(id: ArticleId) -> Annotated[CallToolResult, ArticleDetail]:
        """The whole article with this id: title, published, source, url, fields, its
        `paragraphs` in order (a hit's `paragraph` counts them from 1) and `duplicates`,
        the ids of its wire copies."""
        return _answer(lambda: service.article(id, door=MCP))

    @tool("Find similar articles")
    def similar_articles(
        id: ArticleId, k: Count = 10
    ) -> Annotated[CallToolResult, SimilarArticles]:
        """The articles most like this one, by meaning, best first: other coverage of the
        same events. The article itself and its wire copies are left out. Hits are as
        search's, one per article."""
        return _answer(lambda: service.similar(id, k, door=MCP))

    @tool("Describe the index")
    def index_stats() -> Annotated[CallToolResult, IndexStats]:
        """What the archive holds: articles, passages, its collections and outlets with their
        counts, the date span (first_published, last_published), the fields `where` can
        filter on with their commonest values, duplicate groups (wire stories with several
        copies), the embedding model, and the index's size and commit."""
        return _answer(service.stats)

    _add_alert_tools(tool, service)
    return server


class _Registrar(Protocol):
    def __call__(
        self, title: str, annotations: ToolAnnotations = ...
    ) -> Callable[[_Tool], _Tool]: ...


def _registrar(server: MCPServer[None]) -> _Registrar:
    """``@tool(title, annotations)``: registers a function as one of ``server``'s tools."""

    def tool(title: str, annotations: ToolAnnotations = _READ_ONLY) -> Callable[[_Tool], _Tool]:
        def register(fn: _Tool) -> _Tool:
            # The docstring without its source indentation: the agent reads every character.
            description = inspect.cleandoc(fn.__doc__ or "")
            server.add_tool(fn, title=title, description=description, annotations=annotations)
            return fn

        return register

    return tool


def _add_alert_tools(tool: _Registrar, service: Service) -> None:
    """The tools that keep alerts: all but the list write the index."""

    @tool("Save a search as an alert", _WRITES)
    def alert_add(
        name: AlertName,
        query: Query,
        mode: Mode = "hybrid",
        since: Day = None,
        until: Day = None,
        sources: Sources = None,
        where: Where = None,
        all: EveryCopy = False,
        collections: Collections = None,
    ) -> Annotated[CallToolResult, Alert]:
        """Save a search (query and filters, as search takes them) under a name, to watch a
        story: each alert_run then gives the matching articles committed to the index since
        the alert last ran, and its first run those committed after it was saved. The
        alert is kept in the index."""

        def ask() -> dict[str, Any]:
            request = _request(
                query,
                mode,
                since=since,
                until=until,
                sources=sources,
                where=where,
                every_copy=all,
                collections=collections,
            )
            return service.add_alert(name, request)

        return _answer(ask)

    @tool("List the saved alerts")
    def alert_list() -> Annotated[CallToolResult, SavedAlerts]:
        """The saved alerts, by name: each one's search (query and filters), when it was
        created and last ran, and `generation`, the index's commit it has reported up to."""
        return _answer(service.alerts)

    @tool("Remove an alert", _REMOVES)
    def alert_remove(name: AlertName) -> Annotated[CallToolResult, RemovedAlert]:
        """Forget the saved alert of this name."""
        return _answer(lambda: service.remove_alert(name))

    @tool("Run an alert", _WRITES)
    def alert_run(name: AlertName) -> Annotated[CallToolResult, AlertRun]:
        """The articles matching this alert that were committed to the index since it last
        ran (or since it was saved), newest first: new articles, and changed ones indexed
        anew. Each has its `article_id` and `collection` (for show_article), title, date,
        outlet, url and best passage. The run is recorded: the next reports what comes
        after `generation`, the commit this one reached."""
        return _answer(lambda: service.run_alert(name))


class _StrictServer(MCPServer[None]):
    """The SDK's server, with a reply to every line of stdin and strict argument types."""

    async def run_stdio_async(self) -> None:
        async with stdio_streams() as (read, write):
            lowlevel = self._lowlevel_server
            await lowlevel.run(read, write, lowlevel.create_initialization_options())

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[None, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        refused = None if tool is None else _refusal(tool, arguments)
        if refused is not None:
            return _failure(refused)
        return await super().call_tool(name, arguments, context)


def _refusal(tool: Tool, arguments: dict[str, Any]) -> str | None:
    """One line naming each argument that is unknown, missing or not of its schema's type;
    None when every one is. No JSON value stands for another type's."""
    known: dict[str, Any] = tool.parameters.get("properties", {})
    for name in arguments:
        if name not in known:
            return f"unknown argument {name!r} — {tool.name} takes {', '.join(known) or 'none'}"
    try:
        tool.fn_metadata.arg_model.model_validate(arguments, strict=True)
    except ValidationError as error:
        problems = error.errors()
        names = dict.fromkeys(str(problem["loc"][0]) for problem in problems if problem["loc"])
        return "; ".join(
            f"{name} must be {_kind(known[name])}, not {_given(arguments[name])}"
            if name in arguments
            else f"{name} is required"
            for name in names
        )
    return None


_KINDS = {"integer": "a whole number", "boolean": "true or false", "string": "a string",
          "array": "a list of strings", "null": "null"}  # fmt: skip


def _kind(schema: dict[str, Any]) -> str:
    """What a property's schema takes, in words: "a string or null"."""
    kinds = [part.get("type") for part in schema.get("anyOf", [schema])]
    return " or ".join(_KINDS.get(str(kind), str(kind)) for kind in kinds)


def _given(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _failure(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _request(
    query: str,
    mode: str,
    *,
    since: str | None,
    until: str | None,
    sources: list[str] | None,
    where: list[str] | None,
    every_copy: bool,
    collections: list[str] | None,
    **more: Any,
) -> SearchRequest:
    """The request the arguments every searching tool takes ask for (the query, its mode
    and its filters), with ``more`` (``k``, ``by``, ``sort``, ``offset``)."""
    return SearchRequest.make(
        query,
        mode=mode,
        since=since,
        until=until,
        sources=sources,
        where=where,
        every_copy=every_copy,
        collections=collections,
        door=MCP,
        **more,
    )


def _answer(ask: Callable[[], dict[str, Any]]) -> CallToolResult:
    """The tool's result: the service's answer as structured content and as JSON text, or
    a ``SearchError``'s one line as the tool's error."""
    try:
        result = ask()
    except SearchError as error:
        return _failure(str(error))
    text = json.dumps(result, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


def run(index: Path) -> None:
    """Serve the index at ``index`` over stdio until the client closes stdin. The index is
    opened and the model loaded at start; a server started before ``newssearch index`` has
    built anything says so to each call, and answers once there is an index."""
    check_path(index)  # one that can never be opened is said now, not to each call
    service = Service(index)
    try:
        make_server(service).run("stdio")
    finally:
        service.close()
