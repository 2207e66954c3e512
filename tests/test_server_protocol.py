"""The HTTP server as a client on the wire meets it: a request is bounded in size and in
time before anything reads it."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import FakeEmbedder, running_server
from test_news import make_records, wire_records, write_jsonl
from test_server import get

from search import Index
from search.query.contract import MAX_FILTER_VALUES, MAX_QUERY_CHARS
from search.serve.http_connection import MAX_HEAD_BYTES

MB = 1 << 20


@pytest.fixture
def wire_index(tmp_path: Path, fake: FakeEmbedder) -> Path:
    path = tmp_path / "index"
    with Index.create(path, model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "wire", wire_records() + make_records(40)))
    return path


# ---------------------------------------------------------------------------
# A request's head: bounded in size and in time, before the app (and its token check)


def _address(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "", parsed.port or 80


def _unfinished_head(url: str, size: int) -> bytes | None:
    """Send a request whose head never ends (a header ``size`` bytes long); what came
    back once the server stopped reading (b"" for a bare close), or None if it still held
    the connection open 20 s after the last byte was sent."""
    with socket.create_connection(_address(url), timeout=20) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        try:
            for _ in range(size // MB):
                sock.sendall(b"a" * MB)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us: what it said before is still to be read
        try:
            return sock.recv(4096)
        except ConnectionResetError:
            return b""
        except TimeoutError:
            return None


def _server_pid(index: Path) -> int:
    """The process of tests/server_process.py serving ``index``."""
    for process in Path("/proc").glob("[0-9]*"):
        try:
            argv = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"server_process.py") for arg in argv) and str(index).encode() in argv:
            return int(process.name)
    raise AssertionError(f"no server process for {index}")


def _resident(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


@pytest.mark.process
def test_a_head_that_never_ends_is_refused_at_its_bound(wire_index: Path, tmp_path: Path) -> None:
    """With httptools a head had no limit: four unfinished 100 MB heads took the server from
    223 to 735 MB. Now one is refused with a 431 once it passes MAX_HEAD_BYTES, and four at
    once, 32 MB each, leave the server's memory as it was."""
    assert MAX_HEAD_BYTES < 10 * MB
    with running_server(wire_index, env={"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}) as url:
        pid = _server_pid(wire_index)
        assert get(f"{url}/api/health")[0] == 200
        before = _resident(pid)
        answer = _unfinished_head(url, 10 * MB)
        assert answer is not None, "a 10 MB head was still being read"
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert json.loads(body) == {"error": f"the request's head is over {MAX_HEAD_BYTES:,} bytes"}
        answers: list[bytes | None] = []
        senders = [
            threading.Thread(target=lambda: answers.append(_unfinished_head(url, 32 * MB)))
            for _ in range(4)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        grown = _resident(pid) - before
        assert None not in answers
        assert grown < 48 * MB, f"the server grew by {grown / MB:.0f} MB"
        assert get(f"{url}/api/health")[0] == 200  # and it goes on answering
        # The bound admits the longest request the contract does, with room to spare.
        longest = _longest_request()
        assert len(longest) < MAX_HEAD_BYTES - 60 * 1024
        connection = http.client.HTTPConnection(*_address(url), timeout=60)
        connection.request("GET", longest)
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()[:300]
        connection.close()


def _longest_request() -> str:
    """The longest address the contract admits: every text at its longest, in characters
    of four UTF-8 bytes each."""
    longest = "\U0001f4f0" * MAX_QUERY_CHARS
    params = [("q", longest), ("since", "1987-03-01"), ("until", "1987-03-31")]
    params += [("source", longest)] * MAX_FILTER_VALUES
    params += [("where", f"topics={longest[:-7]}")] * MAX_FILTER_VALUES
    return f"/api/search?{urllib.parse.urlencode(params)}"


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes ``sock`` within ``seconds``, sending ``trickle`` a byte
    at a time, one every 0.2 s, meanwhile."""
    waited_until = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < waited_until:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                return sock.recv(4096) == b""
            except ConnectionResetError:
                return True
        if sent < len(trickle):
            try:
                sock.send(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return True
            sent += 1
    return False


@pytest.mark.process
def test_a_request_that_does_not_arrive_in_time_is_closed(wire_index: Path, tmp_path: Path) -> None:
    """Each request has ``request_timeout`` (1 s here) from the connection, or from the
    last answer, to arrive whole: a head left unfinished, one sent a byte at a time, and a
    connection that sends nothing are closed; a whole request is answered, and a
    keep-alive connection goes on serving. uvicorn alone held each of these open."""
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(wire_index, "--request-timeout", "1", env=env) as url:
        address = _address(url)
        with socket.create_connection(address) as unfinished:
            unfinished.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b")
            assert _closed_within(unfinished, 30), "an unfinished head was held open"
        with socket.create_connection(address) as slow:
            trickle = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X: y\r\n" * 40
            assert _closed_within(slow, 30, trickle), "a head sent a byte at a time was held"
        with socket.create_connection(address) as silent:
            assert _closed_within(silent, 30), "a connection that sent nothing was held open"
        connection = http.client.HTTPConnection(*address, timeout=30)
        for _ in range(3):  # one connection, kept alive
            connection.request("GET", "/api/search?q=oil&k=3")
            response = connection.getresponse()
            assert response.status == 200 and len(json.loads(response.read())["hits"]) == 3
        connection.close()
