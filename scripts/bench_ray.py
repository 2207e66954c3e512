"""The Ray engine against the local one, measured side by side in one run.

    python scripts/bench_ray.py [--data DIR] [--rounds N]

Builds the BBC News index with `newssearch index` (the local engine) and with `newssearch
index --engine ray` (a local Ray cluster started by the command, as a user's run starts
it), alternately, each a whole process, and checks that the two indexes hold the same
passages and vectors. The goal: on one machine the Ray build within 15% of the local one,
so that its overhead is small enough for K machines to give about K times.
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

import numpy as np

HERE = Path(__file__).resolve().parent


def build(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def passages(index: Path) -> dict[tuple[str, int], np.ndarray]:
    from search import Index
    from search.searcher import passage_vectors

    with Index.open(index) as ix:

        def read(store, snapshot):  # type: ignore[no-untyped-def]
            ids = store.passage_ids()
            rows = store.passages(ids)
            vectors = passage_vectors(snapshot, np.asarray(ids, dtype=np.int64))
            return {(rows[i].article_id, rows[i].start): vectors[i] for i in ids}

        return ix.searcher.read(read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bbc = args.data / "bbc_news/bbc_news.jsonl.gz"
    command = [str(Path(sys.executable).with_name("newssearch")), "index", str(bbc), "-q"]
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    local, ray = [], []
    with tempfile.TemporaryDirectory(prefix="newssearch-bench-ray-") as scratch:
        work = Path(scratch)
        for round_ in range(args.rounds):
            target = work / f"local-{round_}"
            local.append(build([*command, "-i", str(target)]))
            target = work / f"ray-{round_}"
            ray.append(build([*command, "-i", str(target), "--engine", "ray"]))
            print(
                f"BBC build, round {round_ + 1}: local {local[-1]:.1f} s, "
                f"Ray (a local cluster, started by the run) {ray[-1]:.1f} s",
                flush=True,
            )
        ours, theirs = passages(work / "ray-0"), passages(work / "local-0")
        same = ours.keys() == theirs.keys()
        lowest = min(float(ours[k] @ theirs[k]) for k in ours) if same else float("nan")
    ratio = min(ray) / min(local)
    print(f"same passages: {same}; lowest cosine between the two builds' vectors: {lowest}")
    print(f"median: local {statistics.median(local):.1f} s, Ray {statistics.median(ray):.1f} s")
    print("\nTARGETS")
    met = ratio <= 1.15
    print(
        f"  {'met    ' if met else 'NOT MET'}  Ray build of BBC within 15% of the local one "
        f"(best of {args.rounds} each): {ratio:.3f}x"
    )
    met = same and lowest >= 0.9999
    print(f"  {'met    ' if met else 'NOT MET'}  the same index: {same}, cosine >= {lowest:.6f}")


if __name__ == "__main__":
    main()
