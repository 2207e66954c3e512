"""The vector index at scale: exact against IVF, full against compact, up to 1M vectors.

    python scripts/bench_scale.py [--data DIR] [--sizes 100000 1000000] [--work DIR]

Run by scripts/bench.py as its third part; alone it prints the same lines.

1. Real embeddings: passages of BBC News, AG News and Reuters-21578, embedded once with the
   packaged model (cached under --work). 500 held-out passages are the queries; each layout's
   top 10 is compared with exact search's (recall@10).
2. Synthetic vectors for the size curve: each is a real embedding plus Gaussian noise
   (cosine about 0.8 to its source), normalised, so the clusters of real text remain.
   At each size: warm query latency (p50, p95) of exact search and of the layout that
   ``plan_layout`` picks, recall@10 against exact, build time, bytes per vector.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from search.embedding import SentenceTransformerEmbedder
from search.vectors import EXACT_LIMIT, Layout, VectorIndex, plan_layout

HERE = Path(__file__).resolve().parent
QUERIES = 500
REAL_LIMIT = 40_000  # real passages embedded (the rest of the curve is synthetic)
NOISE_COSINE = 0.8
SIZES = [50_000, 100_000, 300_000, 1_000_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/newssearch/bench")
    args = parser.parse_args()
    run(args.data, args.sizes, args.work)


Results = dict[tuple[str, str], dict[str, float]]
"""("real" or the synthetic size, layout kind) -> figures."""


def run(data: Path, sizes: list[int], work: Path) -> Results:
    """Measure and print each figure as it comes; returns them all."""
    real = real_vectors(data, work)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    queries, base = real[order[:QUERIES]], real[order[QUERIES:]]
    results: Results = {}
    print(f"real embeddings: {len(base):,} passages, {QUERIES} held-out queries")
    exact = Exact(base, queries)
    planned = plan_layout(EXACT_LIMIT)  # the IVF settings a just-large index gets
    for kind in ("ivf", "flat-sq8", "ivf-sq8"):
        layout = Layout(kind, planned.lists, planned.probes) if "ivf" in kind else Layout(kind)
        result = results["real", kind] = measure(exact, queries, layout)
        print(
            f"REAL recall@10 {kind} ({describe(layout)}): {result['recall']:.3f}; "
            f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms "
            f"(exact {exact.p50:.1f} ms); {result['bytes'] / len(base):.0f} bytes/vector",
            flush=True,
        )
    for size in sizes:
        exact = Exact(synthetic(base, size, rng), queries)
        for compact in (False, True):
            layout = plan_layout(size, compact=compact)
            result = results[str(size), layout.kind] = measure(exact, queries, layout)
            print(
                f"SCALE {size:>9,} {layout.kind:<8} ({describe(layout)}): "
                f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms "
                f"(exact {exact.p50:.1f} ms); recall@10 {result['recall']:.3f}; "
                f"built in {result['build']:.0f}s; {result['bytes'] / size:.0f} bytes/vector, "
                f"{result['bytes'] / 2**20:.0f} MiB on disk",
                flush=True,
            )
        del exact
    return results


def describe(layout: Layout) -> str:
    return f"{layout.lists} lists, {layout.probes} probed" if layout.lists else "exact"


class Exact:
    """Exact search over a set of vectors: the index, each query's true top 10, and its
    median latency, computed once for every layout measured against it."""

    def __init__(self, vectors: np.ndarray, queries: np.ndarray) -> None:
        self.index = VectorIndex.empty(vectors.shape[1])
        self.index.add(np.arange(len(vectors), dtype=np.int64), vectors)
        self.truth = exact_top10(vectors, queries)
        times = []
        for query in queries[:50]:
            started = time.perf_counter()
            self.index.search(query, 10)
            times.append(time.perf_counter() - started)
        self.p50 = 1000 * statistics.median(times)


def measure(exact: Exact, queries: np.ndarray, layout: Layout) -> dict[str, float]:
    """Warm latency and recall@10 against exact search of ``layout`` over the same vectors."""
    started = time.perf_counter()
    index = exact.index.rebuilt(layout)
    build = time.perf_counter() - started
    times, recalls = [], []
    for query, expected in zip(queries, exact.truth, strict=True):
        t0 = time.perf_counter()
        found = {i for i, _ in index.search(query, 10)}
        times.append(time.perf_counter() - t0)
        recalls.append(len(expected & found) / 10)
    with tempfile.TemporaryDirectory(prefix="newssearch-scale-") as scratch:
        size, _ = index.save(Path(scratch) / "vectors.faiss")
    return {
        "p50": 1000 * statistics.median(times),
        "p95": 1000 * float(np.percentile(times, 95)),
        "recall": float(np.mean(recalls)),
        "build": build,
        "bytes": size,
    }


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Each query's ten nearest rows by inner product, computed block by block in numpy."""
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for first in range(0, len(vectors), 100_000):
        scores = queries @ vectors[first : first + 100_000].T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        best_ids = np.hstack([best_ids, top + first])
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        keep = np.argsort(-best_scores, axis=1)[:, :10]
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return [set(row.tolist()) for row in best_ids]


def synthetic(real: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` vectors near real ones: each a real embedding plus noise, normalised."""
    sigma = np.sqrt(1 / NOISE_COSINE**2 - 1) / np.sqrt(real.shape[1])
    out = np.empty((size, real.shape[1]), dtype=np.float32)
    for first in range(0, size, 100_000):
        n = min(100_000, size - first)
        block = real[rng.integers(0, len(real), n)]
        block = block + rng.normal(0, sigma, block.shape).astype(np.float32)
        out[first : first + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def real_vectors(data: Path, work: Path) -> np.ndarray:
    """Embeddings of real news passages, made once and cached in ``work``."""
    embedder = SentenceTransformerEmbedder()
    cache = work / f"real-{embedder.fingerprint}-{REAL_LIMIT}.npy"
    if cache.is_file():
        return np.load(cache)
    texts = news_passages(data)[:REAL_LIMIT]
    print(f"embedding {len(texts):,} real passages once (cached in {cache})", file=sys.stderr)
    vectors = embedder.embed(texts)
    work.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def news_passages(data: Path) -> list[str]:
    """Paragraphs of BBC News and Reuters, and AG News items, interleaved by source."""
    sources: list[list[str]] = []
    for name, file in (
        ("bbc", data / "bbc_news/bbc_news.jsonl.gz"),
        ("ag", data / "ag_news/ag_news_test.jsonl.gz"),
        ("reuters", data / "reuters21578/reuters21578.jsonl.gz"),
    ):
        texts = []
        with gzip.open(file, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                body = record.get("text") or ""
                if name == "ag":
                    texts.append(f"{record.get('title', '')}\n{body}".strip())
                else:
                    texts += [p.strip() for p in body.split("\n\n") if len(p.split()) >= 5]
        sources.append(texts)
    mixed: list[str] = []
    for i in range(max(len(texts) for texts in sources)):
        mixed += [texts[i] for texts in sources if i < len(texts)]
    return mixed


if __name__ == "__main__":
    main()
