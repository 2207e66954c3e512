"""The storage layer against a hostile or unlucky folder: nothing a user keeps is lost.

Each test here is a case an adversarial pass over the first core found (issue 9): data
deleted, files written outside the index, unbounded reads, tracebacks. Every one failed on
the version-1 core.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import FakeEmbedder, one_line_error, write_articles

from search import Index

NEWS = {
    "a.txt": "Harbour strike\n\nDock workers walked out at the harbour on Monday.",
    "b.txt": "Grain prices\n\nWheat futures rose after the harvest report.",
}


def _built(tmp_path: Path) -> Path:
    path = tmp_path / "index"
    with Index.create(path, model=FakeEmbedder()) as ix:
        ix.update([write_articles(tmp_path / "news", NEWS)])
    return path


def _contents(path: Path) -> dict[str, bytes]:
    """The folder's files, less SQLite's shared-memory file, an empty log and the lock."""
    return {
        p.name: p.read_bytes()
        for p in path.iterdir()
        if p.is_file()
        and p.name not in (".lock", "store.sqlite-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def test_a_store_without_its_manifest_is_an_error_and_is_never_deleted(
    tmp_path: Path, cli: Callable
) -> None:
    path = _built(tmp_path)
    (path / "manifest.json").unlink()
    notes = path / "store.sqlite.notes.txt"
    notes.write_text("my notes")
    before = _contents(path)
    line = one_line_error(cli("index", tmp_path / "news", "--index", path), 5)
    assert "no manifest.json" in line and "not a whole index" in line
    assert _contents(path) == before


def test_a_plain_folder_of_the_users_files_becomes_an_index_beside_them(
    tmp_path: Path, cli: Callable
) -> None:
    path = tmp_path / "index"
    path.mkdir()
    (path / "store.sqlite.notes.txt").write_text("my notes")
    (path / "README.md").write_text("# my index folder")
    news = write_articles(tmp_path / "news", NEWS)
    assert cli("index", news, "--index", path).exit_code == 0
    assert (path / "store.sqlite.notes.txt").read_text() == "my notes"
    assert (path / "README.md").read_text() == "# my index folder"
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.stats().articles == 2
