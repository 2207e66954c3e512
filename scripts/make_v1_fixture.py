"""Build tests/fixtures/index_v1: a small index in on-disk format version 1, for upgrade tests.

The index is always built by the v1 code, the ``search`` package as of commit 445af4d, taken
with ``git archive`` into a temporary folder, whatever the working tree holds. Its embedder
is the tests' own ``FakeEmbedder`` (tests/fakes.py: name "fake-hash", 64 dimensions,
fingerprint "fake-hash-64"), so a test opens the fixture with the same embedder.

The index has a history: the articles are indexed (generation 1), one is removed with
``Index.remove`` (2), then one is rewritten and the folder indexed again with ``Index.update``
(3). EXPECTED.json beside the index says what a test should find in it, as the v1 code saw it
right after building.

    .venv/bin/python scripts/make_v1_fixture.py
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

from fakes import FakeEmbedder  # noqa: E402  (numpy only: it runs under any package version)

V1_COMMIT = "445af4d"
FIXTURE = REPO / "tests" / "fixtures" / "index_v1"
SOURCE_FOLDER = "news"  # article ids are "news/<file name>" (the folder's name, not its path)
REMOVED = "news/wildfire-evacuation.txt"
UPDATED = "news/interest-rates.txt"
UPDATED_TITLE = "Central bank holds rates steady after surprise inflation drop"
QUERIES = (
    "evacuation wildfire",  # only the removed article mentioned these words
    "inflation drop",  # only in the updated article's new text
    "championship final penalty",  # an article left as it was
)
K = 5


ARTICLES = {
    "city-council-election.txt": """City council election goes to a recount
Voters in the northern district returned a council split almost evenly between the two main \
parties, with the final seat decided by fewer than forty ballots.

Election officials said a manual recount would begin on Monday and take three days. Both \
candidates have agreed to accept the result.

Turnout rose to 61 percent, the highest for a local election in two decades, which analysts \
put down to the dispute over the new tram line.
""",
    "wildfire-evacuation.txt": """Thousands evacuated as wildfire spreads through hill towns
Firefighters ordered the evacuation of four hill towns overnight as a wildfire driven by dry \
winds jumped the river and spread towards the valley.

Emergency shelters opened in two schools and the sports hall. Officials urged residents who \
had not yet left to follow the marked evacuation routes.

Water-bombing aircraft resumed at dawn, but crews said the wildfire would not be contained \
before the wind drops on Thursday.
""",
    "interest-rates.txt": """Central bank raises interest rates for the fifth time
The central bank raised its main interest rate by a quarter point to 4.5 percent, saying \
price growth remained too strong.

The governor said the committee was ready to act again if wages kept rising faster than \
productivity.

Mortgage lenders are expected to pass the increase on to borrowers within weeks.
""",
    "football-cup-final.txt": """Harbour City win championship final on penalties
Harbour City won the championship final after a goalless two hours, their keeper saving the \
decisive penalty in the shoot-out.

It is the club's first title in thirty years. Thousands of supporters gathered in the old \
market square to greet the team bus.
""",
    "satellite-launch.txt": """Weather satellite reaches orbit after delayed launch
A weather satellite built by a consortium of universities reached orbit on Tuesday, two \
weeks after its first launch attempt was scrubbed by a faulty valve.

The satellite carries an infrared sounder that will measure humidity in the upper \
atmosphere. Its first images are expected next month.

Engineers said the rocket's second stage performed as planned and the payload separated \
cleanly.
""",
    "measles-vaccination.txt": """Measles cases prompt school vaccination drive
Health authorities will offer measles vaccination in every primary school after twelve \
cases were confirmed in the region since January.

Nurses will visit schools over the next six weeks. Parents can also book a free appointment \
at their local clinic.

Officials said vaccination rates had fallen below the level needed to stop outbreaks.
""",
}
UPDATED_TEXT = f"""{UPDATED_TITLE}
The central bank left its main interest rate unchanged at 4.25 percent after a surprise \
inflation drop in the latest figures.

The governor said the committee would wait for wage data before deciding whether the rise \
in rates had done its work.

Mortgage lenders welcomed the pause, and several cut their fixed-rate offers the same day.
"""
RECORDS = [
    {
        "id": "wire-0001",
        "title": "Chipmakers agree merger to form industry giant",
        "text": "Two chipmakers agreed to merge in a deal worth 30 billion dollars.\n\n"
        "Regulators in three countries must approve the merger before it can close.",
        "date": "2024-03-04",
        "url": "https://example.com/wire/0001",
    },
    {
        "id": "wire-0002",
        "title": "Port workers strike halts container shipping",
        "text": "Container shipping at the country's largest port stopped after dock workers "
        "walked out over pay.\n\nShipping lines diverted vessels to smaller ports along "
        "the coast.\n\nTalks between the union and the port authority resume on Friday.",
        "date": "2024-03-05",
        "url": "https://example.com/wire/0002",
    },
    {
        "id": "wire-0003",
        "title": "Archaeologists uncover Roman villa under car park",
        "text": "Archaeologists digging beneath a town-centre car park uncovered the mosaic "
        "floor of a Roman villa.\n\nThe find will be recorded and covered over again "
        "while the council decides whether to put it on display.",
        "date": "2024-03-06",
        "url": "https://example.com/wire/0003",
    },
]


def build(out: Path, work: Path) -> None:
    """Run under the v1 package: build the index at ``out`` from articles written in ``work``."""
    import search  # the v1 package, from PYTHONPATH

    if Path(search.__file__).resolve().parents[1] != Path(os.environ["PYTHONPATH"]).resolve():
        raise SystemExit(f"imported search from {search.__file__}, not from the v1 tree")
    from search.index import FORMAT_VERSION

    assert FORMAT_VERSION == 1, FORMAT_VERSION
    folder = work / SOURCE_FOLDER
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    lines = "".join(json.dumps(record) + "\n" for record in RECORDS)
    (folder / "wire.jsonl").write_text(lines, encoding="utf-8")

    ix = search.Index.create(out, model=FakeEmbedder())
    try:
        report = ix.update([folder])
        assert report.added == len(ARTICLES) + len(RECORDS), report
        assert ix.remove([REMOVED]).removed == (REMOVED,)
        updated = folder / UPDATED.split("/", 1)[1]
        updated.write_text(UPDATED_TEXT, encoding="utf-8")
        os.utime(updated, ns=(updated.stat().st_atime_ns, updated.stat().st_mtime_ns + 10**9))
        report = ix.update([folder])
        # The removed article's file is unchanged, so the update does not bring it back.
        assert (report.added, report.updated, report.removed) == (0, 1, 0), report
        stats = ix.stats()
        ids = sorted(
            [f"{SOURCE_FOLDER}/{name}" for name in ARTICLES if name != REMOVED.split("/")[1]]
            + [record["id"] for record in RECORDS]
        )
        assert stats.articles == len(ids), stats
        hits = {q: ix.search(q, k=K, mode="lexical") for q in QUERIES}
        titles = {h.article_id: h.title for q in QUERIES for h in hits[q]}
        assert titles.get(UPDATED) == UPDATED_TITLE, titles
        expected = {
            "built_by": f"search package at commit {V1_COMMIT} (scripts/make_v1_fixture.py)",
            "format_version": stats.format_version,
            "model": stats.model,
            "fingerprint": stats.fingerprint,
            "dimension": stats.dimension,
            "generation": stats.generation,
            "vectors_file": f"vectors.{stats.generation}.faiss",
            "article_ids": ids,
            "articles": stats.articles,
            "passages": stats.passages,
            "removed_id": REMOVED,
            "updated_id": UPDATED,
            "updated_title": UPDATED_TITLE,
            "queries": [
                {
                    "query": q,
                    "mode": "lexical",
                    "k": K,
                    # One per hit, best first: an article appears once per passage found.
                    "article_ids": [h.article_id for h in hits[q]],
                    "passage_ids": [h.passage_id for h in hits[q]],
                }
                for q in QUERIES
            ],
        }
    finally:
        ix.close()
    (out / "EXPECTED.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")


def check(fixture: Path) -> None:
    """Run under the v1 package: a copy of the fixture opens and answers as EXPECTED.json says."""
    import search

    expected = json.loads((fixture / "EXPECTED.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(fixture, Path(tmp) / "index"))
        with search.Index.open(copy, model=FakeEmbedder()) as ix:
            stats = ix.stats()
            assert (stats.generation, stats.passages) == (
                expected["generation"],
                expected["passages"],
            ), stats
            for case in expected["queries"]:
                got = [h.article_id for h in ix.search(case["query"], k=case["k"], mode="lexical")]
                assert got == case["article_ids"], (case, got)


def _settle(index: Path) -> None:
    """Fold any WAL into store.sqlite and drop the -wal, -shm and .lock files."""
    store = index / "store.sqlite"
    wal, shm = Path(f"{store}-wal"), Path(f"{store}-shm")
    if wal.exists() or shm.exists():
        db = sqlite3.connect(store)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        if wal.exists() and wal.stat().st_size == 0:
            wal.unlink()
        shm.unlink(missing_ok=True)
    (index / ".lock").unlink(missing_ok=True)
    left = sorted(p.name for p in index.iterdir())
    faiss = [name for name in left if name.startswith("vectors.")]
    if len(faiss) != 1 or set(left) != {"manifest.json", "store.sqlite", "EXPECTED.json", *faiss}:
        raise SystemExit(f"unexpected files in {index}: {left}")


def _run_v1(tree: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, check=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        build(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory(prefix="newssearch-v1-") as tmp:
        tree, work = Path(tmp) / "v1", Path(tmp) / "articles"
        tree.mkdir()
        work.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", V1_COMMIT, "search"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        if FIXTURE.exists():
            shutil.rmtree(FIXTURE)
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        _run_v1(tree, "--build", str(FIXTURE), str(work))
        _settle(FIXTURE)
        _run_v1(tree, "--check", str(FIXTURE))
    for file in sorted(FIXTURE.iterdir()):
        print(f"{file.relative_to(REPO)}  {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
