"""Measuring retrieval quality on a BEIR-style dataset with standard metrics.

The metrics come from ir-measures (over pytrec_eval); nothing here computes a metric
itself. Passages are turned into document rankings first: a document scores as its best
passage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from search.errors import InputError
from search.index import Index
from search.query.contract import MODES

__all__ = [
    "METRICS",
    "BeirDataset",
    "EvalReport",
    "document_ranking",
    "evaluate",
    "load_beir",
    "measure",
    "run_eval",
]

METRICS = ("nDCG@10", "R@100", "MRR@10")
# ir-measures' names for the metrics above (MRR@10 is its RR@10).
_MEASURES = {"nDCG@10": "nDCG@10", "R@100": "R@100", "MRR@10": "RR@10"}
PASSAGE_DEPTH = 300  # passages fetched per query: enough for 100 distinct documents
_NO_RESULT = "\0no-result"


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: Path
    queries: dict[str, str]  # query id -> text, only the queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance
    split: str


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    split: str
    queries: int
    results: dict[str, dict[str, float]]  # mode -> metric -> value
    seconds: float


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """Read a dataset in BEIR layout: corpus.jsonl(.gz), queries.jsonl, qrels/<split>.tsv."""
    folder = Path(folder)
    corpus = next(
        (folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).is_file()), None
    )
    if corpus is None:
        raise InputError(f"{folder} has no corpus.jsonl or corpus.jsonl.gz (BEIR layout expected)")
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        raise InputError(f"{folder} has no qrels/{split}.tsv")
    queries_file = folder / "queries.jsonl"
    if not queries_file.is_file():
        raise InputError(f"{folder} has no queries.jsonl")
    qrels = _read_qrels(qrels_file)
    texts = _read_queries(queries_file)
    missing = sorted(set(qrels) - set(texts))
    if missing:
        raise InputError(f"{qrels_file} judges queries missing from queries.jsonl: {missing[:5]}")
    return BeirDataset(folder.name, corpus, {q: texts[q] for q in qrels}, qrels, split)


def document_ranking(passages: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Documents ranked by their best passage, from (document id, score) pairs best first;
    ties keep the order in which documents first appear.

    >>> document_ranking([("d1", 0.9), ("d2", 0.8), ("d1", 0.7), ("d3", 0.8)])
    [('d1', 0.9), ('d2', 0.8), ('d3', 0.8)]
    """
    best: dict[str, float] = {}
    for doc, score in passages:
        if doc not in best or score > best[doc]:
            best[doc] = score
    order = {doc: i for i, doc in enumerate(best)}
    return sorted(best.items(), key=lambda item: (-item[1], order[item[0]]))


def measure(dataset: BeirDataset, rankings: dict[str, list[tuple[str, float]]]) -> dict[str, float]:
    """nDCG@10, R@100 and MRR@10 (by ir-measures) of document rankings, one per query."""
    import ir_measures

    measures = [ir_measures.parse_measure(_MEASURES[m]) for m in METRICS]
    qrels = [
        ir_measures.Qrel(query, doc, relevance)
        for query, docs in dataset.qrels.items()
        for doc, relevance in docs.items()
    ]
    run = [
        ir_measures.ScoredDoc(query, doc, score)
        for query in dataset.queries
        # A query with no answer still counts, as a zero.
        for doc, score in (rankings.get(query, [])[:100] or [(_NO_RESULT, 0.0)])
    ]
    values = ir_measures.calc_aggregate(measures, qrels, run)
    return {name: float(values[m]) for name, m in zip(METRICS, measures, strict=True)}


def evaluate(
    index: Index,
    dataset: BeirDataset,
    modes: Sequence[str] = MODES,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """nDCG@10, R@100 and MRR@10 of each mode over the dataset's judged queries."""
    results: dict[str, dict[str, float]] = {}
    total = len(modes) * len(dataset.queries)
    done = 0
    for mode in modes:
        rankings = {}
        for query, text in dataset.queries.items():
            # A benchmark judges each copy of a story on its own: every copy is ranked
            # (collapsing copies is for a reader's page, and would hide judged documents).
            hits = index.search(text, k=PASSAGE_DEPTH, mode=mode, collapse=False)
            rankings[query] = document_ranking((h.article_id, h.score) for h in hits)
            done += 1
            if progress is not None:
                progress(done, total)
        results[mode] = measure(dataset, rankings)
    return results


def run_eval(
    folder: str | Path,
    *,
    split: str = "test",
    modes: Sequence[str] = MODES,
    index_path: str | Path | None = None,
    model: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Index a BEIR dataset's corpus (in a throw-away folder unless ``index_path``) and
    evaluate every mode on it."""
    import tempfile

    started = time.monotonic()
    dataset = load_beir(folder, split)
    with tempfile.TemporaryDirectory(prefix="newssearch-eval-") as scratch:
        where = Path(index_path) if index_path is not None else Path(scratch) / "index"
        with Index.open_or_create(where, model=model) as index:
            index.add(
                [dataset.corpus],
                progress=None if progress is None else lambda d, t: progress("embedding", d, t),
            )
            results = evaluate(
                index,
                dataset,
                modes,
                progress=None if progress is None else lambda d, t: progress("querying", d, t),
            )
    return EvalReport(
        dataset.name, split, len(dataset.queries), results, time.monotonic() - started
    )


def _read_qrels(file: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.strip().split("\t")
        if number == 1 and fields[0] == "query-id" or not line.strip():
            continue
        if len(fields) != 3:
            raise InputError(f"{file}, line {number}: expected query-id, corpus-id, score")
        try:
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
        except ValueError:
            raise InputError(f"{file}, line {number}: the score is not a number") from None
    return qrels


def _read_queries(file: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            queries[str(record["_id"])] = str(record["text"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{file}, line {number}: not a BEIR query record") from None
    return queries
