"""The HTTP API: through a real uvicorn server on a free local port, against the CLI's own
JSON output; its errors, guards and limits; fuzzed through an in-process client."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeEmbedder, running_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_news import make_records, wire_records, write_jsonl

from search import Index
from search.query.contract import MAX_QUERY_CHARS, MAX_SERVED_K
from search.serve.http import answers_host, make_app
from search.serve.service import Service


@pytest.fixture
def wire_index(tmp_path: Path, fake: FakeEmbedder) -> Path:
    path = tmp_path / "index"
    with Index.create(path, model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "wire", wire_records() + make_records(40)))
    return path


@pytest.fixture
def served(wire_index: Path, tmp_path: Path):
    with running_server(wire_index, env={"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}) as url:
        yield url


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body, headers) of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), _lower(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), _lower(error.headers)


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def cli_json(cli, *args: str) -> list[dict]:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.process
def test_search_answers_as_query_json_prints(served: str, wire_index: Path, cli) -> None:
    for params, flags in [
        ({"q": "OPEC output ceiling"}, []),
        ({"q": "OPEC output ceiling", "all": "true"}, ["--all"]),
        ({"q": "oil", "mode": "dense", "k": "5"}, ["--mode", "dense", "-k", "5"]),
        (
            {"q": "oil", "mode": "lexical", "by": "article"},
            ["--mode", "lexical", "--by", "article"],
        ),
        (
            {"q": "prices", "since": "1987-03", "until": "1987-03-31", "source": "Reuters"},
            ["--since", "1987-03", "--until", "1987-03-31", "--source", "Reuters"],
        ),
        ({"q": "prices", "where": "topics=crude"}, ["--where", "topics=crude"]),
    ]:
        status, body, headers = get(f"{served}/api/search?{urllib.parse.urlencode(params)}")
        assert status == 200, body
        expected = cli_json(cli, "query", params["q"], "-i", str(wire_index), *flags)
        assert body["hits"] == expected and expected, params
        assert body["took_ms"] >= 0
        assert urllib.parse.unquote(headers["x-newssearch-index"]) == str(wire_index.resolve())


@pytest.mark.process
def test_timeline_and_export_answer_as_the_cli(served: str, wire_index: Path, cli) -> None:
    """Through uvicorn: the timeline is ``timeline --json``; the export is streamed
    (chunked, no length known ahead) and is what ``export`` writes, byte for byte."""
    status, timeline, _ = get(f"{served}/api/timeline?q=prices&every=month&split=outlet")
    assert status == 200
    assert [timeline] == cli_json(
        cli, "timeline", "prices", "--every", "month", "--split", "outlet", "-i", str(wire_index)
    )
    for form in ["csv", "jsonl"]:
        url = f"{served}/api/export?q=prices&format={form}&sort=newest"
        with urllib.request.urlopen(url, timeout=30) as response:
            body, headers = response.read(), _lower(response.headers)
        assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        written = cli("export", "prices", "--format", form, "--sort", "newest", "-i", wire_index)
        assert body == written.stdout_bytes and body.count(b"\n") > 5
    status, body, _ = get(f"{served}/api/export?q=%22prices")
    assert status == 400 and body["error"].startswith("the query breaks at character 1")


@pytest.mark.process
def test_articles_similar_and_stats_answer_as_the_cli(served: str, wire_index: Path, cli) -> None:
    status, article, _ = get(f"{served}/api/articles/opec-1")
    assert status == 200
    assert [article] == cli_json(cli, "show", "opec-1", "-i", str(wire_index))
    assert article["duplicates"] == ["wire/opec-2", "wire/opec-3"]
    status, similar, _ = get(f"{served}/api/articles/opec-1/similar?k=3")
    assert status == 200 and len(similar["hits"]) == 3
    assert similar["hits"] == cli_json(cli, "similar", "opec-1", "-k", "3", "-i", str(wire_index))
    status, stats, _ = get(f"{served}/api/stats")
    info = cli_json(cli, "info", "-i", str(wire_index))[0]
    assert status == 200 and stats == info and stats["articles"] == 46
    status, health, _ = get(f"{served}/api/health")
    assert status == 200 and health["status"] == "ok"
    assert health["generation"] == info["generation"] and health["articles"] == 46


@pytest.mark.process
def test_article_ids_with_slashes(tmp_path: Path, fake: FakeEmbedder) -> None:
    news = tmp_path / "news" / "world"
    news.mkdir(parents=True)
    (news / "story.txt").write_text("Floods in the valley\n\nRivers rose over the banks.\n")
    with Index.create(tmp_path / "index", model=fake) as ix:
        ix.add(tmp_path / "news")
        [hit] = ix.search("rivers", k=1)
    assert "/" in hit.article_id
    with running_server(tmp_path / "index", env={"NEWSSEARCH_RUN_DIR": str(tmp_path)}) as url:
        quoted = urllib.parse.quote(hit.article_id, safe="")
        status, article, _ = get(f"{url}/api/articles/{quoted}")
        assert status == 200 and article["id"] == hit.article_id
        status, similar, _ = get(f"{url}/api/articles/{quoted}/similar")
        assert status == 200 and similar["hits"] == []


@pytest.mark.process
@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("q=", 400, "the query is empty"),
        ("q=oil&k=0", 400, "k must be a whole number from 1 to 1,000"),
        ("q=oil&k=1001", 400, "k must be a whole number"),
        ("q=oil&k=1e20", 400, "k must be a whole number"),
        ("q=oil&k=99999999999999999999999", 400, "k must be a whole number"),
        ("q=oil&mode=fuzzy", 400, "mode must be one of hybrid, dense, lexical"),
        ("q=oil&by=word", 400, "by must be one of passage, article"),
        ("q=oil&all=maybe", 400, "all must be true or false"),
        ("q=oil&since=5-MAR", 400, "since '5-MAR' is not a date"),
        ("q=oil&since=1987-04&until=1987-03", 400, "is after until"),
        ("q=oil&where=colour=red", 400, "unknown field 'colour'"),
        ("q=oil&where=nonsense", 400, "is not FIELD=VALUE"),
        ("q=" + "x" * (MAX_QUERY_CHARS + 1), 400, "the limit is 2,000"),
        ("q=%ED%A0%80", 400, ""),  # a lone surrogate's bytes: not UTF-8
        ("q=%FF%FE", 400, ""),
    ],
)
def test_bad_requests_are_400_json(served: str, query: str, status: int, message: str) -> None:
    got, body, headers = get(f"{served}/api/search?{query}")
    assert got == status, body
    assert set(body) == {"error", "exit_code"} and message in body["error"]
    assert headers["content-type"] == "application/json"
    assert "Traceback" not in body["error"]


@pytest.mark.process
def test_unknown_things_are_404_and_writes_are_refused(served: str) -> None:
    status, body, _ = get(f"{served}/api/articles/nope")
    assert status == 404 and "no article with id 'nope'" in body["error"]
    assert body["exit_code"] == 11
    status, body, _ = get(f"{served}/api/articles/nope/similar")
    assert status == 404
    for path in ["/api/nothing", "/static/../search/server.py", "/static/%2e%2e/server.py"]:
        status, body, _ = get(served + path)
        assert status == 404 and "error" in body, path
    for method in ["POST", "PUT", "DELETE", "PATCH"]:
        request = urllib.request.Request(f"{served}/api/search?q=oil", method=method, data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 405
        assert "error" in json.loads(refused.value.read())


@pytest.mark.process
def test_paths_never_reach_the_file_system(served: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    for attempt in [str(secret), "../../secret.txt", "..%2F..%2Fsecret.txt"]:
        status, body, _ = get(f"{served}/api/articles/{attempt}")
        assert status == 404 and "do not serve" not in json.dumps(body)


@pytest.mark.process
def test_the_page_and_the_docs_are_served_offline(served: str) -> None:
    with urllib.request.urlopen(served + "/", timeout=30) as page:
        html = page.read().decode()
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<html" in html.lower() and "http://" not in html and "https://" not in html
    with urllib.request.urlopen(served + "/docs", timeout=30) as docs:
        text = docs.read().decode()
    assert "/docs-assets/swagger-ui-bundle.js" in text and "cdn" not in text.lower()
    status, schema, _ = get(served + "/openapi.json")
    assert status == 200 and "/api/search" in schema["paths"]
    with urllib.request.urlopen(served + "/docs-assets/swagger-ui-bundle.js", timeout=30) as js:
        assert js.status == 200
    for other in ["index.html", "oauth2-redirect.html", "swagger-initializer.js", "..%2Fx"]:
        assert get(f"{served}/docs-assets/{other}")[0] == 404, other  # only what /docs loads


@pytest.mark.process
def test_only_its_own_host_names_are_answered(served: str) -> None:
    status, body, _ = get(f"{served}/api/health", {"Host": "attacker.example:8765"})
    assert status == 421 and "does not answer for host" in body["error"]
    port = served.rsplit(":", 1)[1]
    for host in [f"localhost:{port}", f"127.0.0.1:{port}"]:
        assert get(f"{served}/api/health", {"Host": host})[0] == 200
    local = answers_host("127.0.0.1")
    assert local("localhost") and local("127.0.0.1") and local("::1")
    assert not local("attacker.example") and not local("10.1.2.3")
    assert answers_host("10.1.2.3")("10.1.2.3") and not answers_host("10.1.2.3")("localhost")
    anywhere = answers_host("0.0.0.0")  # reachable by address, never by another name
    assert anywhere("10.1.2.3") and anywhere("fe80::1") and anywhere("localhost")
    assert not anywhere("attacker.example") and not anywhere("127.0.0.1.nip.io")


@pytest.mark.process
def test_no_cors_unless_asked(served: str, wire_index: Path, tmp_path: Path) -> None:
    origin = {"Origin": "http://elsewhere.example"}
    _, _, headers = get(f"{served}/api/search?q=oil", origin)
    assert "access-control-allow-origin" not in headers
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run2")}
    with running_server(wire_index, "--cors", "http://elsewhere.example", env=env) as url:
        _, _, headers = get(f"{url}/api/search?q=oil", origin)
        assert headers["access-control-allow-origin"] == "http://elsewhere.example"
        _, _, headers = get(f"{url}/api/search?q=oil", {"Origin": "http://other.example"})
        assert "access-control-allow-origin" not in headers


@pytest.mark.process
def test_cors_and_a_token_together(wire_index: Path, tmp_path: Path) -> None:
    """A page on the named origin can ask with its token: the preflight, which carries
    none, is answered, and the answer carries the CORS header even when refused."""
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    origin = "http://elsewhere.example"
    with running_server(wire_index, "--token", "s3cret", "--cors", origin, env=env) as url:
        preflight = urllib.request.Request(
            f"{url}/api/search?q=oil",
            method="OPTIONS",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        with urllib.request.urlopen(preflight, timeout=30) as answer:
            assert answer.status == 200
            assert answer.headers["access-control-allow-origin"] == origin
            assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        status, body, headers = get(
            f"{url}/api/search?q=oil", {"Origin": origin, "Authorization": "Bearer s3cret"}
        )
        assert status == 200 and body["hits"] and headers["access-control-allow-origin"] == origin
        status, _, headers = get(f"{url}/api/search?q=oil", {"Origin": origin})
        assert status == 401 and headers["access-control-allow-origin"] == origin


@pytest.mark.process
def test_a_token_guards_every_endpoint(wire_index: Path, tmp_path: Path) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(wire_index, "--token", "s3cret", env=env) as url:
        for path in ["/", "/api/search?q=oil", "/api/stats", "/api/health", "/docs"]:
            status, body, _ = get(url + path)
            assert status == 401 and "token" in body["error"], path
            assert get(url + path, {"Authorization": "Bearer wrong"})[0] == 401
        status, body, _ = get(f"{url}/api/search?q=oil", {"Authorization": "Bearer s3cret"})
        assert status == 200 and body["hits"]
        # The page opened with ?token= keeps it in a cookie for its own requests.
        with urllib.request.urlopen(f"{url}/?token=s3cret", timeout=30) as page:
            cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        port = url.rsplit(":", 1)[1]
        assert cookie.startswith(f"newssearch_token_{port}=s3cret")  # one per server
        status, _, _ = get(f"{url}/api/stats", {"Cookie": cookie.split(";")[0]})
        assert status == 200


@pytest.mark.process
def test_no_index_is_503_until_one_is_built(tmp_path: Path, fake: FakeEmbedder) -> None:
    path = tmp_path / "later"
    with running_server(path, env={"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}) as url:
        status, body, _ = get(f"{url}/api/search?q=oil")
        assert status == 503 and body["error"].startswith(f"no index at {path}")
        assert get(f"{url}/api/health")[0] == 503
        with Index.create(path, model=fake) as ix:
            ix.add(write_jsonl(tmp_path / "wire", wire_records()))
        status, body, _ = get(f"{url}/api/search?q=OPEC")
        assert status == 200 and body["hits"][0]["title"].startswith("OPEC")


@pytest.mark.process
def test_a_damaged_index_is_503_with_the_cli_message(wire_index: Path, tmp_path: Path) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(wire_index, env=env) as url:
        assert get(f"{url}/api/search?q=oil")[0] == 200
        for segment in wire_index.glob("*.vec"):
            segment.write_bytes(b"garbage")
        shutil.rmtree(wire_index / "lexical", ignore_errors=True)
        (wire_index / "manifest.json").write_text("{")
        (wire_index / "store.sqlite").write_bytes(b"not a database" * 100)
        status, body, _ = get(f"{url}/api/search?q=prices&mode=dense")
        assert status == 503, body
        assert "rebuild the index" in body["error"] or "unreadable" in body["error"]


# ---------------------------------------------------------------------------
# Fuzzing: every request gets JSON and a 2xx or 4xx, never a 500


@pytest.fixture
def client(wire_index: Path, fake: FakeEmbedder):
    from fastapi.testclient import TestClient

    service = Service(wire_index, model=fake)
    app = make_app(service)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=True) as client:
        yield client
    service.close()


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_FIXTURE = [HealthCheck.function_scoped_fixture]  # one server for all examples is the point
_PARAM = st.sampled_from(["q", "k", "mode", "since", "until", "source", "where", "by", "all"])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.lists(st.tuples(_PARAM, _TEXT), max_size=8))
def test_fuzzed_search_requests(client, params: list[tuple[str, str]]) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code in (200, 400), (params, response.text)
    body = response.json()
    assert ("hits" in body) if response.status_code == 200 else ("error" in body)
    assert response.status_code == 200 or "\n" not in body["error"], body


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=60), k=_TEXT)
def test_fuzzed_bytes_and_ids(client, raw: bytes, k: str) -> None:
    quoted = urllib.parse.quote_from_bytes(raw, safe="")
    for path in [f"/api/search?q={quoted}", f"/api/articles/{quoted}"]:
        response = client.get(path)
        assert response.status_code in (200, 400, 404), (path, response.text)
        assert response.json()
    response = client.get(f"/api/articles/opec-1/similar?k={urllib.parse.quote(k)}")
    assert response.status_code in (200, 400), response.text


def test_hostile_queries_get_answers_or_a_400_with_one_line(client) -> None:
    from conftest import HOSTILE_QUERIES, HOSTILE_REFUSED

    for text in HOSTILE_QUERIES:
        for mode in ["hybrid", "lexical", "dense"]:
            response = client.get("/api/search", params={"q": text, "mode": mode})
            body = response.json()
            shown = (text[:30], mode, response.status_code, body)
            if len(text) > MAX_QUERY_CHARS:
                assert response.status_code == 400, shown
                assert body["error"] == (
                    f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
                )
            elif text in HOSTILE_REFUSED:  # the syntax's own line, saying where or why
                assert response.status_code == 400, shown
                assert body["error"].startswith(HOSTILE_REFUSED[text]), shown
                assert "\n" not in body["error"] and body["exit_code"] == 3, shown
            else:
                assert response.status_code == 200, shown
                assert isinstance(body["hits"], list), shown


def test_limits_are_the_services(client) -> None:
    assert client.get("/api/search", params={"q": "oil", "k": MAX_SERVED_K}).status_code == 200
    response = client.get("/api/search", params={"q": "oil", "source": ["x"] * 65})
    assert response.status_code == 400 and "at most 64" in response.json()["error"]


# ---------------------------------------------------------------------------
# Live while another process indexes


@pytest.mark.process
def test_live_while_a_writer_commits(served: str, wire_index: Path, tmp_path: Path) -> None:
    """Each writer run adds five articles sharing a word, in one commit. Requests run all
    the while: every one is answered, none sees part of a batch, and the first request
    after a run returns sees the whole batch."""
    import subprocess
    import sys
    import threading

    writer = Path(__file__).with_name("indexer_process.py")
    news = tmp_path / "live"
    seen: list[tuple[int, int]] = []  # (batch, hits) from the readers
    failures: list[str] = []
    stop = threading.Event()
    batches = 4

    def read() -> None:
        batch = 0
        while not stop.is_set():
            status, body, _ = get(f"{served}/api/search?q=zebra{batch}&mode=lexical&k=20&all=1")
            if status != 200:
                failures.append(f"{status} {body}")
            else:
                seen.append((batch, sum(f"zebra{batch}" in h["text"] for h in body["hits"])))
            status, body, _ = get(f"{served}/api/search?q=zebra{batch}+herd&mode=dense")
            if status != 200:  # the vectors' side of each commit, read as it lands
                failures.append(f"{status} {body}")
            batch = (batch + 1) % batches

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for batch in range(batches):
            for number in range(5):
                (news / f"b{batch}").mkdir(parents=True, exist_ok=True)
                (news / f"b{batch}" / f"{number}.txt").write_text(
                    f"Batch {batch} story {number}\n\nThe zebra{batch} herd crossed river "
                    f"number {number} at dawn, wardens said.\n"
                )
            subprocess.run(
                [sys.executable, str(writer), "index", str(wire_index), str(news)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            status, body, _ = get(f"{served}/api/search?q=zebra{batch}&mode=lexical&k=20&all=1")
            assert status == 200, body
            assert sum(f"zebra{batch}" in hit["text"] for hit in body["hits"]) == 5, batch
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not failures, failures[:3]
    assert {hits for _, hits in seen} <= {0, 5}, sorted(set(seen))
    assert len(seen) > 20 and any(hits == 5 for _, hits in seen)
    status, stats, _ = get(f"{served}/api/stats")
    assert stats["articles"] == 46 + 5 * batches


# ---------------------------------------------------------------------------
# The real command, the real model


@pytest.mark.process
@pytest.mark.slow
def test_newssearch_serve_on_the_readme_example(tmp_path: Path) -> None:
    """As the README runs it: index the seed article, serve it, ask the API, the page and
    the CLI (through the server, and alone), then stop it with Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import need_shared

    seeds = need_shared("seeds")
    command = str(Path(sys.executable).with_name("newssearch"))
    index = tmp_path / "index"
    env = {**os.environ, "NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    subprocess.run([command, "index", str(seeds), "-i", str(index), "-q"], check=True, env=env)
    server = subprocess.Popen(
        [command, "serve", "-i", str(index), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split("/ ", 1)[0]
        status, body, _ = get(f"{url}/api/search?q=Kataib+Hezbollah&k=3")
        assert status == 200
        assert body["hits"][0]["text"].startswith("Kataib Hezbollah, or Brigades of the Party")
        with urllib.request.urlopen(url + "/", timeout=30) as page:
            assert page.status == 200 and b"/static/app.js" in page.read()
        query = [command, "query", "Kataib Hezbollah", "-i", str(index)]
        served = subprocess.run(query, capture_output=True, text=True, env=env, check=True)
        alone = subprocess.run(
            query,
            capture_output=True,
            text=True,
            env={**env, "NEWSSEARCH_NO_SERVER": "1"},
            check=True,
        )
        assert served.stdout == alone.stdout and "Kataib Hezbollah, or Brigades" in served.stdout
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    assert not list((tmp_path / "run").glob("*.json"))  # its address file went with it


def test_serve_refuses_a_busy_port_and_warns_off_loopback(cli, wire_index: Path) -> None:
    import socket

    from conftest import one_line_error

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("serve", "-i", str(wire_index), "--port", str(port))
        assert "cannot listen on 127.0.0.1" in one_line_error(busy, 2)
    # An address of the documentation range: nothing here has it, so nothing is exposed,
    # but the warning comes first.
    elsewhere = cli("serve", "-i", str(wire_index), "--host", "192.0.2.1", "--port", "0")
    assert elsewhere.exit_code == 2
    lines = elsewhere.stderr.strip().splitlines()
    assert lines[0].startswith("warning: listening on 192.0.2.1: anyone who can reach")
    assert lines[1].startswith("error: cannot listen on 192.0.2.1:0")
    assert one_line_error(cli("serve", "--port", "70000"), 2).startswith("error: --port 70000")


@pytest.mark.process
def test_a_removed_or_rebuilt_index_is_never_served_stale(
    wire_index: Path, tmp_path: Path, fake: FakeEmbedder
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(wire_index, env=env) as url:
        assert get(f"{url}/api/stats")[1]["articles"] == 46
        shutil.rmtree(wire_index)
        status, body, _ = get(f"{url}/api/search?q=oil")
        assert status == 503 and body["error"].startswith(f"no index at {wire_index}")
        with Index.create(wire_index, model=fake) as ix:  # the same name, a new index
            ix.add(write_jsonl(tmp_path / "new", make_records(3, seed=5)))
        for mode in ["hybrid", "dense", "lexical"]:
            status, body, _ = get(f"{url}/api/search?q=strike+price+grain&mode={mode}&k=50")
            assert status == 200 and {h["article_id"] for h in body["hits"]} <= {
                "a000",
                "a001",
                "a002",
            }, mode
        assert get(f"{url}/api/stats")[1]["articles"] == 3


def test_threads_keep_answering_while_the_index_is_rebuilt(
    wire_index: Path, tmp_path: Path, fake: FakeEmbedder
) -> None:
    """Queries in flight on the old index finish on it; none crashes the process or mixes
    the two; each answer is one index's or a 503-kind error."""
    import threading

    from search import SearchError
    from search.query.contract import SearchRequest
    from search.serve.service import status_of

    service = Service(wire_index, model=fake)
    service.warm()
    first = {h["article_id"] for h in service.search(SearchRequest.make("oil", k=100))["hits"]}
    seen: list[set[str]] = []
    errors: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                hits = service.search(SearchRequest.make("oil", k=100, mode="dense"))["hits"]
                seen.append({h["article_id"] for h in hits})
            except SearchError as error:
                if status_of(error) != 503:
                    errors.append(repr(error))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    builds = [first]
    try:
        for round_ in range(3):
            records = [{**r, "id": f"r{round_}-{r['id']}"} for r in make_records(3, seed=round_)]
            builds.append({r["id"] for r in records})
            shutil.rmtree(wire_index)
            with Index.create(wire_index, model=fake) as ix:
                ix.add(write_jsonl(tmp_path / f"new{round_}", records))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    last = service.search(SearchRequest.make("oil", k=100))["hits"]
    service.close()
    assert not errors, errors[:3]
    assert seen and all(any(ids <= build for build in builds) for ids in seen)
    assert {hit["article_id"] for hit in last} == builds[-1]
