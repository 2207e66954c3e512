"""One query contract: the same bad input is refused the same way at every door.

Each door (``Index.search``, the CLI, its fast path, the HTTP API and MCP) builds the same
``SearchRequest``; what differs is only the name the door gives a parameter (``--since`` on
the command line, ``since`` in a URL) and a served door's limits. Every door is driven here
in-process, with the fake embedder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

from search import Index, InputError, QueryError
from search.cli import fastpath
from search.query import contract
from search.query.contract import CLI, FAST_PATH, HTTP, MCP, PYTHON, Door, Hit, SearchRequest
from search.serve.http import make_app
from search.serve.mcp_tools import make_server
from search.serve.service import Service

# (case, the request's parameters, the message with {name} for the door's own name)
BAD = [
    ("empty", {"text": "   "}, None, "the query is empty — give some words to search for"),
    ("k zero", {"k": 0}, "k", "{name} must be a whole number from 1 to {limit}, not 0"),
    ("k huge", {"k": 5000}, "k", "{name} must be a whole number from 1 to {limit}, not 5000"),
    (  # as the user gave it, not as a number it was turned into
        "k ten digits",
        {"k": 1_000_000_000},
        "k",
        "{name} must be a whole number from 1 to {limit}, not 1000000000",
    ),
    (
        "since",
        {"since": "yesterday"},
        "since",
        "{name} 'yesterday' is not a date — use YYYY-MM-DD, YYYY-MM or YYYY",
    ),
    (
        "until",
        {"until": "1987-13"},
        "until",
        "{name} '1987-13' is not a date — use YYYY-MM-DD, YYYY-MM or YYYY",
    ),
    (
        "where",
        {"where": ["topics"]},
        "where",
        "{name} 'topics' is not FIELD=VALUE (e.g. topics=crude)",
    ),
    (
        "mode",
        {"mode": "fuzzy"},
        "mode",
        "{name} must be one of hybrid, dense, lexical, not 'fuzzy'",
    ),
    ("by", {"by": "word"}, "by", "{name} must be one of passage, article, not 'word'"),
]


def expected(door: Door, parameter: str | None, message: str, given: dict[str, Any]) -> str:
    if parameter is None:
        return message
    name = getattr(door, parameter)
    return message.format(name=name, limit=f"{door.max_k:,}")


@pytest.fixture
def news(tmp_path: Path, fake_models: dict) -> Iterator[Path]:
    folder = write_articles(
        tmp_path / "news",
        {
            "oil.txt": "OPEC holds output\n\nMinisters agreed to hold the oil output ceiling.",
            "grain.txt": "Wheat harvest\n\nFarmers brought in a record wheat harvest.",
        },
    )
    with Index.create(tmp_path / "index", model=FakeEmbedder()) as ix:
        ix.add(folder)
    yield tmp_path / "index"


def python_door(index: Path) -> Callable[[dict[str, Any]], str]:
    def ask(given: dict[str, Any]) -> str:
        options = {key: value for key, value in given.items() if key != "text"}
        with Index.open(index) as ix, pytest.raises(QueryError) as refused:
            ix.search(given.get("text", "oil"), **options)
        return str(refused.value)

    return ask


def cli_door(cli: Callable[..., Any], index: Path) -> Callable[[dict[str, Any]], str]:
    flags = {"k": "--top", "mode": "--mode", "by": "--by", "since": "--since", "until": "--until"}
    repeated = {"where": "--where", "sources": "--source"}

    def ask(given: dict[str, Any]) -> str:
        args: list[Any] = ["query", given.get("text", "oil"), "--index", index]
        for key, value in given.items():
            if key in flags:
                args += [flags[key], value]
            elif key in repeated:
                args += [arg for v in value for arg in (repeated[key], v)]
        result = cli(*args)
        assert result.exit_code != 0
        if result.exit_code == 2:  # typer refuses a choice before any code of ours runs
            return "typer: " + result.stderr
        return result.stderr.strip().removeprefix("error: ")

    return ask


def http_door(index: Path) -> Callable[[dict[str, Any]], str]:
    from fastapi.testclient import TestClient

    service = Service(index)
    client = TestClient(make_app(service), base_url="http://127.0.0.1")

    def ask(given: dict[str, Any]) -> str:
        params: dict[str, Any] = {"q": given.get("text", "oil")}
        params.update({key: value for key, value in given.items() if key != "text"})
        answer = client.get("/api/search", params=params)
        assert answer.status_code == 400, answer.text
        return str(answer.json()["error"])

    return ask


def mcp_door(index: Path) -> Callable[[dict[str, Any]], str]:
    server = make_server(Service(index))

    def ask(given: dict[str, Any]) -> str:
        arguments = {"query": given.get("text", "oil")}
        arguments.update({key: value for key, value in given.items() if key != "text"})

        async def call() -> Any:
            return await server.call_tool("search", arguments)

        result = anyio.run(call)
        assert result.is_error
        return str(result.content[0].text)

    return ask


@pytest.mark.parametrize(("case", "given", "parameter", "message"), BAD, ids=[b[0] for b in BAD])
def test_every_door_refuses_bad_input_in_the_same_words(
    case: str,
    given: dict[str, Any],
    parameter: str | None,
    message: str,
    news: Path,
    cli: Callable[..., Any],
) -> None:
    doors = {
        "python": (PYTHON, python_door(news)),
        "cli": (CLI, cli_door(cli, news)),
        "http": (HTTP, http_door(news)),
        "mcp": (MCP, mcp_door(news)),
    }
    for name, (door, ask) in doors.items():
        if parameter == "k" and given["k"] <= door.max_k:
            continue  # within this door's limit: nothing to refuse
        said = ask(given)
        if said.startswith("typer: "):  # the CLI's own choices: typer names the value
            assert name == "cli" and parameter in ("mode", "by"), said
            assert repr(given[parameter]) in said or given[parameter] in said
            continue
        assert said == expected(door, parameter, message, given), name


@pytest.mark.parametrize(("case", "given", "parameter", "message"), BAD, ids=[b[0] for b in BAD])
def test_the_fast_path_leaves_refused_queries_to_the_cli(
    case: str, given: dict[str, Any], parameter: str | None, message: str
) -> None:
    """What the contract refuses with a server's limits runs in the CLI, which says why in
    its own words: the fast path never prints a server's message for it."""
    options = {"top" if key == "k" else key: value for key, value in given.items()}
    options = {k: (v if isinstance(v, list) else str(v)) for k, v in options.items()}
    assert not fastpath._usable(options, given.get("text", "oil"))


# Text that is not UTF-8: bytes on a command line ($'\xff' arrives as "\udcff"), or a lone
# surrogate in JSON ("\ud800"). A URL cannot carry either: it is UTF-8, percent-encoded.
NOT_TEXT = [
    ("query", {"text": "oil \udcff"}, "the query"),
    ("since", {"since": "\udcff"}, "since"),
    ("until", {"until": "1987\ud800"}, "until"),
    ("sources", {"sources": ["Reuters\udcff"]}, "sources"),
    ("where", {"where": ["topics=\udcff"]}, "where"),
]


@pytest.mark.parametrize(("case", "given", "parameter"), NOT_TEXT, ids=[n[0] for n in NOT_TEXT])
def test_every_door_refuses_text_that_is_not_utf8_in_the_same_words(
    case: str, given: dict[str, Any], parameter: str, news: Path, cli: Callable[..., Any]
) -> None:
    doors = {
        "python": (PYTHON, python_door(news)),
        "cli": (CLI, cli_door(cli, news)),
        "mcp": (MCP, mcp_door(news)),
    }
    for name, (door, ask) in doors.items():
        named = getattr(door, parameter, parameter)
        message = f"{named} is not valid text (invalid UTF-8, or a lone surrogate) — retype it"
        assert ask(given) == message, name
    # The fast path leaves it to the CLI, which says so: it never reaches a server.
    options = {"top" if key == "k" else key: value for key, value in given.items()}
    options["source"] = options.pop("sources", [])
    assert not fastpath._usable(options, given.get("text", "oil"))


def test_every_door_refuses_an_id_that_is_not_utf8(news: Path, cli: Callable[..., Any]) -> None:
    said = "is not valid text (invalid UTF-8, or a lone surrogate) — retype it"
    with Index.open(news) as ix:
        for call in (ix.article, ix.similar, ix.remove):
            with pytest.raises(InputError) as refused:
                call("oil.txt\udcff")  # type: ignore[operator]
            assert str(refused.value) == f"article_id {said}"
    for command in ("show", "similar", "remove"):
        result = cli(command, "news/oil.txt\udcff", "--index", news)
        assert one_line_error(result, 2) == f"error: ID {said}", command
    service = Service(news)
    with pytest.raises(InputError) as refused:
        service.article("\udcff")
    assert str(refused.value) == f"article_id {said}"
    server = make_server(service)
    for tool in ("show_article", "similar_articles"):
        result = anyio.run(server.call_tool, tool, {"id": "news/oil.txt\ud800"})
        assert result.is_error and result.content[0].text == f"id {said}", tool
    service.close()


def test_mcp_takes_json_types_as_they_are_and_http_takes_a_urls_text() -> None:
    for loose in ({"k": "5"}, {"k": True}, {"every_copy": "yes"}, {"every_copy": 1}):
        with pytest.raises(QueryError):
            SearchRequest.make("oil", door=MCP, **loose)
    from_url = SearchRequest.make("oil", k="5", every_copy="yes", door=HTTP)
    assert (from_url.k, from_url.every_copy) == (5, True)
    assert contract.checked_k("0005", HTTP) == 5
    with pytest.raises(QueryError, match=r"not 1000000000000000000000$"):
        contract.checked_k("1" + "0" * 21, FAST_PATH)
    with pytest.raises(QueryError, match=r"not 9999999999.*\.\.\.$"):
        contract.checked_k("9" * 5000, HTTP)  # past Python's 4,300 digits: never parsed


def test_a_served_door_bounds_what_the_library_allows() -> None:
    assert SearchRequest.make("oil", k=5000).k == 5000
    with pytest.raises(QueryError, match="^k must be a whole number from 1 to 1,000, not 5000$"):
        SearchRequest.make("oil", k="5000", door=HTTP)
    with pytest.raises(QueryError, match="characters long"):
        SearchRequest.make("x" * (contract.MAX_QUERY_CHARS + 1), door=MCP)
    assert SearchRequest.make("x" * (contract.MAX_QUERY_CHARS + 1)).text  # in-process: no cap
    assert FAST_PATH.served and not CLI.served


def test_a_request_is_frozen_and_carries_its_checked_filter() -> None:
    request = SearchRequest.make("oil", since="1987-03", where={"topics": "Crude"})
    assert request.only is not None and request.only.where == (("topics", "crude"),)
    assert request.where == ("topics=Crude",) and request.since == "1987-03"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.k = 3  # type: ignore[misc]
    assert SearchRequest.make("oil").only is None


def test_the_fast_path_checks_hits_by_the_contracts_hit() -> None:
    names = {field.name for field in dataclasses.fields(Hit)}
    assert set(fastpath._HIT_FIELDS) <= names
    assert {"rank", "score", "article_id", "text", "duplicates"} <= set(fastpath._HIT_FIELDS)
