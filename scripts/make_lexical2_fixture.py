"""Build tests/fixtures/index_lexical2: a small index whose lexical half is schema 2.

The index is always built by the code of commit b6c9a00, the last before migration m007
(store schema 6, ``meta`` news=2: a tantivy index with word frequencies but no positions,
and no title field apart), the ``search`` package taken with ``git archive`` into a
temporary folder, whatever the working tree holds. Its embedder is the tests' own
``FakeEmbedder`` (tests/fakes.py), so a test opens the fixture with the same embedder.

The articles and the history are index_v2's (scripts/make_v2_fixture.py): everything
indexed, one .txt article removed, another rewritten and indexed again, so the store holds
deleted passages' ids that the lexical index must not bring back. EXPECTED.json beside the
index says what the old code saw right after building: article ids, passages, each
passage's id, and some plain lexical queries' results.

    .venv/bin/python scripts/make_lexical2_fixture.py
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "tests"))  # after PYTHONPATH: the package is the old tree's
sys.path.append(str(REPO / "scripts"))

from fakes import FakeEmbedder  # noqa: E402  (numpy only: it runs under any package version)
from make_v2_fixture import (  # noqa: E402  (the articles and history of index_v2)
    ARTICLES,
    RECORDS,
    REMOVED,
    SOURCE_FOLDER,
    UPDATED,
    UPDATED_TEXT,
    _settle,
)

COMMIT = "b6c9a0039564ed8b39cea5009c4c791a9c989337"
FIXTURE = REPO / "tests" / "fixtures" / "index_lexical2"
K = 10
QUERIES = ("cocoa buffer stock", "grain shipments wheat", "signal fault tram", "volcano ash")


def build(out: Path, work: Path) -> None:
    """Run under the old package: build the index at ``out`` from articles in ``work``."""
    import search  # the old package, from PYTHONPATH

    if Path(search.__file__).resolve().parents[1] != Path(os.environ["PYTHONPATH"]).resolve():
        raise SystemExit(f"imported search from {search.__file__}, not from the old tree")
    from search.storage.database import SCHEMA_VERSION
    from search.storage.lexical import SCHEMA

    assert (SCHEMA_VERSION, SCHEMA) == (6, 2), (SCHEMA_VERSION, SCHEMA)
    folder = work / SOURCE_FOLDER
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    lines = "".join(json.dumps(record) + "\n" for record in RECORDS)
    (folder / "wire.jsonl").write_text(lines, encoding="utf-8")

    removed = REMOVED
    with search.Index.create(out, model=FakeEmbedder()) as ix:
        report = ix.update([folder])
        assert report.added == len(ARTICLES) + len(RECORDS), report
        assert ix.remove([removed]).removed == (removed,)
        (folder / REMOVED.split("/", 1)[1]).unlink()
        updated = folder / UPDATED.split("/", 1)[1]
        updated.write_text(UPDATED_TEXT, encoding="utf-8")
        os.utime(updated, ns=(updated.stat().st_atime_ns, updated.stat().st_mtime_ns + 10**9))
        report = ix.update([folder])
        assert (report.added, report.updated, report.removed) == (0, 1, 0), report
        stats = ix.stats()
        hits = {q: ix.search(q, k=K, mode="lexical", collapse=False) for q in QUERIES}
    assert not hits["volcano ash"], "the removed article is still found"
    db = sqlite3.connect(f"file:{out / 'store.sqlite'}?mode=ro", uri=True)
    try:
        schema = db.execute("PRAGMA user_version").fetchone()[0]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        passages = db.execute("SELECT id, article_id FROM passages ORDER BY id").fetchall()
    finally:
        db.close()
    assert (schema, meta["news"]) == (6, "2"), (schema, meta)
    expected = {
        "built_by": f"search package at commit {COMMIT[:7]} (scripts/make_lexical2_fixture.py)",
        "schema_version": schema,
        "news": meta["news"],
        "generation": stats.generation,
        "articles": stats.articles,
        "passages": stats.passages,
        "passage_articles": {str(pid): key for pid, key in passages},
        "queries": [
            {"query": q, "k": K, "passage_ids": [h.passage_id for h in hits[q]]} for q in QUERIES
        ],
    }
    (out / "EXPECTED.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")


def check(fixture: Path) -> None:
    """Run under the old package: a copy of the fixture answers as EXPECTED.json says."""
    import search

    expected = json.loads((fixture / "EXPECTED.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(fixture, Path(tmp) / "index"))
        with search.Index.open(copy, model=FakeEmbedder()) as ix:
            assert ix.stats().passages == expected["passages"]
            for case in expected["queries"]:
                hits = ix.search(case["query"], k=case["k"], mode="lexical", collapse=False)
                assert [h.passage_id for h in hits] == case["passage_ids"], case
            assert ix.check().ok


def _run_old(tree: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, check=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        build(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory(prefix="newssearch-lexical2-") as tmp:
        tree, work = Path(tmp) / "old", Path(tmp) / "articles"
        tree.mkdir()
        work.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", COMMIT, "search"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        if FIXTURE.exists():
            shutil.rmtree(FIXTURE)
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        _run_old(tree, "--build", str(FIXTURE), str(work))
        _settle(FIXTURE)
        _run_old(tree, "--check", str(FIXTURE))
        _settle(FIXTURE)
    for file in sorted(FIXTURE.rglob("*")):
        if file.is_file():
            print(f"{file.relative_to(REPO)}  {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
