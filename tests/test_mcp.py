"""``newssearch mcp`` driven through the MCP SDK's own stdio client, as an agent's client
runs it: a real process (tests/mcp_process.py, fake embedder; the real command in the slow
test), its five tools listed with their schemas and each called, errors answered as tool
errors, and nothing but protocol on its stdout. Raw JSON-RPC lines check that every request
gets exactly one reply, whatever the line holds."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeEmbedder, need_shared, write_articles
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from search import Index
from search.query.contract import SearchRequest
from search.serve.service import Service

pytestmark = [pytest.mark.anyio, pytest.mark.process]  # every test talks to a server process

SCRIPT = Path(__file__).with_name("mcp_process.py")
READ_ONLY = {"search", "timeline", "show_article", "similar_articles", "index_stats", "alert_list"}
TOOLS = READ_ONLY | {"alert_add", "alert_remove", "alert_run"}

STORY = (
    "Ministers from the oil exporting countries agreed on Sunday to hold the output ceiling "
    "at sixteen million barrels a day for the rest of the year, delegates said after talks.\n\n"
    "The agreement keeps quotas for each member unchanged and leaves the reference price at "
    "eighteen dollars a barrel, a level the cartel has defended since the winter."
)
RECORDS = [
    {
        "id": "opec-1",
        "title": "OPEC holds output ceiling",
        "text": STORY,
        "date": "1987-03-01",
        "source": "Reuters",
        "topics": ["crude"],
    },
    {  # an edited wire copy of opec-1
        "id": "opec-2",
        "title": "OPEC keeps output ceiling",
        "text": STORY.replace("on Sunday", "late on Sunday"),
        "date": "1987-03-01",
        "source": "Associated Press",
        "topics": ["crude"],
    },
    {
        "id": "refinery",
        "title": "Refinery fire halts crude runs",
        "text": "A fire at a Gulf coast refinery halted crude oil runs of two hundred thousand "
        "barrels a day, the company said, and repairs will take a month.",
        "date": "1987-04-12",
        "source": "BBC News",
        "topics": ["crude"],
    },
    {
        "id": "grain",
        "title": "Wheat harvest grows",
        "text": "Farmers in the plains brought in a record wheat harvest this summer, and "
        "grain prices fell as elevators filled across the region.",
        "date": "1987-07-01",
        "source": "BBC News",
        "topics": ["grain"],
    },
    {
        "id": "yen",
        "title": "Bank of Japan buys dollars",
        "text": "The Bank of Japan bought dollars in Tokyo to slow the rise of the yen, "
        "dealers said, as the currency touched a new high against the dollar.",
        "date": "1987-03-03",
        "source": "Reuters",
        "topics": ["money-fx"],
    },
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of RECORDS built with the fake embedder; the tests only read it."""
    root = tmp_path_factory.mktemp("mcp")
    lines = "".join(json.dumps(record) + "\n" for record in RECORDS)
    folder = write_articles(root / "news", {"wire.jsonl": lines})
    with Index.open_or_create(root / "index", model=FakeEmbedder()) as ix:
        ix.update([folder])
    return root / "index"


def fake_server(index: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(SCRIPT), str(index)])


@contextlib.asynccontextmanager
async def connected(server: StdioServerParameters) -> AsyncIterator[ClientSession]:
    """A session with a server process, initialized; the process ends with the session."""
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def answer(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result, having checked that it succeeded and that its text
    is the same data as JSON."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(_text(result)) == result.structured_content
    return result.structured_content


async def failure(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The one line a failed tool call answered with."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    text = _text(result)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


async def test_lists_the_tools_with_input_and_output_schemas(news: Path) -> None:
    async with connected(fake_server(news)) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    search = tools["search"]
    arguments = search.input_schema["properties"]
    assert set(arguments) == {
        "query",
        "k",
        "mode",
        "since",
        "until",
        "sources",
        "where",
        "by",
        "all",
        "collections",
        "sort",
        "offset",
        "facets",
    }
    assert search.input_schema["required"] == ["query"]
    assert arguments["sort"]["enum"] == ["relevance", "newest", "oldest"]
    assert (arguments["offset"]["minimum"], arguments["offset"]["maximum"]) == (0, 100_000)
    assert arguments["mode"]["enum"] == ["hybrid", "dense", "lexical"]
    assert arguments["by"]["enum"] == ["passage", "article"]
    assert (arguments["k"]["minimum"], arguments["k"]["maximum"]) == (1, 1000)
    assert "YYYY-MM-DD" in arguments["since"]["description"]
    assert "FIELD=VALUE" in arguments["where"]["description"]
    assert tools["show_article"].input_schema["required"] == ["id"]
    assert set(tools["similar_articles"].input_schema["properties"]) == {"id", "k"}
    assert tools["index_stats"].input_schema["properties"] == {}
    outputs = {name: tool.output_schema for name, tool in tools.items()}
    assert outputs["search"] is not None and outputs["similar_articles"] is not None
    assert outputs["show_article"] is not None and outputs["index_stats"] is not None
    assert set(outputs["search"]["properties"]) == {"hits", "took_ms", "next_offset", "facets"}
    assert outputs["search"]["required"] == ["hits", "took_ms", "next_offset"]
    timeline = tools["timeline"].input_schema
    assert timeline["required"] == ["query"] and timeline["properties"]["every"]["enum"] == [
        "day",
        "week",
        "month",
    ]
    assert {"start", "count", "total_count", "ratio", "outlet"} == set(
        outputs["timeline"]["$defs"]["Period"]["properties"]
    )
    assert "article_id" in outputs["search"]["$defs"]["Hit"]["properties"]
    assert "paragraphs" in outputs["show_article"]["properties"]
    assert "duplicate_groups" in outputs["index_stats"]["properties"]
    for name, tool in tools.items():
        assert tool.description and "\n " not in tool.description  # no source indentation
        assert tool.annotations and tool.annotations.read_only_hint == (name in READ_ONLY)
    assert tools["alert_remove"].annotations.destructive_hint  # type: ignore[union-attr]
    assert not tools["alert_add"].annotations.destructive_hint  # type: ignore[union-attr]
    assert tools["alert_add"].input_schema["required"] == ["name", "query"]
    assert set(tools["alert_add"].input_schema["properties"]) == {
        "name",
        "query",
        "mode",
        "since",
        "until",
        "sources",
        "where",
        "all",
        "collections",
    }
    assert "matches" in outputs["alert_run"]["properties"]
    assert "generation" in outputs["alert_add"]["properties"]


async def test_search_answers_as_the_service_does(news: Path, fake_models: dict) -> None:
    async with connected(fake_server(news)) as session:
        found = await answer(session, "search", query="wheat harvest elevators", k=3)
        lexical = await answer(session, "search", query="Tokyo yen", mode="lexical")
    assert found["hits"][0]["article_id"] == "grain"
    assert [hit["rank"] for hit in found["hits"]] == [1, 2, 3]
    assert lexical["hits"][0]["article_id"] == "yen" and lexical["took_ms"] >= 0
    # Each hit exactly as the service (and so `query --json`) gives it.
    service = Service(news)
    try:
        expected = service.search(SearchRequest.make("wheat harvest elevators", k=3))["hits"]
    finally:
        service.close()
    assert found["hits"] == json.loads(json.dumps(expected))


async def test_filters_hold_on_every_hit(news: Path) -> None:
    wanted = {
        "since": "1987-03-01",
        "until": "1987-04-30",
        "sources": ["reuters", "BBC News"],  # any of them, whatever the case
        "where": ["topics=crude"],
    }
    async with connected(fake_server(news)) as session:
        every = await answer(session, "search", query="crude oil barrels", all=True)
        only = await answer(session, "search", query="crude oil barrels", all=True, **wanted)
    by_id = {record["id"]: record for record in RECORDS}
    passing = {
        record["id"]
        for record in RECORDS
        if "1987-03-01" <= record["date"] <= "1987-04-30"
        and record["source"] in ("Reuters", "BBC News")
        and "crude" in record["topics"]
    }
    assert passing == {"opec-1", "refinery"}
    assert {hit["article_id"] for hit in every["hits"]} > passing  # the filter leaves some out
    assert {hit["article_id"] for hit in only["hits"]} == passing
    for hit in only["hits"]:
        assert "1987-03-01" <= hit["published"] <= "1987-04-30"
        assert hit["source"] in ("Reuters", "BBC News")
        assert "crude" in hit["fields"]["topics"]
        assert hit["source"] == by_id[hit["article_id"]]["source"]


async def test_wire_copies_fold_into_one_hit_unless_all(news: Path) -> None:
    query = {"query": "OPEC output ceiling quotas barrels", "k": 20}
    async with connected(fake_server(news)) as session:
        folded = await answer(session, "search", **query)
        every = await answer(session, "search", all=True, **query)
        articles = await answer(session, "search", by="article", **query)
    copies = {"opec-1", "opec-2"}
    shown = [hit for hit in folded["hits"] if hit["article_id"] in copies]
    assert shown and len({hit["article_id"] for hit in shown}) == 1
    assert set(shown[0]["duplicates"]) == {f"news/{i}" for i in copies - {shown[0]["article_id"]}}
    assert {hit["article_id"] for hit in every["hits"]} >= copies
    ids = [hit["article_id"] for hit in articles["hits"]]
    assert len(ids) == len(set(ids))  # one hit per article


async def test_show_similar_and_stats(news: Path) -> None:
    async with connected(fake_server(news)) as session:
        article = await answer(session, "show_article", id="opec-1")
        similar = await answer(session, "similar_articles", id="opec-1", k=10)
        stats = await answer(session, "index_stats")
    assert article["title"] == "OPEC holds output ceiling"
    assert (article["published"], article["source"]) == ("1987-03-01", "Reuters")
    assert article["paragraphs"] == STORY.split("\n\n")
    assert article["fields"] == {"topics": ["crude"]}
    assert article["duplicates"] == ["news/opec-2"]  # COLLECTION/ID: names it always
    ids = [hit["article_id"] for hit in similar["hits"]]
    assert sorted(ids) == ["grain", "refinery", "yen"]  # every other article, not its copy
    assert [hit["score"] for hit in similar["hits"]] == sorted(
        (hit["score"] for hit in similar["hits"]), reverse=True
    )
    assert (stats["articles"], stats["duplicate_groups"], stats["articles_in_groups"]) == (5, 1, 2)
    assert stats["model"] == "fake-hash" and stats["passages"] >= 5
    assert stats["collections"] == [{"value": "news", "articles": 5}]  # what it may filter on
    outlets = Counter(record["source"] for record in RECORDS)
    assert {c["value"]: c["articles"] for c in stats["outlets"]} == outlets
    assert stats["first_published"] and stats["last_published"]
    assert stats["fields"]["topics"]


async def test_errors_are_tool_errors_and_the_server_goes_on(news: Path) -> None:
    async with connected(fake_server(news)) as session:
        bad_day = await failure(session, "search", query="oil", since="1987-13-45")
        unknown_field = await failure(session, "search", query="oil", where=["colour=red"])
        not_a_clause = await failure(session, "search", query="oil", where=["crude"])
        bad_mode = await failure(session, "search", query="oil", mode="fuzzy")
        no_hits = await failure(session, "search", query="oil", k=0)
        empty = await failure(session, "search", query="   ")
        unknown_id = await failure(session, "show_article", id="nope")
        unknown_similar = await failure(session, "similar_articles", id="nope")
        similar_k = await failure(session, "similar_articles", id="opec-1", k=0)
        no_query = await session.call_tool("search", {})
        still = await answer(session, "search", query="wheat harvest", k=1)
    assert "'1987-13-45' is not a date — use YYYY-MM-DD" in bad_day
    assert unknown_field.startswith("unknown field 'colour' — fields in this index: ")
    assert "topics" in unknown_field
    assert "is not FIELD=VALUE" in not_a_clause
    assert bad_mode == "mode must be one of hybrid, dense, lexical, not 'fuzzy'"
    assert no_hits == similar_k == "k must be a whole number from 1 to 1,000, not 0"
    assert empty.startswith("the query is empty")
    assert unknown_id.startswith("no article with id 'nope'")
    assert unknown_similar == unknown_id
    assert no_query.is_error and "query" in _text(no_query)  # the input schema's check
    assert still["hits"][0]["article_id"] == "grain"


async def test_a_server_on_a_missing_index_says_so_then_answers_once_it_exists(
    tmp_path: Path,
) -> None:
    index = tmp_path / "index"
    async with connected(fake_server(index)) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        missing = [
            await failure(session, "index_stats"),
            await failure(session, "search", query="oil"),
            await failure(session, "timeline", query="oil"),
            await failure(session, "show_article", id="opec-1"),
            await failure(session, "similar_articles", id="opec-1"),
        ]
        folder = write_articles(tmp_path / "news", {"one.jsonl": json.dumps(RECORDS[3]) + "\n"})
        with Index.open_or_create(index, model=FakeEmbedder()) as ix:
            ix.update([folder])
        stats = await answer(session, "index_stats")
    assert tools == TOOLS
    for line in missing:
        assert line.startswith(f"no index at {index}"), line
    assert stats["articles"] == 1


def test_stdout_carries_only_protocol_and_the_server_ends_with_stdin(news: Path) -> None:
    """Raw JSON-RPC lines in and out, with no SDK between: every line the server writes is
    a message, errors included, and closing stdin ends it cleanly."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(news)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung server fails the test, not the run
    watchdog.start()

    def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        process.stdin.flush()

    def ask(number: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert process.stdout is not None
        send({"id": number, "method": method, "params": params})
        reply = json.loads(process.stdout.readline())
        assert reply["id"] == number, reply
        return reply

    def call(number: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return ask(number, "tools/call", {"name": tool, "arguments": arguments})["result"]

    try:
        info = {"name": "raw-test", "version": "0"}
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info}
        started = ask(1, "initialize", params)["result"]
        send({"method": "notifications/initialized"})
        bad_day = call(2, "search", {"query": "oil", "since": "nonsense"})
        article = call(3, "show_article", {"id": "yen"})
        unknown = call(4, "no_such_tool", {})
        rest, errors = process.communicate(timeout=30)  # closes stdin
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert rest == ""
    assert started["serverInfo"]["name"] == "newssearch"
    assert bad_day["isError"] is True and "is not a date" in bad_day["content"][0]["text"]
    assert article["structuredContent"]["title"] == "Bank of Japan buys dollars"
    assert unknown["isError"] is True
    assert "Traceback" not in errors


async def test_arguments_are_taken_strictly_and_refused_in_one_line(news: Path) -> None:
    """JSON's types as they are: the SDK alone would take `true` for 1 and "yes" for true,
    and answer a wrong type with a multi-line validation report."""
    async with connected(fake_server(news)) as session:
        k_true = await failure(session, "search", query="oil", k=True)
        all_yes = await failure(session, "search", query="oil", all="yes")
        k_text = await failure(session, "search", query="oil", k="5")
        k_float = await failure(session, "similar_articles", id="opec-1", k=2.0)
        list_as_text = await failure(session, "search", query="oil", sources='["Reuters"]')
        not_strings = await failure(session, "search", query="oil", where=["topics=crude", 5])
        id_number = await failure(session, "show_article", id=5)
        unknown = await failure(session, "search", query="oil", limit=5)
        missing = await failure(session, "show_article")
        two = await failure(session, "search", query=["oil"], by=1)
        still = await answer(session, "search", query="wheat harvest", k=1, all=False)
    assert k_true == "k must be a whole number, not true"
    assert all_yes == 'all must be true or false, not "yes"'
    assert k_text == 'k must be a whole number, not "5"'
    assert k_float == "k must be a whole number, not 2.0"
    assert list_as_text == 'sources must be a list of strings or null, not "[\\"Reuters\\"]"'
    assert not_strings == 'where must be a list of strings or null, not ["topics=crude", 5]'
    assert id_number == "id must be a string, not 5"
    assert unknown == (
        "unknown argument 'limit' — search takes query, k, mode, since, until, sources, "
        "where, by, all, collections, sort, offset, facets"
    )
    assert missing == "id is required"
    assert two == 'query must be a string, not ["oil"]; by must be a string, not 1'
    assert still["hits"][0]["article_id"] == "grain"


async def test_search_sorts_pages_and_counts_and_timeline_counts(news: Path) -> None:
    """The research options through the SDK's client: RECORDS' articles on crude (opec-2
    folds into opec-1) by date, a page at a time, counted by field and by month."""
    async with connected(fake_server(news)) as session:
        first = await answer(session, "search", query="topics:crude", sort="oldest", k=1)
        rest = await answer(
            session, "search", query="topics:crude", sort="oldest", k=5, offset=1, facets=True
        )
        months = await answer(session, "timeline", query="topics:crude", every="month", all=True)
        broken = await failure(session, "timeline", query='"crude')
        many = await failure(session, "search", query=" OR ".join(["oil"] * 10_000))
        unknown = await failure(session, "search", query="colour:red")
    assert [hit["article_id"] for hit in first["hits"] + rest["hits"]] == ["opec-1", "refinery"]
    assert first["next_offset"] == 1 and rest["next_offset"] is None
    assert rest["facets"]["matched"] == 2
    assert rest["facets"]["fields"]["topics"] == [{"value": "crude", "articles": 2}]
    assert "facets" not in first
    counted = [(p["start"], p["count"], p["total_count"]) for p in months["periods"]]
    assert counted == [
        ("1987-03-01", 2, 3),  # opec-1 and its copy opec-2 (all=True), yen
        ("1987-04-01", 1, 1),  # refinery
        ("1987-05-01", 0, 0),
        ("1987-06-01", 0, 0),
        ("1987-07-01", 0, 1),  # grain
    ]
    assert (months["matched"], months["total"], months["undated"]) == (3, 5, 0)
    assert broken.startswith("the query breaks at character 1: this quote is never closed")
    assert many == "the query is 69,996 characters long; the limit is 2,000"
    assert unknown.startswith("unknown field 'colour' in the query")


async def test_tool_errors_speak_of_the_tools_not_of_cli_commands(news: Path) -> None:
    async with connected(fake_server(news)) as session:
        unknown = await failure(session, "show_article", id="nope")
        unknown_similar = await failure(session, "similar_articles", id="nope")
        empty_id = await failure(session, "show_article", id="")
        blank_source = await failure(session, "search", query="oil", sources=[" "])
    ids = "ids are the article_id of search's hits"
    assert unknown == unknown_similar == f"no article with id 'nope' in {news} — {ids}"
    assert empty_id == f"id must be an article id, a non-empty text — {ids}"
    assert blank_source == "sources takes an outlet's name, as a hit's source gives it"
    for line in (unknown, empty_id, blank_source):
        assert "newssearch" not in line and "`" not in line and "--" not in line, line


async def test_an_agent_watches_a_story_with_an_alert(tmp_path: Path) -> None:
    """Saved, listed, run after each commit (made by another process meanwhile: only
    what it brought, once), and removed, through the SDK's client."""
    folder = tmp_path / "news"
    write_articles(folder, {"first.jsonl": "".join(json.dumps(r) + "\n" for r in RECORDS[:3])})
    index = tmp_path / "index"
    with Index.open_or_create(index, model=FakeEmbedder()) as ix:
        ix.update([folder])
    async with connected(fake_server(index)) as session:
        saved = await answer(session, "alert_add", name="crude", query="*", where=["topics=crude"])
        assert (saved["name"], saved["where"], saved["last_run"]) == (
            "crude",
            ["topics=crude"],
            None,
        )
        assert (await answer(session, "alert_run", name="crude"))["matches"] == []
        later = [*RECORDS[3:], {**RECORDS[2], "id": "refinery-2", "text": RECORDS[2]["text"][::-1]}]
        write_articles(folder, {"later.jsonl": "".join(json.dumps(r) + "\n" for r in later)})
        with Index.open(index, model=FakeEmbedder()) as ix:  # a commit, by another writer
            ix.update([folder])
            generation = ix.stats().generation
        ran = await answer(session, "alert_run", name="crude")
        assert [m["article_id"] for m in ran["matches"]] == ["refinery-2"]
        assert ran["generation"] == generation and ran["after"] == saved["generation"]
        assert (await answer(session, "alert_run", name="crude"))["matches"] == []
        (listed,) = (await answer(session, "alert_list"))["alerts"]
        assert listed["generation"] == generation and listed["last_run"] is not None
        taken = await failure(session, "alert_add", name="crude", query="oil")
        bad_name = await failure(session, "alert_add", name="crude oil", query="oil")
        bad_query = await failure(session, "alert_add", name="x", query='"oil')
        assert await answer(session, "alert_remove", name="crude") == {"removed": "crude"}
        unknown = await failure(session, "alert_run", name="crude")
        assert (await answer(session, "alert_list")) == {"alerts": []}
    assert taken.startswith("an alert named 'crude' is saved in ")
    assert bad_name.startswith("'crude oil' is no alert name")
    assert bad_query.startswith("the query breaks at character 1")
    assert unknown == f"no alert named 'crude' in {index} — it has none saved"


class RawServer:
    """A server process spoken to in raw lines of bytes, with no SDK between. Each reply is
    waited for with a timeout, so a reply that never comes fails the test, not hangs it."""

    def __init__(self, index: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def reply(self, timeout: float = 30) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply in {timeout} s") from None
        return json.loads(line)

    def ask(self, number: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
        self.send(json.dumps(message).encode())
        return self.reply()

    def close(self) -> tuple[int, list[bytes], bytes]:
        """Close stdin; the exit code, any lines still unread, and stderr."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        errors = self.process.stderr.read()
        threading.Event().wait(0.2)  # the reader thread's last lines, if any
        return code, list(self._lines.queue), errors


@contextlib.contextmanager
def raw_server(index: Path) -> Iterator[RawServer]:
    server = RawServer(index)
    try:
        info = {"name": "raw-test", "version": "0"}
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info}
        assert server.ask(1, "initialize", params)["result"]["serverInfo"]["name"] == "newssearch"
        server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


LONE_SURROGATE_QUERY = (
    b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", '
    b'"params": {"name": "search", "arguments": {"query": "oil \\ud800"}}}'
)
# (line, the id its error answers, the JSON-RPC error code)
NOT_REQUESTS = [
    (b"not json", None, -32700),
    (b'{"jsonrpc": "2.0", "id": 2, "method": "ping"', None, -32700),  # cut short
    (b'\xff\xfe{"jsonrpc": "2.0", "id": 2, "method": "ping"}', None, -32700),  # not UTF-8
    (b"[" * 100_000, None, -32700),  # nested past any parser's depth
    (b"{}", None, -32600),
    (b"[]", None, -32600),
    (b'[{"jsonrpc": "2.0", "id": 2, "method": "ping"}]', None, -32600),  # a batch
    (b"42", None, -32600),
    (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', None, -32600),  # not an id
    (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": "\\udfff", "method": "ping"}', None, -32600),
    (b'{"jsonrpc": "1.0", "id": 3, "method": "ping"}', 3, -32600),
    (b'{"jsonrpc": "2.0", "id": 3, "method": "ping", "params": 7}', 3, -32600),
    (LONE_SURROGATE_QUERY, 4, -32602),
    (b'{"jsonrpc": "2.0", "id": "five", "method": "\\ud800"}', "five", -32600),
]


def test_a_line_that_is_no_request_gets_one_error_reply(news: Path) -> None:
    with raw_server(news) as server:
        refused = []
        for line, _, _ in NOT_REQUESTS:
            server.send(line)
            refused.append(server.reply())
        # What needs no reply gets none: a blank line, and a response to no request of ours.
        server.send(b"")
        server.send(b'{"jsonrpc": "2.0", "id": 77, "result": {}}')
        server.send(b'{"id": 78, "result": {}}')
        assert server.ask(9, "ping", {}) == {"jsonrpc": "2.0", "id": 9, "result": {}}
        arguments = {"query": "wheat harvest", "k": 1}
        found = server.ask(10, "tools/call", {"name": "search", "arguments": arguments})
        code_at_exit, unread, errors = server.close()
    for (line, ident, code), reply in zip(NOT_REQUESTS, refused, strict=True):
        assert reply["jsonrpc"] == "2.0" and "result" not in reply, line[:80]
        assert (reply["id"], reply["error"]["code"]) == (ident, code), (line[:80], reply)
        assert "\n" not in reply["error"]["message"]
    assert found["result"]["structuredContent"]["hits"][0]["article_id"] == "grain"
    assert (code_at_exit, unread) == (0, []), errors  # exactly one reply to each request
    assert b"Traceback" not in errors


def test_a_pair_of_surrogates_is_one_character_and_is_answered(news: Path) -> None:
    """Only a lone surrogate is refused: JSON spells a character beyond the BMP as a pair."""
    with raw_server(news) as server:
        arguments = {"query": "wheat harvest \U0001f33e", "k": 1, "mode": "lexical"}
        line = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                           "params": {"name": "search", "arguments": arguments}})  # fmt: skip
        assert "\\ud83c\\udf3e" in line  # json.dumps escapes it as a pair
        server.send(line.encode())
        found = server.reply()
        server.close()
    assert found["result"]["structuredContent"]["hits"][0]["article_id"] == "grain"


@pytest.mark.slow
async def test_the_real_command_finds_the_seed_article(tmp_path: Path) -> None:
    seeds = need_shared("seeds")
    index = tmp_path / "index"
    with Index.open_or_create(index) as ix:
        ix.update([seeds])
    command = Path(sys.executable).with_name("newssearch")
    # PYTHONPATH: this checkout's code, not an installed copy (the client's environment is bare)
    checkout = {"PYTHONPATH": str(SCRIPT.parents[1])}
    server = StdioServerParameters(
        command=str(command), args=["mcp", "--index", str(index)], env=checkout
    )
    async with connected(server) as session:
        found = await answer(session, "search", query="Kataib Hezbollah", k=3)
        stats = await answer(session, "index_stats")
    first = found["hits"][0]
    assert first["article_id"] == "seeds/000_815593e774ae9b48.txt"
    assert first["text"].startswith("Kataib Hezbollah, or Brigades of the Party of God")
    assert stats["articles"] == 1 and stats["model"] != "fake-hash"
