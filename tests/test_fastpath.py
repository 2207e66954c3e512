"""The CLI's fast path: ``newssearch query``, ``show`` and ``similar`` through a running
server print what they would print without one, and fall back silently when there is no
usable server."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import FakeEmbedder, running_server
from test_news import make_records, wire_records, write_jsonl

from search import Index
from search.cli import fastpath
from search.cli.fastpath import parse_query_args
from search.index import ArticleDetail
from search.serve import local_socket

COMMAND = Path(sys.executable).with_name("newssearch")
_TEXT = {"capture_output": True, "text": True}


@pytest.fixture
def wire_index(tmp_path: Path, fake: FakeEmbedder) -> Path:
    path = tmp_path / "índex 新闻"  # the name travels in a header: must not need ASCII
    with Index.create(path, model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "wire", wire_records() + make_records(40)))
    return path


def newssearch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh process, as a user runs it (stdout is a pipe)."""
    return subprocess.run(
        [str(COMMAND), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


QUERIES = [
    ["OPEC output ceiling"],
    ["OPEC output ceiling", "--all", "-k", "3"],
    ["prices", "--since", "1987-03", "--until=1987-03-31", "--source", "Reuters"],
    ["prices", "--where", "topics=crude", "--by", "article"],
    ["strike", "--json", "--top", "7"],
    ["strike", "--mode", "lexical", "--source", "Nobody"],  # no hits: the message
    ["oil", "--since", "5-MAR"],  # refused: the error and its exit code
    ["oil", "--where", "colour=red"],
    ['"output ceiling'],  # syntax the contract refuses: the CLI says so
    ["colour:red OR oil"],  # refused by the server: its message, the CLI's exit code
]
RESEARCH = [  # each answered through the server (checked), as the CLI answers it
    ["OPEC output ceiling", "--sort", "newest", "-k", "3"],
    ["oil", "--offset", "2", "-k", "2"],
    ["prices", "--facets"],
    ["prices", "--facets", "--json", "-k", "2", "--sort=oldest"],
    ['"output ceiling" -Argentina', "--by", "article"],
    ["oil", "--offset", "1000", "--facets"],  # no more hits, and the facets
    ["topics:crude", "--sort", "oldest", "--json", "--offset=1"],
]
BEYOND_THE_SERVERS_LIMITS = [  # the CLI runs these itself (lexical: no model needed here)
    ["oil", "--mode", "lexical", *["--source", "x"] * 65],
    ["oil", "--mode", "lexical", "--where", "topics=" + "x" * 2001],
    ["oil", "--mode", "lexical", "--since", "1" * 65],
]


@pytest.mark.process
def test_a_query_through_the_server_prints_what_the_cli_prints(
    wire_index: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run"), "NEWSSEARCH_INDEX": str(wire_index)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    monkeypatch.setenv("NEWSSEARCH_INDEX", str(wire_index))  # for the in-process CLI too
    with running_server(wire_index, env=env):
        assert local_socket.find_server(wire_index) is not None
        for args in QUERIES + RESEARCH + BEYOND_THE_SERVERS_LIMITS:
            served = newssearch("query", *args, env=env)
            local = cli("query", *args)  # in-process with the fake model: no server
            assert (served.returncode, served.stdout, served.stderr) == (
                local.exit_code,
                local.stdout,
                local.stderr,
            ), args
        for args in RESEARCH:
            assert fastpath.query_through_server(args) == 0, args  # None: left to the CLI
        # The fresh process answered a dense query: only the server has the fake model.
        dense = newssearch(
            "query", "OPEC", "--mode", "dense", "--json", "-i", str(wire_index), env=env
        )
        assert dense.returncode == 0 and json.loads(dense.stdout.splitlines()[0])["rank"] == 1
    assert local_socket.find_server(wire_index) is None  # the server removed its file
    alone = newssearch("query", "OPEC", "--mode", "dense", env=env)
    assert alone.returncode == 8 and alone.stderr.startswith("error: ")  # no fake model here


@pytest.mark.process
def test_it_falls_back_silently(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    run = tmp_path / "run"
    env = {"NEWSSEARCH_RUN_DIR": str(run)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(run))
    args = ["query", "OPEC output ceiling", "--mode", "lexical", "-i", str(wire_index)]
    expected = newssearch(*args, env={**env, "NEWSSEARCH_NO_SERVER": "1"})
    assert expected.returncode == 0 and "opec" in expected.stdout
    run.mkdir(mode=0o700)
    path = local_socket.socket_for(wire_index, str(run))
    # A socket left by a killed server: the file is there, nobody listens.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    assert local_socket.find_server(wire_index) == path
    got = newssearch(*args, env=env)
    assert (got.returncode, got.stdout, got.stderr) == (0, expected.stdout, "")
    # A server that accepts and never answers (stopped with Ctrl-Z, say): given up on.
    os.unlink(path)
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(path)
    silent.listen()
    monkeypatch.setattr(fastpath, "ANSWER_SECONDS", 0.5)
    assert fastpath.query_through_server(args[1:]) is None
    silent.close()
    os.unlink(path)
    # Not a socket, or a folder others can reach: not asked at all.
    Path(path).write_text("{}")
    assert local_socket.find_server(wire_index) is None
    os.unlink(path)
    run.chmod(0o755)
    assert local_socket.private_folder(create=False) is None
    got = newssearch(*args, env=env)
    assert (got.returncode, got.stdout, got.stderr) == (0, expected.stdout, "")


def test_a_shared_or_linked_folder_is_never_used(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(link))
    assert local_socket.private_folder(create=True) is None
    assert local_socket.listen_privately(wire_index) is None
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    loose.chmod(0o777)
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(loose))
    assert local_socket.private_folder(create=False) is None  # a reader trusts nothing loose
    assert local_socket.private_folder(create=True) == str(loose)  # a server makes it private
    assert loose.stat().st_mode & 0o777 == 0o700


def test_the_first_server_on_an_index_keeps_the_fast_path(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(tmp_path / "run"))
    first = local_socket.listen_privately(wire_index)
    assert first is not None
    assert local_socket.listen_privately(wire_index) is None  # the first one answers
    first.close()
    assert not Path(first.path).exists()
    second = local_socket.listen_privately(wire_index)
    assert second is not None
    second.close()


@pytest.mark.process
def test_a_server_for_another_index_is_not_asked(wire_index: Path, tmp_path: Path, fake) -> None:
    other = tmp_path / "other"
    with Index.create(other, model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "more", make_records(5, seed=3)))
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    with running_server(other, env=env):
        got = newssearch("query", "OPEC", "--mode", "dense", "-i", str(wire_index), env=env)
    assert got.returncode == 8  # ran locally: the fake model exists only in the server


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["oil", "--model", "x"],
        ["oil", "-k5"],
        ["oil", "-k", "0"],
        ["oil", "-k", "5000"],
        ["oil", "--mode", "fuzzy"],
        ["oil", "extra"],
        [],
        ["oil", "--since"],
        ["oil", "--since="],
        ["oil", "--sort", "best"],
        ["oil", "--offset", "-1"],
        ['"oil'],
        ["  "],
        ["oil\ttab"],
        ["x" * 2001],
    ],
)
def test_anything_unusual_goes_to_the_cli(args: list[str]) -> None:
    assert parse_query_args(args) is None


def test_the_arguments_it_understands() -> None:
    options = parse_query_args(
        ["oil", "-i", "ix", "--top=5", "--source", "A", "--source=B", "--where", "t=x", "--all"]
        + ["--sort", "newest", "--offset=20", "--facets"]
    )
    assert options == {
        "text": "oil",
        "index": "ix",
        "top": "5",
        "source": ["A", "B"],
        "where": ["t=x"],
        "all": True,
        "sort": "newest",
        "offset": "20",
        "facets": True,
    }
    assert parse_query_args(["oil", "--offset", "100001"]) is None  # past a server's limit


@pytest.mark.process
def test_the_socket_is_private_and_needs_no_token(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    env = {"NEWSSEARCH_RUN_DIR": str(run)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(run))
    with running_server(wire_index, "--token", "s3cret", env=env):
        path = Path(local_socket.find_server(wire_index) or "")
        assert path.is_socket() and path.stat().st_mode & 0o077 == 0
        assert run.stat().st_mode & 0o777 == 0o700
        assert not [p for p in run.iterdir() if p != path]  # no file with a token in it
        got = newssearch("query", "OPEC", "--mode", "dense", "-i", str(wire_index), env=env)
        assert got.returncode == 0 and "opec" in got.stdout  # the server answered
    assert not path.exists()


@pytest.mark.process
def test_bytes_that_are_not_utf8_never_reach_the_server(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract refuses them first, so the CLI says so itself, as without a server (they
    once went on to be percent-encoded for the server, and raised there)."""
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run"), "NEWSSEARCH_INDEX": str(wire_index)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    cases = [
        [b"oil", b"--source", b"Reuters\xff"],
        [b"oil", b"--where", b"topics=\xff"],
        [b"oil", b"--since", b"\xff"],
        [b"oil", b"--until", b"1987\xff"],
        [b"oil \xff"],
    ]
    with running_server(wire_index, env=env):
        assert local_socket.find_server(wire_index) is not None
        for args in cases:
            served = newssearch("query", *args, env=env)  # type: ignore[arg-type]
            alone = newssearch("query", *args, env={**env, "NEWSSEARCH_NO_SERVER": "1"})  # type: ignore[arg-type]
            assert (served.returncode, served.stderr.count("\n")) == (3, 1), (args, served.stderr)
            assert "is not valid text" in served.stderr
            assert (served.returncode, served.stdout, served.stderr) == (
                alone.returncode,
                alone.stdout,
                alone.stderr,
            )


@pytest.mark.process
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_server_stopped_by_a_signal_removes_its_socket(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: signal.Signals
) -> None:
    run = tmp_path / "run"
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", str(run))
    script = Path(__file__).with_name("server_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(wire_index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NEWSSEARCH_RUN_DIR": str(run)},
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        assert " at http://" in started, started + process.stdout.read()
        url = started.split(" at ", 1)[1].split("/ ", 1)[0]
        with urllib.request.urlopen(url + "/api/health", timeout=30) as answer:
            assert answer.status == 200  # uvicorn is serving: the signal is its to handle
        assert local_socket.find_server(wire_index) is not None
        process.send_signal(stop)
        code = process.wait(timeout=30)
        said = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (code, said) == (0, "")  # a clean stop, not a signal's death
    assert list(run.iterdir()) == []  # the socket's file went with it


# ---------------------------------------------------------------------------
# show and similar

MORE = [  # a second collection: an id the first also holds, and ids a URL must escape
    {
        "id": "a001",
        "title": "Coffee talks",
        "text": "Coffee growers met in London.\n\nTalks go on.",
    },
    {"id": "similar", "text": "Crude oil output rose as the cartel met, dealers said today."},
    {"id": "x?y#z 50% ü+1", "title": "Cocoa", "text": "Cocoa tonnes fell.", "topics": ["a", "b"]},
]
ARTICLES = [  # (command, args, answered by the server)
    ("show", ["opec-1"], True),
    ("show", ["opec-2", "--json"], True),
    ("show", ["wire/brief"], True),
    ("show", ["more/x?y#z 50% ü+1"], True),
    ("show", ["more/similar", "-i", "{index}"], False),  # the API's address for similar
    ("show", ["a001"], True),  # ambiguous: the error and its exit code
    ("show", ["a001", "--json"], True),
    ("show", ["nobody"], True),  # unknown: said as the CLI says it
    ("show", ["nobody", "--json"], True),
    ("similar", ["opec-1"], True),
    ("similar", ["opec-1", "--top=2", "--json"], True),
    ("similar", ["more/similar", "-k", "3"], True),
    ("similar", ["opec-1", "-k", " 2"], True),  # as the CLI reads it, and the URL escapes it
    ("similar", ["a001", "--json"], True),
    ("similar", ["nobody"], True),
    ("similar", ["opec-1", "-k", "0"], False),  # refused: the CLI's words
    ("similar", ["opec-1", "-k", "5000"], False),  # beyond the server's limit
]


@pytest.fixture
def two_collections(wire_index: Path, tmp_path: Path, fake: FakeEmbedder) -> Path:
    with Index.open(wire_index, model=fake) as ix:
        ix.add(write_jsonl(tmp_path / "more", MORE, name="more.jsonl"))
    return wire_index


@pytest.mark.process
def test_show_and_similar_through_the_server_print_what_the_cli_prints(
    two_collections: Path,
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = two_collections
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run"), "NEWSSEARCH_INDEX": str(index)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    monkeypatch.setenv("NEWSSEARCH_INDEX", str(index))
    through = {"show": fastpath.show_through_server, "similar": fastpath.similar_through_server}
    with running_server(index, env=env):
        for command, given, served in ARTICLES:
            args = [arg.format(index=index) for arg in given]
            got = newssearch(command, *args, env=env)
            local = cli(command, *args)  # in-process, no server
            assert (got.returncode, got.stdout, got.stderr) == (
                local.exit_code,
                local.stdout,
                local.stderr,
            ), (command, args)
            # The same arguments here: the server answered them, or the CLI must.
            code = through[command](args)
            printed = capsys.readouterr()
            assert (code is not None) == served, (command, args)
            if served:
                assert (code, printed.out, printed.err) == (got.returncode, got.stdout, got.stderr)
    assert "2 collections hold an article 'a001'" in cli("show", "a001").stderr
    assert "no article with id 'nobody' in " + str(index) in cli("similar", "nobody").stderr
    assert "Cocoa" in cli("show", "more/x?y#z 50% ü+1").stdout


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("show", ["--help"]),
        ("show", []),
        ("show", ["a", "b"]),
        ("show", ["a", "-k", "3"]),
        ("show", ["a", "--all"]),
        ("show", ["a", "-i"]),
        ("show", ["a", "--index="]),
        ("show", ["-x"]),
        ("show", ["a\tb"]),
        ("show", ["x" * 4097]),
        ("similar", ["a", "-k", "0"]),
        ("similar", ["a", "-k", "5000"]),
        ("similar", ["a", "-k5"]),
        ("similar", ["a", "--top"]),
        ("similar", ["a", "--mode", "dense"]),
    ],
)
def test_anything_unusual_in_show_or_similar_goes_to_the_cli(command: str, args: list[str]) -> None:
    assert fastpath.parse_article_args(command, args) is None


def test_the_article_arguments_it_understands() -> None:
    assert fastpath.parse_article_args("show", ["wire/a", "-i", "ix", "--json"]) == {
        "id": "wire/a",
        "index": "ix",
        "json": True,
    }
    assert fastpath.parse_article_args("similar", ["a", "--top=3", "--index=ix"]) == {
        "id": "a",
        "top": "3",
        "index": "ix",
    }


def test_an_article_is_checked_whole_before_it_is_printed(
    wire_index: Path, fake: FakeEmbedder
) -> None:
    with Index.open(wire_index, model=fake) as ix:
        article = json.loads(json.dumps(dataclasses.asdict(ix.article("opec-1"))))
    assert fastpath.ARTICLE_FIELDS.keys() == {f.name for f in dataclasses.fields(ArticleDetail)}
    assert fastpath._article_shaped(article)
    for name, value in [
        ("paragraphs", ["one", 2]),
        ("duplicates", [None]),
        ("fields", {"topics": ["a", 1]}),
        ("fields", {"meta": {"x": 1}}),
        ("published", 1987),
        ("passages", "2"),
    ]:
        assert not fastpath._article_shaped({**article, name: value}), name
    assert not fastpath._article_shaped({**article, "extra": 1})
    assert not fastpath._article_shaped({k: v for k, v in article.items() if k != "url"})
