"""The CLI's fast path: ``newssearch query`` asks a server already running on the same index
instead of loading the model and the index itself.

A server announces itself with a small file (address, pid, token) in a folder only its user
can read, named after the index's real path, and removes it when it stops. The query reads
it, checks that the process lives and that the answer names the same index, and otherwise
runs as usual. Anything this module does not understand exactly (an unusual option, a value
the CLI would reject, a server that errs or is gone) falls back silently to the full CLI, so
the output is the same with or without a server.

This module imports only the lightest parts of the standard library (not even pathlib or
http.client, which cost more than the query): its cost is Python's start and one request.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import urllib.parse
from typing import Any

CONNECT_SECONDS = 1.0
ANSWER_SECONDS = 120.0
OFF = "NEWSSEARCH_NO_SERVER"  # set to run every query in-process
FAST_K = 1000  # service.MAX_SERVED_K; larger asks go through the CLI
FAST_CHARS = 2000  # service.MAX_QUERY_CHARS

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
_CHOICES = {"mode": ("hybrid", "dense", "lexical"), "by": ("passage", "article")}


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
# The server's side: announcing itself


def servers_folder() -> str:
    """Where running servers leave their address: private to this user."""
    chosen = os.environ.get("NEWSSEARCH_RUN_DIR")
    if chosen:
        return chosen
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "newssearch")
    return os.path.join(os.path.expanduser("~"), ".cache", "newssearch", "servers")


def marker_for(index: str | os.PathLike[str]) -> str:
    real = os.path.realpath(index)
    name = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return os.path.join(servers_folder(), f"{name}.json")


def announce_server(
    index: str | os.PathLike[str], *, host: str, port: int, token: str | None
) -> str | None:
    """Write the file that lets ``query`` find this server; None when it cannot be written
    (the server works as well without it)."""
    import tempfile

    marker = marker_for(index)
    record = {
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "token": token,
        "index": os.path.realpath(index),
    }
    try:
        os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(marker), prefix=".server-")
        with os.fdopen(handle, "w") as file:  # mkstemp made it 0600
            json.dump(record, file)
        os.replace(temporary, marker)
    except OSError:
        return None
    return marker


def withdraw_server(marker: str | None) -> None:
    """Remove this server's file, unless another server has replaced it since."""
    if marker is None:
        return
    record = _read_marker(marker)
    if record is not None and record.get("pid") == os.getpid():
        try:
            os.unlink(marker)
        except OSError:
            pass


def find_server(index: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The running server announced for this index, or None (no file, a dead process)."""
    record = _read_marker(marker_for(index))
    if record is None or not _alive(record.get("pid")):
        return None
    if record.get("index") != os.path.realpath(index):
        return None
    if not isinstance(record.get("port"), int) or not isinstance(record.get("host"), str):
        return None
    return record


def index_header(index: str | os.PathLike[str]) -> str:
    """The index's real path as an HTTP header carries it: percent-encoded, so any name
    fits in Latin-1."""
    return urllib.parse.quote(os.path.realpath(index), safe="/")


def _read_marker(marker: str) -> dict[str, Any] | None:
    try:
        with open(marker, encoding="utf-8") as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's: its answer is checked below anyway
    return True


# ---------------------------------------------------------------------------
# The client's side: a query through the server


def query_through_server(args: list[str]) -> int | None:
    """Run ``newssearch query ARGS`` through a running server; its exit code, or None when
    the full CLI must run it instead."""
    options = parse_query_args(args)
    if options is None:
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
        answer = _get(server, "/api/search?" + urllib.parse.urlencode(params))
        if answer is None:
            return None
        status, body = answer
        if status != 200:
            return _failed(status, body)
        hits = body["hits"]
        from . import output

        if options.get("json"):
            output.print_json(hits)
            return 0
        if not hits:
            stats = _get(server, "/api/stats")
            if stats is None or stats[0] != 200:
                return None
            filtered = any(name in options for name in ("since", "until", "source", "where"))
            line = output.no_hits_line(str(index), stats[1]["articles"], filtered)
            sys.stderr.write(line + "\n")
            return 0
        output.print_hits(hits, options["text"])
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("interrupted — the index keeps its last complete commit\n")
        return 130
    except (KeyError, TypeError):
        return None  # an answer of another shape: not our server


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
    top = options.get("top", "10")
    if not (top.isascii() and top.isdigit() and 1 <= int(top) <= FAST_K):
        return False
    if any(options.get(name, choices[0]) not in choices for name, choices in _CHOICES.items()):
        return False
    return bool(text.strip()) and len(text) <= FAST_CHARS and text.isprintable()


def _get(server: dict[str, Any], target: str) -> tuple[int, Any] | None:
    """(status, JSON body) from the server, or None if it cannot be asked or is not ours."""
    host = server["host"]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    lines = [f"GET {target} HTTP/1.1", f"Host: {_host_header(host, server['port'])}"]
    if server.get("token"):
        lines.append(f"Authorization: Bearer {server['token']}")
    lines += ["Connection: close", "", ""]
    try:
        with socket.create_connection((host, server["port"]), timeout=CONNECT_SECONDS) as sock:
            sock.settimeout(ANSWER_SECONDS)
            sock.sendall("\r\n".join(lines).encode("utf-8"))
            received = b"".join(iter(lambda: sock.recv(1 << 16), b""))
        status, headers, body = _parsed_response(received)
        answer = json.loads(body)
    except (OSError, ValueError):
        return None
    named = headers.get("x-newssearch-index")
    if named != urllib.parse.quote(server["index"], safe="/") or not isinstance(answer, dict):
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


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _failed(status: int, body: dict[str, Any]) -> int | None:
    """A refused query reads as the CLI's own error; a server in trouble is bypassed."""
    code = body.get("exit_code")
    if status in (400, 404) and isinstance(code, int) and isinstance(body.get("error"), str):
        sys.stderr.write(f"error: {body['error']}\n")
        return code
    return None
