"""Which articles a free-text query matches: its relevance threshold, calibrated and measured.

    python scripts/match_quality.py [--collection reuters bbc ag_news] [--json FILE]

A query of plain words, with no operator that requires something, matches every article
whose relevance clears one absolute threshold τ (docs/cli.md "Which articles match"). This
script chooses the rule and τ, and measures the set that results against topic labels.

Queries (scripts/data/topic_queries.tsv) name a topic; an article is relevant to a query
when it carries that topic: Reuters-21578 `topics` (TRAIN split only: TEST articles are
never read, indexed or scored here), BBC News `category`, AG News (test split) `label`.

The rules compared are absolute, the same τ for every query, computed here from the
passage vectors the index stores and the query's vector from the index's own embedder:

* best passage: the query's cosine with the article's best passage ≥ τ;
* centroid: its cosine with the article's centroid (the normalised mean of its passages'
  vectors) ≥ τ;
* either, and at least one of the query's content words (scikit-learn's English stop
  words left out) in the article's title or text, as the lexical index analyses words.

For each rule τ runs from 0.00 to 0.80 in steps of 0.01. Each query's set is scored with
ir-measures' SetP, SetR and SetF (β = 1), and τ is chosen to maximise the mean SetF over
every query (each query weighs the same, so Reuters' 61 narrow topics outweigh the 27 broad
categories of BBC and AG News). Printed: each rule's chosen τ and its figures per
collection, the τ each collection would choose alone, and the τ that the mean over the
collections (each weighing the same) would choose; for reference, a threshold relative to
each query's own cosines.

Through the library, where it has them: the same figures for ``Index.matches`` (the set
that ships), and issue 20's timeline check: on Reuters TRAIN, the Pearson r between each
query's weekly match counts (``Index.timeline``) and the weekly count of articles that
carry its topic, mean over the queries. The same r is also computed from the chosen rule
here, with daily counts and weekly ratios (count / all articles) beside it.

Indexes are built on first use under --index-dir (default ~/.cache/newssearch/match_quality)
and reused: delete a collection's folder there to rebuild it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from news_quality import (
    DATA,
    QUERIES,
    SOURCES,
    index_folder,
    open_index,
    read_bbc,
    read_queries,
    read_reuters_train,
)

import search
from search.domain.dates import normalise_date
from search.query.syntax import parse
from search.storage.lexical import analyse

CACHE = Path.home() / ".cache/newssearch/match_quality"
READERS: dict[str, Callable[[], list[dict]]] = {
    "reuters": lambda: read_reuters_train(SOURCES["reuters"]),
    "bbc": lambda: read_bbc(SOURCES["bbc"]),
    "ag_news": lambda: read_ag_news(DATA / "ag_news/ag_news_test.jsonl.gz"),
}
TAUS = np.round(np.arange(0.0, 0.8001, 0.01), 2)
MEASURES = ("SetP", "SetR", "SetF")
CHOSEN = "best passage"  # the simplest rule, within 0.01 of the best (see docs/QUALITY.md)
DEVIATIONS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)
NOTHING = "\0none"  # a query whose set is empty still counts: it scores 0


def read_ag_news(source: Path) -> list[dict]:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return [
        {
            "id": f"ag-{r['id']}",
            "title": r["title"].strip(),
            "text": r["text"].strip(),
            "topics": [r["label"]],
        }
        for r in records
    ]


@dataclass(frozen=True)
class Collection:
    name: str
    articles: list[dict]
    queries: dict[str, str]  # query id -> the query's free-text words
    qrels: dict[str, set[str]]  # query id -> the articles that carry its topic


def load(name: str, queries: list[tuple[str, str, str]]) -> Collection:
    """A collection's articles and queries. A query is sent as its free-text words: the
    few with a gloss in parentheses ("corn (maize) crop") would otherwise be read as
    syntax, whose set the threshold does not decide."""
    articles = READERS[name]()
    carrying: dict[str, set[str]] = defaultdict(set)
    for article in articles:
        for topic in article["topics"]:
            carrying[topic].add(article["id"])
    kept = [(q, topic, text) for q, topic, text in queries if carrying[topic]]
    return Collection(
        name,
        articles,
        {q: parse(text).words for q, _, text in kept},
        {q: carrying[topic] for q, topic, _ in kept},
    )


# --- the index's vectors, by article


@dataclass(frozen=True)
class Vectors:
    """Every live passage vector of an index, grouped by article."""

    articles: list[str]  # article ids, as the labels name them
    passages: np.ndarray  # (passages, dimension), each article's rows together
    starts: np.ndarray  # each article's first row in ``passages``
    centroids: np.ndarray  # (articles, dimension): normalised mean of its passages

    def best_passage(self, query: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(self.passages @ query, self.starts)

    def centroid(self, query: np.ndarray) -> np.ndarray:
        return self.centroids @ query


def read_vectors(ix: search.Index) -> Vectors:
    def read(store, snapshot):
        ids, vectors = [], []
        for part in snapshot.parts:
            keep = None if part.deleted is None else ~part.deleted
            part_ids, part_vectors = part.vectors.contents(keep)
            ids.append(np.asarray(part_ids))
            vectors.append(np.asarray(part_vectors, dtype=np.float32))
        every = np.concatenate(ids)
        rows = store.passages([int(i) for i in every])
        return every, np.concatenate(vectors), rows

    ids, vectors, rows = ix.searcher.read(read)
    owner = np.asarray([rows[int(p)].article_id for p in ids])
    order = np.argsort(owner, kind="stable")
    owner, vectors = owner[order], vectors[order]
    articles, starts = np.unique(owner, return_index=True)
    sums = np.add.reduceat(vectors, starts, axis=0)
    centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    local = [a.split("/", 1)[-1] for a in articles.tolist()]  # COLLECTION/ID to ID
    return Vectors(local, vectors, starts, centroids.astype(np.float32))


class Words:
    """Which articles hold a word, as the lexical index analyses words."""

    def __init__(self, collection: Collection, articles: list[str]) -> None:
        position = {a: i for i, a in enumerate(articles)}
        held: dict[str, set[int]] = defaultdict(set)
        for article in collection.articles:
            i = position.get(article["id"])
            if i is not None:
                for term in analyse(f"{article['title']}\n{article['text']}"):
                    held[term].add(i)
        self.size = len(articles)
        self.held = held

    def any_of(self, text: str) -> np.ndarray:
        """Articles holding at least one of the text's content words."""
        mask = np.zeros(self.size, dtype=bool)
        for term in content_terms(text):
            mask[list(self.held.get(term, ()))] = True
        return mask


def content_terms(text: str) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = [w for w in re.findall(r"\w+", text.lower()) if w not in ENGLISH_STOP_WORDS]
    return set(analyse(" ".join(words)))


# --- the rules, and ir-measures over their sets

Scores = dict[str, np.ndarray]  # query id -> one value per article


@dataclass(frozen=True)
class Rule:
    name: str
    scores: Scores  # the value compared with τ
    allowed: Scores | None = None  # a further condition, as a mask


def rules(collection: Collection, vectors: Vectors, ix: search.Index) -> list[Rule]:
    queries = {q: ix.embedder.embed_query(text) for q, text in collection.queries.items()}
    best = {q: vectors.best_passage(v) for q, v in queries.items()}
    centroid = {q: vectors.centroid(v) for q, v in queries.items()}
    words = Words(collection, vectors.articles)
    lexical = {q: words.any_of(text) for q, text in collection.queries.items()}
    return [
        Rule("best passage", best),
        Rule("centroid", centroid),
        Rule("best passage + a query word", best, lexical),
        Rule("centroid + a query word", centroid, lexical),
    ]


def matched(rule: Rule, articles: list[str], tau: float) -> dict[str, list[str]]:
    out = {}
    for q, values in rule.scores.items():
        keep = values >= tau
        if rule.allowed is not None:
            keep &= rule.allowed[q]
        out[q] = [articles[i] for i in np.flatnonzero(keep)]
    return out


def measure(collection: Collection, sets: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per query, SetP, SetR and SetF (ir-measures) of its set against its topic's articles."""
    import ir_measures

    measures = [ir_measures.parse_measure(m) for m in MEASURES]
    qrels = [ir_measures.Qrel(q, a, 1) for q, found in collection.qrels.items() for a in found]
    run = [
        ir_measures.ScoredDoc(q, a, 1.0)
        for q in collection.queries
        for a in (sets.get(q) or [NOTHING])
    ]
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for metric in ir_measures.iter_calc(measures, qrels, run):
        out[metric.query_id][str(metric.measure)] = float(metric.value)
    return dict(out)


def mean(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([v[m] for v in per_query.values()])) for m in MEASURES}


@dataclass
class Sweep:
    """A rule's figures at every τ, per collection: τ -> mean SetP, SetR, SetF, set size."""

    rule: str
    by_collection: dict[str, dict[float, dict[str, float]]]
    queries: dict[str, int]  # each collection's number of queries

    def objective(self, tau: float) -> float:
        """Mean SetF over every query of every collection."""
        total = sum(self.queries.values())
        return sum(n * self.by_collection[c][tau]["SetF"] for c, n in self.queries.items()) / total

    def collections_mean(self, tau: float) -> float:
        """Mean over the collections of their mean SetF, for comparison."""
        return float(np.mean([c[tau]["SetF"] for c in self.by_collection.values()]))

    def chosen(self, objective: Callable[[float], float] | None = None) -> float:
        objective = objective or self.objective
        return max(TAUS.tolist(), key=lambda t: (objective(t), -t))

    def alone(self, name: str) -> float:
        figures = self.by_collection[name]
        return max(figures, key=lambda t: (figures[t]["SetF"], -t))


def sweep(prepared: list[tuple[Collection, Vectors, list[Rule]]]) -> list[Sweep]:
    names = [r.name for r in prepared[0][2]]
    out = []
    for position, name in enumerate(names):
        by_collection = {}
        for collection, vectors, found in prepared:
            rule = found[position]
            figures = {}
            for tau in TAUS.tolist():
                sets = matched(rule, vectors.articles, tau)
                figures[tau] = mean(measure(collection, sets))
                figures[tau]["size"] = float(np.mean([len(s) for s in sets.values()]))
            by_collection[collection.name] = figures
        out.append(Sweep(name, by_collection, {c.name: len(c.queries) for c, _, _ in prepared}))
    return out


def relative_reference(prepared: list[tuple[Collection, Vectors, list[Rule]]]) -> dict:
    """For reference, not a candidate (it moves as the archive grows): a threshold per
    query, in standard deviations above its mean best-passage cosine over the archive.
    Each collection's best SetF over ``DEVIATIONS``."""
    out = {}
    for collection, vectors, found in prepared:
        best = next(r for r in found if r.name == CHOSEN)
        rule = Rule("relative", {q: (v - v.mean()) / v.std() for q, v in best.scores.items()})
        scored = {
            z: mean(measure(collection, matched(rule, vectors.articles, z)))["SetF"]
            for z in DEVIATIONS
        }
        z = max(scored, key=lambda d: scored[d])
        out[collection.name] = {"deviations": z, "SetF": scored[z]}
    return out


# --- through the library


def library_sets(
    ix: search.Index, collection: Collection, every_copy: bool = False
) -> dict[str, list[str]] | None:
    """Each query's matching set as ``Index.matches`` gives it (None: not in this library):
    wire copies folded into one, as it ships, or ``every_copy``."""
    if not hasattr(ix, "matches"):
        return None
    from search.query.contract import SearchRequest

    return {
        q: [m.article_id for m in ix.matches(SearchRequest.make(text, every_copy=every_copy))]
        for q, text in collection.queries.items()
    }


def through_library(ix: search.Index, collection: Collection) -> dict[str, dict[str, float]]:
    """Set figures for ``Index.matches``: copies folded, as it ships, and every copy."""
    out = {}
    for every_copy in (False, True):
        sets = library_sets(ix, collection, every_copy)
        if sets is None:
            print(f"(Index.matches is not in this library: {collection.name} not measured)")
            break
        label = f"Index.matches, {collection.name}{', every copy' if every_copy else ''}"
        out[label] = mean(measure(collection, sets))
        out[label]["size"] = float(np.mean([len(s) for s in sets.values()]))
        print(line(label, out[label]))
    return out


def shipped_threshold() -> float | None:
    try:
        from search.query.matching import RELEVANCE_THRESHOLD
    except ImportError:
        return None
    return float(RELEVANCE_THRESHOLD)


# --- the timeline check (Reuters)


def day_of(article: dict) -> dt.date | None:
    published = normalise_date(article.get("date"))
    return None if published is None else dt.date.fromisoformat(published[:10])


def week_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def series(days: dict[str, dt.date], articles: Iterable[str], bins: list) -> np.ndarray:
    counts: dict[dt.date, int] = defaultdict(int)
    for article in articles:
        if article in days:
            counts[days[article]] += 1
    return np.asarray([counts[b] for b in bins], dtype=np.float64)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None  # undefined: a flat series
    return float(np.corrcoef(a, b)[0, 1])


def timeline_check(collection: Collection, sets: dict[str, list[str]]) -> dict[str, float | int]:
    """Pearson r between each query's set and its topic's labelled articles, counted per
    week, per day, and as weekly ratios to all articles; mean over queries (flat series
    left out and counted)."""
    days = {a["id"]: d for a in collection.articles if (d := day_of(a)) is not None}
    weeks = {a: week_of(d) for a, d in days.items()}
    day_bins = sorted(set(days.values()))
    week_bins = sorted(set(weeks.values()))
    every_week = series(weeks, set(weeks), week_bins)
    found: dict[str, list[float]] = defaultdict(list)
    for q, chosen in sets.items():
        labelled = collection.qrels[q]
        pairs = {
            "weekly r": (series(weeks, chosen, week_bins), series(weeks, labelled, week_bins)),
            "daily r": (series(days, chosen, day_bins), series(days, labelled, day_bins)),
        }
        weekly_count, weekly_labelled = pairs["weekly r"]
        pairs["weekly ratio r"] = (weekly_count / every_week, weekly_labelled / every_week)
        for name, (a, b) in pairs.items():
            r = pearson(a, b)
            if r is not None:
                found[name].append(r)
    out: dict[str, float | int] = {name: float(np.mean(v)) for name, v in found.items()}
    out["queries"] = len(sets)
    out["weeks"] = len(week_bins)
    out["flat"] = len(sets) - len(found["weekly r"])
    return out


def library_timeline_check(ix: search.Index, collection: Collection) -> dict | None:
    """The weekly r through ``Index.timeline`` (None: not in this library)."""
    if not hasattr(ix, "timeline"):
        return None
    from search.query.contract import SearchRequest

    weeks = {a["id"]: week_of(d) for a in collection.articles if (d := day_of(a)) is not None}
    bins = sorted(set(weeks.values()))
    values = []
    for q, text in collection.queries.items():
        timeline = ix.timeline(SearchRequest.make(text), every="week")
        counted = {dt.date.fromisoformat(p.start[:10]): p.count for p in timeline.periods}
        unknown = set(counted) - set(bins)
        if unknown:
            raise SystemExit(f"timeline weeks {sorted(unknown)} are not Monday weeks of the data")
        ours = np.asarray([counted.get(b, 0) for b in bins], dtype=np.float64)
        r = pearson(ours, series(weeks, collection.qrels[q], bins))
        if r is not None:
            values.append(r)
    return {
        "weekly r": float(np.mean(values)),
        "queries": len(collection.queries),
        "flat": len(collection.queries) - len(values),
    }


# --- the run


def prepare(name: str, queries: list[tuple[str, str, str]], index_dir: Path) -> tuple:
    started = time.monotonic()
    collection = load(name, queries)
    ix = open_index(index_folder(index_dir, name), collection.articles, name)
    vectors = read_vectors(ix)
    missing = set().union(*collection.qrels.values()) - set(vectors.articles)
    if missing:
        raise SystemExit(f"{name}: {len(missing)} labelled articles are not in the index")
    found = rules(collection, vectors, ix)
    print(
        f"# {name}: {len(vectors.articles)} articles, {len(vectors.passages)} passages, "
        f"{len(collection.queries)} queries ({time.monotonic() - started:.0f}s)"
    )
    return collection, vectors, found, ix


def line(label: str, figures: dict[str, float]) -> str:
    return (
        f"{label:<40} {figures['SetP']:6.3f} {figures['SetR']:6.3f} {figures['SetF']:6.3f}"
        f" {figures.get('size', float('nan')):8.0f}"
    )


def report(sweeps: list[Sweep], names: list[str]) -> dict:
    header = f"{'':<40} {'SetP':>6} {'SetR':>6} {'SetF':>6} {'set size':>8}"
    out = {}
    for result in sweeps:
        tau = result.chosen()
        print(
            f"\n## {result.rule}: τ = {tau:.2f} "
            f"(mean SetF over all queries {result.objective(tau):.3f})"
        )
        print(header)
        for name in names:
            print(line(name, result.by_collection[name][tau]))
        alone = {name: result.alone(name) for name in names}
        print(
            "each collection's own best τ: "
            + ", ".join(
                f"{n} {t:.2f} (SetF {result.by_collection[n][t]['SetF']:.3f})"
                for n, t in alone.items()
            )
        )
        other = result.chosen(result.collections_mean)
        print(
            f"the mean over collections of their mean SetF would choose τ = {other:.2f}: "
            + ", ".join(f"{n} {result.by_collection[n][other]['SetF']:.3f}" for n in names)
        )
        out[result.rule] = {
            "tau": tau,
            "objective": result.objective(tau),
            "collections": {n: result.by_collection[n][tau] for n in names},
            "alone": alone,
            "collections_mean_tau": other,
            "sweep": {n: {str(t): f for t, f in result.by_collection[n].items()} for n in names},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--collection", nargs="+", choices=list(READERS), default=list(READERS))
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--index-dir", type=Path, default=CACHE, help=f"default {CACHE}")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    queries = read_queries(args.queries)
    prepared = [prepare(name, queries[name], args.index_dir) for name in args.collection]
    sweeps = sweep([(c, v, r) for c, v, r, _ in prepared])
    results: dict = {"rules": report(sweeps, args.collection)}
    relative = relative_reference([(c, v, r) for c, v, r, _ in prepared])
    results["relative"] = relative
    print(
        "\nfor reference, a threshold per query in standard deviations above its mean: best "
        + ", ".join(f"{n} SetF {r['SetF']:.3f} at {r['deviations']}" for n, r in relative.items())
    )
    tau = next(s for s in sweeps if s.rule == CHOSEN).chosen()
    shipped = shipped_threshold()
    print(
        f"\n## the chosen rule: {CHOSEN} ≥ τ = {tau:.2f}; the library ships "
        + ("no threshold" if shipped is None else f"{shipped:.2f}")
    )
    results["chosen"] = {"rule": CHOSEN, "tau": tau, "shipped": shipped}
    for collection, vectors, found, ix in prepared:
        results.update(through_library(ix, collection))
        if collection.name == "reuters":
            rule = next(r for r in found if r.name == CHOSEN)
            own = timeline_check(collection, matched(rule, vectors.articles, tau))
            results["timeline, the rule computed here"] = own
            print(
                f"Reuters TRAIN, {own['queries']} topic queries over {own['weeks']} weeks, the "
                f"rule computed here: weekly r {own['weekly r']:.3f} (mean over queries; "
                f"{own['flat']} flat left out), daily r {own['daily r']:.3f}, weekly ratio r "
                f"{own['weekly ratio r']:.3f}"
            )
            timeline = library_timeline_check(ix, collection)
            if timeline is not None:
                results["timeline, Index.timeline"] = timeline
                print(
                    f"Reuters TRAIN through Index.timeline: weekly r {timeline['weekly r']:.3f} "
                    f"(mean over queries; {timeline['flat']} flat left out)"
                )
        ix.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
