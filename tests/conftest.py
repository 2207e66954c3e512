"""Shared fixtures: a tiny deterministic embedder (tests/fakes.py), and an index folder in
tmp_path."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder
from typer.testing import CliRunner

from search.cli.commands import app

SHARED = Path(__file__).resolve().parents[2] / "shared"


def need_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the checkout), which is absent")
    return path


# Queries that must get an answer or nothing, never a traceback, from either lexical engine.
HOSTILE_QUERIES = [
    '"',
    '""',
    "AND",
    "OR OR",
    "NOT",
    "NEAR(",
    "NEAR(a b, 3)",
    "*",
    "a*",
    "a:b",
    "title:x",
    "(x",
    "x)",
    "^x",
    "-x",
    "+x",
    "{a b}: c",
    "'; DROP TABLE articles; --",
    "depot " * 2000,
    "x" * 10_000,
    "\U0001f4a5\U0001f525",
    "ضربات على كتائب",
    "中国新闻",
    "\x00",
    "",
    " \n\t ",
    "body:depot",  # names of tantivy's own fields: here, fields the index does not hold
    "id:0",
]
# Those the query syntax (search/query/syntax.py) refuses, and the start of the one line
# that says where the query breaks or why; every other one is searched.
HOSTILE_REFUSED = {
    '"': "the query breaks at character 1: this quote is never closed",
    '""': "the query breaks at character 1: these quotes hold no words",
    "AND": "the query breaks at character 1: AND has nothing before it",
    "OR OR": "the query breaks at character 1: OR has nothing before it",
    "NOT": "the query breaks at character 1: NOT has nothing after it",
    "NEAR(": "the query breaks at character 5: this '(' is never closed",
    "(x": "the query breaks at character 1: this '(' is never closed",
    "x)": "the query breaks at character 2: this ')' closes nothing",
    "a:b": "unknown field 'a' in the query — fields in this index: ",
    "body:depot": "unknown field 'body' in the query — fields in this index: ",
    "id:0": "unknown field 'id' in the query — fields in this index: ",
    "": "the query is empty",
    " \n\t ": "the query is empty",
}
assert set(HOSTILE_REFUSED) <= set(HOSTILE_QUERIES)


@pytest.fixture
def without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing ray (or any of its modules) fails, as where the extra is not installed."""
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> dict[str | None, FakeEmbedder]:
    """Make every model name load a fake embedder (one per name), for CLI tests."""
    made: dict[str | None, FakeEmbedder] = {}

    def load(model: str | Path | None = None) -> FakeEmbedder:
        key = None if model is None else str(model)
        if key not in made:
            made[key] = FakeEmbedder(name=key or "fake-hash")
        return made[key]

    monkeypatch.setattr("search.index.load_embedder", load)
    return made


@pytest.fixture(autouse=True)
def _processes_only_in_process_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that starts a process (a server, an indexer to kill, the CLI, a browser) is
    marked ``process``, so that ``-m "not slow and not process"`` stays a loop of seconds: a
    test without the mark that starts one fails, naming the mark."""
    if request.node.get_closest_marker("process") is not None:
        return

    def refuse(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"{request.node.nodeid} starts a process ({args!r}): mark it @pytest.mark.process"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture(autouse=True)
def _index_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never let a test touch ./index: the default index lives in tmp_path."""
    monkeypatch.setenv("NEWSSEARCH_INDEX", str(tmp_path / "index"))
    return tmp_path / "index"


def write_articles(folder: Path, articles: dict[str, str]) -> Path:
    """Write ``{relative name: content}`` under ``folder``."""
    for name, content in articles.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def cli(fake_models: dict) -> Callable[..., object]:
    """Run the CLI in-process with fake models; an exception escaping it fails the test."""
    runner = CliRunner()

    def invoke(*args: object):
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"traceback for {args}") from result.exception
        assert "Traceback" not in result.output
        return result

    return invoke


def one_line_error(result: Any, code: int) -> str:
    """The one line a failed command printed, having checked its exit code."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@contextlib.contextmanager
def running_server(index: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real server process (tests/server_process.py: uvicorn, fake embedder) on a free
    local port; yields its base URL (``http://127.0.0.1:PORT``) and stops it after."""
    script = Path(__file__).with_name("server_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(index), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if " at http://" not in line:
            raise AssertionError(f"the server did not start: {line}{process.stdout.read()}")
        yield line.split(" at ", 1)[1].split("/ ", 1)[0]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
