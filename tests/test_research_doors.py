"""The research options at every door: ``--sort``, ``--offset`` and ``--facets`` on
``query``, the ``timeline`` and ``export`` commands, and the same through the HTTP API and
MCP (in-process here; through a real server and the SDK's client in test_server.py and
test_mcp.py). The timeline is held to counts done by hand over articles whose dates are
written below; hostile syntax is one line at each door."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

from search import Index
from search.serve.http import make_app
from search.serve.mcp_tools import make_server
from search.serve.service import Service

# Weeks start on Monday: 1987-03-02, 03-09, 03-16, 03-23 and 03-30 are Mondays.
RECORDS = [
    ("m1", "1987-03-02", "Reuters", ["copper"], "Copper miners strike",
     "Miners at the Chuquicamata copper mine walked out over pay on Monday."),
    ("m2", "1987-03-04", "Reuters", ["copper"], "Copper price climbs",
     "The copper price rose in London as the strike cut supplies of cathodes."),
    ("m3", "1987-03-10", "BBC News", ["copper"], 'Smelter, "the biggest", shuts',
     "A copper smelter in Zambia shut for repairs,\nits owners said."),
    ("m4", "1987-03-03", "BBC News", ["grain"], "Wheat harvest grows",
     "Farmers brought in a record wheat harvest and grain prices fell."),
    ("m5", "1987-03-11", "Reuters", ["coffee"], "Coffee talks stall",
     "Coffee producers failed to agree on export quotas in the talks."),
    ("m6", None, "Reuters", ["copper"], "Copper stocks",
     "Warehouse stocks of copper fell for a third week, traders said."),
    ("m7", "1987-04-01", "BBC News", ["coffee"], "Coffee frost",
     "Frost in Brazil damaged coffee trees ahead of the harvest season."),
    ("m8", "1987-04-02", "Reuters", ["copper"], "Copper output rises",
     "Chile raised its copper output as the mine strike ended on Thursday."),
]  # fmt: skip
COPPER = {"m1", "m2", "m3", "m6", "m8"}  # the articles that hold the word "copper"
QUERY = '"copper"'  # syntax: the set is every article holding it


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("research")
    lines = ""
    for key, day, outlet, topics, title, text in RECORDS:
        record: dict[str, Any] = {"id": key, "title": title, "text": text, "source": outlet}
        record |= {"topics": topics} | ({"date": day} if day else {})
        lines += json.dumps(record) + "\n"
    folder = write_articles(root / "news", {"wire.jsonl": lines})
    with Index.create(root / "index", model=FakeEmbedder()) as ix:
        ix.add(folder)
    return root / "index"


def periods(timeline: dict[str, Any]) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(start, outlet): (count, total_count) for the periods that hold any article."""
    found = {}
    for p in timeline["periods"]:
        expected = p["count"] / p["total_count"] if p["total_count"] else 0
        assert p["ratio"] == pytest.approx(expected, abs=1e-6)  # rounded to 6 places
        if p["total_count"]:
            found[p["start"], p["outlet"]] = (p["count"], p["total_count"])
    return found


# Counted by hand from RECORDS: m6 has no date, m4, m5 and m7 hold no "copper".
BY_WEEK = {("1987-03-02", None): (2, 3), ("1987-03-09", None): (1, 2), ("1987-03-30", None): (1, 2)}
BY_MONTH = {("1987-03-01", None): (3, 5), ("1987-04-01", None): (1, 2)}
BY_WEEK_AND_OUTLET = {
    ("1987-03-02", "Reuters"): (2, 2),
    ("1987-03-09", "Reuters"): (0, 1),
    ("1987-03-30", "Reuters"): (1, 1),
    ("1987-03-02", "BBC News"): (0, 1),
    ("1987-03-09", "BBC News"): (1, 1),
    ("1987-03-30", "BBC News"): (0, 1),
}
REUTERS_BY_WEEK = {
    ("1987-03-02", None): (2, 2),
    ("1987-03-09", None): (0, 1),
    ("1987-03-30", None): (1, 1),
}


def cli_json_lines(cli: Callable[..., Any], *args: object) -> list[dict[str, Any]]:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


# ---------------------------------------------------------------------------
# timeline


def test_the_timeline_counts_what_was_counted_by_hand(dated: Path, cli) -> None:
    [weekly] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--json")
    assert periods(weekly) == BY_WEEK
    assert (weekly["every"], weekly["split"]) == ("week", None)
    assert [p["start"] for p in weekly["periods"]] == [
        "1987-03-02", "1987-03-09", "1987-03-16", "1987-03-23", "1987-03-30"
    ]  # fmt: skip
    assert (weekly["matched"], weekly["total"], weekly["undated"]) == (4, 7, 1)
    [monthly] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--every", "month", "--json")
    assert periods(monthly) == BY_MONTH
    [daily] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--every", "day", "--json")
    assert sum(p["count"] for p in daily["periods"]) == 4 and len(daily["periods"]) == 32
    [split] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--split", "outlet", "--json")
    assert periods(split) == BY_WEEK_AND_OUTLET and split["split"] == "outlet"
    [reuters] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--source", "Reuters", "--json")
    assert periods(reuters) == REUTERS_BY_WEEK


def test_the_timeline_as_a_table_and_as_csv(dated: Path, cli) -> None:
    table = cli("timeline", QUERY, "-i", dated, "--every", "month")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["start", "count", "total_count", "ratio"]
    assert lines[1].split() == ["1987-03-01", "3", "5", "0.6000"]
    assert lines[2].split() == ["1987-04-01", "1", "2", "0.5000"]
    assert lines[3] == "4 of 7 dated articles match, by month; 1 matching article has no date"
    as_csv = cli("timeline", QUERY, "-i", dated, "--split", "outlet", "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == ["start", "count", "total_count", "ratio", "outlet"]
    counted = {(r["start"], r["outlet"]): (int(r["count"]), int(r["total_count"])) for r in rows}
    assert {key: n for key, n in counted.items() if n[1]} == BY_WEEK_AND_OUTLET
    both = cli("timeline", QUERY, "-i", dated, "--json", "--csv")
    assert one_line_error(both, 2) == "error: --json and --csv: choose one"


# ---------------------------------------------------------------------------
# query --sort, --offset, --facets; relevance


def test_sorted_by_date_the_whole_set_comes_one_hit_an_article(dated: Path, cli) -> None:
    newest = cli_json_lines(cli, "query", QUERY, "-i", dated, "--sort", "newest", "--json")
    assert [h["article_id"] for h in newest] == ["m8", "m3", "m2", "m1", "m6"]  # undated last
    oldest = cli_json_lines(cli, "query", QUERY, "-i", dated, "--sort", "oldest", "--json")
    assert [h["article_id"] for h in oldest] == ["m1", "m2", "m3", "m8", "m6"]
    page = cli_json_lines(
        cli, "query", QUERY, "-i", dated, "--sort", "newest", "-k", "2", "--offset", "2", "--json"
    )
    assert [(h["rank"], h["article_id"]) for h in page] == [(3, "m2"), (4, "m1")]
    beyond = cli("query", QUERY, "-i", dated, "--offset", "5")
    assert beyond.exit_code == 0 and beyond.stdout == ""
    assert beyond.stderr == "no more hits after the first 5\n"


def test_facets_count_the_matching_articles(dated: Path, cli) -> None:
    lines = cli_json_lines(cli, "query", QUERY, "-i", dated, "-k", "2", "--json", "--facets")
    hits, [last] = lines[:-1], lines[-1:]
    assert len(hits) == 2 and all("rank" in hit for hit in hits)
    facets = last["facets"]
    assert facets["matched"] == 5
    assert facets["outlets"] == [
        {"value": "Reuters", "articles": 4},
        {"value": "BBC News", "articles": 1},
    ]
    assert facets["collections"] == [{"value": "news", "articles": 5}]
    assert facets["fields"]["topics"] == [{"value": "copper", "articles": 5}]
    shown = cli("query", QUERY, "-i", dated, "-k", "1", "--facets")
    assert shown.exit_code == 0
    tables = shown.stdout.split("facets of 5 matching articles\n", 1)[1]
    assert "\noutlets\n  Reuters     4\n  BBC News    1\n" in tables.replace(" " * 6, "")
    assert "\ntopics\n" in tables


def test_hits_show_a_relevance_from_0_to_1_and_json_keeps_the_score(dated: Path, cli) -> None:
    [hit] = cli_json_lines(cli, "query", "copper strike", "-i", dated, "-k", "1", "--json")
    assert 0 < hit["relevance"] <= 1 and isinstance(hit["score"], float)
    shown = cli("query", "copper strike", "-i", dated, "-k", "1")
    assert shown.stdout.startswith(f" 1. {hit['relevance']:.2f}  {hit['title']}\n")
    [lexical] = cli_json_lines(
        cli, "query", "copper strike", "-i", dated, "-k", "1", "--mode", "lexical", "--json"
    )
    assert lexical["relevance"] is None
    shown = cli("query", "copper strike", "-i", dated, "-k", "1", "--mode", "lexical")
    assert shown.stdout.startswith(f" 1. {lexical['title']}\n")  # the rank alone


# ---------------------------------------------------------------------------
# export


def test_export_writes_every_matching_article_as_csv(dated: Path, cli) -> None:
    result = cli("export", QUERY, "-i", dated, "--sort", "oldest")
    assert result.exit_code == 0 and result.stderr == ""
    written = result.stdout_bytes.decode()  # .stdout would read "\r\n" as "\n"
    assert written.startswith(
        "article_id,collection,published,source,title,url,passage,passage_id,relevance\r\n"
    )
    rows = list(csv.DictReader(io.StringIO(written, newline="")))
    assert [row["article_id"] for row in rows] == ["m1", "m2", "m3", "m8", "m6"]
    by_id = {row["article_id"]: row for row in rows}
    assert by_id["m3"]["title"] == 'Smelter, "the biggest", shuts'  # quoted, and read back
    assert "\n" in by_id["m3"]["passage"] and "copper smelter" in by_id["m3"]["passage"]
    assert by_id["m6"]["published"] == "" and by_id["m1"]["published"].startswith("1987-03-02")
    assert by_id["m1"]["source"] == "Reuters" and by_id["m1"]["collection"] == "news"
    lines = cli_json_lines(cli, "export", QUERY, "-i", dated, "--format", "jsonl")
    assert {line["article_id"] for line in lines} == COPPER
    assert list(lines[0]) == list(rows[0])


def test_export_to_a_file_is_whole_or_not_at_all(dated: Path, cli, tmp_path: Path) -> None:
    target = tmp_path / "copper.csv"
    done = cli("export", QUERY, "-i", dated, "-o", target)
    assert done.exit_code == 0 and done.stdout == ""
    assert done.stderr == f"{target}: 5 articles\n"
    written = target.read_bytes()
    assert written == cli("export", QUERY, "-i", dated).stdout_bytes
    refused = cli("export", '"copper', "-i", dated, "-o", target)
    assert one_line_error(refused, 3).startswith("error: the query breaks at character 1")
    unknown = cli("export", "colour:red", "-i", dated, "-o", target)
    assert "unknown field 'colour'" in one_line_error(unknown, 3)
    assert target.read_bytes() == written  # the old file as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copper.csv"]  # no leftovers
    nowhere = cli("export", QUERY, "-i", dated, "-o", tmp_path / "no" / "such.csv")
    assert one_line_error(nowhere, 2).startswith(f"error: cannot write {tmp_path / 'no'}")


# ---------------------------------------------------------------------------
# Hostile syntax: one line at each door, never a traceback or a 500

TEN_THOUSAND_ORS = " OR ".join(["x"] * 10_001)  # short enough for httpx's URL: 50,001 characters
HOSTILE = [
    ('"copper strike', "the query breaks at character 1: this quote is never closed"),
    ("(copper OR tin", "the query breaks at character 1: this '(' is never closed"),
    ("colour:red", "unknown field 'colour' in the query"),
]


@pytest.mark.parametrize(("text", "said"), HOSTILE, ids=["quote", "parenthesis", "field"])
def test_hostile_syntax_is_one_line_on_the_command_line(
    dated: Path, cli, text: str, said: str
) -> None:
    for command in (["query"], ["query", "--facets"], ["timeline"], ["export"]):
        result = cli(command[0], text, *command[1:], "-i", dated)
        assert one_line_error(result, 3).startswith(f"error: {said}"), command
    many = cli("query", TEN_THOUSAND_ORS, "-i", dated)
    assert "more than 1,024 terms in one query" in one_line_error(many, 3)


@pytest.fixture(scope="module")
def client(dated: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    service = Service(dated, model=FakeEmbedder())
    with TestClient(make_app(service), base_url="http://127.0.0.1") as client:
        yield client
    service.close()


@pytest.mark.parametrize("path", ["/api/search", "/api/timeline", "/api/export"])
def test_hostile_syntax_is_a_400_over_http(client, path: str) -> None:
    for text, said in [*HOSTILE, (TEN_THOUSAND_ORS, "the query is 50,001 characters long")]:
        answer = client.get(
            path, params={"q": text, "facets": "true"} if "search" in path else {"q": text}
        )
        assert answer.status_code == 400, (path, text[:20], answer.text)
        body = answer.json()
        assert body["error"].startswith(said) and "\n" not in body["error"]
        assert body["exit_code"] == 3


# ---------------------------------------------------------------------------
# HTTP: the same answers as the CLI


def test_search_pages_through_the_set_with_next_offset(client, dated: Path, cli) -> None:
    everything = cli_json_lines(cli, "query", QUERY, "-i", dated, "--sort", "newest", "--json")
    seen, offset, pages = [], 0, 0
    while offset is not None:
        params = {"q": QUERY, "sort": "newest", "k": "2", "offset": str(offset)}
        answer = client.get("/api/search", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += body["hits"]
        offset, pages = body["next_offset"], pages + 1
    assert seen == everything and pages == 3
    # By relevance too: pages joined are one longer search's hits, and the last says so.
    whole = client.get("/api/search", params={"q": "copper mine strike", "k": "6"}).json()
    first = client.get("/api/search", params={"q": "copper mine strike", "k": "3"}).json()
    second = client.get(
        "/api/search", params={"q": "copper mine strike", "k": "3", "offset": first["next_offset"]}
    ).json()
    assert first["hits"] + second["hits"] == whole["hits"] and first["next_offset"] == 3
    exact = client.get("/api/search", params={"q": QUERY, "sort": "oldest", "k": "5"}).json()
    assert len(exact["hits"]) == 5 and exact["next_offset"] is None  # no page after the last


def test_search_facets_timeline_and_export_answer_as_the_cli(client, dated: Path, cli) -> None:
    answer = client.get("/api/search", params={"q": QUERY, "k": "2", "facets": "true"}).json()
    *hits, last = cli_json_lines(cli, "query", QUERY, "-i", dated, "-k", "2", "--json", "--facets")
    assert answer["hits"] == hits and answer["facets"] == last["facets"]
    assert "facets" not in client.get("/api/search", params={"q": QUERY}).json()
    for params, flags in [
        ({}, []),
        ({"every": "month", "split": "outlet"}, ["--every", "month", "--split", "outlet"]),
        ({"source": "BBC News", "every": "day"}, ["--source", "BBC News", "--every", "day"]),
    ]:
        answer = client.get("/api/timeline", params={"q": QUERY, **params})
        assert answer.status_code == 200, answer.text
        [expected] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, *flags, "--json")
        assert answer.json() == expected, params
    for form, media in [("csv", "text/csv; charset=utf-8"), ("jsonl", "application/x-ndjson")]:
        answer = client.get("/api/export", params={"q": QUERY, "format": form, "sort": "newest"})
        assert answer.status_code == 200 and answer.headers["content-type"] == media
        disposition = f'attachment; filename="newssearch.{form}"'
        assert answer.headers["content-disposition"] == disposition
        written = cli("export", QUERY, "-i", dated, "--format", form, "--sort", "newest")
        assert answer.content == written.stdout_bytes
    empty = client.get("/api/export", params={"q": '"no such words"', "format": "jsonl"})
    assert empty.status_code == 200 and empty.text == ""


def test_a_bad_timeline_or_export_parameter_is_a_400(client) -> None:
    for path, params, said in [
        ("/api/timeline", {"every": "year"}, "every must be one of day, week, month, not 'year'"),
        ("/api/timeline", {"split": "topic"}, "split must be one of outlet, not 'topic'"),
        ("/api/export", {"format": "xlsx"}, "format must be one of csv, jsonl, not 'xlsx'"),
        ("/api/export", {"sort": "best"}, "sort must be one of relevance, newest, oldest"),
        ("/api/search", {"offset": "-1"}, "offset must be a whole number from 0 to 100,000"),
        ("/api/search", {"facets": "maybe"}, "facets must be true or false, not 'maybe'"),
    ]:
        answer = client.get(path, params={"q": QUERY, **params})
        assert answer.status_code == 400 and answer.json()["error"].startswith(said), answer.text


def test_an_unknown_parameter_is_a_400_that_names_it(client) -> None:
    for path in [
        "/api/search?q=copper",
        "/api/timeline?q=copper",
        "/api/export?q=copper",
        "/api/articles/m1",
        "/api/articles/m1/similar",
        "/api/stats",
        "/api/health",
    ]:
        answer = client.get(path + ("&" if "?" in path else "?") + "limit=5")
        assert answer.status_code == 400, (path, answer.text)
        said = answer.json()["error"]
        assert said.startswith("unknown parameter 'limit' — /api/"), said
    said = client.get("/api/search?q=copper&sourc=Reuters").json()["error"]
    assert said == (
        "unknown parameter 'sourc' — /api/search takes q, k, mode, since, until, source, "
        "collection, where, by, all, sort, offset, facets"
    )
    assert client.get("/api/stats?x=").json()["error"].endswith("/api/stats takes no parameters")


# ---------------------------------------------------------------------------
# MCP, in-process (through the SDK's client: test_mcp.py)


def call(server: Any, tool: str, **arguments: Any) -> Any:
    return anyio.run(server.call_tool, tool, arguments)


def test_mcp_search_sorts_pages_and_counts(dated: Path, cli) -> None:
    service = Service(dated, model=FakeEmbedder())
    server = make_server(service)
    page = call(server, "search", query=QUERY, sort="newest", k=2, offset=2, facets=True)
    assert not page.is_error, page.content
    answer = page.structured_content
    assert [hit["article_id"] for hit in answer["hits"]] == ["m2", "m1"]
    assert answer["next_offset"] == 4 and answer["facets"]["matched"] == 5
    timeline = call(server, "timeline", query=QUERY, every="month")
    [expected] = cli_json_lines(cli, "timeline", QUERY, "-i", dated, "--every", "month", "--json")
    assert json.loads(timeline.content[0].text) == expected  # as the agent reads it
    assert periods(expected) == BY_MONTH
    split = call(server, "timeline", query=QUERY, split="outlet", sources=["Reuters"])
    assert periods(json.loads(split.content[0].text)) == {
        key: counts for key, counts in BY_WEEK_AND_OUTLET.items() if key[1] == "Reuters"
    }
    for tool, arguments, said in [
        ("search", {"offset": "2"}, 'offset must be a whole number, not "2"'),
        ("search", {"facets": "yes"}, 'facets must be true or false, not "yes"'),
        ("search", {"sort": "best"}, "sort must be one of relevance, newest, oldest, not 'best'"),
        ("timeline", {"every": "year"}, "every must be one of day, week, month, not 'year'"),
        ("timeline", {"split": 1}, "split must be a string or null, not 1"),
        ("timeline", {"k": 5}, "unknown argument 'k' — timeline takes query, every, split"),
        *(("search", {"query": text}, said) for text, said in HOSTILE),
        *(("timeline", {"query": text}, said) for text, said in HOSTILE),
    ]:
        result = call(server, tool, **{"query": QUERY, **arguments})
        assert result.is_error, (tool, arguments)
        text = result.content[0].text
        assert text.startswith(said) and "\n" not in text, text
    service.close()


def test_an_export_stream_stops_its_thread_when_the_client_goes() -> None:
    """The pieces are made in one thread of the pool, all of them (an index's read
    transaction is its thread's), and a client that stops reading lets that thread go:
    the generator is closed there, and the pool serves the next export."""
    from concurrent.futures import ThreadPoolExecutor

    from search.serve.http import _Stream

    made_in, closed_in, closed = set(), [], threading.Event()

    def endless() -> Iterator[str]:
        try:
            while True:
                made_in.add(threading.get_ident())
                yield "row\n"
        finally:
            closed_in.append(threading.get_ident())
            closed.set()

    async def read_two_and_go(pool: ThreadPoolExecutor) -> list[bytes]:
        stream = _Stream(endless(), pool)
        rest = stream.rest(await stream.next())
        got = [await rest.__anext__(), await rest.__anext__()]
        await rest.aclose()  # as Starlette does when the client disconnects
        return got

    with ThreadPoolExecutor(1) as pool:
        assert anyio.run(read_two_and_go, pool) == [b"row\n", b"row\n"]
        assert closed.wait(30), "the thread went on making pieces"
        assert len(made_in) == 1 and closed_in == list(made_in)
        assert pool.submit(lambda: "free").result(timeout=30) == "free"


def test_a_closing_quote_that_opened_nothing_is_read_as_a_word(dated: Path, cli, client) -> None:
    """``»`` and ``”`` alone once sent the parser round for ever, its memory growing, with
    the HTTP server's event loop stuck in it (schemathesis found it, in a /api/timeline q)."""
    for text in ["»", "copper ”mine"]:
        assert cli("query", text, "-i", dated, "--mode", "lexical").exit_code == 0
        assert client.get("/api/timeline", params={"q": text}).status_code == 200
    found = cli("query", "Ö(»E", "-i", dated)
    assert one_line_error(found, 3).startswith("error: the query breaks at character 2")
    assert client.get("/api/search", params={"q": "»copper«"}).status_code == 400  # « opens


def test_archive_text_a_spreadsheet_would_run_is_exported_as_text(tmp_path: Path, cli) -> None:
    """An archive holds anyone's text: a title, passage or outlet that a spreadsheet would
    run as a formula is written to CSV behind an apostrophe (timeline CSV too); JSON lines
    keep it as stored."""
    hostile = {
        "id": "x1",
        "date": "1987-03-02",
        "source": "@Wire",
        "title": '=HYPERLINK("http://example.invalid","copper")',
        "text": "-3 pct, the copper price fell as the mine strike went on.",
    }
    plain = {"id": "x2", "date": "1987-03-03", "source": "Reuters", "title": "Copper",
             "text": "The copper price rose a third time this week, traders said."}  # fmt: skip
    folder = write_articles(
        tmp_path / "news", {"wire.jsonl": "".join(json.dumps(r) + "\n" for r in [hostile, plain])}
    )
    with Index.create(tmp_path / "index", model=FakeEmbedder()) as ix:
        ix.add(folder)
    index = tmp_path / "index"
    result = cli("export", QUERY, "-i", index, "--sort", "oldest")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout_bytes.decode(), newline="")))
    assert [row["article_id"] for row in rows] == ["x1", "x2"]
    assert rows[0]["title"] == "'" + hostile["title"]
    assert rows[0]["passage"] == "'" + hostile["text"] and rows[0]["source"] == "'@Wire"
    assert rows[1]["title"] == "Copper" and rows[1]["source"] == "Reuters"  # untouched
    lines = cli_json_lines(
        cli, "export", QUERY, "-i", index, "--format", "jsonl", "--sort", "oldest"
    )
    assert lines[0]["title"] == hostile["title"] and lines[0]["source"] == "@Wire"
    timeline = cli("timeline", QUERY, "-i", index, "--csv", "--split", "outlet")
    assert timeline.exit_code == 0, timeline.stderr
    outlets = {r["outlet"] for r in csv.DictReader(io.StringIO(timeline.stdout))}
    assert outlets == {"'@Wire", "Reuters"}
