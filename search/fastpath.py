"""The CLI's fast path: ``newssearch query`` asks a server already running on the same index
instead of loading the model and the index itself.

A server also listens on a Unix socket in a folder only its user can reach (checked: a real
folder, owned by the user, mode 0700), named after the index's real path, and removes it
when it stops. No address, pid or token is written anywhere: whoever can open the socket is
the same user, a socket left by a killed server refuses the connection, and another user
cannot put one there. The query checks that the answer names the same index. Anything this
module does not understand exactly (an unusual option, a value outside the server's limits,
a server that errs, is gone or is stopped) falls back silently to the full CLI, so the
output is the same with or without a server.

This module imports only the lightest parts of the standard library (not even pathlib or
http.client, which cost more than the query): its cost is Python's start and one request.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
import urllib.parse
from typing import Any

CONNECT_SECONDS = 1.0
ANSWER_SECONDS = 10.0  # a stopped (Ctrl-Z) server: give up and run it here
OFF = "NEWSSEARCH_NO_SERVER"  # set to run every query in-process
# The server's limits (service.py; a test holds them equal): beyond them, the CLI runs it.
FAST_K = 1000  # MAX_SERVED_K
FAST_CHARS = 2000  # MAX_QUERY_CHARS
FAST_VALUES = 64  # MAX_FILTER_VALUES
FAST_DAY_CHARS = 64  # MAX_DAY_CHARS
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
}
_FLAGS = {"--all": "all", "--json": "json"}
_CHOICES = {"mode": ("hybrid", "dense", "lexical"), "by": ("passage", "article")}  # as MODES,
# UNITS in searcher.py, which this module does not import (a test holds them equal)


def main() -> None:
    """The ``newssearch`` command: a query goes to a running server when there is one;
    everything else, and a query with no server, goes to the CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["query"] and not os.environ.get(OFF):
        code = query_through_server(argv[1:])
        if code is not None:
            sys.exit(code)
    from .cli import main as cli_main

    cli_main()


# ---------------------------------------------------------------------------
# Where a server listens for its own user: a Unix socket in a private folder


def servers_folder() -> str:
    """Where running servers listen for queries from their own user."""
    chosen = os.environ.get("NEWSSEARCH_RUN_DIR")
    if chosen:
        return chosen
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "newssearch")
    return os.path.join(os.path.expanduser("~"), ".cache", "newssearch", "servers")


def private_folder(*, create: bool) -> str | None:
    """The servers' folder if only this user can reach it (a real folder, ours, mode 0700),
    made so when ``create``; None when it is anyone else's or shared: then there is no
    fast path, rather than one another user could answer."""
    folder = servers_folder()
    try:
        if create:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if info.st_mode & 0o077:
            if not create:
                return None
            os.chmod(folder, 0o700)
    except OSError:
        return None
    return folder


def socket_for(index: str | os.PathLike[str], folder: str) -> str:
    """The socket of a server on ``index``: named after the index's real path."""
    real = os.path.realpath(index)
    name = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(folder, f"{name}.sock")


class PrivateSocket:
    """A server's Unix socket for the CLI's fast path; ``close`` removes its file, unless
    another server has put its own there since."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock, self.path = sock, path
        self._inode = os.lstat(path).st_ino

    def close(self) -> None:
        try:
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        self.sock.close()


def listen_privately(index: str | os.PathLike[str]) -> PrivateSocket | None:
    """A Unix socket for the CLI's fast path, or None: no private folder, a path too long
    for a socket, or another live server already answering for this index."""
    folder = private_folder(create=True)
    if folder is None:
        return None
    path = socket_for(index, folder)
    if _answers(path):
        return None  # the server started first keeps the fast path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _remove_stale(path)
        sock.bind(path)  # in a 0700 folder: only this user can connect
        os.chmod(path, 0o600)
        sock.listen(256)
        return PrivateSocket(sock, path)
    except OSError:
        sock.close()
        return None


def _answers(path: str) -> bool:
    """Whether a live server listens on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(CONNECT_SECONDS)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _remove_stale(path: str) -> None:
    """Remove a socket file no server listens on (left by one that was killed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
        os.unlink(path)


def index_header(index: str | os.PathLike[str]) -> str:
    """The index's real path as an HTTP header carries it: percent-encoded, so any name
    fits in Latin-1."""
    return urllib.parse.quote(os.path.realpath(index), safe="/")


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
    params += [(key, options[key]) for key in ("mode", "by", "since", "until") if key in options]
    params += [("source", value) for value in options.get("source", [])]
    params += [("where", value) for value in options.get("where", [])]
    if options.get("all"):
        params.append(("all", "true"))
    try:
        return _answer(server, index, options, "/api/search?" + urllib.parse.urlencode(params))
    except KeyboardInterrupt:
        from .output import INDEX_KEPT

        sys.stderr.write(f"interrupted — {INDEX_KEPT}\n")
        return 130


def _answer(server: str, index: str, options: dict[str, Any], target: str) -> int | None:
    answer = _get(server, index, target)
    if answer is None:
        return None
    status, body = answer
    if status != 200:
        return _failed(status, body, index)
    hits = body.get("hits")
    if not isinstance(hits, list) or not all(_hit_shaped(hit) for hit in hits):
        return None  # checked before printing anything: a fallback never prints twice
    from . import output

    if options.get("json"):
        output.print_json(hits)
        return 0
    if not hits:
        stats = _get(server, index, "/api/stats")
        if stats is None or stats[0] != 200 or not isinstance(stats[1].get("articles"), int):
            return None
        from pathlib import PurePath  # as the CLI names the index: a Path's text

        filtered = any(name in options for name in ("since", "until", "source", "where"))
        line = output.no_hits_line(str(PurePath(index)), stats[1]["articles"], filtered)
        sys.stderr.write(line + "\n")
        return 0
    output.print_hits(hits, options["text"])
    return 0


_HIT_FIELDS = {
    "rank": int,
    "score": float,
    "article_id": str,
    "title": str,
    "paragraph": int,
    "text": str,
    "matched": int,
    "duplicates": list,
}


def _hit_shaped(hit: object) -> bool:
    return isinstance(hit, dict) and all(
        isinstance(hit.get(name), kind) for name, kind in _HIT_FIELDS.items()
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
            if key in ("source", "where"):
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
    """Whether the server takes this query as the CLI would: within every limit the server
    has and the CLI has not (service.py), so that it never refuses what the CLI runs."""
    top = options.get("top", "10")
    if not (top.isascii() and top.isdigit() and 1 <= int(top) <= FAST_K):
        return False
    if any(options.get(name, choices[0]) not in choices for name, choices in _CHOICES.items()):
        return False
    if any(len(options.get(day, "")) > FAST_DAY_CHARS for day in ("since", "until")):
        return False
    for name in ("source", "where"):
        values = options.get(name, [])
        if len(values) > FAST_VALUES or any(len(value) > FAST_CHARS for value in values):
            return False
    return bool(text.strip()) and len(text) <= FAST_CHARS and text.isprintable()


def find_server(index: str | os.PathLike[str]) -> str | None:
    """The socket of a server on this index, if there is one in the private folder (it
    may be stale: a connection refused says so)."""
    folder = private_folder(create=False)
    if folder is None:
        return None
    path = socket_for(index, folder)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        return None
    return path


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
