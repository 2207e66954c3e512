"""What a filter costs a query: warm latency with and without filters, side by side.

    python scripts/bench_filters.py INDEX [--rounds 5]

Run on an index of the Reuters archive (``newssearch index ../shared/data/reuters21578``).
Each query runs once per filter per round, the filters interleaved, so that the machine's
noise falls on all alike; the table gives each filter's median and its ratio to no filter.
A searcher keeps the passages its last few filters allowed, so after a filter's first use
its queries skip that step, which is timed on its own: what a filter's first use adds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import search
from search.domain.filters import Filter

QUERIES = [
    "OPEC output ceiling",
    "Bank of Japan intervenes to support the dollar",
    "wheat export subsidies for the Soviet Union",
    "takeover bid for a chemical company",
    "coffee quota talks collapse",
    "trade deficit with Japan",
]
FILTERS: dict[str, dict] = {
    "none": {},
    "since 1987-03-15 (about half)": {"since": "1987-03-15"},
    "one week": {"since": "1987-03-02", "until": "1987-03-08"},
    "places=usa (about half)": {"where": {"places": "usa"}},
    "topics=cocoa (a few)": {"where": {"topics": "cocoa"}},
    "week + places=japan": {
        "since": "1987-03-02",
        "until": "1987-03-08",
        "where": ["places=japan"],
    },
}


def _first_use(ix: search.Index, given: dict) -> float:
    """Seconds the store takes to list the passages a filter allows (median of three)."""
    only = Filter.make(**given)
    if only is None:
        return 0.0
    store = ix.searcher.store()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        store.filtered_passages(only)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with search.Index.open(args.index) as ix:
        stats = ix.stats()
        print(f"{stats.articles:,} articles, {stats.passages:,} passages, {stats.vector_layout}")
        for mode in ("hybrid", "dense", "lexical"):
            for by in ("passage", "article"):
                ix.search(QUERIES[0], k=10, mode=mode, by=by)  # warm: model, files
                # The lexical half filters inside tantivy: it lists no passages.
                first = {
                    name: _first_use(ix, given) if mode != "lexical" else 0.0
                    for name, given in FILTERS.items()
                }
                times: dict[str, list[float]] = {name: [] for name in FILTERS}
                for _ in range(args.rounds):
                    for query in QUERIES:
                        for name, given in FILTERS.items():
                            started = time.perf_counter()
                            ix.search(query, k=10, mode=mode, by=by, **given)
                            times[name].append(time.perf_counter() - started)
                base = statistics.median(times["none"])
                print(f"\n{mode}, by {by}: median ms (ratio to no filter); a filter's first use")
                for name, found in times.items():
                    median = statistics.median(found)
                    print(
                        f"  {name:<32}{median * 1000:8.1f}  ({median / base:.2f}x)"
                        f"  first use adds {first[name] * 1000:6.1f}"
                    )


if __name__ == "__main__":
    main()
