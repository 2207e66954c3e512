"""Measure near-duplicate detection (search/write/minhash.py) on real news and edited copies.

    .venv/bin/python scripts/dup_quality.py            # the chosen settings' tables
    .venv/bin/python scripts/dup_quality.py --sweep    # also the design sweep
    .venv/bin/python scripts/dup_quality.py --candidates reuters  # pairs to label by hand

Data is read in place from ../shared/data (never copied). Tuning uses Reuters TRAIN, BBC
and AG News only; Reuters TEST takes part only in the final group count over the whole
collection. Precision and recall are counts over labelled pairs: a pair is predicted a
duplicate when grouping the whole collection (plus the generated copies) puts both
articles in one group, so chains through third articles count. Grouping links pairs whose
estimated resemblance reaches the threshold (the column), and, as the index does, pairs
sharing an anchor that ``same_story`` holds for (``--no-story``: resemblance alone, the
rule before issue 19).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.write import minhash as dup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PAIRS_TSV = ROOT / "scripts" / "data" / "dup_pairs.tsv"
SEED = 20240611


@dataclass(frozen=True)
class Doc:
    id: str  # "<dataset>:<id in the dataset>"
    title: str
    text: str
    topic: str = ""
    day: str = ""


# ---------------------------------------------------------------- data


def _jsonl(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def load(dataset: str, *, reuters_test: bool = False) -> list[Doc]:
    """One dataset's articles; Reuters TEST (and NOT-USED) only when asked for."""
    if dataset == "reuters":
        return [
            Doc(
                f"reuters:{r['id']}",
                r["title"],
                r["text"],
                (r["topics"] or [""])[0],
                r["date"].split()[0],
            )
            for r in _jsonl(DATA / "reuters21578" / "reuters21578.jsonl.gz")
            if reuters_test or r["lewis_split"] == "TRAIN"
        ]
    if dataset == "ag":
        rows = _jsonl(DATA / "ag_news" / "ag_news_test.jsonl.gz")
        return [
            Doc(f"ag:{r['id']}", r["title"], r["text"].replace("\\", " "), r["label"]) for r in rows
        ]
    rows = _jsonl(DATA / "bbc_news" / "bbc_news.jsonl.gz")
    return [Doc(f"bbc:{r['id']}", r["title"], r["text"], r["category"]) for r in rows]


# ---------------------------------------------------------------- generated copies

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_CITIES = ["LONDON", "NEW YORK", "WASHINGTON", "TOKYO", "PARIS", "FRANKFURT", "CHICAGO"]
_MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "Oct", "Nov"]


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def _dateline(rng: random.Random) -> str:
    return f"{rng.choice(_CITIES)}, {rng.choice(_MONTHS)} {rng.randint(1, 28)} - "


def _drop_last(text: str, rng: random.Random) -> str:
    paras = _paragraphs(text)
    if len(paras) >= 3:
        return "\n\n".join(paras[:-1])
    sents = _sentences(text)
    if len(sents) >= 3:
        return " ".join(sents[:-1])
    tokens = text.split()
    return " ".join(tokens[: max(1, int(len(tokens) * 0.85))])


def _change_words(text: str, rng: random.Random, vocab: list[str], n: int) -> str:
    tokens = text.split()
    for i in rng.sample(range(len(tokens)), min(n, len(tokens))):
        tokens[i] = rng.choice(vocab)
    return " ".join(tokens)


def _insert_sentence(text: str, rng: random.Random, other: Doc) -> str:
    sents = _sentences(text)
    extra = rng.choice(_sentences(other.text) or [other.title])
    sents.insert(rng.randint(0, len(sents)), extra)
    return " ".join(sents)


def _reword_title(title: str, rng: random.Random, vocab: list[str]) -> str:
    tokens = title.split()
    if len(tokens) > 3:
        del tokens[rng.randrange(len(tokens))]
    tokens.insert(rng.randint(0, len(tokens)), rng.choice(vocab))
    return rng.choice(["UPDATE 1-", "", "WRAPUP-"]) + " ".join(tokens)


def _correct(doc: Doc, rng: random.Random) -> tuple[str, str]:
    numbers = re.findall(r"\d+(?:\.\d+)?", doc.text)
    text = doc.text
    if numbers:
        old = rng.choice(numbers)
        text = text.replace(old, str(int(float(old)) + rng.randint(1, 9)), 1)
    return f"CORRECTED - {doc.title}", f"(Corrects figure in paragraph two) {text}"


Edit = Callable[[Doc, random.Random, list[Doc], list[str]], tuple[str, str, str]]
"""(original, rng, other articles, vocabulary) -> (original text, copy title, copy text)."""

EDITS: dict[str, Edit] = {
    "exact": lambda d, r, o, v: (d.text, d.title, d.text),
    "headline_reworded": lambda d, r, o, v: (d.text, _reword_title(d.title, r, v), d.text),
    "headline_new": lambda d, r, o, v: (d.text, r.choice(o).title, d.text),
    "last_para_dropped": lambda d, r, o, v: (d.text, d.title, _drop_last(d.text, r)),
    "para_added": lambda d, r, o, v: (d.text, d.title, d.text + "\n\n" + r.choice(o).text[:400]),
    "few_words_changed": lambda d, r, o, v: (
        d.text,
        d.title,
        _change_words(d.text, r, v, r.randint(2, 5)),
    ),
    "sentence_inserted": lambda d, r, o, v: (
        d.text,
        d.title,
        _insert_sentence(d.text, r, r.choice(o)),
    ),
    "dateline_changed": lambda d, r, o, v: (_dateline(r) + d.text, d.title, _dateline(r) + d.text),
    "corrected_repeat": lambda d, r, o, v: (d.text, *_correct(d, r)),
    "headline+words+drop": lambda d, r, o, v: (
        d.text,
        _reword_title(d.title, r, v),
        _drop_last(_change_words(d.text, r, v, 3), r),
    ),
}


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: int
    kind: str


def generated_set(docs: list[Doc], per_edit: int, seed: int) -> tuple[list[Doc], list[Pair]]:
    """Edited copies of ``docs`` (positives) and real same-topic/company/day pairs (negatives).

    Returns the collection with each copy's original rewritten as the edit needs it (a
    dateline added) plus the copies, and the labelled pairs.
    """
    rng = random.Random(seed)
    judged = [d for d in docs if dup.signature(d.title, d.text) is not None]
    vocab = sorted({w for d in rng.sample(judged, min(500, len(judged))) for w in d.text.split()})
    by_id = {d.id: d for d in docs}
    pairs: list[Pair] = []
    sources = rng.sample(judged, min(len(judged), per_edit * len(EDITS)))
    for n, doc in enumerate(sources):
        kind = list(EDITS)[n % len(EDITS)]
        original, title, text = EDITS[kind](doc, rng, judged, vocab)
        by_id[doc.id] = Doc(doc.id, doc.title, original, doc.topic, doc.day)
        copy_id = f"{doc.id}#copy"
        by_id[copy_id] = Doc(copy_id, title, text, doc.topic, doc.day)
        pairs.append(Pair(doc.id, copy_id, 1, kind))
    pairs += hard_negatives(judged, per_edit * 4, rng)
    return list(by_id.values()), pairs


def _ticker(title: str) -> str:
    found = re.search(r"<([A-Z.]+)>", title)
    return found.group(1) if found else ""


def _true_jaccard(a: Doc, b: Doc, size: int = 5) -> float:
    sa = dup.shingles(dup.words(a.title, a.text), size)
    sb = dup.shingles(dup.words(b.title, b.text), size)
    return len(sa & sb) / max(1, len(sa | sb))


def _true_containment(a: Doc, b: Doc, size: int = 5) -> float:
    """The share of the smaller one's shingles in the larger one's."""
    sa = dup.shingles(dup.words(a.title, a.text), size)
    sb = dup.shingles(dup.words(b.title, b.text), size)
    return len(sa & sb) / max(1, min(len(sa), len(sb)))


def hard_negatives(docs: list[Doc], per_kind: int, rng: random.Random) -> list[Pair]:
    """Different articles sharing a topic, a company ticker, a day or a title prefix.

    A pair whose exact 5-word-shingle Jaccard is 0.3 or more, or one half of whose shingles
    are in the other (a story and a cut of it), may be a real copy, so it is left out here
    (the hand-labelled pairs judge such cases).
    """
    keys: dict[str, Callable[[Doc], str]] = {
        "same_topic": lambda d: d.topic,
        "same_company": lambda d: _ticker(d.title),
        "same_day": lambda d: d.day,
        "same_title_prefix": lambda d: " ".join(d.title.casefold().split()[:3]),
    }
    pairs = []
    for kind, key in keys.items():
        buckets: dict[str, list[Doc]] = defaultdict(list)
        for d in docs:
            if key(d):
                buckets[key(d)].append(d)
        groups = [g for _, g in sorted(buckets.items()) if len(g) > 1]
        seen: set[tuple[str, str]] = set()
        for _ in range(per_kind * 20):
            if not groups or len(seen) >= per_kind:
                break
            a, b = rng.sample(rng.choice(groups), 2)
            apart = _true_jaccard(a, b) < 0.3 and _true_containment(a, b) < 0.5
            if a.text.strip() != b.text.strip() and apart:
                seen.add((a.id, b.id))
        pairs += [Pair(a, b, 0, kind) for a, b in sorted(seen)]
    return pairs


# ---------------------------------------------------------------- grouping under settings


@dataclass(frozen=True)
class Settings:
    shingle: int = dup.SHINGLE
    with_title: bool = True
    num_perm: int = dup.NUM_PERM
    bands: int = dup.BANDS
    rows: int = dup.ROWS
    min_words: int = dup.MIN_WORDS
    number_weight: int = dup.NUMBER_WEIGHT

    def label(self) -> str:
        title = "title+text" if self.with_title else "text only"
        numbers = f" num*{self.number_weight}" if self.number_weight else ""
        return f"w={self.shingle}{numbers} {title} p={self.num_perm} b={self.bands}x{self.rows}"


def signatures(docs: list[Doc], s: Settings) -> dict[str, np.ndarray]:
    """Signatures under settings ``s`` (the module's own function for the chosen ones)."""
    template = dup._template(s.num_perm)
    out = {}
    for d in docs:
        tokens = dup.words(d.title, d.text, with_title=s.with_title)
        if len(tokens) >= s.min_words:
            out[d.id] = dup._minhash(dup.features(tokens, s.shingle, s.number_weight), template)
    return out


@dataclass
class Scored:
    """Candidate pairs with their estimated Jaccard, and the pairs ``same_story`` links;
    grouping at any threshold is cheap."""

    ids: list[str]
    pairs: list[tuple[str, str]]
    sims: np.ndarray
    stories: list[tuple[str, str]]

    @classmethod
    def build(
        cls, sigs: dict[str, np.ndarray], s: Settings, docs: list[Doc] | None = None
    ) -> Scored:
        """``docs`` given: also the pairs sharing an anchor that ``same_story`` holds for."""
        keys = {i: dup._keys(sig, s.bands, s.rows) for i, sig in sigs.items()}
        stories: list[tuple[str, str]] = []
        anchored = {d.id: dup.anchors(d.text) for d in docs or [] if d.id in sigs}
        sharing = dup.candidate_pairs({}, anchored)
        pairs = sorted(dup.candidate_pairs(keys) | sharing)
        sims = np.array([dup.similarity(sigs[a], sigs[b]) for a, b in pairs])
        if sharing:
            words = {d.id: dup.Words.of(d.title, d.text) for d in docs or [] if d.id in sigs}
            stories = sorted(p for p in sharing if dup.same_story(words[p[0]], words[p[1]]))
        return cls(list(sigs), pairs, sims, stories)

    def groups(self, threshold: float) -> list[list[str]]:
        edges = [p for p, sim in zip(self.pairs, self.sims, strict=True) if sim >= threshold]
        return [g for g in dup.components(self.ids, edges + self.stories) if len(g) > 1]

    def member(self, threshold: float) -> dict[str, int]:
        return {i: n for n, g in enumerate(self.groups(threshold)) for i in g}


def confusion(member: dict[str, int], pairs: list[Pair]) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of "same group" against the labels."""
    tp = fp = fn = tn = 0
    for p in pairs:
        same = p.a in member and member.get(p.a) == member.get(p.b)
        tp += same and p.label == 1
        fp += same and p.label == 0
        fn += not same and p.label == 1
        tn += not same and p.label == 0
    return tp, fp, fn, tn


def _pr_cell(counts: np.ndarray, digits: int = 3) -> str:
    precision, recall = pr(*counts[:3])
    return f"{precision:.{digits}f}/{recall:.{digits}f}"


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))


# ---------------------------------------------------------------- reports

THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
DATASETS = ["reuters", "ag", "bbc"]


def generated(per_edit: int) -> dict[str, tuple[list[Doc], list[Pair]]]:
    return {name: generated_set(load(name), per_edit, SEED + n) for n, name in enumerate(DATASETS)}


def _sweep_counts(sets: dict[str, tuple[list[Doc], list[Pair]]], s: Settings) -> np.ndarray:
    counts = np.zeros((len(THRESHOLDS), 4), dtype=int)
    for docs, pairs in sets.values():
        scored = Scored.build(signatures(docs, s), s)
        for k, t in enumerate(THRESHOLDS):
            counts[k] += confusion(scored.member(t), pairs)
    return counts


def sweep(
    sets: dict[str, tuple[list[Doc], list[Pair]]],
    hand: dict[str, tuple[list[Doc], list[Pair]]],
    grid: list[Settings],
) -> None:
    """Precision/recall of grouping per setting and threshold: (a) generated, (b) by hand."""
    print("\n## Design sweep: precision/recall of grouping, all datasets together")
    widths = [44, 4] + [11] * len(THRESHOLDS)
    print(_row(["settings", "set"] + [f"t={t}" for t in THRESHOLDS], widths))
    for s in grid:
        for name, labelled in (("a", sets), ("b", hand)):
            cells = [_pr_cell(c, 2) for c in _sweep_counts(labelled, s)]
            print(_row([s.label() if name == "a" else "", name] + cells, widths), flush=True)


def threshold_table(title: str, rows: dict[str, tuple[Scored, list[Pair]]]) -> None:
    print(f"\n## {title}: precision / recall of grouping by threshold")
    widths = [22, 6, 6] + [11] * len(THRESHOLDS)
    print(_row(["set", "pos", "neg"] + [f"t={t}" for t in THRESHOLDS], widths))
    total = np.zeros((len(THRESHOLDS), 4), dtype=int)
    for name, (scored, pairs) in rows.items():
        counts = np.array([confusion(scored.member(t), pairs) for t in THRESHOLDS])
        total += counts
        npos = sum(p.label for p in pairs)
        cells = [_pr_cell(c) for c in counts]
        print(_row([name, npos, len(pairs) - npos] + cells, widths))
    npos, nneg = int(total[0, 0] + total[0, 2]), int(total[0, 1] + total[0, 3])
    cells = [_pr_cell(c) for c in total]
    print(_row(["all", npos, nneg] + cells, widths))


def by_kind(sets: dict[str, tuple[Scored, list[Pair]]], threshold: float) -> None:
    """Recall per edit (positives) and false-positive rate per kind of negative."""
    print(f"\n## Generated pairs at THRESHOLD={threshold}, by kind (grouped / pairs)")
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for name, (scored, pairs) in sets.items():
        member = scored.member(threshold)
        for p in pairs:
            same = p.a in member and member.get(p.a) == member.get(p.b)
            tally[p.kind][name] += 1
            tally[p.kind][name + "+"] += same
    widths = [22, 8] + [12] * len(sets)
    print(_row(["kind", "label"] + list(sets), widths))
    for kind, c in tally.items():
        label = "neg" if kind.startswith("same_") else "pos"
        cells = [f"{c[n + '+']}/{c[n]}" for n in sets]
        print(_row([kind, label] + cells, widths))


def read_labels(path: Path = PAIRS_TSV) -> list[Pair]:
    with path.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    return [Pair(a, b, int(label), note) for a, b, label, note in rows[1:]]


def group_counts(s: Settings, story: bool) -> None:
    print("\n## Duplicate groups (2+ articles) with the chosen settings")
    widths = [26, 9, 8, 8, 10, 10, 8]
    print(
        _row(
            ["collection", "articles", "judged", "groups", "in groups", "largest", "sig s"], widths
        )
    )
    for name, docs in [
        ("bbc", load("bbc")),
        ("reuters TRAIN", load("reuters")),
        ("reuters (all 21,578)", load("reuters", reuters_test=True)),
        ("ag news", load("ag")),
    ]:
        start = time.perf_counter()
        sigs = {d.id: sig for d in docs if (sig := dup.signature(d.title, d.text)) is not None}
        elapsed = time.perf_counter() - start
        groups = Scored.build(sigs, s, docs if story else None).groups(dup.THRESHOLD)
        cells = [name, len(docs), len(sigs), len(groups), sum(map(len, groups))]
        print(_row(cells + [max(map(len, groups), default=0), f"{elapsed:.1f}"], widths))


def speed() -> None:
    """Signatures per second on Reuters, and at ~400 words."""
    docs = load("reuters", reuters_test=True)
    start = time.perf_counter()
    for d in docs:
        dup.signature(d.title, d.text)
    total = time.perf_counter() - start
    long = [d for d in docs if 350 <= len(dup.words(d.title, d.text)) <= 450]
    start = time.perf_counter()
    for d in long:
        dup.signature(d.title, d.text)
    per = (time.perf_counter() - start) / len(long)
    sig = dup.signature(long[0].title, long[0].text)
    assert sig is not None
    start = time.perf_counter()
    for _ in range(2000):
        dup.band_keys(sig)
    keys = (time.perf_counter() - start) / 2000
    print("\n## Speed (one core)")
    print(
        f"signature: {len(docs) / total:,.0f} Reuters articles/s ({total:.1f} s for {len(docs):,})"
    )
    print(f"signature of a 350-450-word article: {per * 1e3:.2f} ms (mean of {len(long)})")
    print(f"band_keys: {keys * 1e6:.0f} us")


def candidates(dataset: str, s: Settings, low: float, high: float, n: int) -> None:
    """Print pairs to label by hand: LSH candidates with similarity in [low, high), and
    pairs sharing most of their words that no band brought together (possible misses)."""
    docs = {d.id: d for d in load(dataset)}
    sigs = signatures(list(docs.values()), s)
    scored = Scored.build(sigs, s)
    rng = random.Random(SEED)
    near = [(a, b, sim) for (a, b), sim in zip(scored.pairs, scored.sims, strict=True)]
    near = [x for x in near if low <= x[2] < high]
    chosen = rng.sample(near, min(n, len(near)))
    by_title: dict[str, list[str]] = defaultdict(list)
    for d in docs.values():
        if d.title.strip():
            by_title[d.title.casefold().strip()].append(d.id)
    flagged = {(a, b) for a, b, sim in near}
    same_title = [
        (a, b, dup.similarity(sigs[a], sigs[b]))
        for ids in by_title.values()
        for a, b in itertools.pairwise(ids)
        if a in sigs and b in sigs and (a, b) not in flagged
    ]
    missed = [x for x in same_title if x[2] < low]
    chosen += rng.sample(missed, min(n // 2, len(missed)))
    for a, b, sim in chosen:
        print(f"\n=== {a}\t{b}\tsim={sim:.2f} exact5={_true_jaccard(docs[a], docs[b]):.2f}")
        for d in (docs[a], docs[b]):
            print(f"--- {d.title} | {d.day}\n{d.text[:600]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also run the design sweep")
    parser.add_argument("--per-edit", type=int, default=60, help="copies per edit and dataset")
    parser.add_argument("--candidates", choices=DATASETS, help="print pairs to label by hand")
    parser.add_argument("--low", type=float, default=0.3)
    parser.add_argument("--high", type=float, default=0.7)
    parser.add_argument("--n", type=int, default=20, help="pairs to print per kind")
    parser.add_argument(
        "--no-story", action="store_true", help="resemblance alone, without same_story"
    )
    args = parser.parse_args()
    chosen = Settings()
    if args.candidates:
        candidates(args.candidates, chosen, args.low, args.high, args.n)
        return
    story = not args.no_story
    rule = f"and same_story (CONTAINED={dup.CONTAINED})" if story else "alone"
    print(f"chosen: {chosen.label()} min_words={chosen.min_words} THRESHOLD={dup.THRESHOLD}")
    print(f"links: resemblance {rule}")
    sets = generated(args.per_edit)
    labels = read_labels()
    hand = {
        name: (load(name), [p for p in labels if p.a.startswith(name + ":")]) for name in DATASETS
    }
    if args.sweep:
        sweep(sets, hand, design_grid())
    for title, labelled in (
        ("(a) generated copies and hard negatives", sets),
        ("(b) hand-labelled real pairs", hand),
    ):
        scored = {
            n: (Scored.build(signatures(docs, chosen), chosen, docs if story else None), pairs)
            for n, (docs, pairs) in labelled.items()
        }
        threshold_table(title, scored)
        if labelled is sets:
            by_kind(scored, dup.THRESHOLD)
    group_counts(chosen, story)
    speed()


def design_grid() -> list[Settings]:
    grid = [Settings(shingle=w) for w in (2, 3, 4, 5)]
    grid += [Settings(number_weight=n) for n in (2, 4, 8)]
    grid += [Settings(shingle=4, number_weight=4), Settings(with_title=False)]
    grid += [Settings(num_perm=64, bands=16, rows=4), Settings(num_perm=256, bands=64, rows=4)]
    grid += [Settings(bands=16, rows=8), Settings(bands=64, rows=2)]
    return grid


if __name__ == "__main__":
    main()
