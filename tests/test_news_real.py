"""News search with the real model on real Reuters wire copy, through the CLI as a user
runs it: dates, topics and places kept; filters; wire copies collapsed; articles shown whole;
no contentless passage at the top.

Marked slow: the real model embeds ~2,000 Reuters TRAIN articles (about a minute).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_shared

pytestmark = [pytest.mark.slow, pytest.mark.process]  # every test runs the CLI in a process

COPIES = {"32", "55"}  # "SENATORS INTRODUCE EXPORT LICENSING REFORM BILL", sent twice
SIGNED = {"159", "304", "354"}  # bodies that end in a "REUTER" paragraph


def newssearch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "search", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def reuters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = need_shared("data", "reuters21578", "reuters21578.jsonl.gz")
    folder = tmp_path_factory.mktemp("reuters")
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    wanted = COPIES | SIGNED
    chosen = [
        r
        for number, r in enumerate(records)
        if r["lewis_split"] == "TRAIN" and (number < 2600 or r["id"] in wanted)
    ]
    with (folder / "reuters.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in chosen)
    (folder / "barcelona.md").write_text(
        "---\ntitle: Catalonia declares a drought emergency\ndate: 2024-02-01\n"
        "source: Wire Two\ntags: [drought, spain]\n---\n\nBARCELONA\n\n"
        "The regional government of Catalonia declared a drought emergency on Thursday, "
        "limiting water use for farms, industry and the 6 million people of Barcelona.\n\n"
        "Published 2024-02-01\n",
        encoding="utf-8",
    )
    index = folder / "index"
    result = newssearch("index", folder, "--index", index)
    assert result.returncode == 0, result.stderr
    assert f"{len(chosen) + 1} added" in result.stdout
    return index


def test_dates_topics_and_places_are_kept(reuters: Path) -> None:
    hit = json_lines(newssearch("query", "cocoa", "-k", "1", "--json", "--index", reuters))[0]
    assert hit["published"].startswith("1987-") and hit["published"].endswith("Z")
    assert isinstance(hit["fields"]["topics"], list) and isinstance(hit["fields"]["places"], list)
    assert hit["path"].endswith("reuters.jsonl")
    info = newssearch("info", "--json", "--index", reuters)
    assert json.loads(info.stdout)["duplicate_groups"] >= 1


def test_wire_copies_fill_the_page_no_more(reuters: Path) -> None:
    query = "senators introduce export licensing reform bill"
    hits = json_lines(newssearch("query", query, "-k", "6", "--json", "--index", reuters))
    ids = [h["article_id"] for h in hits]
    assert len(COPIES & set(ids)) == 1, ids  # one copy, its passages
    first = next(h for h in hits if h["article_id"] in COPIES)
    copies = {key.partition("/")[2] for key in first["duplicates"]}  # COLLECTION/ID
    assert copies == COPIES - {first["article_id"]}
    every = json_lines(newssearch("query", query, "-k", "6", "--json", "--all", "--index", reuters))
    assert COPIES <= {h["article_id"] for h in every}


def test_filters_hold_on_every_hit(reuters: Path) -> None:
    hits = json_lines(
        newssearch(
            "query",
            "trade deficit with Japan",
            "-k",
            "20",
            "--json",
            "--index",
            reuters,
            "--where",
            "places=japan",
            "--since",
            "1987-03-01",
            "--until",
            "1987-03-31",
        )
    )
    assert len(hits) == 20
    for hit in hits:
        assert "japan" in hit["fields"]["places"]
        assert "1987-03-01" <= hit["published"][:10] <= "1987-03-31"


def test_articles_as_results_show_and_similar(reuters: Path) -> None:
    query = "OPEC oil output ceiling"
    hits = json_lines(
        newssearch("query", query, "-k", "10", "--json", "--by", "article", "--index", reuters)
    )
    ids = [h["article_id"] for h in hits]
    assert len(ids) == len(set(ids)) == 10
    assert sum("crude" in h["fields"]["topics"] for h in hits) >= 7
    shown = json_lines(newssearch("show", "32", "--json", "--index", reuters))[0]
    assert shown["title"] == "SENATORS INTRODUCE EXPORT LICENSING REFORM BILL"
    assert shown["duplicates"] == [f"{shown['collection']}/55"] and len(shown["paragraphs"]) >= 3
    similar = json_lines(newssearch("similar", "32", "-k", "5", "--json", "--index", reuters))
    assert len(similar) == 5 and not COPIES & {h["article_id"] for h in similar}


@pytest.mark.parametrize(
    "query",
    [
        "OPEC output ceiling",
        "Army radio contract renegotiated",
        "Taiwan tariff cuts",
        "Catalonia drought emergency",
        "reuters",
    ],
)
def test_no_contentless_passage_at_the_top(reuters: Path, query: str) -> None:
    hits = json_lines(newssearch("query", query, "-k", "10", "--json", "--index", reuters))
    assert len(hits) == 10
    short = [h["text"] for h in hits if len(h["text"].split()) < 5]
    assert short == []
