"""The CLI's fast path: ``newssearch query`` through a running server prints what it would
print without one, and falls back silently when there is no usable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder, running_server
from test_news import make_records, wire_records, write_jsonl

from search import Index, fastpath
from search.fastpath import parse_query_args

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
]


def test_a_query_through_the_server_prints_what_the_cli_prints(
    wire_index: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run"), "NEWSSEARCH_INDEX": str(wire_index)}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    monkeypatch.setenv("NEWSSEARCH_INDEX", str(wire_index))  # for the in-process CLI too
    with running_server(wire_index, env=env):
        assert fastpath.find_server(wire_index) is not None
        for args in QUERIES:
            served = newssearch("query", *args, env=env)
            local = cli("query", *args)  # in-process with the fake model: no server
            assert (served.returncode, served.stdout, served.stderr) == (
                local.exit_code,
                local.stdout,
                local.stderr,
            ), args
        # The fresh process answered a dense query: only the server has the fake model.
        dense = newssearch(
            "query", "OPEC", "--mode", "dense", "--json", "-i", str(wire_index), env=env
        )
        assert dense.returncode == 0 and json.loads(dense.stdout.splitlines()[0])["rank"] == 1
    assert fastpath.find_server(wire_index) is None  # the server removed its file
    alone = newssearch("query", "OPEC", "--mode", "dense", env=env)
    assert alone.returncode == 8 and alone.stderr.startswith("error: ")  # no fake model here


def test_it_falls_back_silently(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    args = ["query", "OPEC output ceiling", "--mode", "lexical", "-i", str(wire_index)]
    expected = newssearch(*args, env={**env, "NEWSSEARCH_NO_SERVER": "1"})
    assert expected.returncode == 0 and "opec" in expected.stdout
    marker = Path(fastpath.marker_for(wire_index))
    marker.parent.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    cases = {
        "a dead process": {"pid": int(dead.stdout), "host": "127.0.0.1", "port": 9},
        "nothing listening": {"pid": os.getpid(), "host": "127.0.0.1", "port": _closed_port()},
        "another index": {"pid": os.getpid(), "host": "127.0.0.1", "port": 9, "index": "/x"},
        "garbage": None,
    }
    for case, record in cases.items():
        if record is None:
            marker.write_text("{not json")
        else:
            marker.write_text(json.dumps({"index": str(wire_index.resolve()), **record}))
        got = newssearch(*args, env=env)
        assert (got.returncode, got.stdout, got.stderr) == (0, expected.stdout, ""), case


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
    )
    assert options == {
        "text": "oil",
        "index": "ix",
        "top": "5",
        "source": ["A", "B"],
        "where": ["t=x"],
        "all": True,
    }


def test_the_servers_file_is_private(
    wire_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run")}
    monkeypatch.setenv("NEWSSEARCH_RUN_DIR", env["NEWSSEARCH_RUN_DIR"])
    with running_server(wire_index, "--token", "s3cret", env=env):
        marker = Path(fastpath.marker_for(wire_index))
        record = json.loads(marker.read_text())
        assert marker.stat().st_mode & 0o077 == 0
        assert record["token"] == "s3cret" and record["host"] == "127.0.0.1"
        got = newssearch("query", "OPEC", "--mode", "dense", "-i", str(wire_index), env=env)
        assert got.returncode == 0 and "opec" in got.stdout  # the token went with it


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
