"""The Ray engine against the local one, measured side by side in one run.

    python scripts/bench_ray.py [--data DIR] [--rounds N] [--shards 2,4] [--seconds S]

Builds the BBC News index with `newssearch index` (the local engine) and with `newssearch
index --engine ray` (a local Ray cluster started by the command, as a user's run starts
it), alternately, each a whole process, and checks that the two indexes hold the same
passages and vectors. The goal: on one machine the Ray build within 15% of the local one,
so that its overhead is small enough for K machines to give about K times.

Then serves that index with `newssearch serve` and with `newssearch serve --engine ray
--shards N` (each N of --shards), one after another, each its own process (the sharded
one starting a local Ray cluster), and sends each the same BBC headlines over HTTP: one
client (latency), 8 clients (throughput), and the top 10 of each query, scored against the
single server's by ir-measures (recall@10; the goal: at least 0.99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_serve import (  # noqa: E402
    Client,
    headlines,
    load,
    percentile,
    search_target,
    sequential,
)

RECALL_QUERIES = 200


def build(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def passages(index: Path) -> dict[tuple[str, int], np.ndarray]:
    from search import Index
    from search.query.searcher import passage_vectors

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
    parser.add_argument("--shards", default="2,4", help="shard counts to serve with, or ''")
    parser.add_argument("--seconds", type=float, default=15.0, help="each load test's length")
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
        counts = [int(n) for n in args.shards.split(",") if n.strip()]
        served = serving(work / "local-0", headlines(bbc), counts, args.seconds)
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
    for line, met in served:
        print(f"  {'met    ' if met else 'NOT MET'}  {line}")


def serving(index: Path, queries: list[str], counts: list[int], seconds: float) -> list:
    """Each server's latency, throughput and rankings; target lines for the sharded ones."""
    if counts:
        in_process(index, queries[RECALL_QUERIES : RECALL_QUERIES + 300], counts)
    single = measure(index, [], queries, seconds, "single server")
    lines = []
    for count in counts:
        found = measure(
            index, ["--engine", "ray", "--shards", str(count)], queries, seconds, f"{count} shards"
        )
        recall = recall_at_10(single["rankings"], found["rankings"])
        print(
            f"{count} shards against the single server: one client p50 "
            f"{found['p50'] / single['p50']:.2f}x ({found['p50'] - single['p50']:+.1f} ms), "
            f"8 clients {found['per_second'] / single['per_second']:.2f}x the queries a second; "
            f"recall@10 {recall:.4f}",
            flush=True,
        )
        lines.append(
            (
                f"{count} shards on Ray Serve: recall@10 against the single server >= 0.99 "
                f"({len(found['rankings'])} hybrid queries)",
                recall >= 0.99 and not found["errors"],
            )
        )
        lines[-1] = (f"{lines[-1][0]}: {recall:.4f}, {len(found['errors'])} errors", lines[-1][1])
    return lines


def in_process(index: Path, queries: list[str], counts: list[int]) -> None:
    """The shards' cost without Ray: the router and its shards in this one process (the
    merge, the shards' restricted searches), against the index alone, alternately."""
    from search import Index
    from search.query.shards import ShardedSearcher, local_shards, plan_shards
    from search.storage.database import Store

    store = Store.open(index / "store.sqlite", readonly=True)
    try:
        ids, days = store.passage_days()
    finally:
        store.close()
    single = Index.open(index)
    opened = {"single": single}
    for count in counts:
        scopes = plan_shards(ids, days, count)

        def router(path: Path, settings: Any, scopes: list = scopes) -> ShardedSearcher:
            return ShardedSearcher(path, settings, local_shards(path, settings, scopes))

        opened[f"{count} shards"] = Index.open(index, model=single.embedder, searcher=router)
    times: dict[str, list[float]] = {name: [] for name in opened}
    for text in queries[:20]:
        for ix in opened.values():
            ix.search(text)  # warm
    for text in queries:
        for name, ix in opened.items():
            started = time.perf_counter()
            ix.search(text)
            times[name].append(time.perf_counter() - started)
    line = ", ".join(
        f"{name} {statistics.median(found) * 1000:.1f} ms" for name, found in times.items()
    )
    print(f"in one process, no Ray (p50 of {len(queries)} hybrid queries): {line}", flush=True)
    for ix in opened.values():
        ix.close()


def measure(index: Path, engine: list[str], queries: list[str], seconds: float, name: str) -> dict:
    command = [sys.executable, "-m", "search", "serve", "-i", str(index), "--port", "0", *engine]
    env = {**os.environ, "NEWSSEARCH_NO_SERVER": "1"}
    started = time.perf_counter()
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stderr is not None
        said = ""
        while " at http://" not in said:
            said = server.stderr.readline()
            if not said:
                raise SystemExit(f"{name} did not start")
        ready = time.perf_counter() - started
        url = said.split(" at ", 1)[1].split("/ ", 1)[0]
        rankings = asyncio.run(top_tens(url, queries[:RECALL_QUERIES]))
        times = asyncio.run(sequential(url, queries[RECALL_QUERIES : RECALL_QUERIES + 300]))
        found = asyncio.run(load(url, queries, 8, seconds))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    p50, p95 = percentile(times, 50) * 1000, percentile(times, 95) * 1000
    print(
        f"{name}: ready in {ready:.1f} s; one client p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"8 clients {found['per_second']:.0f} queries/s, p99 {found['p99'] * 1000:.0f} ms, "
        f"{len(found['errors'])} errors",
        flush=True,
    )
    return {**found, "p50": p50, "rankings": rankings}


async def top_tens(url: str, queries: list[str]) -> dict[str, list[str]]:
    client = Client(url)
    rankings = {}
    for number, text in enumerate(queries):
        status, body = await client.get(search_target(text))
        assert status == 200, body[:200]
        rankings[str(number)] = [str(h["passage_id"]) for h in json.loads(body)["hits"]]
    await client.close()
    return rankings


def recall_at_10(single: dict[str, list[str]], other: dict[str, list[str]]) -> float:
    import ir_measures

    qrels = [ir_measures.Qrel(q, doc, 1) for q, docs in single.items() for doc in docs]
    run = [
        ir_measures.ScoredDoc(q, doc, float(10 - rank))
        for q, docs in other.items()
        for rank, doc in enumerate(docs)
    ]
    return ir_measures.calc_aggregate([ir_measures.R @ 10], qrels, run)[ir_measures.R @ 10]


if __name__ == "__main__":
    main()
