"""A news retrieval check that needs no hand labels: BBC known-item search.

    python scripts/news_check.py [BBC_JSONL_GZ] [--index DIR] [--json]

Each of the 2,225 BBC News articles is indexed by its body alone, title removed; each
headline is then a query whose relevant documents are the articles bearing that headline
(the dataset holds 98 exact duplicates, which share it). Nothing is tuned on these
queries: the settings were chosen on SciFact's train split. The data are written out in
BEIR layout and measured by the same code as `newssearch eval`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import tempfile
from collections import defaultdict
from pathlib import Path

from search.evaluation import run_eval

HERE = Path(__file__).resolve().parent


def write_known_item_dataset(source: Path, folder: Path) -> int:
    """Write BBC News as a BEIR dataset of headline queries; returns the number of queries."""
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        articles = [json.loads(line) for line in handle]
    by_headline: dict[str, list[str]] = defaultdict(list)
    for article in articles:
        by_headline[article["title"].strip()].append(article["id"])
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for article in articles:
            corpus.write(json.dumps({"_id": article["id"], "title": "", "text": article["text"]}))
            corpus.write("\n")
    queries = list(by_headline.items())
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for number, (headline, _ids) in enumerate(queries):
            handle.write(json.dumps({"_id": f"h{number}", "text": headline}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for number, (_headline, ids) in enumerate(queries):
            handle.writelines(f"h{number}\t{doc}\t1\n" for doc in ids)
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = HERE.parents[1] / "shared/data/bbc_news/bbc_news.jsonl.gz"
    parser.add_argument("source", nargs="?", type=Path, default=default)
    parser.add_argument("--index", type=Path, help="keep the index here (reused next time)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "bbc_known_item"
        write_known_item_dataset(args.source, folder)
        report = run_eval(folder, index_path=args.index)
    if args.json:
        print(json.dumps(dataclasses.asdict(report)))
        return
    print(f"BBC known-item ({report.queries} headlines, {report.seconds:.0f}s)")
    for mode, values in report.results.items():
        print(f"{mode:<9}" + "".join(f"  {k} {v:.4f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
