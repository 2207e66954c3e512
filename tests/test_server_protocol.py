"""The HTTP server as a client on the wire meets it: a request is bounded in size and in
time before anything reads it, and ``/openapi.json`` says what the server answers and
takes, held to it by schemathesis."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from conftest import FakeEmbedder, running_server
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_news import make_records, wire_records, write_jsonl
from test_server import get

from search import Index, QueryError
from search.query.contract import (
    FLAGS,
    HTTP,
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
    SearchRequest,
)
from search.serve.http import make_app
from search.serve.http_connection import MAX_HEAD_BYTES
from search.serve.service import Service

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
        # Read whole and answered by the app: its outlets are none the index holds, which
        # the search says in one line (a 400), not the head's bound (a 431).
        body = answer.read()
        assert answer.status == 400, body[:300]
        assert json.loads(body)["error"].startswith("no outlet ")
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


# ---------------------------------------------------------------------------
# /openapi.json: every status the server answers, and parameters as wide as the contract


@pytest.fixture
def client(wire_index: Path, fake: FakeEmbedder):
    from fastapi.testclient import TestClient

    service = Service(wire_index, model=fake)
    with TestClient(make_app(service), base_url="http://127.0.0.1") as client:
        yield client
    service.close()


def _operation(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return schema["paths"][path]["get"]


def _parameter(schema: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in _operation(schema, path).get("parameters", []) if p["name"] == name]
    return found


def test_every_status_answered_is_in_the_schema(
    wire_index: Path, fake: FakeEmbedder, tmp_path: Path
) -> None:
    """Each answer's status is one its operation lists, with an ``Error`` body for an error
    (the schema listed only 200 and a 422 the server never sends)."""
    from fastapi.testclient import TestClient

    asked = [
        ("/api/search", "/api/search?q=oil", {}, 200),
        ("/api/search", "/api/search?q=", {}, 400),
        ("/api/search", "/api/search?q=oil&k=0", {}, 400),
        ("/api/search", "/api/search?q=oil", {"host": "attacker.example"}, 421),
        ("/api/articles/{article_id}", "/api/articles/opec-1", {}, 200),
        ("/api/articles/{article_id}", "/api/articles/nope", {}, 404),
        ("/api/articles/{article_id}/similar", "/api/articles/nope/similar", {}, 404),
        ("/api/articles/{article_id}/similar", "/api/articles/opec-1/similar?k=x", {}, 400),
        ("/api/search", "/api/search?q=oil&sort=newest&offset=2&facets=true", {}, 200),
        ("/api/search", "/api/search?q=%22oil", {}, 400),
        ("/api/search", "/api/search?q=oil&limit=5", {}, 400),
        ("/api/timeline", "/api/timeline?q=oil&every=month&split=outlet", {}, 200),
        ("/api/timeline", "/api/timeline?q=oil&every=year", {}, 400),
        ("/api/export", "/api/export?q=oil&format=jsonl", {}, 200),
        ("/api/export", "/api/export?q=colour:red", {}, 400),
        ("/api/stats", "/api/stats", {}, 200),
        ("/api/health", "/api/health", {}, 200),
    ]
    services = {
        "index": Service(wire_index, model=fake),
        "none": Service(tmp_path / "missing", model=fake),
    }
    apps = {
        "index": make_app(services["index"]),
        "token": make_app(services["index"], token="s3cret"),
        "none": make_app(services["none"]),
    }
    asked += [  # every answer that needs the index: 503 without one
        (path, url, {}, 503)
        for path, url, _, status in list(asked)
        if status == 200 and not path.startswith("/api/articles")
    ]
    asked += [("/api/search", "/api/search?q=oil", {}, 401)]
    for path, url, headers, status in asked:
        app = {503: "none", 401: "token"}.get(status, "index")
        with TestClient(apps[app], base_url="http://127.0.0.1") as client:
            response = client.get(url, headers=headers)
            schema = client.get("/openapi.json", headers={"authorization": "Bearer s3cret"})
        assert response.status_code == status, (url, response.text)
        documented = _operation(schema.json(), path)["responses"]
        assert str(status) in documented, (url, status, sorted(documented))
        content = documented[str(status)]["content"]
        media = response.headers["content-type"].split(";")[0]
        assert media in content, (url, media, sorted(content))
        body = content[media]["schema"]
        if status >= 400:
            assert body == {"$ref": "#/components/schemas/Error"}
            assert set(response.json()) <= {"error", "exit_code", "index"}
    for service in services.values():
        service.close()
    for app in apps.values():
        for path in app.openapi()["paths"].values():
            for operation in path.values():  # FastAPI's 422 is never sent: errors are 400
                assert "422" not in operation["responses"]


def test_the_parameters_are_typed_as_the_contract_takes_them(client) -> None:
    schema = client.get("/openapi.json").json()
    q = _parameter(schema, "/api/search", "q")
    assert q["required"] is True
    assert (q["schema"]["minLength"], q["schema"]["maxLength"]) == (1, MAX_QUERY_CHARS)
    for path in ["/api/search", "/api/articles/{article_id}/similar"]:
        k = _parameter(schema, path, "k")["schema"]
        assert (k["type"], k["minimum"], k["maximum"]) == ("integer", 1, MAX_SERVED_K)
    assert _parameter(schema, "/api/search", "mode")["schema"]["enum"] == list(MODES)
    assert _parameter(schema, "/api/search", "by")["schema"]["enum"] == list(UNITS)
    for path in ["/api/search", "/api/export"]:
        assert _parameter(schema, path, "sort")["schema"]["enum"] == list(SORTS)
    assert _parameter(schema, "/api/timeline", "every")["schema"]["enum"] == list(PERIODS)
    assert _parameter(schema, "/api/timeline", "split")["schema"]["enum"] == list(SPLITS)
    assert _parameter(schema, "/api/export", "format")["schema"]["enum"] == ["csv", "jsonl"]
    for path in ["/api/search", "/api/timeline", "/api/export"]:  # one q, one set of filters
        names = {p["name"] for p in _operation(schema, path)["parameters"]}
        assert {"q", "mode", "since", "until", "source", "collection", "where", "all"} <= names
    article_id = _parameter(schema, "/api/articles/{article_id}", "article_id")
    assert article_id["in"] == "path" and article_id["schema"]["maxLength"] == MAX_ID_CHARS


_SCHEMA: dict[str, Any] = {}


def _valid(name: str, value: object) -> bool:
    """Whether ``value`` is valid for /api/search's parameter ``name`` by its schema, read
    as schemathesis reads it (jsonschema_rs: JSON Schema's own regular expressions)."""
    if not _SCHEMA:
        _SCHEMA.update(make_app(Service("unused")).openapi())
    schema = _parameter(_SCHEMA, "/api/search", name)["schema"]
    return jsonschema_rs.validator_for(schema).is_valid(value)


def _accepted(**params: Any) -> bool:
    """Whether the contract takes these parameters as the HTTP door gives them."""
    return _refusal(**params) is None


def _refusal(**params: Any) -> str | None:
    """What the contract says of these parameters, as the HTTP door gives them (None: it
    takes them)."""
    try:
        SearchRequest.make(params.pop("q", "oil"), door=HTTP, **params)
    except QueryError as error:
        return str(error)
    return None


_DAYS = st.one_of(
    st.builds(lambda day, cut: day.isoformat()[:cut], st.dates(), st.sampled_from([4, 7, 10])),
    st.from_regex(r"\A\s?[0-9]{1,5}(-[0-9]{1,3}){0,2}\s?\Z"),
    st.text(max_size=12),
    st.sampled_from(["2000-02-29", "1900-02-29", "0000", "1987-13", "1987-1-1"]),
)


@settings(max_examples=400, deadline=None)
@given(
    q=st.text(max_size=MAX_QUERY_CHARS + 2) | st.text(" \t\n\x1c\x85\u3000\ufeffx", max_size=4),
    since=_DAYS,
    flag=st.text(max_size=6) | st.sampled_from([w.upper() for w in FLAGS] + ["true "]),
    source=st.text(" \x1f\u2028a", max_size=3),
    where=st.text("= \x1ca", max_size=5),
    k=st.integers(-5, MAX_SERVED_K + 5),
    offset=st.integers(-5, 20) | st.integers(MAX_OFFSET - 5, MAX_OFFSET + 5) | st.just(""),
)
@example(
    q="x" * MAX_QUERY_CHARS,
    since="\u0661\u0669\u0668\u0667",
    flag="TRUE",
    source=" ",
    where="=x",
    k=0,
    offset="",
)
@example(
    q="x" * (MAX_QUERY_CHARS + 1),
    since="1900-02-29",
    flag="true\n",
    source="a",
    where=" =",
    k=1001,
    offset=MAX_OFFSET + 1,
)
@example(q='"unclosed', since="", flag="", source="a", where="a=", k=1, offset=0)
def test_the_schema_takes_what_the_contract_takes(
    q: str, since: str, flag: str, source: str, where: str, k: int, offset: int | str
) -> None:
    """For each parameter on its own, the schema and the contract agree on every value, so
    a schema-valid request is answered and a schema-invalid one refused. (Python's white
    space is not JSON Schema's; a date may be a year or a month; ``all`` takes any case.)
    A query's syntax is no schema's: a query that breaks it is refused by the contract
    alone, with the line saying where."""
    refused = _refusal(q=q)
    if _valid("q", q):
        assert refused is None or refused.startswith("the query breaks at character"), repr(q)
    else:
        assert refused is not None, repr(q)
    assert _valid("offset", offset) == _accepted(offset=str(offset)), repr(offset)
    assert _valid("facets", flag) == _accepted(every_copy=flag), repr(flag)
    assert _valid("since", since) == _accepted(since=since), repr(since)
    assert _valid("all", flag) == _accepted(every_copy=flag), repr(flag)
    assert _valid("source", [source]) == _accepted(sources=[source]), repr(source)
    assert _valid("where", [where]) == _accepted(where=[where]), repr(where)
    assert _valid("k", k) == _accepted(k=str(k)), k


# ---------------------------------------------------------------------------
# schemathesis against a live server, every check


def _schemathesis(url: str, tmp_path: Path, *extra: str) -> None:
    hooks = Path(__file__).with_name("schemathesis_hooks.py")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "40",
        "--seed",
        "19",
        "--workers",
        "1",
        *extra,
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(hooks),
        "NEWSSEARCH_TEST_FIELDS": "topics",  # make_records gives its articles topics
        "NEWSSEARCH_TEST_OUTLETS": "Reuters,BBC News",  # and these outlets
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"\b11 selected / 11 total\b", done.stdout), done.stdout[-3000:]


@pytest.mark.process
@pytest.mark.slow
def test_schemathesis_finds_nothing(wire_index: Path, tmp_path: Path) -> None:
    """Every check schemathesis has (``--checks all``), a bounded number of cases each: no
    5xx, every status and body as documented, every schema-valid request answered and every
    schema-invalid one refused, 405 with ``Allow`` for other methods; with a token, 401
    without it. The two rules of /api/search that span parameters are kept by the hooks
    in tests/schemathesis_hooks.py."""
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(wire_index, env=env) as url:
        _schemathesis(url, tmp_path)
    with running_server(wire_index, "--token", "s3cret", env=env) as url:
        _schemathesis(url, tmp_path, "--header", "Authorization: Bearer s3cret")
