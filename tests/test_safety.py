"""The storage layer against a hostile or unlucky folder: nothing a user keeps is lost.

Each test here is a case an adversarial pass over the first core found (issue 9): data
deleted, files written outside the index, unbounded reads, tracebacks. Every one failed on
the version-1 core.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

from search import Index, IndexWriteError, InputError
from search.storage.database import Store

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


# 2. Links planted in the index folder never redirect a write outside it.


def _plant_links(path: Path, victim: Path) -> list[str]:
    """Links from every name a writer might write next (in either format) to ``victim``."""
    names = ["manifest.json.tmp"]
    names += [f"vectors.{n}.faiss.tmp" for n in range(1, 6)]
    names += [f"seg-{n:06d}.vec.tmp" for n in range(1, 6)]
    for name in names:
        (path / name).symlink_to(victim)
    return names


def test_links_planted_in_the_folder_are_never_written_through(
    tmp_path: Path, cli: Callable
) -> None:
    path = _built(tmp_path)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    _plant_links(path, victim)
    write_articles(tmp_path / "news", {"c.txt": "Cocoa\n\nBahia cocoa arrivals rose.\n"})
    assert cli("index", tmp_path / "news", "--index", path).exit_code == 0
    assert victim.read_text() == "keep me"
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.stats().articles == 3 and ix.check().ok


def test_a_planted_lock_link_is_refused_and_its_target_untouched(
    tmp_path: Path, cli: Callable
) -> None:
    path = _built(tmp_path)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (path / ".lock").unlink()
    (path / ".lock").symlink_to(victim)
    line = one_line_error(cli("index", tmp_path / "news", "--index", path), 5)
    assert ".lock is a symbolic link" in line
    assert victim.read_text() == "keep me"


# 3. Names, kinds and sizes of what is read come from the folder, never from the store.


def _edit_store(path: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(path / "store.sqlite") as db:
        db.execute(sql, params)
    db.close()


@pytest.mark.parametrize("name", ["../../../etc/shadow", "/dev/zero", "vectors.1.faiss", ""])
def test_a_store_that_names_a_file_outside_its_segments_is_refused(
    tmp_path: Path, cli: Callable, name: str
) -> None:
    path = _built(tmp_path)
    _edit_store(path, "UPDATE segments SET name = ?", name)
    for args in (("query", "harbour"), ("info",), ("check",)):
        line = one_line_error(cli(*args, "--index", path), 5)
        assert "not one of its segments" in line


@pytest.mark.process
def test_a_segment_replaced_by_a_fifo_does_not_hang(tmp_path: Path) -> None:
    path = _built(tmp_path)
    segment = next(path.glob("seg-*.vec"))
    segment.unlink()
    os.mkfifo(segment)
    result = _run_cli("query", "harbour", "--index", path, timeout=60)
    assert result.returncode == 5 and "is not a regular file" in result.stderr


@pytest.mark.process
def test_a_meta_table_replaced_by_a_recursive_view_does_not_hang(tmp_path: Path) -> None:
    path = _built(tmp_path)
    with sqlite3.connect(path / "store.sqlite") as db:
        db.executescript(
            "ALTER TABLE meta RENAME TO old_meta;"
            "CREATE VIEW meta AS WITH RECURSIVE r(key, value) AS "
            "(SELECT 'k', 'v' UNION ALL SELECT key, value FROM r) SELECT * FROM r;"
        )
    db.close()
    for args in (("query", "harbour"), ("info",), ("index", str(tmp_path / "news"))):
        result = _run_cli(*args, "--index", path, timeout=60)
        assert result.returncode == 5, result.stderr
        assert "does not hold the tables newssearch makes" in result.stderr


def _run_cli(*args: object, timeout: float) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own, with the fake model and a time limit."""
    code = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import fakes, search.index;"
        "search.index.load_embedder = lambda model=None: fakes.FakeEmbedder();"
        "from search.cli.commands import main; sys.argv[0] = 'newssearch'; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# 4. Values of the wrong type are a damaged index, not a traceback.


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dimension", "abc"),
        ("generation", "-1"),
        ("generation", "1e9"),
        ("title_context", "yes"),
        ("passage_tokens", "0"),
        ("chunking", "two"),
        ("model", ""),
    ],
)
def test_a_store_value_of_the_wrong_type_is_a_corrupt_index(
    tmp_path: Path, cli: Callable, key: str, value: str
) -> None:
    path = _built(tmp_path)
    _edit_store(path, "UPDATE meta SET value = ? WHERE key = ?", value, key)
    for args in (("query", "harbour"), ("info",)):
        line = one_line_error(cli(*args, "--index", path), 5)
        assert key in line


def test_a_segment_record_of_the_wrong_type_is_a_corrupt_index(
    tmp_path: Path, cli: Callable
) -> None:
    path = _built(tmp_path)
    _edit_store(path, "UPDATE segments SET rows = 'abc'")
    assert "damaged segment record" in one_line_error(cli("info", "--index", path), 5)


@pytest.mark.parametrize(
    "manifest",
    [
        '{"format": "newssearch-index", "format_version": 2, "model": "x", "generation": 1}',
        '{"format": "newssearch-index", "format_version": "2"}',
        '{"format": "newssearch-index", "format_version": true}',
        "[" * 100_000,
        '{"format": "newssearch-index", "format_version": 2, "model": {"fingerprint": 7}}',
    ],
)
def test_a_manifest_of_the_wrong_shape_is_a_corrupt_index(
    tmp_path: Path, cli: Callable, manifest: str
) -> None:
    path = _built(tmp_path)
    (path / "manifest.json").write_text(manifest)
    for args in (("query", "harbour"), ("info",), ("index", tmp_path / "news")):
        one_line_error(cli(*args, "--index", path), 5)


# 5. A read-only index (a read-only mount: an archive published on shared storage).


def _read_only(path: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """The CLI run with ``path`` mounted read-only (in a mount namespace of its own)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a folder read-only")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    code = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import fakes, search.index;"
        "search.index.load_embedder = lambda model=None: fakes.FakeEmbedder();"
        "from search.cli.commands import main; sys.argv[0] = 'newssearch'; main()"
    )
    command = [sys.executable, "-c", code, str(Path(__file__).parent), *map(str, args)]
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(path), *command],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.process
def test_a_read_only_index_answers_queries_and_refuses_writes_saying_why(
    tmp_path: Path,
) -> None:
    path = _built(tmp_path)
    before = _contents(path)
    for args in (("query", "harbour"), ("query", "harbour", "--mode", "dense"), ("info",)):
        result = _read_only(path, *args, "--index", path)
        assert result.returncode == 0, result.stderr
    assert "Dock workers" in _read_only(path, "query", "harbour", "--index", path).stdout
    assert _read_only(path, "check", "--index", path).stdout.startswith("ok: ")
    for args in (
        ("index", tmp_path / "news"),
        ("remove", "news/a.txt"),
        ("optimize",),
    ):
        result = _read_only(path, *args, "--index", path)
        assert result.returncode == 10, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "Read-only file system" in line and "read-only here" in line
    assert _contents(path) == before


# 6. A write that fails (disk full, file too large) leaves the index as it was.


@pytest.mark.process
def test_a_write_that_fails_midway_is_one_line_and_leaves_the_index_as_it_was(
    tmp_path: Path,
) -> None:
    path = _built(tmp_path)
    big = "\n\n".join(f"Paragraph {i} about the harbour, its cranes and ships." for i in range(400))
    write_articles(tmp_path / "news", {"big.txt": f"Big story\n\n{big}\n"})
    before = _contents(path)
    # Files may grow to 64 kB: the new segment (400 vectors) cannot be written whole.
    code = (
        "import resource, signal, sys;"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536));"
        "sys.path.insert(0, sys.argv.pop(1)); import fakes, search.index;"
        "search.index.load_embedder = lambda model=None: fakes.FakeEmbedder();"
        "from search.cli.commands import main; sys.argv[0] = 'newssearch'; main()"
    )
    args = ["index", str(tmp_path / "news"), "--index", str(path)]
    result = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 10, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot write ") and "File too large" in line
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert _contents(path) == before
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.stats().articles == 2 and ix.check().ok
        assert ix.update([tmp_path / "news"]).added == 1  # with room, the same run succeeds


def test_disk_full_inside_sqlite_says_so_and_not_rebuild(tmp_path: Path) -> None:
    path = _built(tmp_path)
    store = Store.open(path / "store.sqlite")
    try:
        error = store._translate(sqlite3.OperationalError("database or disk is full"))
    finally:
        store.close()
    assert isinstance(error, IndexWriteError) and error.exit_code == 10
    assert "free some space" in str(error) and "rebuild" not in str(error)


# 7. Odd --index paths.


def test_an_index_path_that_is_a_dangling_link_is_one_line(tmp_path: Path, cli: Callable) -> None:
    link = tmp_path / "index"
    link.symlink_to(tmp_path / "gone")
    news = write_articles(tmp_path / "news", NEWS)
    assert "symbolic link to nothing" in one_line_error(cli("query", "x", "--index", link), 4)
    assert "symbolic link to nothing" in one_line_error(cli("index", news, "--index", link), 2)
    assert link.is_symlink() and not (tmp_path / "gone").exists()


@pytest.mark.process
def test_an_index_under_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    news = write_articles(tmp_path / "news", NEWS)
    (tmp_path / "locked").mkdir()
    result = _read_only(tmp_path / "locked", "index", news, "--index", tmp_path / "locked" / "ix")
    assert result.returncode == 10, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot create ") and "is not writable" in line


# 8. What a new user of the API runs into.


def test_one_path_or_id_given_as_a_string_is_one_path_or_id(tmp_path: Path) -> None:
    news = write_articles(tmp_path / "news", NEWS)
    with Index.create(tmp_path / "index", model=FakeEmbedder()) as ix:
        assert ix.add(str(news)).added == 2
        assert ix.update(news).unchanged == 2
        assert ix.remove("news/a.txt").removed == ("news/a.txt",)
        assert ix.stats().articles == 1


def test_a_closed_index_says_it_is_closed(tmp_path: Path) -> None:
    path = _built(tmp_path)
    with Index.open(path, model=FakeEmbedder()) as ix:
        pass
    for call in (lambda: ix.search("harbour"), ix.stats, lambda: ix.add(tmp_path / "news")):
        with pytest.raises(InputError, match="was closed — open it again"):
            call()


def test_a_failed_first_run_leaves_no_index_behind(tmp_path: Path, cli: Callable) -> None:
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "nowhere", tmp_path / "empty"):
        one_line_error(cli("index", bad, "--index", tmp_path / "new"), 2)
        assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my folder")
    one_line_error(cli("index", tmp_path / "nowhere", "--index", mine), 2)
    assert [p.name for p in mine.iterdir()] == ["README.md"]


def test_a_removed_article_comes_back_when_its_file_is_indexed_again(
    tmp_path: Path, cli: Callable
) -> None:
    path = _built(tmp_path)
    assert cli("remove", "news/a.txt", "--index", path).exit_code == 0
    result = cli("index", tmp_path / "news", "--index", path)
    assert result.stdout.startswith(f"{tmp_path / 'news'}: 1 added, 0 updated, 0 removed, 1 unc")
    with Index.open(path, model=FakeEmbedder()) as ix:
        assert ix.search("dock workers", k=1)[0].article_id == "news/a.txt"
