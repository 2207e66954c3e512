"""Research over an archive, measured side by side in one run: timelines and facets, a phrase
or exclusion query against the same words, export, and an alert's new matches; on the
Reuters index (all of Reuters-21578, ~90k passages) and at 1M passages.

    python scripts/bench_research.py [--index DIR] [--data ../shared/data] [--work DIR]
                                     [--passages 1000000] [--cache DIR] [--rounds 3]
                                     [--json FILE]

The Reuters index is built under ``--work`` (``newssearch index`` of Reuters-21578) unless
``--index`` names one to reuse; it is only read (the alert part writes a copy). The 1M index
is the scale bench's (scripts/bench_scale.py: its stand-in embedder, real news paragraphs,
``Index.add`` of 2,000 articles at a time), each article given a date (in feed order, over
five years), an outlet and a topic, so that timelines and facets have something to count. It
is built once into ``--cache`` (~/.cache/newssearch/bench_research), with a copy kept at
100k passages, and reused.

At each size, warm (the index open, its catalog read, the model loaded):

1. Timeline (weekly) and facets for 20 queries (free text, phrases, exclusions, AND/OR,
   title:, word*, a field, ``*``): the first call for each query, which nothing cached
   helps (the library keeps a generation's last 8 matching sets, and each pass goes
   through all 20 queries before it comes back to one), and the same call repeated. The
   targets read the first call: a new question, which is what "warm" asks of a chart.
2. ``Index.search`` (hybrid, k=10) for 20 pairs, a phrase or exclusion query and the same
   words without syntax (``"oil prices"`` / ``oil prices``, ``Brazil debt -Argentina`` /
   ``Brazil debt``), one after the other: the first call and the repeated ones' median.
3. Export, each in a fresh process that has read the catalog: ``Index.matches`` of every
   article (``*``, every copy) and of a set of ~10k passages (``*`` over the first days),
   streamed (not formatted: that is the doors' work): articles a second, and the growth of
   the process's peak memory (VmHWM, reset just before the export).
4. An alert: 100 BBC News articles committed to a copy of each index, then
   ``Index.matches(query, added_after=G)`` for 10 queries, 5 rounds (nothing is kept from
   one to the next), on the 100k and the 1M stand-in indexes in turn (same corpus, same
   embedder), and on Reuters; ``Index.run_alert`` too, where the package has it; and the
   same queries' whole matching sets, for scale.

Prints TARGETS at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import search
from search.errors import QueryError
from search.query.contract import SearchRequest
from search.query.syntax import parse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scale import StandIn, feed_files, news_articles, real_table  # noqa: E402

CACHE = Path.home() / ".cache" / "newssearch" / "bench_research"
MILLION = 1_000_000
SMALLER = 100_000  # the stand-in index kept on the way, to compare an alert's cost with
SMALL_SET = 10_000  # passages of the small export
FIRST_DAY = "1990-01-01"
PER_DAY = 120  # articles a day: ~220,000 over five years
OUTLETS = ("Wire One", "Daily Ledger", "Metro Post", "Evening Star", "The Courier", "Tribune")
TOPICS = ("crude", "grain", "trade", "money-fx", "earn", "acq", "interest", "ship")

QUERIES = [
    "oil prices",
    "interest rates",
    "coffee export quotas",
    "stock market shares",
    "football match",
    "government bonds",
    '"oil prices"',
    '"interest rates"',
    '"trade deficit"',
    '"central bank"',
    "Brazil debt -Argentina",
    "oil prices -OPEC",
    '"trade deficit" -Japan',
    "wheat exports -corn",
    "grain AND wheat",
    "(coffee OR cocoa) AND -Brazil",
    "title:bank",
    "export*",
    "topics:crude",
    "*",
]
PAIRS = [  # (with syntax, the same words without)
    ('"oil prices"', "oil prices"),
    ('"interest rates"', "interest rates"),
    ('"trade deficit"', "trade deficit"),
    ('"central bank"', "central bank"),
    ('"stock market"', "stock market"),
    ('"export licensing"', "export licensing"),
    ('"prime minister"', "prime minister"),
    ('"money supply"', "money supply"),
    ('"crude oil"', "crude oil"),
    ('"world cup"', "world cup"),
    ("Brazil debt -Argentina", "Brazil debt"),
    ("oil prices -OPEC", "oil prices"),
    ("coffee quotas -Brazil", "coffee quotas"),
    ("wheat exports -corn", "wheat exports"),
    ("bank rates -Japan", "bank rates"),
    ('trade talks -"United States"', "trade talks"),
    ("gold prices -silver", "gold prices"),
    ("interest rates -Fed", "interest rates"),
    ('"oil prices" -OPEC', "oil prices"),
    ("export licensing -Japan", "export licensing"),
]
ALERT_QUERIES = [
    "oil prices",
    "football",
    '"prime minister"',
    "election -Labour",
    "mobile phones",
    "title:film",
    "music OR film",
    "econom*",
    "topics:crude",
    "*",
]
ALERT_ROUNDS = 5
WARM_QUERIES = ["shares rose in early trading", "the minister told reporters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None, help="a Reuters index to reuse")
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: tmp)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="the 1M index, kept")
    parser.add_argument("--work-cache", type=Path, default=Path.home() / ".cache/newssearch/bench")
    parser.add_argument("--passages", type=int, default=MILLION, help="the large index's size")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each query pair")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--export-child", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(json.loads(args.export_child))
        return
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="newssearch-research-", dir=args.work) as scratch:
        work = Path(scratch)
        fresh = bbc_articles(args.data, 100)
        reuters = args.index or build_reuters(args.data, work)
        embedder, large, smaller = standin_indexes(args, work)
        results = {
            "reuters": measure("Reuters", reuters, None, work, args.rounds),
            "large": measure(f"{args.passages:,}", large, embedder, work, args.rounds),
        }
        print("\nAlerts", flush=True)
        results["alerts"] = alert_costs({"Reuters": reuters}, None, work, fresh)
        results["alerts"] |= alert_costs(
            {f"{SMALLER:,}": smaller, f"{args.passages:,}": large}, embedder, work, fresh
        )
    print_targets(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


# The indexes.


def build_reuters(data: Path, work: Path) -> Path:
    path = work / "reuters"
    print("building the Reuters index...", flush=True)
    started = time.perf_counter()
    source = data / "reuters21578/reuters21578.jsonl.gz"
    command = [sys.executable, "-m", "search", "index", str(source), "-i", str(path), "-q"]
    subprocess.run(command, check=True)
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def standin_indexes(args: argparse.Namespace, work: Path) -> tuple[StandIn, Path, Path]:
    """The stand-in embedder (the scale bench's, knowing this bench's queries too), and the
    large index and the 100k one kept on the way, built into the cache once."""
    table, paragraphs, _ = real_table(args.data, args.work_cache)
    table.update(query_vectors(args.cache))
    embedder = StandIn(table)
    large = args.cache / f"index-{args.passages}"
    smaller = args.cache / f"index-{args.passages}-at-{SMALLER}"
    if not (large / "manifest.json").exists():
        build_standin(paragraphs, embedder, args.passages, args.cache, work)
    return embedder, large, smaller


def query_vectors(cache: Path) -> dict[str, np.ndarray]:
    """The real embeddings of the words that rank this bench's queries, made once."""
    every = QUERIES + [q for pair in PAIRS for q in pair] + ALERT_QUERIES + WARM_QUERIES
    texts = sorted({words for q in every if (words := parse(q).words).strip()})
    file = cache / f"queries-{len(texts)}-{zlib.crc32(''.join(texts).encode()):08x}.npy"
    if file.is_file():
        vectors = np.load(file)
    else:
        from search.embedding import SentenceTransformerEmbedder

        vectors = SentenceTransformerEmbedder().embed(texts)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(file, vectors)
    return dict(zip(texts, vectors, strict=True))


def build_standin(
    paragraphs: list[str], embedder: StandIn, passages: int, cache: Path, work: Path
) -> None:
    """The scale bench's articles, dated, with outlets and topics, added 2,000 at a time;
    a copy taken when it passes 100k passages. Built aside and renamed when whole."""
    # Short paragraphs join their neighbours: ~0.9 passages a paragraph, so ask for more.
    articles = with_metadata(news_articles(paragraphs, passages * 6 // 5))
    building = cache / f"index-{passages}.partial"
    shutil.rmtree(building, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    feed = work / "feed"
    feed.mkdir()
    print(f"building the {passages:,}-passage stand-in index (once, into {cache})", flush=True)
    started = time.perf_counter()
    done = 0
    ix = search.Index.create(building, model=embedder)
    try:
        for file in feed_files(articles, 2000, feed):
            done += ix.add([file]).passages_embedded
            file.unlink()
            if done >= SMALLER and not (cache / f"index-{passages}-at-{SMALLER}").exists():
                ix.close()
                shutil.copytree(building, cache / f"index-{passages}-at-{SMALLER}")
                print(f"  kept a copy at {done:,} passages", flush=True)
                ix = search.Index.open(building, model=embedder)
            if done >= passages:
                break
    finally:
        ix.close()
    if done < passages:
        sys.exit(f"the articles ran out at {done:,} passages, short of {passages:,}")
    building.rename(cache / f"index-{passages}")
    print(f"  built {done:,} passages in {time.perf_counter() - started:.0f} s", flush=True)


def with_metadata(articles: list[dict]) -> list[dict]:
    """Each article dated (in feed order, ``PER_DAY`` a day), with an outlet and a topic."""
    first = np.datetime64(FIRST_DAY)
    out = []
    for n, article in enumerate(articles):
        mixed = zlib.crc32(article["id"].encode())
        day = first + np.timedelta64(n // PER_DAY, "D")
        out.append(
            article
            | {
                "date": str(day),
                "source": OUTLETS[mixed % len(OUTLETS)],
                "topics": [TOPICS[(mixed >> 8) % len(TOPICS)]],
            }
        )
    return out


def bbc_articles(data: Path, count: int) -> list[dict]:
    """``count`` BBC News articles, as a new day's feed (ids and date of their own)."""
    with gzip.open(data / "bbc_news/bbc_news.jsonl.gz", "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(count), handle, strict=False)]
    return [
        {
            "id": f"new-{n}",
            "title": r["title"],
            "text": r["text"],
            "date": "2000-01-03",
            "source": "BBC News",
        }
        for n, r in enumerate(records)
    ]


# The measurements.


def measure(name: str, path: Path, embedder: StandIn | None, work: Path, rounds: int) -> dict:
    with search.Index.open(path, model=embedder) as ix:
        figures = warm_up(ix)
        print(
            f"\n{name}: {figures['passages']:,} passages, {figures['articles']:,} articles; "
            f"catalog read in {figures['catalog_s']:.2f} s",
            flush=True,
        )
        figures |= timeline_and_facets(ix)
        figures |= syntax_against_plain(ix, rounds)
        small = first_days(ix, SMALL_SET * figures["articles"] // figures["passages"])
    figures |= export(path, embedder is not None, small)
    return figures


def warm_up(ix: search.Index) -> dict:
    """The model loaded and the catalog read: what every measurement here starts from."""
    for text in WARM_QUERIES:
        ix.search(text, k=10)
    started = time.perf_counter()
    ix.count("*")
    catalog = time.perf_counter() - started
    stats = ix.stats()
    return {"catalog_s": catalog, "passages": stats.passages, "articles": stats.articles}


def timeline_and_facets(ix: search.Index) -> dict:
    """First and repeated calls, each query once per pass (so the first finds nothing
    cached for it: 20 queries, 8 sets kept)."""
    first_timeline = [timed(lambda q=q: ix.timeline(q, every="week")) for q in QUERIES]
    first_facets = [timed(lambda q=q: ix.facets(q)) for q in QUERIES]
    again_timeline, again_facets = [], []
    for q in QUERIES:
        ix.timeline(q, every="week")
        again_timeline.append(timed(lambda q=q: ix.timeline(q, every="week")))
        again_facets.append(timed(lambda q=q: ix.facets(q)))
    figures = {
        "timeline_first": summary(first_timeline),
        "timeline_again": summary(again_timeline),
        "facets_first": summary(first_facets),
        "facets_again": summary(again_facets),
        "slowest_first": QUERIES[int(np.argmax(first_timeline))],
    }
    for kind in ("timeline", "facets"):
        print(
            f"  {kind:8} first call p50 {figures[f'{kind}_first']['p50_ms']:6.1f} ms, "
            f"p95 {figures[f'{kind}_first']['p95_ms']:6.1f} ms; repeated p50 "
            f"{figures[f'{kind}_again']['p50_ms']:6.1f} ms",
            flush=True,
        )
    print(f"  slowest first timeline: {figures['slowest_first']}", flush=True)
    return figures


def syntax_against_plain(ix: search.Index, rounds: int) -> dict:
    """Each pair side by side, in alternating order: the first call, then ``rounds`` more."""
    first: dict[str, list[float]] = {"syntax": [], "plain": []}
    again: dict[str, list[float]] = {"syntax": [], "plain": []}
    for n, (syntax, plain) in enumerate(PAIRS):
        times: dict[str, list[float]] = {"syntax": [], "plain": []}
        for round_ in range(rounds + 1):
            order = [("syntax", syntax), ("plain", plain)]
            for kind, text in order if (n + round_) % 2 else order[::-1]:
                times[kind].append(timed(lambda text=text: ix.search(text, k=10)))
        for kind in times:
            first[kind].append(times[kind][0])
            again[kind].append(statistics.median(times[kind][1:]))
    figures = {
        "pairs_first": {kind: summary(t) for kind, t in first.items()},
        "pairs_again": {kind: summary(t) for kind, t in again.items()},
    }
    for label, key in (("first call", "pairs_first"), ("repeated", "pairs_again")):
        syntax_ms, plain_ms = (figures[key][k]["p50_ms"] for k in ("syntax", "plain"))
        figures[key]["ratio"] = syntax_ms / plain_ms
        print(
            f"  search, {label}: with syntax p50 {syntax_ms:.1f} ms, same words "
            f"{plain_ms:.1f} ms: {syntax_ms / plain_ms:.2f}x",
            flush=True,
        )
    return figures


def first_days(ix: search.Index, articles: int) -> tuple[str, str]:
    """The first days of the archive that hold about ``articles`` articles."""
    periods = ix.timeline("*", every="day", collapse=False).periods
    held = np.cumsum([p.count for p in periods])
    last = min(int(np.searchsorted(held, articles)), len(periods) - 1)
    return periods[0].start, periods[last].start


def export(path: Path, standin: bool, small: tuple[str, str]) -> dict:
    """The whole archive and a ~10k-passage set, each exported by a fresh process."""
    whole = export_in_child(path, standin, {})
    part = export_in_child(path, standin, {"since": small[0], "until": small[1]})
    figures = {"export_whole": whole, "export_small": part}
    for label, found in (("whole archive", whole), ("~10k passages", part)):
        print(
            f"  export, {label}: {found['articles']:,} articles ({found['passages']:,} passages) "
            f"in {found['seconds']:.2f} s, {found['rate']:,.0f} a second; peak memory "
            f"+{found['growth_mb']:.1f} MB",
            flush=True,
        )
    return figures


def export_in_child(path: Path, standin: bool, options: dict) -> dict:
    spec = {"path": str(path), "standin": standin, "options": options}
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--export-child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def export_child(spec: dict) -> None:
    """In a fresh process: open, read the catalog, then stream one matching set from
    ``Index.matches`` (formatting it is the doors' work, not timed here), timed, with the
    peak memory reset just before."""
    model = StandIn({"": np.ones(384, dtype=np.float32)}) if spec["standin"] else None
    options = dict(spec["options"], collapse=False)
    with search.Index.open(spec["path"], model=model) as ix:
        ix.count("*")  # the catalog, as a warm server holds it
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # what was freed goes back: RSS is what lives
        before = memory()["VmRSS"]
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here
        started = time.perf_counter()
        articles = 0
        for _match in ix.matches("*", **options):
            articles += 1
        seconds = time.perf_counter() - started
        peak = memory()["VmHWM"]
        passages = set_passages(ix, options)
    print(
        json.dumps(
            {
                "articles": articles,
                "passages": passages,
                "seconds": seconds,
                "rate": articles / seconds,
                "growth_mb": (peak - before) / 1024,
            }
        )
    )


def set_passages(ix: search.Index, options: dict) -> int:
    """How many passages the articles of ``*`` with these options hold (from the library's
    own matching set: nothing public counts passages)."""
    request = SearchRequest.make(
        "*",
        every_copy=not options["collapse"],
        since=options.get("since"),
        until=options.get("until"),
    )
    matches = ix._research.match_set(request, None)
    return int(matches.mask[matches.catalog.owner].sum())


def alert_costs(
    paths: dict[str, Path], embedder: StandIn | None, work: Path, fresh: list[dict]
) -> dict[str, dict]:
    """On copies, 100 articles committed to each; then each alert query's new matches
    (``added_after``) on each index in turn, ``ALERT_ROUNDS`` times (nothing is kept from
    one to the next: each is a new question); then ``run_alert``, the new generation's
    catalog and the whole matching sets, for scale."""
    feed = work / "alert-feed.jsonl"
    feed.write_text("".join(json.dumps(a) + "\n" for a in fresh))
    copies = {name: work / f"alert-{name}" for name in paths}
    try:
        with contextlib.ExitStack() as stack:
            opened = {}
            for name, path in paths.items():
                shutil.copytree(path, copies[name])
                ix = stack.enter_context(search.Index.open(copies[name], model=embedder))
                for text in WARM_QUERIES:
                    ix.search(text, k=10)
                saved = save_alerts(ix)
                generation = ix.stats().generation
                ix.add([feed])
                opened[name] = (ix, generation, saved)
            try:
                times = alert_rounds(opened)
            except QueryError as error:
                print(f"  alerts: not measured — {error}", flush=True)
                return {}
            return {name: alert_figures(name, *opened[name], times[name]) for name in opened}
    finally:
        for copy in copies.values():
            shutil.rmtree(copy, ignore_errors=True)


def alert_rounds(opened: dict[str, tuple[Any, int, list[str]]]) -> dict[str, list[list[float]]]:
    """Each alert query's new matches on each index in turn, the order alternating:
    ``times[index][query]``, one time a round."""
    times: dict[str, list[list[float]]] = {name: [[] for _ in ALERT_QUERIES] for name in opened}
    for round_ in range(ALERT_ROUNDS):
        for n, text in enumerate(ALERT_QUERIES):
            names = list(opened) if (round_ + n) % 2 == 0 else list(opened)[::-1]
            for name in names:
                ix, generation, _ = opened[name]
                times[name][n].append(new_matches(ix, text, generation))
    return times


def new_matches(ix: search.Index, text: str, generation: int) -> float:
    """Milliseconds to list what ``text`` matches among the articles committed after
    ``generation``."""
    return timed(lambda: list(ix.matches(text, added_after=generation)))


def alert_figures(
    name: str, ix: search.Index, generation: int, saved: list[str], times: list[list[float]]
) -> dict:
    figures: dict[str, Any] = {
        "alert": summary([statistics.median(t) for t in times]),
        "alert_first": summary([t[0] for t in times]),
    }
    if saved:
        figures["run_alert"] = summary([timed(lambda n=n: ix.run_alert(n)) for n in saved])
    figures["catalog_after_commit_s"] = timed(lambda: ix.count("*")) / 1000
    figures["whole_first"] = summary(
        [timed(lambda q=q: list(ix.matches(q))) for q in ALERT_QUERIES]
    )
    figures["alert_matches"] = [
        sum(1 for _ in ix.matches(q, added_after=generation)) for q in ALERT_QUERIES
    ]
    print(
        f"  alert after 100 articles, {name}: matches(added_after) p50 "
        f"{figures['alert']['p50_ms']:.1f} ms (first round {figures['alert_first']['p50_ms']:.1f})"
        + (f", run_alert p50 {figures['run_alert']['p50_ms']:.1f} ms" if saved else "")
        + f"; the whole set p50 {figures['whole_first']['p50_ms']:.1f} ms, after reading the "
        f"new catalog in {figures['catalog_after_commit_s']:.2f} s",
        flush=True,
    )
    return figures


def save_alerts(ix: search.Index) -> list[str]:
    """The alert queries saved as alerts, where the package has them."""
    if not hasattr(ix, "run_alert"):
        return []
    names = [f"bench-{n}" for n in range(len(ALERT_QUERIES))]
    for name, text in zip(names, ALERT_QUERIES, strict=True):
        ix.add_alert(name, text)
    return names


# Figures.


def timed(call: Callable[[], object]) -> float:
    """Milliseconds that ``call`` took."""
    started = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - started)


def summary(times: list[float]) -> dict:
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "max_ms": max(times),
        "n": len(times),
    }


def memory() -> dict[str, int]:
    """This process's memory figures from /proc, in KiB."""
    return {
        line.split(":")[0]: int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith(("VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"))
    }


def print_targets(results: dict) -> None:
    reuters, large = results["reuters"], results["large"]
    sizes = (("Reuters", reuters, 100), ("1M", large, 300))
    lines = []
    for label, figures, limit in sizes:
        for kind in ("timeline", "facets"):
            first, again = figures[f"{kind}_first"], figures[f"{kind}_again"]
            lines.append(
                (
                    f"{kind}, warm, a new query, p50 <= {limit} ms at {label} "
                    f"({figures['passages']:,} passages)",
                    first["p50_ms"] <= limit,
                    f"{first['p50_ms']:.1f} ms (p95 {first['p95_ms']:.0f}; repeated: "
                    f"{again['p50_ms']:.1f} ms)",
                )
            )
    for label, figures, _ in sizes:
        first, again = figures["pairs_first"], figures["pairs_again"]
        lines.append(
            (
                f"a phrase or exclusion query <= 1.5x the same words, search p50 at {label}",
                first["ratio"] <= 1.5,
                f"{first['ratio']:.2f}x ({first['syntax']['p50_ms']:.1f} against "
                f"{first['plain']['p50_ms']:.1f} ms; repeated: {again['ratio']:.2f}x)",
            )
        )
    for label, figures, _ in sizes:
        whole = figures["export_whole"]
        lines.append(
            (
                f"export >= 5,000 articles a second at {label}",
                whole["rate"] >= 5000,
                f"{whole['rate']:,.0f} a second ({whole['articles']:,} articles)",
            )
        )
    for label, figures, _ in sizes:
        whole, small = figures["export_whole"], figures["export_small"]
        lines.append(
            (
                f"export memory flat at {label}: the whole archive's peak growth <= 1.2x "
                f"that of ~10k passages (+ 16 MB)",
                whole["growth_mb"] <= 1.2 * small["growth_mb"] + 16,
                f"+{whole['growth_mb']:.1f} MB for {whole['passages']:,} passages, "
                f"+{small['growth_mb']:.1f} MB for {small['passages']:,}",
            )
        )
    alerts = results["alerts"]
    stand_in = [figures for name, figures in alerts.items() if name != "Reuters"]
    if len(stand_in) == 2:
        smaller, largest = (figures["alert"]["p50_ms"] for figures in stand_in)
        reuters_alert = alerts.get("Reuters", {}).get("alert", {}).get("p50_ms", float("nan"))
        lines.append(
            (
                "an alert after 100 articles: at 1M <= 1.5x at 100k (added_after, p50)",
                largest <= 1.5 * smaller,
                f"{largest / smaller:.2f}x ({largest:.1f} against {smaller:.1f} ms; the whole "
                f"matching set at 1M: {stand_in[1]['whole_first']['p50_ms']:.0f} ms; on "
                f"Reuters: {reuters_alert:.1f} ms)",
            )
        )
    else:
        lines.append(("an alert after 100 articles costs what they cost", False, "not measured"))
    print("\nTARGETS")
    for label, met, figure in lines:
        print(f"  {'met    ' if met else 'NOT MET'}  {label}: {figure}")


if __name__ == "__main__":
    main()
