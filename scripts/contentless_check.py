"""Contentless passages at the top: a labelled check on BBC News, Reuters TRAIN and AG News.

    python scripts/contentless_check.py [--index DIR] [--json] [--dump FILE]

The queries and labels are tests/fixtures/contentless.json: for each article, the exact
quotes of its text that say nothing on their own (a list item without its lead-in, a table
row or date line without its heading, "Police want to hear from anyone who has any
information."). A passage is contentless when nothing but white space and punctuation is
left of it once its article's quotes are taken out. Each query's top 10 is judged so
(hits by passage; by article, the passage each article shows), and ir-measures scores it:
P@10 is the share of the top 10 with content, nDCG@10 also counts where the contentless
ones rank. Both are 1.0 when no contentless passage reaches the top 10. They are given for
the queries by passage (and for those written from BBC, Reuters and AG News articles: ids
b, r and a; each searches the whole corpus) and for those by article ("article snippets").

The corpus is the fixture's: BBC News' politics, business, entertainment and sport
articles, Reuters-21578's TRAIN articles on topic earn (TEST is never read), and the first
1,000 AG News items, indexed with the default settings and model. ``--index DIR`` keeps
the index there and reuses it (delete it after the chunking changes). ``--dump FILE``
writes every query's top 10, judged, as JSON lines: what a labeller reads.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import search

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared/data"
FIXTURE = HERE.parent / "tests/fixtures/contentless.json"
DEPTH = 10
_WORD = re.compile(r"\w")


def write_corpus(spec: dict[str, Any], data: Path, folder: Path) -> int:
    """Write the fixture's corpus as one JSONL file per collection; returns the articles."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, wanted in spec.items():
        with gzip.open(data / wanted["file"], "rt", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle]
        if "category" in wanted:
            records = [r for r in records if r["category"] in wanted["category"]]
        if "lewis_split" in wanted:
            records = [r for r in records if r["lewis_split"] == wanted["lewis_split"]]
        if "topic" in wanted:
            records = [r for r in records if wanted["topic"] in r["topics"]]
        if "first" in wanted:
            records = records[: wanted["first"]]
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in records)
        written += len(records)
    return written


def is_contentless(text: str, quotes: list[str]) -> bool:
    """Whether nothing but white space and punctuation is left of ``text`` once every
    quote is taken out of it.

    >>> is_contentless("Pay April 30\\n\\nRecord April 14", ["Pay April 30", "Record April 14"])
    True
    >>> is_contentless("Qtly div 15 cts\\n\\nPay April 30", ["Pay April 30"])
    False
    """
    for quote in sorted(quotes, key=len, reverse=True):
        text = text.replace(quote, " ")
    return _WORD.search(text) is None


def top_hits(index: search.Index, query: dict[str, Any]) -> list[dict[str, Any]]:
    """A query's top ``DEPTH`` hits as the user sees them: article, passage shown, text."""
    hits = index.search(
        query["text"], k=DEPTH, where=query.get("where"), by=query.get("by", "passage")
    )
    return [
        {"rank": h.rank, "article": h.article_id, "start": h.start, "end": h.end, "text": h.text}
        for h in hits
    ]


def judged(hits: list[dict[str, Any]], labels: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {**hit, "content": not is_contentless(hit["text"], labels.get(hit["article"], []))}
        for hit in hits
    ]


def measure(results: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """P@10 and nDCG@10 (ir-measures) of judged top-10 lists: a hit with content is
    relevant. A query with fewer than 10 hits is judged on those it has."""
    import ir_measures

    measures = [ir_measures.P @ DEPTH, ir_measures.nDCG @ DEPTH]
    qrels, run = [], []
    for query, hits in results.items():
        for hit in hits:
            doc = f"{hit['article']}#{hit['start']}"
            qrels.append(ir_measures.Qrel(query, doc, int(hit["content"])))
            run.append(ir_measures.ScoredDoc(query, doc, float(DEPTH - hit["rank"] + 1)))
    values = ir_measures.calc_aggregate(measures, qrels, run)
    return {str(m): round(float(values[m]), 4) for m in measures}


def check(
    index: search.Index, fixture: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The figures, and each query's judged hits."""
    labels = fixture["contentless"]
    results = {q["id"]: judged(top_hits(index, q), labels) for q in fixture["queries"]}
    by_article = {q["id"] for q in fixture["queries"] if q.get("by") == "article"}
    groups = {
        "passages": [q for q in results if q not in by_article],
        "bbc": [q for q in results if q.startswith("b")],
        "reuters": [q for q in results if q.startswith("r")],
        "ag_news": [q for q in results if q.startswith("a")],
        "article snippets": sorted(by_article),
    }
    figures: dict[str, Any] = {
        name: {"queries": len(ids), **measure({q: results[q] for q in ids})}
        for name, ids in groups.items()
    }
    figures["contentless in top 10"] = {
        name: sum(not hit["content"] for q in ids for hit in results[q])
        for name, ids in groups.items()
    }
    return figures, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--index", type=Path, help="keep the index here (reused next time)")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    parser.add_argument("--dump", type=Path, help="write each query's judged top 10 here")
    args = parser.parse_args()
    fixture = json.loads(args.fixture.read_text(encoding="utf-8"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="newssearch-contentless-") as scratch:
        where = args.index or Path(scratch) / "index"
        if not where.exists():
            corpus = Path(scratch) / "corpus"
            write_corpus(fixture["corpus"], args.data, corpus)
            with search.Index.create(where) as index:
                index.update([corpus])
        with search.Index.open(where) as index:
            figures, results = check(index, fixture)
    figures["seconds"] = round(time.monotonic() - started)
    if args.dump is not None:
        with args.dump.open("w", encoding="utf-8") as out:
            for query in fixture["queries"]:
                out.write(json.dumps({**query, "hits": results[query["id"]]}) + "\n")
    if args.json:
        print(json.dumps(figures))
        return
    for name, values in figures.items():
        print(f"{name:<22} {values}")


if __name__ == "__main__":
    main()
