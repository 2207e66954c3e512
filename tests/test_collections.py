"""Collections (issue "Archive integrity", item 1) and one name per outlet (items 5, 6).

Two archives that number their records alike share one index without losing an article;
an id that two files of one collection give is never silent; an outlet has one name
whatever case, leading "The", punctuation or web host it comes under; an outlet the index
does not hold is an error that names the nearest it does hold.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

from search import Index, InputError, QueryError
from search.query.contract import MODES

FIXTURES = Path(__file__).with_name("fixtures")


def _pairs(counted: tuple) -> list[tuple[str, int]]:
    return [(c.value, c.articles) for c in counted]


def _jsonl(folder: Path, name: str, *records: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


@pytest.fixture
def archives(tmp_path: Path) -> tuple[Path, Path]:
    """Two outlets' archives, both numbering their records from 1."""
    a = _jsonl(
        tmp_path / "outletA",
        "a.jsonl",
        {"id": "1", "title": "Rivers", "text": "Alpha story about rivers and boats."},
        {"id": "2", "title": "Harbour", "text": "Alpha story about the harbour cranes."},
    )
    b = _jsonl(
        tmp_path / "outletB",
        "b.jsonl",
        {"id": "1", "title": "Mountains", "text": "Beta story about mountains and snow."},
    )
    return a, b


def test_two_archives_with_the_same_ids_lose_nothing(
    tmp_path: Path, fake: FakeEmbedder, archives: tuple[Path, Path]
) -> None:
    a, b = archives
    with Index.create(tmp_path / "ix", model=fake) as ix:
        assert ix.update(a).added == 2
        report = ix.update(b)  # before collections: "0 added", the article dropped silently
        assert (report.added, report.skipped, report.conflicts) == (1, (), ())
        stats = ix.stats()
        assert stats.articles == 3
        assert _pairs(stats.collections) == [("outletA", 2), ("outletB", 1)]
        hits = ix.search("story", k=10, mode="lexical")
        assert {(h.collection, h.article_id) for h in hits} == {
            ("outletA", "1"),
            ("outletA", "2"),
            ("outletB", "1"),
        }


def test_show_takes_an_unambiguous_id_and_collection_slash_id_always(
    tmp_path: Path, fake: FakeEmbedder, archives: tuple[Path, Path]
) -> None:
    a, b = archives
    with Index.create(tmp_path / "ix", model=fake) as ix:
        ix.update([a, b])
        assert ix.article("2").title == "Harbour"  # one collection holds "2"
        assert ix.article("outletB/1").title == "Mountains"
        assert ix.article("outletA/1").key == "outletA/1"
        with pytest.raises(InputError, match="2 collections hold an article '1'.*outletA/1"):
            ix.article("1")
        with pytest.raises(InputError, match="outletB/1"):
            ix.similar("1")
        assert [h.title for h in ix.similar("outletB/1", k=5)]  # the others, by meaning
        with pytest.raises(InputError, match="2 collections hold"):
            ix.remove("1")
        assert ix.stats().articles == 3  # an ambiguous removal removes nothing
        assert ix.remove("outletB/1").removed == ("outletB/1",)
        assert ix.article("1").title == "Rivers"  # unambiguous again


@pytest.mark.parametrize("mode", MODES)
def test_a_query_filtered_by_collection_returns_only_it(
    tmp_path: Path, fake: FakeEmbedder, archives: tuple[Path, Path], mode: str
) -> None:
    a, b = archives
    with Index.create(tmp_path / "ix", model=fake) as ix:
        ix.update([a, b])
        hits = ix.search("story", k=10, mode=mode, collections=["outletB"])
        assert [(h.collection, h.article_id) for h in hits] == [("outletB", "1")]
        both = ix.search("story", k=10, mode=mode, collections=["outletA", "outletB"])
        assert len({(h.collection, h.article_id) for h in both}) == 3


def test_collection_names_the_run_and_moves_a_folder(
    tmp_path: Path, fake: FakeEmbedder, archives: tuple[Path, Path]
) -> None:
    a, _ = archives
    with Index.create(tmp_path / "ix", model=fake) as ix:
        ix.update(a, collection="wire")
        assert _pairs(ix.stats().collections) == [("wire", 2)]
        again = ix.update(a)  # without --collection, a file stays where it is
        assert (again.added, again.removed, again.unchanged) == (0, 0, 2)
        moved = ix.update(a, collection="harbour")
        assert (moved.added, moved.removed) == (2, 2)
        assert _pairs(ix.stats().collections) == [("harbour", 2)]
        assert ix.article("harbour/2").title == "Harbour"
        with pytest.raises(InputError, match="cannot name a collection"):
            ix.update(a, collection="a/b")


def test_a_same_id_conflict_in_one_collection_is_named_in_every_run(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    news = _jsonl(tmp_path / "news", "a.jsonl", {"id": "7", "title": "First", "text": "One."})
    _jsonl(news, "b.jsonl", {"id": "7", "title": "Second", "text": "Two."})
    with Index.create(tmp_path / "ix", model=fake) as ix:
        for _run in range(3):  # said again each run, until the files are fixed
            report = ix.update(news)
            assert report.conflicts == (("news/7", str(news / "a.jsonl"), str(news / "b.jsonl")),)
            assert ix.article("7").title == "First"  # the file read first keeps the id
        (news / "b.jsonl").write_text(json.dumps({"id": "8", "title": "Second", "text": "Two."}))
        fixed = ix.update(news)
        assert (fixed.conflicts, fixed.added) == ((), 1)


def test_the_cli_summary_names_both_files_of_a_conflict(
    tmp_path: Path, cli, fake_models: dict
) -> None:
    news = _jsonl(tmp_path / "news", "a.jsonl", {"id": "7", "title": "First", "text": "One."})
    _jsonl(news, "b.jsonl", {"id": "7", "title": "Second", "text": "Two."})
    for verbose in ([], ["-v"]):
        result = cli("index", news, "--index", tmp_path / "ix", *verbose)
        assert result.exit_code == 0
        assert (
            f"1 id conflicts in a collection: news/7 is in both {news / 'a.jsonl'} (kept) "
            f"and {news / 'b.jsonl'} (not indexed)"
        ) in result.stderr
    shown = cli("show", "news/7", "--index", tmp_path / "ix")
    assert shown.stdout.startswith("news/7\n")


def test_query_and_info_name_the_collections(
    tmp_path: Path, cli, archives: tuple[Path, Path]
) -> None:
    a, b = archives
    assert cli("index", a, b, "--index", tmp_path / "ix").exit_code == 0
    info = cli("info", "--index", tmp_path / "ix").stdout
    assert "collections  outletA (2), outletB (1)" in info
    found = cli("query", "story", "--collection", "outletB", "--json", "--index", tmp_path / "ix")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert [(r["collection"], r["article_id"]) for r in rows] == [("outletB", "1")]
    ambiguous = cli("show", "1", "--index", tmp_path / "ix")
    assert "give one of outletA/1, outletB/1" in one_line_error(ambiguous, 2)


def test_an_index_from_before_collections_upgrades_through_m005(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    path = tmp_path / "index"
    shutil.copytree(FIXTURES / "index_v2", path)
    with Index.open(path, model=fake) as ix:
        before = {h.article_id for h in ix.search("grain", k=50, mode="lexical")}
        assert ix.optimize() >= 0  # a writing command: runs the migrations
    with Index.open(path, model=fake) as ix:
        stats = ix.stats()
        assert [c.value for c in stats.collections] == ["news"]
        after = ix.search("grain", k=50, mode="lexical")
        assert {h.article_id for h in after} == before  # the same ids, now in "news"
        assert {h.collection for h in after} == {"news"}
        one = next(iter(before))
        assert ix.article(one).key == f"news/{one}"
        filtered = ix.search("grain", k=50, mode="lexical", collections=["news"])
        assert {h.article_id for h in filtered} == before
        assert ix.search("grain", k=5, mode="dense", collections=["elsewhere"]) == []
        assert ix.check().ok


# One name per outlet.


@pytest.fixture
def outlets(tmp_path: Path, fake: FakeEmbedder) -> Index:
    site = "https://www.elwoodgazette.example/2024/03/flood.html"
    records = [
        {"id": "p1", "title": "Flood", "text": "The river rose over the levee.", "url": site,
         "source": "Elwood Gazette"},
        {"id": "w1", "title": "Flood", "text": "The river rose over the levee again.",
         "url": "https://elwoodgazette.example/2024/03/flood-2.html",
         "source": "elwoodgazette.example"},
        {"id": "h1", "title": "Port", "text": "Ferries resumed at the port.",
         "source": "The Harbour Times"},
        {"id": "h2", "title": "Port", "text": "Port cranes were repaired.",
         "source": "harbour times"},
        {"id": "r1", "title": "Grain", "text": "Wheat exports climbed.", "source": "Reuters"},
    ]  # fmt: skip
    ix = Index.create(tmp_path / "ix", model=fake)
    ix.update(_jsonl(tmp_path / "wire", "w.jsonl", *records))
    yield ix
    ix.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Elwood Gazette", {"p1", "w1"}),  # the host's page counts as the site it names
        ("elwoodgazette.example", {"p1", "w1"}),
        ("Harbour Times", {"h1", "h2"}),  # a leading "The" and case do not split it
        ("the harbour-times", {"h1", "h2"}),
        ("REUTERS", {"r1"}),
    ],
)
def test_one_outlet_under_several_names_is_one_outlet(
    outlets: Index, given: str, expected: set[str], mode: str
) -> None:
    hits = outlets.search("river port wheat", k=10, mode=mode, sources=[given])
    assert {h.article_id for h in hits} == expected


def test_a_page_that_names_only_its_host_shows_the_outlet(outlets: Index) -> None:
    hits = outlets.search("levee", k=10, mode="lexical", collapse=False)
    assert {h.source for h in hits} == {"Elwood Gazette"}
    names = dict(_pairs(outlets.stats().outlets))
    assert names["Elwood Gazette"] == 2 and names["Reuters"] == 1
    assert "elwoodgazette.example" not in names


def test_an_unknown_outlet_names_the_nearest(outlets: Index) -> None:
    with pytest.raises(QueryError, match=r"no outlet 'reuter' in this index — nearest: Reuters"):
        outlets.search("wheat", sources=["Reuter"])
    with pytest.raises(QueryError, match="no outlet 'ap' in this index — nearest: "):
        outlets.search("wheat", sources=["AP"])


def test_info_gives_outlets_span_and_fields(tmp_path: Path, cli) -> None:
    records = [
        {"id": str(n), "title": f"T{n}", "text": f"Story number {n}.", "source": outlet,
         "date": f"1987-03-0{n}", "topics": ["crude"] if n % 2 else ["grain"]}
        for n, outlet in enumerate(["Reuters", "AP", "Reuters"], start=1)
    ]  # fmt: skip
    folder = _jsonl(tmp_path / "wire", "w.jsonl", *records)
    assert cli("index", folder, "--index", tmp_path / "ix").exit_code == 0
    info = cli("info", "--index", tmp_path / "ix").stdout
    assert "outlets      Reuters (2), AP (1)" in info
    assert "published    1987-03-01 to 1987-03-03" in info
    assert " topics      crude (2), grain (1)" in info
    stats = json.loads(cli("info", "--json", "--index", tmp_path / "ix").stdout)
    assert stats["outlets"] == [
        {"value": "Reuters", "articles": 2},
        {"value": "AP", "articles": 1},
    ]
    assert stats["collections"] == [{"value": "wire", "articles": 3}]
    assert stats["fields"]["topics"][0] == {"value": "crude", "articles": 2}


def test_a_file_given_alone_fills_the_collection_named_after_it(tmp_path: Path) -> None:
    write_articles(tmp_path / "d", {"story.txt": "Title\n\nBody.", "w.jsonl.gz": ""})
    from search.ingest.discover import discover

    alone = discover([tmp_path / "d" / "story.txt", tmp_path / "d" / "w.jsonl.gz"])
    assert [f.collection for f in alone.files] == ["story", "w"]
    named = discover([tmp_path / "d"], collection="mine")
    assert {f.collection for f in named.files} == {"mine"}
