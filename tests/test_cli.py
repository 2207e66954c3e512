"""The CLI as a user meets it: output, JSON lines, summaries, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles
from typer.testing import CliRunner

from search import Index
from search.cli.commands import app

STORIES = {
    "iraq.txt": "US strikes in Iraq\n\nThe US struck militia bases in Anbar province.\n\n"
    "Kataib Hezbollah, or Brigades of the Party of God, is an Iraqi Shia militia.\n",
    "cocoa.txt": "Cocoa review\n\nShowers continued in the Bahia cocoa zone.\n",
}


@pytest.fixture
def run(fake_models: dict) -> object:
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def indexed(run, tmp_path: Path) -> Path:
    folder = write_articles(tmp_path / "news", STORIES)
    result = run("index", folder)
    assert result.exit_code == 0, result.output
    return folder


def test_index_prints_a_summary_line(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    result = run("index", folder)
    assert result.exit_code == 0
    assert "2 added, 0 updated, 0 removed, 0 unchanged; 3 passages embedded" in result.stdout
    again = run("index", folder)
    assert "0 added, 0 updated, 0 removed, 2 unchanged; 0 passages embedded" in again.stdout


def test_skips_are_counted_by_reason(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    (folder / "empty.txt").write_text("")
    (folder / "b.jsonl").write_text("{bad\n{worse\n")
    result = run("index", folder, "--verbose")
    assert result.exit_code == 0
    assert "skipped 3: 2 malformed JSON line, 1 empty" in result.stderr
    assert "empty: " in result.stderr and "empty.txt" in result.stderr


def test_the_summary_says_what_went_in_and_what_was_left_out(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "bbc", {"SOURCE.md": "# BBC\n\nLicence: research only."})
    (folder / "bbc.jsonl").write_text(
        "".join(json.dumps({"title": f"T{i}", "text": f"story {i}"}) + "\n" for i in range(2))
    )
    write_articles(folder, {".notes.txt": "mine", "drafts/d.txt": "Draft\n\nNot yet."})
    write_articles(folder, {"wire.txt": "Wire\n\nA story."})
    (folder / ".newssearchignore").write_text("drafts/\n")
    result = run("index", folder)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:] == ["files: 1 .jsonl (2 articles), 1 .txt (1 article)"]
    assert result.stderr.splitlines() == [
        "left out 3: 1 .newssearchignore (drafts), 1 dataset note (SOURCE.md), "
        "1 hidden (.notes.txt)"
    ]
    verbose = run("index", folder, "-v", "--exclude", "*.jsonl")
    assert verbose.exit_code == 0
    assert "0 added, 0 updated, 2 removed, 1 unchanged" in verbose.stdout
    assert verbose.stderr.splitlines() == [
        "left out 4: 1 --exclude (bbc.jsonl), 1 .newssearchignore (drafts), "
        "1 dataset note (SOURCE.md), 1 hidden (.notes.txt); 2 articles indexed from them "
        "before removed",
        f"  hidden: {folder / '.notes.txt'}",
        f"  dataset note: {folder / 'SOURCE.md'} (beside data files)",
        f"  --exclude: {folder / 'bbc.jsonl'} (*.jsonl)",
        f"  .newssearchignore: {folder / 'drafts'} (drafts/ in bbc/.newssearchignore)",
    ]


def test_a_link_out_of_the_folder_is_followed_only_when_asked(run, tmp_path: Path) -> None:
    secret = write_articles(tmp_path / "etc", {"shadow": "root:*:19000:0:::\nbin:*:19000:0:::\n"})
    folder = write_articles(tmp_path / "news", STORIES)
    (folder / "shadow.txt").symlink_to(secret / "shadow")
    result = run("index", folder)
    assert "2 added" in result.stdout and "files: 2 .txt (2 articles)" in result.stdout
    assert result.stderr.splitlines() == ["left out 1: 1 link outside the folders (shadow.txt)"]
    assert "no passages match" in run("query", "root", "--mode", "lexical").stderr
    followed = run("index", folder, "--follow-links")
    assert "1 added" in followed.stdout and followed.stderr == ""
    assert "root:" in run("query", "root", "--mode", "lexical").stdout


def test_a_bad_exclude_pattern_is_one_line(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    result = run("index", folder, "--exclude", "\\")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --exclude: ") and len(result.stderr.splitlines()) == 1


def test_nothing_left_to_index_says_what_was_left_out(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    result = run("index", folder, "--exclude", "*.txt")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: nothing to index in {folder}: no article files (.txt, .md, .json, .jsonl, "
        ".html, feeds, .warc) found; 2 left out (2 --exclude)"
    )


def test_query_ranks_the_defining_paragraph_first(run, indexed: Path) -> None:
    result = run("query", "Kataib Hezbollah")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. ") and lines[0].endswith("US strikes in Iraq")
    assert lines[1].strip() == "news/iraq.txt  ¶2"
    assert lines[2].strip().startswith("Kataib Hezbollah, or Brigades")


def test_query_json_lines(run, indexed: Path) -> None:
    result = run("query", "Kataib Hezbollah", "--json", "-k", "2", "--mode", "lexical")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1  # only one passage names them
    row = rows[0]
    for key in ("rank", "score", "article_id", "title", "paragraph", "text", "published"):
        assert key in row
    for key in ("source", "path", "fields", "duplicates", "matched", "url"):
        assert key in row
    assert (row["rank"], row["article_id"], row["paragraph"]) == (1, "news/iraq.txt", 2)
    assert row["path"].endswith("news/iraq.txt") and row["source"] is None


def test_top_limits_the_hits(run, indexed: Path) -> None:
    result = run("query", "the", "--json", "--top", "1", "--mode", "dense")
    assert len(result.stdout.splitlines()) == 1


def test_info_json_counts_agree(run, indexed: Path, tmp_path: Path) -> None:
    result = run("info", "--json")
    info = json.loads(result.stdout)
    assert (info["articles"], info["passages"], info["vectors"]) == (2, 3, 3)
    assert info["format_version"] == 2 and info["size_bytes"] > 0
    assert info["segments"] >= 1 and info["deleted_vectors"] == 0
    assert info["path"] == str(tmp_path / "index")
    plain = run("info")
    assert "articles     2" in plain.stdout and "model        fake-hash" in plain.stdout


def test_remove(run, indexed: Path) -> None:
    assert run("remove", "news/cocoa.txt").stdout.startswith("removed 1 articles")
    missing = run("remove", "news/cocoa.txt")
    assert missing.exit_code == 2
    assert "no article with id news/cocoa.txt" in missing.stderr


def test_index_option_and_environment(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    assert run("index", folder, "--index", tmp_path / "elsewhere").exit_code == 0
    assert (tmp_path / "elsewhere" / "manifest.json").is_file()
    monkeypatch.setenv("NEWSSEARCH_INDEX", str(tmp_path / "elsewhere"))
    assert json.loads(run("info", "--json").stdout)["articles"] == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("query", "x"), 4, "error: no index at"),
        (("info",), 4, "run `newssearch index DIR` first"),
        (("remove", "x"), 4, "error: no index at"),
        (("index", "/no/such/folder"), 2, "error: no such file or folder: /no/such/folder"),
    ],
)
def test_errors_are_one_line(run, args: tuple, code: int, message: str) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_empty_folder_and_empty_query(run, indexed: Path, tmp_path: Path) -> None:
    (tmp_path / "void").mkdir()
    result = run("index", tmp_path / "void")
    assert result.exit_code == 2 and "nothing to index" in result.stderr
    assert run("info", "--json").exit_code == 0  # the index is untouched
    empty = run("query", "  ")
    assert empty.exit_code == 3 and "the query is empty" in empty.stderr


def test_model_mismatch(run, indexed: Path) -> None:
    result = run("index", indexed, "--model", "some-other-model")
    assert result.exit_code == 9
    assert "was built with model fake-hash" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_index(run, indexed: Path, tmp_path: Path) -> None:
    (tmp_path / "index" / "manifest.json").write_text("{not json")
    result = run("query", "x")
    assert result.exit_code == 5 and "manifest.json is unreadable" in result.stderr


def test_compact_is_chosen_when_an_index_is_made(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    assert run("index", folder, "--compact").exit_code == 0
    info = run("info")
    assert "vectors      3, exact search over 8-bit vectors" in info.stdout
    assert json.loads(run("info", "--json").stdout)["vector_layout"] == "flat-sq8"
    assert run("query", "Kataib Hezbollah", "-k", "1", "--mode", "dense").exit_code == 0
    assert run("index", folder).exit_code == 0  # no flag: the index stays as it was made
    refused = run("index", folder, "--full")
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "created with --compact" in refused.stderr


# A name that is not UTF-8, as Python hands it over: "\udcff" stands for the byte 0xff.
NOT_UTF8 = "caf\udce9"


def test_index_into_a_path_that_is_not_utf8_makes_nothing(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    result = run("index", folder, "--index", tmp_path / NOT_UTF8 / "index")
    line = one_line_error(result, 2)
    assert line == (
        f"error: the index path {tmp_path}/caf\\xe9/index is not UTF-8 — rename it, or choose "
        "another --index"
    )
    assert os.listdir(tmp_path) == ["news"]  # no folder made, not even the parent


def test_paths_to_index_that_are_not_utf8(run, tmp_path: Path) -> None:
    folder = write_articles(tmp_path / "news", STORIES)
    (folder / f"{NOT_UTF8}.txt").write_text("Bad name\n\nA file whose name is not UTF-8.\n")
    (tmp_path / NOT_UTF8).mkdir()
    (tmp_path / NOT_UTF8 / "a.txt").write_text("Fine\n\nA file in a folder whose name is not.\n")
    refused = run("index", tmp_path / NOT_UTF8)
    assert one_line_error(refused, 2) == (
        f"error: {tmp_path}/caf\\xe9 is not a UTF-8 path — rename it"
    )
    assert not (tmp_path / "index").exists()  # the first run failed: no index left behind
    result = run("index", folder, "-v")
    assert result.exit_code == 0
    assert "2 added" in result.stdout  # the others are indexed; that one is counted
    assert "skipped 1: 1 name not UTF-8" in result.stderr
    assert f"name not UTF-8: {folder}/caf\\xe9.txt" in result.stderr


@pytest.mark.process
def test_arguments_that_are_not_utf8_get_one_line_not_a_traceback(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    """The real command, given bytes that are not UTF-8 ($'\\xff' in a shell)."""
    folder = write_articles(tmp_path / "news", STORIES)
    (folder / "wire.jsonl").write_text(
        json.dumps({"id": "w1", "title": "Cocoa", "text": "Cocoa rains.", "label": "soft"}) + "\n"
    )
    index = tmp_path / "index"
    with Index.create(index, model=fake) as ix:
        ix.add(folder)
    bad, lexical = b"\xff", [b"--mode", b"lexical"]
    elsewhere = os.fsencode(tmp_path) + b"/idx\xff"
    not_text = "is not valid text (invalid UTF-8, or a lone surrogate) — retype it"
    cases = [
        ([b"show", bad], 2, f"ID {not_text}"),
        ([b"similar", bad], 2, f"ID {not_text}"),
        ([b"remove", b"news/iraq.txt", bad], 2, f"ID {not_text}"),
        ([b"query", b"oil", *lexical, b"--where", b"label=\xff"], 3, f"--where {not_text}"),
        ([b"query", b"oil", *lexical, b"--source", bad], 3, f"--source {not_text}"),
        ([b"query", b"oil", *lexical, b"--since", bad], 3, f"--since {not_text}"),
        ([b"query", bad, *lexical], 3, f"the query {not_text}"),
        ([b"serve", b"--port", b"0", b"--host", bad], 2, f"--host {not_text}"),
        ([b"serve", b"--port", b"0", b"--token", bad], 2, f"--token {not_text}"),
        ([b"serve", b"--port", b"0", b"--index", elsewhere], 2, "the index path"),
        ([b"mcp", b"--index", elsewhere], 2, "the index path"),
        ([b"info", b"--index", elsewhere], 2, "the index path"),
    ]
    command = Path(sys.executable).with_name("newssearch")
    env = {**os.environ, "NEWSSEARCH_INDEX": str(index), "NEWSSEARCH_NO_SERVER": "1"}
    for args, code, message in cases:
        done = subprocess.run(
            [command, *args], capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL
        )
        said = done.stderr.decode("utf-8", "backslashreplace")
        assert (done.returncode, said.count("\n")) == (code, 1), (args, said)
        assert said.startswith(f"error: {message}"), (args, said)
    assert "idx\udcff" not in os.listdir(tmp_path)
    with Index.open(index) as ix:
        assert ix.stats().articles == 3  # nothing was removed
