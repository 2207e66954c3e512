"""Contentless passages at the top (issue 19, item 7), on the labelled set of
tests/fixtures/contentless.json, measured by scripts/contentless_check.py with ir-measures.

The fixture's own checks read the shared data; the measurement indexes about 5,400 articles
of BBC News, Reuters TRAIN and AG News with the real model (a few minutes on 2 cores).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_shared

from search.ingest.paragraphs import split_paragraphs

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "contentless.json").read_text("utf-8"))
# Measured on 2 cores, bf16 indexing. Before chunking rules 2 and the snippet rule (305e267):
# passages P@10 0.8095, nDCG@10 0.8902 (80 contentless hits in 42 top 10s); article snippets
# P@10 0.8625, nDCG@10 0.9194 (11 in 8). After: 0.9881, 0.9913 (5); 0.9875, 0.9791 (1). The
# bounds leave room for a few hits that another machine's arithmetic ranks differently.
PASSAGES_P10 = 0.97
SNIPPETS_P10 = 0.95


@pytest.mark.slow  # reads whole datasets
def test_every_label_quotes_its_article_and_no_reuters_test_article_is_used() -> None:
    articles = {}
    for wanted in FIXTURE["corpus"].values():
        with gzip.open(need_shared("data", *wanted["file"].split("/")), "rt") as handle:
            for line in handle:
                record = json.loads(line)
                articles[record["id"]] = record
    for article_id, quotes in FIXTURE["contentless"].items():
        record = articles[article_id]
        assert record.get("lewis_split", "TRAIN") == "TRAIN", article_id
        text = "\n\n".join(split_paragraphs(record["text"]))  # the text as indexed
        for quote in quotes:
            assert quote in text, (article_id, quote)
    assert FIXTURE["corpus"]["reuters"]["lewis_split"] == "TRAIN"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, list[dict]]]:
    need_shared("data", "bbc_news")
    dump = tmp_path_factory.mktemp("contentless") / "dump.jsonl"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "contentless_check.py"), "--json", "--dump", dump],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stderr
    hits = {}
    for line in dump.read_text(encoding="utf-8").splitlines():
        query = json.loads(line)
        hits[query["id"]] = query["hits"]
    return json.loads(result.stdout), hits


@pytest.mark.slow
@pytest.mark.process
def test_contentless_passages_leave_the_top_ten(measured: tuple[dict, dict]) -> None:
    figures, _ = measured
    assert figures["passages"]["P@10"] >= PASSAGES_P10
    assert figures["article snippets"]["P@10"] >= SNIPPETS_P10


@pytest.mark.slow
@pytest.mark.process
def test_the_three_cases_of_the_issue(measured: tuple[dict, dict]) -> None:
    _, hits = measured
    police = "Police want to hear from anyone who has any information."
    # "Kilroy-Silk": the police appeal was hit 2, and the top article's snippet.
    assert all(hit["content"] for hit in hits["b01"][:3])
    assert police not in hits["s01"][0]["text"] and "Kilroy-Silk" in hits["s01"][0]["text"]
    # budget in politics: three bullet fragments were the top 3.
    assert all(hit["content"] for hit in hits["b02"][:3] + hits["s02"][:3])
    # "company reports quarterly earnings": "Pay April 30 / Record April 14" was in the top 10.
    for query in ("r01", "s03"):
        assert all(hit["text"] != "Pay April 30\n\nRecord April 14" for hit in hits[query])
