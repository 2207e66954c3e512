"""Measure every retrieval-quality lever on BEIR SciFact, on the train and test splits.

    python scripts/tune_quality.py [DATA_DIR] [--work DIR]

One index is built per index-time setting (title context in the embedding, passage length)
under --work, and reused by later runs. Each query's dense and lexical candidates are
fetched once; every query-time setting (fusion method and weight, candidate depth) is then
scored offline with the same fusion function the index uses, and
the documents ranked by their best passage, as `newssearch eval` does. Metrics come from
ir-measures. Choose on train; the test column is only reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from search import Index
from search.evaluation import PASSAGE_DEPTH, BeirDataset, document_ranking, load_beir, measure
from search.query.fusion import reciprocal_rank_fusion, score_fusion
from search.query.searcher import Snapshot, dense_candidates
from search.storage.database import Store

HERE = Path(__file__).resolve().parent
INDEX_SETTINGS = {
    "plain": {"title_context": False},
    "title": {"title_context": True},
    "title-128": {"title_context": True, "passage_tokens": 128},
}
Ranking = list[tuple[int, float]]
# query id -> (dense passages, lexical passages, passage id -> document id)
Candidates = dict[str, tuple[Ranking, Ranking, dict[int, str]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("data", nargs="?", default=HERE.parents[1] / "shared/data/beir_scifact")
    parser.add_argument("--work", type=Path, default=Path("/tmp/newssearch-tune"))
    parser.add_argument("--settings", nargs="*", default=list(INDEX_SETTINGS))
    args = parser.parse_args()
    splits = {split: load_beir(args.data, split) for split in ("train", "test")}
    rows: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    for name in args.settings:
        ix = build(args.work / name, splits["test"], INDEX_SETTINGS[name])
        results = {s: candidates(ix, d) for s, d in splits.items()}
        label = f"index `{name}`"
        for lever, fuse in levers().items():
            rows.append((label, lever, {s: score(splits[s], results[s], fuse) for s in splits}))
            print_row(*rows[-1])
        ix.close()
    best = max(rows, key=lambda row: row[2]["train"]["nDCG@10"])
    print("\nbest on train:", best[0], "/", best[1], json.dumps(best[2]), file=sys.stderr)


def build(path: Path, dataset: BeirDataset, settings: dict) -> Index:
    started = time.monotonic()
    ix = Index.open(path) if (path / "manifest.json").exists() else Index.create(path, **settings)
    report = ix.add([dataset.corpus])
    print(
        f"# {path.name}: {ix.stats().passages} passages, {report.passages_embedded} "
        f"embedded in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )
    return ix


def candidates(ix: Index, dataset: BeirDataset) -> Candidates:
    """Each query's dense and lexical passages, (passage id, score) best first."""
    out: Candidates = {}
    for query, text in dataset.queries.items():
        vector = ix.embedder.embed([text])[0]

        def read(
            store: Store, snapshot: Snapshot, vector: np.ndarray = vector, text: str = text
        ) -> tuple[Ranking, Ranking, dict]:
            dense = dense_candidates(snapshot, vector, PASSAGE_DEPTH)
            lexical = ix.searcher.lexical_candidates(
                store, snapshot.format_version, snapshot.generation, text, PASSAGE_DEPTH
            )
            return dense, lexical, store.passages([p for p, _ in dense + lexical])

        dense, lexical, rows = ix.searcher.read(read)
        out[query] = (dense, lexical, {p: row.article_id for p, row in rows.items()})
    return out


def levers() -> dict[str, Callable[[Ranking, Ranking], Ranking]]:
    """Query-time settings: name -> fuse(dense, lexical) -> passage ranking."""
    table: dict[str, Callable[[Ranking, Ranking], Ranking]] = {
        "dense": lambda dense, lexical: dense,
        "lexical": lambda dense, lexical: lexical,
    }
    for depth in (50, 100, 300):
        table[f"hybrid RRF k=60, depth {depth}"] = lambda d, x, n=depth: reciprocal_rank_fusion(
            [d[:n], x[:n]]
        )
    for method in ("minmax", "zscore"):
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
            for depth in (100, 300):
                table[f"hybrid {method} dense weight {weight}, depth {depth}"] = (
                    lambda d, x, m=method, w=weight, n=depth: score_fusion(
                        [d[:n], x[:n]], weights=[w, 1 - w], normalization=m
                    )
                )
    return table


def score(dataset: BeirDataset, found: Candidates, fuse: Callable) -> dict[str, float]:
    rankings = {
        query: document_ranking((docs[p], s) for p, s in fuse(dense, lexical))
        for query, (dense, lexical, docs) in found.items()
    }
    return measure(dataset, rankings)


def print_row(label: str, lever: str, values: dict[str, dict[str, float]]) -> None:
    train, test = values["train"], values["test"]
    print(
        f"| {label} | {lever} | {train['nDCG@10']:.4f} | {test['nDCG@10']:.4f} | "
        f"{test['R@100']:.4f} | {test['MRR@10']:.4f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
