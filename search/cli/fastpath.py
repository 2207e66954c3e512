"""The CLI's fast path: ``newssearch query``, ``show`` and ``similar`` ask a server already
running on the same index instead of loading the model and the index themselves.

A server listens on a private Unix socket (``search.serve.local_socket``). The command
checks that the answer names the same index. Anything this module does not understand
exactly (an unusual option, a value outside the server's limits, a server that errs, is
gone or is stopped) falls back silently to the full CLI, so the output is the same with or
without a server.

This module imports only the lightest parts of the standard library (not even pathlib or
http.client, which cost more than the query): its cost is Python's start and one request.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

from search.errors import ArticleNotFoundError, InputError, QueryError
from search.query.contract import (
    FAST_PATH,
    HTTP,
    Hit,
    SearchRequest,
    checked_article_id,
    checked_k,
    unknown_article,
)
from search.serve.local_socket import CONNECT_SECONDS, find_server, index_header

ANSWER_SECONDS = 10.0  # a stopped (Ctrl-Z) server: give up and run it here
OFF = "NEWSSEARCH_NO_SERVER"  # set to run every command in-process
# Settings of this process that the server's would override: with one set, run it here.
_LOCAL_SETTINGS = ("NEWSSEARCH_PRECISION", "NEWSSEARCH_CACHE")

# Each command's options as the CLI spells them: those taking a value, and flags
_INDEX = {"-i": "index", "--index": "index"}
_TOP = {"-k": "top", "--top": "top"}
_VALUED = {
    **_INDEX,
    **_TOP,
    "--mode": "mode",
    "--by": "by",
    "--since": "since",
    "--until": "until",
    "--source": "source",
    "--where": "where",
    "--collection": "collection",
    "--sort": "sort",
    "--offset": "offset",
}
_LISTS = ("source", "where", "collection")  # options that repeat
_FLAGS = {"--all": "all", "--json": "json", "--facets": "facets"}
_ARTICLE_OPTIONS = {"show": _INDEX, "similar": {**_INDEX, **_TOP}}
_JSON = {"--json": "json"}

# What prints a server's answer (body, options, server, index) as the CLI would: its exit
# code, or None to run the command in the CLI instead
Printer = Callable[[dict[str, Any], dict[str, Any], str, str], int | None]


def main() -> None:
    """The ``newssearch`` command: ``query``, ``show`` and ``similar`` go to a running
    server when there is one; everything else, and these with no server, go to the CLI."""
    argv = sys.argv[1:]
    through = _THROUGH_SERVER.get(argv[0]) if argv else None
    if through is not None and not os.environ.get(OFF):
        code = through(argv[1:])
        if code is not None:
            sys.exit(code)
    from search.cli.commands import main as cli_main

    cli_main()


# ---------------------------------------------------------------------------
# The client's side: a command through the server


def query_through_server(args: list[str]) -> int | None:
    """Run ``newssearch query ARGS`` through a running server; its exit code, or None when
    the full CLI must run it instead."""
    options = parse_query_args(args)
    if options is None:
        return None
    params: list[tuple[str, str]] = [("q", options["text"]), ("k", options.get("top", "10"))]
    params += [
        (key, options[key])
        for key in ("mode", "by", "since", "until", "sort", "offset")
        if key in options
    ]
    params += [("source", value) for value in options.get("source", [])]
    params += [("where", value) for value in options.get("where", [])]
    params += [("collection", value) for value in options.get("collection", [])]
    params += [(flag, "true") for flag in ("all", "facets") if options.get(flag)]
    target = "/api/search?" + urllib.parse.urlencode(params)
    return _through(options, target, _print_search)


def show_through_server(args: list[str]) -> int | None:
    """Run ``newssearch show ARGS`` through a running server, as ``query_through_server``."""
    options = parse_article_args("show", args)
    if options is None or options["id"].endswith("/similar"):
        return None  # the API reads that address as ``similar``'s: the CLI shows it
    target = "/api/articles/" + urllib.parse.quote(options["id"], safe="")
    return _through(options, target, _print_article)


def similar_through_server(args: list[str]) -> int | None:
    """Run ``newssearch similar ARGS`` through a running server, as
    ``query_through_server``."""
    options = parse_article_args("similar", args)
    if options is None:
        return None
    article = urllib.parse.quote(options["id"], safe="")
    count = urllib.parse.urlencode({"k": options.get("top", "10")})
    target = f"/api/articles/{article}/similar?{count}"
    return _through(options, target, _print_similar)


_THROUGH_SERVER = {
    "query": query_through_server,
    "show": show_through_server,
    "similar": similar_through_server,
}


def _through(options: dict[str, Any], target: str, printer: Printer) -> int | None:
    """Ask the server on the options' index for ``target`` and print its answer as the
    CLI prints it; the exit code, or None when the CLI must run the command."""
    if any(os.environ.get(name) for name in _LOCAL_SETTINGS):
        return None
    index = options.get("index") or os.environ.get("NEWSSEARCH_INDEX") or "index"
    server = find_server(index)
    if server is None:
        return None
    try:
        answer = _get(server, index, target)
        if answer is None:
            return None
        status, body = answer
        if status != 200:
            return _failed(status, body, index, options.get("id"))
        return printer(body, options, server, index)
    except KeyboardInterrupt:
        from search.cli.output import INDEX_KEPT

        sys.stderr.write(f"interrupted — {INDEX_KEPT}\n")
        return 130


# Each printer checks the whole answer before printing anything: a fallback never prints
# twice.


def _print_search(
    body: dict[str, Any], options: dict[str, Any], server: str, index: str
) -> int | None:
    hits, facets = _hits(body), body.get("facets")
    if hits is None or (options.get("facets") and not _facets_shaped(facets)):
        return None
    from search.cli import output

    if options.get("json"):
        output.print_json(hits)
        if options.get("facets"):
            output.print_json([{"facets": facets}])
        return 0
    if hits:
        output.print_hits(hits, options["text"])
    else:
        stats = _get(server, index, "/api/stats")
        if stats is None or stats[0] != 200 or not isinstance(stats[1].get("articles"), int):
            return None
        filtered = any(name in options for name in ("since", "until", *_LISTS))
        skipped = int(options.get("offset", "0"))
        articles = stats[1]["articles"]
        line = output.no_hits_line(_as_cli_names(index), articles, filtered, skipped)
        sys.stderr.write(line + "\n")
    if facets is not None and options.get("facets"):
        output.print_facets(facets)
    return 0


def _print_article(body: dict[str, Any], options: dict[str, Any], *_: str) -> int | None:
    if not _article_shaped(body):
        return None
    from search.cli import output

    if options.get("json"):
        output.print_json([body])
    else:
        output.print_article(body)
    return 0


def _print_similar(body: dict[str, Any], options: dict[str, Any], *_: str) -> int | None:
    hits = _hits(body)
    if hits is None:
        return None
    from search.cli import output

    if options.get("json"):
        output.print_json(hits)
    elif not hits:
        sys.stderr.write("no other articles\n")
    else:
        output.print_hits(hits, "")
    return 0


def _as_cli_names(index: str) -> str:
    from pathlib import PurePath  # as the CLI names the index: a Path's text

    return str(PurePath(index))


# A hit as the server sends it: the contract's ``Hit``, its plainly typed fields checked
_SHAPES = {"int": int, "float": float, "str": str, "tuple[str, ...]": list}
_HIT_FIELDS = {f.name: _SHAPES[str(f.type)] for f in dataclasses.fields(Hit) if f.type in _SHAPES}


def _hits(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    hits = body.get("hits")
    if not isinstance(hits, list) or not all(_hit_shaped(hit) for hit in hits):
        return None
    return hits


def _hit_shaped(hit: object) -> bool:
    return isinstance(hit, dict) and all(
        isinstance(hit.get(name), kind) for name, kind in _HIT_FIELDS.items()
    )


def _facets_shaped(facets: object) -> bool:
    """Whether the server's facets are the contract's ``Facets``, as the CLI prints them."""

    def counted(pairs: object) -> bool:
        return isinstance(pairs, list) and all(
            isinstance(pair, dict)
            and isinstance(pair.get("value"), str)
            and isinstance(pair.get("articles"), int)
            for pair in pairs
        )

    return (
        isinstance(facets, dict)
        and isinstance(facets.get("matched"), int)
        and counted(facets.get("outlets"))
        and counted(facets.get("collections"))
        and isinstance(facets.get("fields"), dict)
        and all(counted(pairs) for pairs in facets["fields"].values())
    )


# An article as the server sends it: ``search.index.ArticleDetail`` (not imported here:
# it brings the index's libraries), every field checked; a test holds the two together.
_OPTIONAL = (str, type(None))
ARTICLE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "title": str,
    "published": _OPTIONAL,
    "source": _OPTIONAL,
    "url": _OPTIONAL,
    "path": str,
    "fields": dict,
    "duplicates": list,
    "paragraphs": list,
    "passages": int,
    "collection": str,
}
_FIELD_VALUES = (str, int, float, bool, type(None))  # or a list of texts


def _article_shaped(article: dict[str, Any]) -> bool:
    if article.keys() != ARTICLE_FIELDS.keys() or not all(
        isinstance(article[name], kind) for name, kind in ARTICLE_FIELDS.items()
    ):
        return False
    texts = [*article["duplicates"], *article["paragraphs"]]
    for value in article["fields"].values():
        if isinstance(value, list):
            texts += value
        elif not isinstance(value, _FIELD_VALUES):
            return False
    return all(isinstance(text, str) for text in texts)


# ---------------------------------------------------------------------------
# The arguments, read as the CLI reads them


def parse_query_args(args: list[str]) -> dict[str, Any] | None:
    """``query``'s arguments as the CLI would take them, or None for anything unusual
    (help, --model, an unknown option, a value the CLI would refuse)."""
    read = _read_args(args, _VALUED, _FLAGS)
    if read is None:
        return None
    options, texts = read
    if len(texts) != 1 or not _usable(options, texts[0]):
        return None
    options["text"] = texts[0]
    return options


def parse_article_args(command: str, args: list[str]) -> dict[str, Any] | None:
    """``show``'s or ``similar``'s arguments as the CLI would take them (the id as
    ``id``), or None for anything unusual, as ``parse_query_args``."""
    read = _read_args(args, _ARTICLE_OPTIONS[command], _JSON)
    if read is None:
        return None
    options, ids = read
    if len(ids) != 1 or not ids[0].isprintable():
        return None
    try:
        checked_article_id(ids[0], FAST_PATH)
        checked_k(options.get("top", "10"), FAST_PATH)
    except (InputError, QueryError):
        return None  # the CLI says why in its own words
    options["id"] = ids[0]
    return options


def _read_args(
    args: list[str], valued: dict[str, str], flags: dict[str, str]
) -> tuple[dict[str, Any], list[str]] | None:
    """The options and the plain arguments, or None for an option not in ``valued`` or
    ``flags`` (``--help`` too), a short option joined to its value, or an empty value."""
    options: dict[str, Any] = {}
    plain: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg in flags:
            options[flags[arg]] = True
            continue
        name, value = arg, None
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
        if name in valued:
            if value is None:
                if position >= len(args):
                    return None
                value = args[position]
                position += 1
            if not value:
                return None
            key = valued[name]
            if key in _LISTS:
                options.setdefault(key, []).append(value)
            else:
                options[key] = value
            continue
        if arg.startswith("-"):
            return None  # --help, --model, -k5, an unknown option: the CLI decides
        plain.append(arg)
    return options, plain


def _usable(options: dict[str, Any], text: str) -> bool:
    """Whether the server takes this query as the CLI would: the contract's request, with a
    server's limits (``FAST_PATH``), so that it never refuses what the CLI runs. A query it
    refuses runs in the CLI, which says why in its own words."""
    try:
        SearchRequest.make(
            text,
            k=options.get("top", "10"),
            mode=options.get("mode", "hybrid"),
            by=options.get("by", "passage"),
            since=options.get("since"),
            until=options.get("until"),
            sources=options.get("source"),
            where=options.get("where"),
            collections=options.get("collection"),
            every_copy=bool(options.get("all")),
            sort=options.get("sort", "relevance"),
            offset=options.get("offset", "0"),
            door=FAST_PATH,
        )
    except QueryError:
        return False
    return text.isprintable()


# ---------------------------------------------------------------------------
# One request on the private socket


def _get(server: str, index: str, target: str) -> tuple[int, Any] | None:
    """(status, JSON body) from the server, or None if it cannot be asked or is not ours."""
    request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_SECONDS)
            sock.connect(server)
            sock.settimeout(ANSWER_SECONDS)
            sock.sendall(request.encode("utf-8"))
            received = b"".join(iter(lambda: sock.recv(1 << 16), b""))
        status, headers, body = _parsed_response(received)
        answer = json.loads(body)
    except (OSError, ValueError):
        return None
    if headers.get("x-newssearch-index") != index_header(index) or not isinstance(answer, dict):
        return None
    return status, answer


def _parsed_response(received: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP/1.1 response read to the end of a closed connection (ValueError if it is
    not one: chunked bodies are not expected from a JSON answer of known length)."""
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        raise ValueError("no end of headers")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(status_line)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is None or len(body) != int(length):
        raise ValueError("short or unsized body")
    return int(status), headers, body


def _failed(
    status: int, body: dict[str, Any], index: str, article_id: str | None = None
) -> int | None:
    """A refused command reads as the CLI's own error; a server in trouble, or a message
    that names the index as the server was told it, is left to the CLI, except an unknown
    article id, which is said as the CLI says it."""
    code, message = body.get("exit_code"), body.get("error")
    if status not in (400, 404) or not isinstance(code, int) or not isinstance(message, str):
        return None
    served = body.get("index")
    if isinstance(served, str) and served in message:
        if article_id is None or code != ArticleNotFoundError.exit_code:
            return None
        if message != str(unknown_article(article_id, served, HTTP)):
            return None
        message = str(unknown_article(article_id, _as_cli_names(index)))  # as Index says
    sys.stderr.write(f"error: {message}\n")
    return code
