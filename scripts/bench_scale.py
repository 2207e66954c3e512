"""Storage at scale: the index through its public API, up to 1M passages, with a stand-in
embedder so that only storage is timed.

    python scripts/bench_scale.py [--sizes 20000 100000 300000 1000000] [--batch 2000]
                                  [--data ../shared/data] [--work DIR] [--json FILE]

1. Build: articles of real news paragraphs (BBC News, AG News, Reuters-21578 TRAIN; 40,000 of
   them, repeated with a "(copy k)" suffix as far as the sizes need), added ``--batch``
   articles at a time, one ``Index.add`` each, as a daily feed would be. The time per
   passage of each 100k is kept (no quadratic cost: the last 100k within 1.3x the first).
2. At each size: adding ONE article (``Index.open`` + ``add`` + close, median of 3); a cold
   hybrid query in a fresh process (open + query, and the whole process), with its peak
   memory (VmHWM).
3. At the largest size, warm, one query at a time, over the segment set as the merge policy
   left it: the dense half (300 candidates, as hybrid asks) p50/p95 and recall@10 against
   an exact scan of every live vector; the whole hybrid query (embedding, both halves,
   fusion, rows) p50/p95 over headlines and common-word queries.

The stand-in embedder returns real embeddings: each of the 40,000 paragraphs and of the
queries (500 held-out paragraphs, and common-word queries) is embedded once with the packaged
model and cached (``--work-cache``); a passage's vector is its paragraph's plus Gaussian noise
(cosine about 0.8, seeded by the passage text, so copies differ), as real text clusters.
It runs against any ``search`` package on the path that has the public API (run it with the
version-1 package on PYTHONPATH for the "before" figures; the internal measurements of part 3
are then skipped). Prints TARGETS at the end.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

import search

HERE = Path(__file__).resolve().parent
SIZES = [20_000, 100_000, 300_000, 1_000_000]
REAL_LIMIT = 40_000
QUERIES = 500
NOISE_COSINE = 0.8
_WORD = re.compile(r"\w+|[^\w\s]")
_COPY = re.compile(r" \(copy \d+\)$")
COLD_QUERY = "oil prices fell sharply after the OPEC meeting"
COMMON_QUERIES = [
    "oil prices fell sharply after the OPEC meeting",
    "the company said it expects",
    "the government said on Tuesday",
    "shares rose in early trading",
    "the bank said it would",
    "prices are expected to rise this year",
    "the minister told reporters",
    "profits were up in the first quarter",
    "coffee export quotas",
    "Kataib Hezbollah",
]


class StandIn:
    """A fast embedder for timing storage, with real embeddings: looks each passage's
    paragraph up in a table made once with the real model, and adds noise."""

    name = "stand-in-384"
    max_tokens = 256
    fingerprint = "stand-in-384-v3"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self._table = table
        self.dimension = len(next(iter(table.values())))
        self._sigma = np.sqrt(1 / NOISE_COSINE**2 - 1) / np.sqrt(self.dimension)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            paragraph = _COPY.sub("", text.rsplit("\n", 1)[-1])
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            base = self._table.get(paragraph)
            if base is None:  # a paragraph cut in two by the chunker: a vector of its own
                base = rng.standard_normal(self.dimension).astype(np.float32)
                base /= np.linalg.norm(base)
            out[row] = base + rng.normal(0, self._sigma, self.dimension).astype(np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress is not None:
            progress(len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """A query's own real embedding, without noise."""
        vector = self._table.get(text)
        return self.embed([text])[0] if vector is None else vector


def real_table(data: Path, cache: Path) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Real embeddings of 40,000 news paragraphs, 500 held-out ones and the common-word
    queries, made once with the packaged model; and (paragraphs, queries)."""
    texts = news_paragraphs(data)[: REAL_LIMIT + QUERIES]
    paragraphs, held_out = texts[:REAL_LIMIT], texts[REAL_LIMIT:]
    everything = paragraphs + held_out + COMMON_QUERIES
    file = cache / f"real-{len(everything)}-{zlib.crc32(''.join(everything).encode()):08x}.npy"
    if file.is_file():
        vectors = np.load(file)
    else:
        from search.embedding import SentenceTransformerEmbedder

        print(f"embedding {len(everything):,} real texts once (cached in {file})", flush=True)
        vectors = SentenceTransformerEmbedder().embed(everything)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(file, vectors)
    table = dict(zip(everything, vectors, strict=True))
    return table, paragraphs, held_out + COMMON_QUERIES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument("--batch", type=int, default=2000, help="articles per Index.add")
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: tmp)")
    parser.add_argument("--work-cache", type=Path, default=Path.home() / ".cache/newssearch/bench")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--keep", type=Path, default=None, help="build here, and keep it")
    parser.add_argument("--cold", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        cold_child(Path(args.cold))
        return
    table, paragraphs, queries = real_table(args.data, args.work_cache)
    embedder = StandIn(table)
    if args.keep:
        args.keep.mkdir(parents=True)
        results = run(paragraphs, queries, embedder, sorted(args.sizes), args.batch, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="newssearch-scale-", dir=args.work) as work:
            results = run(paragraphs, queries, embedder, sorted(args.sizes), args.batch, Path(work))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def run(
    paragraphs: list[str],
    queries: list[str],
    embedder: StandIn,
    sizes: list[int],
    batch: int,
    work: Path,
) -> dict:
    version = getattr(importlib.import_module("search.index"), "FORMAT_VERSION", 1)
    print(f"newssearch format {version}, sizes {sizes}, {batch} articles per add", flush=True)
    articles = news_articles(paragraphs, sizes[-1])
    path = work / "index"
    feed = work / "feed"
    feed.mkdir()
    results: dict = {"format": version, "sizes": {}, "build": []}
    passages = chunk_started = 0
    chunk_passages = 0
    started = time.perf_counter()
    chunk_clock = started
    targets = iter(sizes)
    target = next(targets)
    np.save(work / "cold-query.npy", embedder.embed_query(COLD_QUERY))
    ix = search.Index.create(path, model=embedder)
    for file in feed_files(articles, batch, feed):
        report = ix.add([file])
        passages += report.passages_embedded
        chunk_passages += report.passages_embedded
        if chunk_passages >= 100_000 or passages >= target:
            now = time.perf_counter()
            per = (now - chunk_clock) / max(chunk_passages, 1) * 1000
            results["build"].append({"upto": passages, "ms_per_passage": per})
            print(f"BUILD {chunk_started:>9,}-{passages:<9,} {per:.3f} ms a passage", flush=True)
            chunk_clock, chunk_passages, chunk_started = now, 0, passages
        if report.skipped:
            print(f"  skipped {len(report.skipped)}", file=sys.stderr)
        if passages >= target:
            ix.close()
            results["sizes"][str(target)] = at_size(path, work, passages, embedder)
            chunk_clock = time.perf_counter()  # the measurements are not building time
            target = next(targets, None)
            if target is None:
                break
            ix = search.Index.open(path, model=embedder)
    ix.close()
    print(f"built {passages:,} passages in {time.perf_counter() - started:.0f}s")
    largest = results["sizes"][str(sizes[-1])]
    if version >= 2:
        largest.update(warm(path, queries, embedder))
        with search.Index.open(path, model=embedder) as ix:
            begun = time.perf_counter()
            ix.optimize()
            print(f"optimize: one segment in {time.perf_counter() - begun:.0f}s", flush=True)
        optimized = warm(path, queries, embedder)
        largest.update({f"optimized_{key}": value for key, value in optimized.items()})
    print_targets(results, sizes)
    return results


def at_size(path: Path, work: Path, passages: int, embedder: StandIn) -> dict:
    """Adding one article, and a cold query in a fresh process, at this size."""
    times = []
    for round_ in range(5):
        one = work / f"one-{passages}-{round_}.jsonl"
        one.write_text(
            json.dumps(
                {
                    "id": f"one-{passages}-{round_}",
                    "title": "Port strike",
                    "text": f"Dock workers at the port walked out on day {round_}.\n\n"
                    "The union said talks had failed.",
                }
            )
            + "\n"
        )
        started = time.perf_counter()
        with search.Index.open(path, model=embedder) as ix:
            ix.add([one])
        times.append(time.perf_counter() - started)
    add_one = statistics.median(times)
    print(f"  adding one article, 5 times: {', '.join(f'{t:.3f}' for t in times)} s", flush=True)
    colds = [cold_query(path) for _ in range(5)]
    cold = {key: statistics.median(c[key] for c in colds) for key in colds[0]}
    with search.Index.open(path, model=embedder) as ix:
        stats = ix.stats()
    segments = getattr(stats, "segments", 1)
    print(
        f"SIZE {passages:>9,}: add one article {add_one:.3f} s; cold query {cold['query_s']:.3f}"
        f" s (process {cold['process_s']:.2f} s; peak {cold['peak_mb']:.0f} MB, of which "
        f"{cold['file_mb']:.0f} MB mapped files); "
        f"{segments} segments; {stats.size_bytes / 2**20:.0f} MiB on disk",
        flush=True,
    )
    return {
        "passages": passages,
        "add_one_s": add_one,
        "cold_query_s": cold["query_s"],
        "cold_process_s": cold["process_s"],
        "cold_peak_mb": cold["peak_mb"],
        "cold_own_peak_mb": cold["own_peak_mb"],
        "segments": segments,
        "bytes": stats.size_bytes,
    }


def cold_query(path: Path) -> dict:
    """The cold child, timed as a whole process and from opening the index."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--cold", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - started
    return figures


def cold_child(path: Path) -> None:
    """In a fresh process: open the index and answer one hybrid query (whose real embedding
    the parent left beside the index)."""
    vector = np.load(path.parent / "cold-query.npy")
    embedder = StandIn({COLD_QUERY: vector})
    started = time.perf_counter()
    with search.Index.open(path, model=embedder) as ix:
        hits = ix.search(COLD_QUERY, k=10)
        elapsed = time.perf_counter() - started
        status = {
            line.split(":")[0]: int(line.split()[1]) / 1024
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith(("VmHWM:", "RssFile:", "RssAnon:"))
        }
    print(
        json.dumps(
            {
                "query_s": elapsed,
                "peak_mb": status["VmHWM"],
                # Pages of the mapped files (segments, tantivy) count in VmHWM, but they are
                # the OS's file cache, shared and dropped under pressure, not memory of ours.
                "file_mb": status["RssFile"],
                "own_peak_mb": status["VmHWM"] - status["RssFile"],
                "hits": len(hits),
            }
        )
    )


def warm(path: Path, queries: list[str], embedder: StandIn) -> dict:
    """Warm latency and dense recall@10 over the segment set the merge policy left."""
    from search.query.searcher import dense_candidates

    texts = COMMON_QUERIES + queries[:QUERIES]
    broken = [text for text in texts if _breaks_syntax(text)]
    if broken:  # a paragraph pasted whole, with a quote it never closes: a one-line error
        print(f"  {len(broken)} of {len(texts)} queries break the query syntax: left out")
        texts = [text for text in texts if text not in broken]
    with search.Index.open(path, model=embedder) as ix:
        snapshot = ix.searcher.read(lambda store, snapshot: snapshot)
        query_vectors = np.stack([embedder.embed_query(text) for text in texts])
        truth = exact_top10(snapshot, query_vectors)
        for query in query_vectors[:20]:
            dense_candidates(snapshot, query, 300)  # warm: pages mapped
        dense_times, recalls = [], []
        for query, expected in zip(query_vectors, truth, strict=True):
            begun = time.perf_counter()
            found = dense_candidates(snapshot, query, 300)
            dense_times.append(time.perf_counter() - begun)
            recalls.append(len(expected & {i for i, _ in found[:10]}) / 10)
        for text in texts[:20]:
            ix.search(text, k=10)  # warm the caches once
        hybrid_times = []
        for text in texts:
            begun = time.perf_counter()
            ix.search(text, k=10)
            hybrid_times.append(time.perf_counter() - begun)
        common = [t for t, q in zip(hybrid_times, texts, strict=False) if q in COMMON_QUERIES]
        parts = [(p.name, p.kind, p.rows) for p in snapshot.parts]
    figures = {
        "dense_p50_ms": 1000 * statistics.median(dense_times),
        "dense_p95_ms": 1000 * float(np.percentile(dense_times, 95)),
        "recall10": float(np.mean(recalls)),
        "hybrid_p50_ms": 1000 * statistics.median(hybrid_times),
        "hybrid_p95_ms": 1000 * float(np.percentile(hybrid_times, 95)),
        "hybrid_common_max_ms": 1000 * max(common),
        "segments": [f"{name} {kind} {rows:,}" for name, kind, rows in parts],
    }
    print(
        f"WARM {len(texts)} queries over {len(parts)} segments ({', '.join(figures['segments'])})"
        f"\n  dense half: p50 {figures['dense_p50_ms']:.1f} ms, p95 "
        f"{figures['dense_p95_ms']:.1f} ms, recall@10 {figures['recall10']:.3f}"
        f"\n  whole hybrid: p50 {figures['hybrid_p50_ms']:.1f} ms, p95 "
        f"{figures['hybrid_p95_ms']:.1f} ms; slowest common-word query "
        f"{figures['hybrid_common_max_ms']:.1f} ms",
        flush=True,
    )
    return figures


def _breaks_syntax(text: str) -> bool:
    from search.errors import QueryError
    from search.query.syntax import parse

    try:
        parse(text)
    except QueryError:
        return True
    return False


def exact_top10(snapshot: object, queries: np.ndarray) -> list[set[int]]:
    """Each query's true ten nearest passages: an exact scan of every live vector of the
    snapshot, part by part (the reference the dense half is judged against)."""
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for part in snapshot.parts:  # type: ignore[attr-defined]
        keep = None if part.deleted is None else ~part.deleted
        ids, vectors = part.vectors.contents(keep)
        for first in range(0, len(ids), 100_000):
            scores = queries @ vectors[first : first + 100_000].T
            top = np.argpartition(-scores, min(10, scores.shape[1] - 1), axis=1)[:, :10]
            best_ids = np.hstack([best_ids, ids[first : first + 100_000][top]])
            best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
            keep_best = np.argsort(-best_scores, axis=1)[:, :10]
            best_ids = np.take_along_axis(best_ids, keep_best, axis=1)
            best_scores = np.take_along_axis(best_scores, keep_best, axis=1)
    return [set(row.tolist()) for row in best_ids]


def print_targets(results: dict, sizes: list[int]) -> None:
    first, last = results["sizes"][str(sizes[0])], results["sizes"][str(sizes[-1])]
    build = results["build"]
    lines = [
        (
            "adding one article at the largest size <= 0.5 s",
            last["add_one_s"] <= 0.5,
            f"{last['add_one_s']:.3f} s",
        ),
        (
            "adding one article: largest <= 2x smallest",
            last["add_one_s"] <= 2 * first["add_one_s"],
            f"{last['add_one_s'] / first['add_one_s']:.2f}x",
        ),
        (
            "cold query, whole process: largest <= 1.3x smallest",
            last["cold_process_s"] <= 1.3 * first["cold_process_s"],
            f"{last['cold_process_s'] / first['cold_process_s']:.2f}x (from opening the "
            f"index: {last['cold_query_s'] / first['cold_query_s']:.2f}x)",
        ),
        (
            "cold query peak memory <= 1.5x (+100 MB), mapped files aside",
            last["cold_own_peak_mb"] <= 1.5 * first["cold_own_peak_mb"] + 100,
            f"{last['cold_own_peak_mb']:.0f} MB against {first['cold_own_peak_mb']:.0f} MB "
            f"(with mapped files {last['cold_peak_mb']:.0f} against {first['cold_peak_mb']:.0f})",
        ),
    ]
    if len(build) >= 2:
        ratio = build[-1]["ms_per_passage"] / build[0]["ms_per_passage"]
        lines.append(("building: last 100k <= 1.3x the first", ratio <= 1.3, f"{ratio:.2f}x"))
    if "dense_p50_ms" in last:
        lines += [
            ("dense half p50 <= 10 ms", last["dense_p50_ms"] <= 10, f"{last['dense_p50_ms']:.1f}"),
            ("dense half p95 <= 25 ms", last["dense_p95_ms"] <= 25, f"{last['dense_p95_ms']:.1f}"),
            ("dense recall@10 >= 0.95", last["recall10"] >= 0.95, f"{last['recall10']:.3f}"),
            ("hybrid p50 <= 50 ms", last["hybrid_p50_ms"] <= 50, f"{last['hybrid_p50_ms']:.1f}"),
            ("hybrid p95 <= 150 ms", last["hybrid_p95_ms"] <= 150, f"{last['hybrid_p95_ms']:.1f}"),
        ]
    print("TARGETS")
    for label, met, figure in lines:
        print(f"  {'met    ' if met else 'NOT MET'}  {label}: {figure}")


def news_paragraphs(data: Path) -> list[str]:
    """Paragraphs of BBC News, AG News and Reuters-21578 (its TEST split left out: it is held
    out), interleaved by source, each under 200 words so that no passage is cut."""
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
                if record.get("lewis_split") == "TEST":
                    continue
                body = record.get("text") or ""
                parts = [body] if name == "ag" else body.split("\n\n")
                texts += [" ".join(p.split()) for p in parts if 5 <= len(p.split()) < 200]
        sources.append(texts)
    mixed: list[str] = []
    for i in range(max(len(texts) for texts in sources)):
        mixed += [texts[i] for texts in sources if i < len(texts)]
    return list(dict.fromkeys(mixed))


def feed_files(articles: list[dict], batch: int, feed: Path) -> Iterator[Path]:
    """The articles ``batch`` at a time, each batch written to a JSONL file in ``feed``, to
    be added by one ``Index.add`` each, as a daily feed would be."""
    for first in range(0, len(articles), batch):
        file = feed / f"day{first // batch:05d}.jsonl"
        file.write_text("".join(json.dumps(a) + "\n" for a in articles[first : first + batch]))
        yield file


def news_articles(paragraphs: list[str], passages: int) -> list[dict]:
    """Articles of five paragraphs, titled by their first words; past the real paragraphs,
    copies with a "(copy k)" suffix, until there are ``passages`` and some to spare."""
    out: list[dict] = []
    total = copy = 0
    while total < passages + 10_000:
        suffix = f" (copy {copy})" if copy else ""
        for first in range(0, len(paragraphs), 5):
            group = [p + suffix for p in paragraphs[first : first + 5]]
            title = " ".join(group[0].split()[:8])
            out.append({"id": f"a{len(out)}", "title": title, "text": "\n\n".join(group)})
            total += len(group)
            if total >= passages + 10_000:
                break
        copy += 1
    return out


if __name__ == "__main__":
    main()
