"""Format 1 to 2: a version-1 index (tests/fixtures/index_v1, built by the version-1 code by
scripts/make_v1_fixture.py) is read as it is and upgraded in place by the first write."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

import search.write.writer
from search import Index, IndexWriteError

FIXTURE = Path(__file__).with_name("fixtures") / "index_v1"
EXPECTED = json.loads((FIXTURE / "EXPECTED.json").read_text())
QUERIES = ["inflation drop", "championship final penalty", "satellite orbit launch"]


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = tmp_path / "index"
    shutil.copytree(FIXTURE, path)
    return path


def _files(path: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in path.iterdir() if not p.name.startswith("store.sqlite-")
    }


def _answers(path: Path) -> dict[tuple[str, str], list[tuple[int, float]]]:
    with Index.open(path, model=FakeEmbedder()) as ix:
        return {
            (text, mode): [
                (h.passage_id, round(h.score, 5)) for h in ix.search(text, k=5, mode=mode)
            ]
            for text in QUERIES
            for mode in ("dense", "lexical", "hybrid")
        }


def test_a_version_1_index_is_read_as_it_is_and_reading_writes_nothing(v1: Path) -> None:
    before = _files(v1)
    with Index.open(v1, model=FakeEmbedder()) as ix:
        stats = ix.stats()
        assert (stats.format_version, stats.articles, stats.passages, stats.vectors) == (
            1,
            EXPECTED["articles"],
            EXPECTED["passages"],
            EXPECTED["passages"],
        )
        for query in EXPECTED["queries"]:
            hits = ix.search(query["query"], k=query["k"], mode=query["mode"])
            assert [h.passage_id for h in hits] == query["passage_ids"]
        assert ix.search("rates inflation", k=3, mode="dense")
        assert ix.check().ok
    assert _files(v1) == before


def test_the_first_write_upgrades_in_place_and_answers_stay_the_same(
    v1: Path, tmp_path: Path, cli: Callable
) -> None:
    answers = _answers(v1)
    assert "version 1" in cli("info", "--index", v1).stdout
    assert cli("optimize", "--index", v1).exit_code == 0  # a writing command that adds nothing
    manifest = json.loads((v1 / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert not list(v1.glob("vectors.*.faiss"))  # the format-1 file is gone
    assert [s["rows"] for s in manifest["vectors"]["segments"]] == [EXPECTED["passages"]]
    after = _answers(v1)
    for (text, mode), hits in answers.items():
        if mode == "dense":  # the same vectors: the same passages, order and scores
            assert after[text, mode] == hits
        elif mode == "lexical":  # FTS5's BM25 then, tantivy's now: the same passages
            assert [h[0] for h in after[text, mode]] == [h[0] for h in hits], text
    for query in EXPECTED["queries"]:
        with Index.open(v1, model=FakeEmbedder()) as ix:
            hits = ix.search(query["query"], k=query["k"], mode=query["mode"])
        assert [h.passage_id for h in hits] == query["passage_ids"]
    assert "version 2" in cli("info", "--index", v1).stdout

    news = write_articles(tmp_path / "more", {"storm.txt": "Storm\n\nA storm hit the coast.\n"})
    assert cli("index", news, "--index", v1, "--keep-missing").exit_code == 0
    with Index.open(v1, model=FakeEmbedder()) as ix:
        stats = ix.stats()
        assert (stats.format_version, stats.articles) == (2, EXPECTED["articles"] + 1)
        assert ix.check().ok
        assert ix.search("storm coast", k=1, mode="lexical")[0].article_id == "more/storm.txt"
    assert "EXPECTED.json" in {p.name for p in v1.iterdir()}  # a file not ours is left alone


def test_an_upgrade_that_fails_leaves_the_version_1_index(
    v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _answers(v1)

    def fail(self: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(search.write.writer.Writer, "_check_counts", fail)
        with Index.open(v1, model=FakeEmbedder()) as ix:
            with pytest.raises(IndexWriteError, match="No space left on device"):
                ix.remove("wire-0001")
    assert json.loads((v1 / "manifest.json").read_text())["format_version"] == 1
    assert not list(v1.glob("seg-*")) and list(v1.glob("vectors.3.faiss"))
    assert _answers(v1) == answers
    with Index.open(v1, model=FakeEmbedder()) as ix:
        assert ix.remove("wire-0001").removed == ("wire-0001",)
        assert ix.stats().format_version == 2
        assert ix.check().ok


@pytest.mark.parametrize(
    ("key", "value"), [("vectors_file", "../../outside.faiss"), ("vectors_bytes", "abc")]
)
def test_a_version_1_store_with_a_bad_vector_record_is_refused_by_readers_and_the_upgrade(
    v1: Path, tmp_path: Path, cli: Callable, key: str, value: str
) -> None:
    (tmp_path / "outside.faiss").write_bytes((v1 / "vectors.3.faiss").read_bytes())
    with sqlite3.connect(v1 / "store.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.close()
    for args in (("query", "inflation", "--mode", "dense"), ("optimize",)):
        line = one_line_error(cli(*args, "--index", v1), 5)
        assert "vector" in line and "rebuild the index" in line
    assert json.loads((v1 / "manifest.json").read_text())["format_version"] == 1
