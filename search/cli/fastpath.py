"""The CLI's fast path: ``newssearch query`` asks a server already running on the same index
instead of loading the model and the index itself.

A server listens on a private Unix socket (``search.serve.local_socket``). The query checks
that the answer names the same index. Anything this module does not understand exactly (an
unusual option, a value outside the server's limits, a server that errs, is gone or is
stopped) falls back silently to the full CLI, so the output is the same with or without a
server.

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
from typing import Any

from search.errors import QueryError
from search.query.contract import FAST_PATH, Hit, SearchRequest
from search.serve.local_socket import CONNECT_SECONDS, find_server, index_header

ANSWER_SECONDS = 10.0  # a stopped (Ctrl-Z) server: give up and run it here
OFF = "NEWSSEARCH_NO_SERVER"  # set to run every query in-process
# Settings of this process that the server's would override: with one set, run it here.
_LOCAL_SETTINGS = ("NEWSSEARCH_PRECISION", "NEWSSEARCH_CACHE")

_VALUED = {
    "-i": "index",
    "--index": "index",
    "-k": "top",
    "--top": "top",
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


def main() -> None:
    """The ``newssearch`` command: a query goes to a running server when there is one;
    everything else, and a query with no server, goes to the CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["query"] and not os.environ.get(OFF):
        code = query_through_server(argv[1:])
        if code is not None:
            sys.exit(code)
    from search.cli.commands import main as cli_main

    cli_main()


# ---------------------------------------------------------------------------
# The client's side: a query through the server


def query_through_server(args: list[str]) -> int | None:
    """Run ``newssearch query ARGS`` through a running server; its exit code, or None when
    the full CLI must run it instead."""
    options = parse_query_args(args)
    if options is None or any(os.environ.get(name) for name in _LOCAL_SETTINGS):
        return None
    index = options.get("index") or os.environ.get("NEWSSEARCH_INDEX") or "index"
    server = find_server(index)
    if server is None:
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
    try:
        return _answer(server, index, options, "/api/search?" + urllib.parse.urlencode(params))
    except KeyboardInterrupt:
        from search.cli.output import INDEX_KEPT

        sys.stderr.write(f"interrupted — {INDEX_KEPT}\n")
        return 130


def _answer(server: str, index: str, options: dict[str, Any], target: str) -> int | None:
    answer = _get(server, index, target)
    if answer is None:
        return None
    status, body = answer
    if status != 200:
        return _failed(status, body, index)
    hits, facets = body.get("hits"), body.get("facets")
    if not isinstance(hits, list) or not all(_hit_shaped(hit) for hit in hits):
        return None  # checked before printing anything: a fallback never prints twice
    if options.get("facets") and not _facets_shaped(facets):
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
        from pathlib import PurePath  # as the CLI names the index: a Path's text

        filtered = any(name in options for name in ("since", "until", *_LISTS))
        skipped = int(options.get("offset", "0"))
        line = output.no_hits_line(str(PurePath(index)), stats[1]["articles"], filtered, skipped)
        sys.stderr.write(line + "\n")
    if options.get("facets"):
        output.print_facets(facets)
    return 0


# A hit as the server sends it: the contract's ``Hit``, its plainly typed fields checked
_SHAPES = {"int": int, "float": float, "str": str, "tuple[str, ...]": list}
_HIT_FIELDS = {f.name: _SHAPES[str(f.type)] for f in dataclasses.fields(Hit) if f.type in _SHAPES}


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


def parse_query_args(args: list[str]) -> dict[str, Any] | None:
    """``query``'s arguments as the CLI would take them, or None for anything unusual
    (help, --model, an unknown option, a value the CLI would refuse)."""
    options: dict[str, Any] = {}
    texts: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg in _FLAGS:
            options[_FLAGS[arg]] = True
            continue
        name, value = arg, None
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
        if name in _VALUED:
            if value is None:
                if position >= len(args):
                    return None
                value = args[position]
                position += 1
            if not value:
                return None
            key = _VALUED[name]
            if key in _LISTS:
                options.setdefault(key, []).append(value)
            else:
                options[key] = value
            continue
        if arg.startswith("-"):
            return None  # --help, --model, -k5, an unknown option: the CLI decides
        texts.append(arg)
    if len(texts) != 1 or not _usable(options, texts[0]):
        return None
    options["text"] = texts[0]
    return options


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


def _failed(status: int, body: dict[str, Any], index: str) -> int | None:
    """A refused query reads as the CLI's own error; a server in trouble, or a message that
    names the index as the server was told it, is left to the CLI."""
    code, message = body.get("exit_code"), body.get("error")
    if status not in (400, 404) or not isinstance(code, int) or not isinstance(message, str):
        return None
    served = body.get("index")
    if isinstance(served, str) and served in message:
        return None
    sys.stderr.write(f"error: {message}\n")
    return code
