"""Build tests/fixtures/index_v2: a small format-2 index from before news metadata.

The index is always built by the code of commit eb69079 (format 2, store schema 3, no
``published``, outlets, fields or duplicate groups), the ``search`` package taken with
``git archive`` into a temporary folder, whatever the working tree holds. Its embedder is
the tests' own ``FakeEmbedder`` (tests/fakes.py: name "fake-hash", 64 dimensions,
fingerprint "fake-hash-64"), so a test opens the fixture with the same embedder.

The articles: ``news/wire.jsonl`` (8 records whose raw ``date`` comes in mixed formats:
Reuters' "26-FEB-1987 15:01:01.79", ISO days and times, one unparseable; two records are
exact wire copies of each other) and four ``news/*.txt`` files (no date). The index has a
history: everything is indexed (``Index.update``), one .txt article is removed with
``Index.remove`` (its file deleted too), then another is rewritten and the folder indexed
again. EXPECTED.json beside the index says what the old code saw right after building:
article ids, their raw dates and passage counts, and some queries' results.

    .venv/bin/python scripts/make_v2_fixture.py
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

V2_COMMIT = "eb69079"
FIXTURE = REPO / "tests" / "fixtures" / "index_v2"
SOURCE_FOLDER = "news"  # .txt article ids are "news/<file name>"
REMOVED = "news/volcano-eruption.txt"
UPDATED = "news/tram-line.txt"
UPDATED_TITLE = "Tram line opening delayed by signal fault"
COPIES = ("reuters-0001", "reuters-0002")  # exact wire copies of each other
K = 5
# (query, mode): lexical and dense results as the old code gave them.
QUERIES = (
    ("cocoa buffer stock", "lexical"),
    ("cocoa buffer stock", "dense"),
    ("grain shipments wheat", "lexical"),
    ("signal fault tram", "lexical"),
    ("volcano ash eruption", "lexical"),  # only the removed article said these words
    ("crude oil prices", "dense"),
)


COCOA_TITLE = "Cocoa talks end without agreement on buffer stock rules"
COCOA_TEXT = (
    "Talks among cocoa producing and consuming countries ended in London without agreement "
    "on the rules that govern the buffer stock, delegates said.\n\n"
    "The buffer stock manager will not be able to buy or sell cocoa until the council meets "
    "again in March, leaving prices to fall further on the world market.\n\n"
    "Producers had asked for a wider price range, which consumers refused, and several "
    "delegates said the next meeting would be the last chance to save the pact."
)
RECORDS = [
    {
        "id": COPIES[0],
        "title": COCOA_TITLE,
        "text": COCOA_TEXT,
        "date": "26-FEB-1987 15:01:01.79",
        "url": "https://example.com/reuters/0001",
    },
    {
        "id": COPIES[1],
        "title": COCOA_TITLE,
        "text": COCOA_TEXT,
        "date": "26-FEB-1987 15:03:12.40",
        "url": "https://example.com/reuters/0002",
    },
    {
        "id": "reuters-0003",
        "title": "Grain shipments to the Soviet Union rise",
        "text": "Grain shipments to the Soviet Union rose in the latest week as wheat and "
        "maize cargoes left Gulf ports, the agriculture department said.\n\n"
        "Exporters expect further wheat sales before the spring planting.",
        "date": "02-MAR-1987 09:15:00.00",
    },
    {
        "id": "wire-0004",
        "title": "Crude oil prices climb as output falls",
        "text": "Crude oil prices climbed for a third day as producers kept output below "
        "their quotas.\n\nTraders said stocks at the main terminals were lower than expected.",
        "date": "1987-03-05",
    },
    {
        "id": "wire-0005",
        "title": "Bank lifts base lending rate",
        "text": "A leading bank lifted its base lending rate by half a point, the first "
        "rise this year.\n\nOther banks are expected to follow within days.",
        "date": "1987-03-09T14:30:00+01:00",
    },
    {
        "id": "wire-0006",
        "title": "Harvest festival draws record crowds",
        "text": "A harvest festival in the river valley drew record crowds to its market "
        "stalls and parade.\n\nOrganisers thanked the volunteers who kept the stalls open.",
        "date": "sometime last spring",  # no date can be read from this
    },
    {
        "id": "wire-0007",
        "title": "Port workers strike halts container shipping",
        "text": "Container shipping at the country's largest port stopped after dock "
        "workers walked out over pay.\n\nTalks resume on Friday.",
        "date": "2024-03-05T08:00:00Z",
    },
    {
        "id": "wire-0008",
        "title": "Museum reopens after roof repairs",
        "text": "The city museum reopened after two years of roof repairs, with its "
        "dinosaur hall restored.\n\nEntry stays free for children.",
        "date": "1987-04-01",
    },
]
ARTICLES = {
    "volcano-eruption.txt": """Volcano eruption grounds flights
A volcano erupted overnight and sent an ash cloud across the main flight paths.

Airlines cancelled hundreds of flights while the ash drifted south.
""",
    "tram-line.txt": """Tram line opens to first passengers
The new tram line opened to its first passengers on Saturday, linking the station with the \
university and the hospital.

Trams will run every six minutes at peak times.
""",
    "library-budget.txt": """Library budget cut by a fifth
The council cut the library budget by a fifth, and two branches will open only three days \
a week from April.

Campaigners said they would petition for the branches to stay open.
""",
    "river-cleanup.txt": """Volunteers clear tonnes of rubbish from the river
Volunteers cleared four tonnes of rubbish from the river banks in a weekend clean-up.

Shopping trolleys and tyres made up most of the haul.
""",
}
UPDATED_TEXT = f"""{UPDATED_TITLE}
The opening of the new tram line was put back a week after a signal fault near the station \
stopped test runs.

Engineers said the fault had been traced to a damaged cable, and the first passengers would \
ride on Saturday week.
"""


def build(out: Path, work: Path) -> None:
    """Run under the eb69079 package: build the index at ``out`` from articles in ``work``."""
    import search  # the old package, from PYTHONPATH

    if Path(search.__file__).resolve().parents[1] != Path(os.environ["PYTHONPATH"]).resolve():
        raise SystemExit(f"imported search from {search.__file__}, not from the old tree")
    from search.store import SCHEMA_VERSION  # the eb69079 layout: search/store.py

    from search.index import FORMAT_VERSION

    assert (FORMAT_VERSION, SCHEMA_VERSION) == (2, 3), (FORMAT_VERSION, SCHEMA_VERSION)
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
        (folder / REMOVED.split("/", 1)[1]).unlink()
        updated = folder / UPDATED.split("/", 1)[1]
        updated.write_text(UPDATED_TEXT, encoding="utf-8")
        os.utime(updated, ns=(updated.stat().st_atime_ns, updated.stat().st_mtime_ns + 10**9))
        report = ix.update([folder])
        assert (report.added, report.updated, report.removed) == (0, 1, 0), report
        stats = ix.stats()
        hits = {(q, mode): ix.search(q, k=K, mode=mode) for q, mode in QUERIES}
    finally:
        ix.close()
    db = sqlite3.connect(f"file:{out / 'store.sqlite'}?mode=ro", uri=True)
    try:
        schema = db.execute("PRAGMA user_version").fetchone()[0]
        rows = db.execute(
            "SELECT a.id, a.title, a.date, count(p.id) FROM articles a "
            "JOIN passages p ON p.article_id = a.id GROUP BY a.id ORDER BY a.id"
        ).fetchall()
    finally:
        db.close()
    ids = sorted(
        [f"{SOURCE_FOLDER}/{name}" for name in ARTICLES if f"{SOURCE_FOLDER}/{name}" != REMOVED]
        + [record["id"] for record in RECORDS]
    )
    assert [r[0] for r in rows] == ids, rows
    assert stats.articles == len(ids) and stats.passages == sum(r[3] for r in rows), stats
    assert {r[0]: r[1] for r in rows}[UPDATED] == UPDATED_TITLE
    assert not hits["volcano ash eruption", "lexical"], "the removed article is still found"
    expected = {
        "built_by": f"search package at commit {V2_COMMIT} (scripts/make_v2_fixture.py)",
        "format_version": stats.format_version,
        "schema_version": schema,
        "model": stats.model,
        "fingerprint": stats.fingerprint,
        "dimension": stats.dimension,
        "generation": stats.generation,
        "article_ids": ids,
        "articles": stats.articles,
        "passages": stats.passages,
        "titles": {r[0]: r[1] for r in rows},
        "dates": {r[0]: r[2] for r in rows},  # as stored: the raw text of the record
        "passages_per_article": {r[0]: r[3] for r in rows},
        "removed_id": REMOVED,
        "updated_id": UPDATED,
        "updated_title": UPDATED_TITLE,
        "copies": list(COPIES),
        "queries": [
            {
                "query": q,
                "mode": mode,
                "k": K,
                # One per hit, best first: an article appears once per passage found.
                "article_ids": [h.article_id for h in hits[q, mode]],
                "passage_ids": [h.passage_id for h in hits[q, mode]],
            }
            for q, mode in QUERIES
        ],
    }
    (out / "EXPECTED.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")


def check(fixture: Path) -> None:
    """Run under the old package: a copy of the fixture opens and answers as EXPECTED.json says."""
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
                hits = ix.search(case["query"], k=case["k"], mode=case["mode"])
                assert [h.passage_id for h in hits] == case["passage_ids"], case
            assert ix.check().ok


def _settle(index: Path) -> None:
    """Fold any WAL into store.sqlite and drop the -wal, -shm and .lock files. tantivy's
    empty lock files in lexical/ stay, as in any index the old code wrote."""
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
    segments = [name for name in left if name.startswith("seg-") and name.endswith(".vec")]
    wanted = {"manifest.json", "store.sqlite", "EXPECTED.json", "lexical", *segments}
    if not segments or set(left) != wanted:
        raise SystemExit(f"unexpected files in {index}: {left}")


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
    with tempfile.TemporaryDirectory(prefix="newssearch-v2-") as tmp:
        tree, work = Path(tmp) / "old", Path(tmp) / "articles"
        tree.mkdir()
        work.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", V2_COMMIT, "search"],
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
        _settle(FIXTURE)  # the check opened only a copy, but leave nothing to chance
    for file in sorted(FIXTURE.rglob("*")):
        if file.is_file():
            print(f"{file.relative_to(REPO)}  {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
