"""Lexical top-300 at scale: SQLite FTS5 as shipped, FTS5 with query pruning, tantivy, bm25s.

    .venv/bin/python scripts/bench_lexical.py [--passages 1000000] [--work /tmp/lexbench]
        [--data ../shared/data] [--options fts5 pruned tantivy bm25s] [--repeats 3]
        [--skip-scifact]

Needs ``pip install tantivy bm25s PyStemmer`` in the venv. Prints measurements only.

Corpus: every paragraph of Reuters-21578, BBC News and AG News (test) under --data, one
passage each (a paragraph over 200 words is cut into 200-word pieces), indexed with its
article's title. When the real passages run out, they are repeated in order, copy ``k`` of
an article getting the id ``<id>~k`` and each of its passages the suffix `` (copy k)``, until
there are --passages of them. Indexes are built once under --work and reused by later runs
(delete the folder to rebuild).

Options, each answering the top 300 passages of a free-text query:
  fts5     store.py's query as shipped: an external-content FTS5 table over passages and
           articles (title, text; porter unicode61 remove_diacritics 2), the OR of the quoted
           words, ``bm25(passages_fts, 1, 1)``, ORDER BY score LIMIT 300.
  pruned   the same table and scores, with MaxScore-style pruning done in SQL: see ``Pruned``.
  drop     approximate: the FTS5 query without the words found in over 5% of passages.
  tantivy  tantivy (Python bindings) with BM25 over one field holding title and text (FTS5's
           bm25 with weights 1, 1 is BM25 over the two columns' tokens together), a flat OR of
           term queries, top 300 without counting (block-max WAND).
  bm25s    bm25s (lucene BM25, PyStemmer english stemmer, no stopwords), in memory.

Latency: warm (one untimed pass first), one query at a time, --repeats timed passes over the
queries; p50, p95 and max over all timed runs. Overlap: the share of the FTS5 top 300 that an
option also returns, and 'ties' when the passages that differ score the same as the 300th.
SciFact: nDCG@10 on the BEIR test split, one passage per document (title + text), ir-measures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEPTH = 300
MAX_WORDS = 200
TOKENIZER = "porter unicode61 remove_diacritics 2"
K1, B = 1.2, 0.75  # FTS5's bm25 constants
_WORD = re.compile(r"\w+", re.UNICODE)

SCHEMA = f"""
CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles (id),
    text TEXT NOT NULL
);
CREATE INDEX passages_article ON passages (article_id);
CREATE VIEW passage_documents AS
    SELECT passages.id AS id, articles.title AS title, passages.text AS text
    FROM passages JOIN articles ON articles.id = passages.article_id;
CREATE VIRTUAL TABLE passages_fts USING fts5 (
    title, text, content = 'passage_documents', content_rowid = 'id',
    tokenize = '{TOKENIZER}'
);
CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts (rowid, title, text) VALUES (
        new.id, (SELECT title FROM articles WHERE id = new.article_id), new.text);
END;
"""

QUERIES = [
    "oil prices fell sharply after the OPEC meeting",
    "the company said it expects",
    "the government said on Tuesday",
    "shares rose in early trading on the stock exchange",
    "the bank said it would cut interest rates",
    "he said the deal was expected to be completed",
    "profits for the first quarter were higher than a year ago",
    "the minister told reporters on Monday",
    "analysts said the market will remain weak",
    "prime minister tony blair",
    "the dollar fell against the yen",
    "net income per share",
    "the new york stock exchange",
    "this is the best film of the year",
    "what did the president say about the economy",
    "coffee export quotas",
    "wheat sales to the soviet union",
    "cocoa buffer stock",
    "gold mining in south africa",
    "mobile phone sales",
    "champions league final",
    "iran iraq war shipping gulf",
    "tin council debt crisis",
    "sugar beet harvest",
    "chelsea manager mourinho",
    "broadband internet access",
    "grammy award nominations",
    "hostile takeover bid rejected",
]
HEADLINES = 20  # headlines drawn evenly from the data, added to the queries above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/lexbench"))
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument(
        "--options", nargs="*", default=["fts5", "pruned", "drop", "tantivy", "bm25s"]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args()
    print(f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}", flush=True)
    passages = corpus(args.data, args.passages)
    queries = QUERIES + headlines(args.data, HEADLINES)
    print(f"corpus: {len(passages):,} passages; {len(queries)} queries", flush=True)
    work = args.work / str(args.passages)
    work.mkdir(parents=True, exist_ok=True)
    run_scale(args.options, passages, queries, work, args.repeats)
    if not args.skip_scifact:
        run_scifact(args.options, args.data / "beir_scifact", args.work / "scifact")


# The corpus and the queries.


def articles(data: Path) -> Iterator[tuple[str, str, list[str]]]:
    """(id, title, paragraphs) of every article with text."""
    files = {
        "reuters": "reuters21578/reuters21578.jsonl.gz",
        "bbc": "bbc_news/bbc_news.jsonl.gz",
        "ag": "ag_news/ag_news_test.jsonl.gz",
    }
    for name, file in files.items():
        with gzip.open(data / file, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                paragraphs = [p.strip() for p in record["text"].split("\n\n") if p.strip()]
                if paragraphs:
                    yield f"{name}/{record['id']}", record["title"].strip(), paragraphs


def pieces(paragraph: str) -> list[str]:
    words = paragraph.split()
    return [" ".join(words[i : i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS)]


def corpus(data: Path, size: int) -> list[tuple[str, str, str]]:
    """``size`` passages as (article id, title, text): real ones, then suffixed copies."""
    real = [
        (aid, title, [p for paragraph in paragraphs for p in pieces(paragraph)])
        for aid, title, paragraphs in articles(data)
    ]
    out: list[tuple[str, str, str]] = []
    copy = 0
    while len(out) < size:
        for aid, title, texts in real:
            for text in texts:
                if copy:
                    out.append((f"{aid}~{copy}", title, f"{text} (copy {copy})"))
                else:
                    out.append((aid, title, text))
            if len(out) >= size:
                break
        copy += 1
    return out[:size]


def headlines(data: Path, count: int) -> list[str]:
    titles = [title for _, title, _ in articles(data) if len(_WORD.findall(title)) >= 4]
    step = len(titles) // count
    return [titles[i * step + step // 2] for i in range(count)]


def words(text: str) -> list[str]:
    """store.fts_query's words: lower-cased, first occurrence kept, at most 64."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:64]


def or_of(terms: Sequence[str]) -> str:
    return " OR ".join(f'"{term}"' for term in terms)


# Option (a): FTS5 as store.py queries it.


def build_fts(path: Path, passages: list[tuple[str, str, str]]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.executescript(SCHEMA)
    db.execute("BEGIN IMMEDIATE")
    seen: set[str] = set()
    for aid, title, text in passages:
        if aid not in seen:
            seen.add(aid)
            db.execute("INSERT INTO articles (id, title) VALUES (?, ?)", (aid, title))
        db.execute("INSERT INTO passages (article_id, text) VALUES (?, ?)", (aid, text))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


class Fts5:
    """store.Store.lexical_search, verbatim in SQL."""

    name = "fts5"

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")

    def search(self, text: str, limit: int = DEPTH) -> list[tuple[int, float]]:
        terms = words(text)
        if not terms:
            return []
        rows = self.db.execute(
            "SELECT rowid, bm25(passages_fts, ?, ?) AS score FROM passages_fts "
            "WHERE passages_fts MATCH ? ORDER BY score LIMIT ?",
            (1.0, 1.0, or_of(terms), limit),
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]


# Option (b): FTS5 with pruning.


class Pruned(Fts5):
    """Exact top-k from the same FTS5 table and the same bm25() scores, scoring fewer rows.

    A word's bm25 contribution is below ``idf * (k1 + 1)`` (FTS5's idf, from the number of
    passages holding the word's token, read from an fts5vocab table). The words are split into
    rare ones E and common ones C. Only passages holding some word of E are scored, with
    ``MATCH (E) AND (E OR C)``: FTS5 walks E's lists and seeks C's, and bm25() of that
    expression counts E twice, so the full score is it minus bm25() of ``MATCH E`` alone.
    If the 300th best full score found is above the sum of C's bounds, no passage holding
    only words of C can enter the top 300, and the answer is exact; otherwise the rarest
    word of C moves to E and the step repeats (at worst E is every word: the plain query).
    Document frequencies of common tokens are cached (a cache must be dropped on a write).
    """

    name = "pruned"
    start_share = 0.02  # words in under this share of passages start in E

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        db = self.db
        db.execute(f"CREATE VIRTUAL TABLE temp.qtok USING fts5 (x, tokenize = '{TOKENIZER}')")
        db.execute("CREATE VIRTUAL TABLE temp.qtok_i USING fts5vocab (temp, qtok, 'instance')")
        db.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab (main, passages_fts, 'row')")
        # An upper bound of the row count bm25() uses (a larger N only loosens the bounds).
        self.rows = db.execute("SELECT max(id) FROM passages").fetchone()[0] or 0
        self.df_cache: dict[str, int] = {}
        self.rounds: list[int] = []

    def tokens(self, terms: list[str]) -> list[list[str]]:
        """Each word's FTS5 tokens, from the same tokenizer on a scratch table."""
        db = self.db
        db.execute("DELETE FROM temp.qtok")
        db.executemany("INSERT INTO temp.qtok (rowid, x) VALUES (?, ?)", enumerate(terms))
        out: list[list[str]] = [[] for _ in terms]
        for doc, term in db.execute("SELECT doc, term FROM temp.qtok_i ORDER BY doc, offset"):
            out[doc].append(term)
        return out

    def df(self, token: str) -> int:
        if token in self.df_cache:
            return self.df_cache[token]
        row = self.db.execute("SELECT doc FROM temp.vocab WHERE term = ?", (token,)).fetchone()
        count = int(row[0]) if row else 0
        if count > self.rows // 100:
            self.df_cache[token] = count
        return count

    def bound(self, tokens: list[str]) -> float:
        """Upper bound of one word's bm25() contribution (a phrase: unbounded)."""
        if len(tokens) != 1:
            return math.inf if tokens else 0.0
        n = self.df(tokens[0])
        idf = math.log((self.rows - n + 0.5) / (n + 0.5))
        return max(idf, 1e-6) * (K1 + 1.0)

    def search(self, text: str, limit: int = DEPTH) -> list[tuple[int, float]]:
        terms = words(text)
        if not terms:
            return []
        bounds = [self.bound(t) for t in self.tokens(terms)]
        order = sorted(range(len(terms)), key=lambda i: -bounds[i])
        cut = max(1, sum(bounds[i] >= self._start_bound() for i in order))
        top = self._scored(order, cut, terms, limit)
        floor = top[limit - 1][1] if len(top) >= limit else 0.0
        needed = self._essential(order, bounds, floor)
        if needed > cut:  # a second round over more words; its floor is only higher
            top = self._scored(order, needed, terms, limit)
        self.rounds.append(2 if needed > cut else 1)
        return top[:limit]

    @staticmethod
    def _essential(order: list[int], bounds: list[float], floor: float) -> int:
        """How many of the rarest words must be in E so that C's bounds sum below ``floor``."""
        rest, cut = 0.0, len(order)
        while cut > 0 and rest + bounds[order[cut - 1]] < floor:
            cut -= 1
            rest += bounds[order[cut]]
        return cut

    def _start_bound(self) -> float:
        n = self.rows * self.start_share
        return math.log((self.rows - n + 0.5) / (n + 0.5)) * (K1 + 1.0)

    def _scored(
        self, order: list[int], cut: int, terms: list[str], limit: int
    ) -> list[tuple[int, float]]:
        """The best passages holding a word of E (the ``cut`` rarest), by full score."""
        rare = [terms[i] for i in order[:cut]]
        common = [terms[i] for i in order[cut:]]
        if not common:
            return Fts5.search(self, " ".join(rare), limit)
        query = (
            "SELECT rowid, bm25(passages_fts, 1, 1) FROM passages_fts WHERE passages_fts MATCH ?"
        )
        both = self.db.execute(query, (f"({or_of(rare)}) AND ({or_of(rare + common)})",))
        alone = dict(self.db.execute(query, (or_of(rare),)))
        scores = [(rowid, alone[rowid] - score) for rowid, score in both]
        scores.sort(key=lambda item: (-item[1], item[0]))
        return scores[:limit]


class Dropped(Fts5):
    """Approximate: the plain query without words in over 5% of passages (all: the rarest)."""

    name = "drop"
    share = 0.05

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.pruner = Pruned(path)

    def search(self, text: str, limit: int = DEPTH) -> list[tuple[int, float]]:
        terms = words(text)
        if not terms:
            return []
        tokens = self.pruner.tokens(terms)
        counts = [min((self.pruner.df(t) for t in ts), default=0) for ts in tokens]
        keep = [w for w, n in zip(terms, counts, strict=True) if n <= self.share * self.pruner.rows]
        if not keep:
            keep = [terms[counts.index(min(counts))]]
        return Fts5.search(self, " ".join(keep), limit)


# Option (c): tantivy.


def tantivy_analyzer():  # type: ignore[no-untyped-def]
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def tantivy_schema():  # type: ignore[no-untyped-def]
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=False, indexed=True, fast=True)
    builder.add_text_field("body", stored=False, tokenizer_name="news", index_option="freq")
    return builder.build()


def build_tantivy(path: Path, docs: Iterator[tuple[int, str]]) -> None:
    import tantivy

    path.mkdir(parents=True)
    index = tantivy.Index(tantivy_schema(), path=str(path))
    index.register_tokenizer("news", tantivy_analyzer())
    writer = index.writer(heap_size=500_000_000, num_threads=2)
    for rowid, body in docs:
        writer.add_document(tantivy.Document(id=rowid, body=body))
    writer.commit()
    writer.wait_merging_threads()


class Tantivy:
    name = "tantivy"

    def __init__(self, path: Path, *, count: bool = False) -> None:
        import tantivy

        self.tantivy = tantivy
        self.index = tantivy.Index.open(str(path))
        self.index.register_tokenizer("news", tantivy_analyzer())
        self.analyzer = tantivy_analyzer()
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self.count = count
        if count:
            self.name = "tantivy-count"

    def search(self, text: str, limit: int = DEPTH) -> list[tuple[int, float]]:
        tv = self.tantivy
        tokens = list(dict.fromkeys(self.analyzer.analyze(" ".join(words(text)))))
        if not tokens:
            return []
        query = tv.Query.boolean_query(
            [(tv.Occur.Should, tv.Query.term_query(self.schema, "body", t, "freq")) for t in tokens]
        )
        hits = self.searcher.search(query, limit, count=self.count).hits
        ids = self.searcher.fast_field_values("id", [address for _, address in hits])
        return [(int(i), float(s)) for (s, _), i in zip(hits, ids, strict=True)]

    def add_and_commit(self, rowid: int, body: str) -> tuple[float, float]:
        """Seconds to add one document and commit it, and to reload a searcher that sees it."""
        tv = self.tantivy
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        start = time.perf_counter()
        writer.add_document(tv.Document(id=rowid, body=body))
        writer.commit()
        committed = time.perf_counter()
        self.index.reload()
        self.searcher = self.index.searcher()
        reloaded = time.perf_counter()
        writer.wait_merging_threads()
        return committed - start, reloaded - committed


# Option (d): bm25s.


class Bm25s:
    name = "bm25s"

    def __init__(self, docs: list[str]) -> None:
        import bm25s
        import Stemmer

        self.bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        start = time.perf_counter()
        tokens = bm25s.tokenize(docs, stopwords=None, stemmer=self.stemmer, show_progress=False)
        self.retriever = bm25s.BM25(k1=K1, b=B)
        self.retriever.index(tokens, show_progress=False)
        self.build_s = time.perf_counter() - start

    def search(self, text: str, limit: int = DEPTH) -> list[tuple[int, float]]:
        query = self.bm25s.tokenize(
            [text], stopwords=None, stemmer=self.stemmer, show_progress=False, return_ids=False
        )
        if not query or not query[0]:
            return []
        k = min(limit, self.retriever.scores["num_docs"])
        ids, scores = self.retriever.retrieve(query, k=k, show_progress=False, n_threads=1)
        return [(int(i) + 1, float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]

    def save_size(self, path: Path) -> int:
        self.retriever.save(str(path))
        return dir_size(path)


# Measuring.


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def sqlite_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def latency(
    search: Callable[[str], list[tuple[int, float]]], queries: list[str], repeats: int
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """Milliseconds of every timed run, and each query's answer (from the untimed pass)."""
    answers = [search(q) for q in queries]
    times = []
    for _ in range(repeats):
        for query in queries:
            start = time.perf_counter()
            search(query)
            times.append((time.perf_counter() - start) * 1000)
    return times, answers


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms  max {ordered[-1]:7.1f} ms"


def overlap(
    reference: list[list[tuple[int, float]]], answers: list[list[tuple[int, float]]]
) -> str:
    """Mean share of the reference top 300 returned; queries that differ only in ties."""
    shares, exact, tied = [], 0, 0
    for ref, got in zip(reference, answers, strict=True):
        if not ref:
            continue
        ref_ids, got_ids = {i for i, _ in ref}, {i for i, _ in got}
        shares.append(len(ref_ids & got_ids) / len(ref_ids))
        if ref_ids == got_ids:
            exact += 1
        elif len(got) == len(ref) and same_scores(ref, got):
            tied += 1
    return (
        f"overlap {statistics.mean(shares):.4f}; identical sets {exact}/{len(shares)}, "
        f"differing only among equal scores {tied}"
    )


def same_scores(ref: list[tuple[int, float]], got: list[tuple[int, float]]) -> bool:
    """Same score list (to 1e-9): the sets differ only in which tied passages made the cut."""
    a = sorted((s for _, s in ref), reverse=True)
    b = sorted((s for _, s in got), reverse=True)
    return all(abs(x - y) <= 1e-9 * max(1.0, abs(x)) for x, y in zip(a, b, strict=True))


def bodies(passages: list[tuple[str, str, str]]) -> Iterator[tuple[int, str]]:
    for rowid, (_, title, text) in enumerate(passages, start=1):
        yield rowid, f"{title}\n{text}"


def run_scale(
    options: list[str],
    passages: list[tuple[str, str, str]],
    queries: list[str],
    work: Path,
    repeats: int,
) -> None:
    size = len(passages)
    fts_path = work / "fts5.sqlite"
    if not fts_path.exists():
        start = time.perf_counter()
        build_fts(work / "building.sqlite", passages)
        os.replace(work / "building.sqlite", fts_path)
        print(f"BUILD fts5 {size:,}: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"SIZE fts5 {size:,}: {sqlite_size(fts_path) / 2**20:.0f} MiB (with the passages)")
    print(fts5_add_one(fts_path, size), flush=True)
    reference = None
    if "fts5" in options or "pruned" in options or "drop" in options:
        times, reference = latency(Fts5(fts_path).search, queries, repeats)
        print(f"LATENCY fts5 {size:,}: {summary(times)}", flush=True)
        print(per_query("fts5", queries, times), flush=True)
    for name, make in (("pruned", Pruned), ("drop", Dropped)):
        if name in options:
            option = make(fts_path)
            times, answers = latency(option.search, queries, repeats)
            print(f"LATENCY {name} {size:,}: {summary(times)}", flush=True)
            print(per_query(name, queries, times), flush=True)
            print(f"OVERLAP {name} {size:,}: {overlap(reference, answers)}", flush=True)
            if isinstance(option, Pruned):
                print(
                    f"ROUNDS pruned: {statistics.mean(option.rounds):.2f} mean, max "
                    f"{max(option.rounds)}",
                    flush=True,
                )
    if "tantivy" in options:
        run_tantivy(passages, queries, work, repeats, reference)
    if "bm25s" in options:
        run_bm25s(passages, queries, work, repeats, reference)


def fts5_add_one(path: Path, size: int) -> str:
    """Adding one article of one passage and committing (synchronous = FULL, WAL), 5 times.

    Each is removed again afterwards, so the index stays as built."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    took = []
    for n in range(5):
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO articles (id, title) VALUES (?, ?)", (f"daily/{n}", "Daily"))
        db.execute(
            "INSERT INTO passages (article_id, text) VALUES (?, ?)", (f"daily/{n}", "Coffee.")
        )
        db.execute("COMMIT")
        took.append((time.perf_counter() - start) * 1000)
    db.execute("BEGIN IMMEDIATE")
    for rowid, title, text in db.execute(
        "SELECT id, title, text FROM passage_documents WHERE id > ?", (size,)
    ).fetchall():
        db.execute(
            "INSERT INTO passages_fts (passages_fts, rowid, title, text) "
            "VALUES ('delete', ?, ?, ?)",
            (rowid, title, text),
        )
    db.execute("DELETE FROM passages WHERE id > ?", (size,))
    db.execute("DELETE FROM articles WHERE id LIKE 'daily/%'")
    db.execute("COMMIT")
    db.close()
    return (
        f"ADD1 fts5 {size:,}: add+commit median {statistics.median(took):.1f} ms, "
        f"max {max(took):.1f} ms (readers see it at their next transaction)"
    )


def per_query(name: str, queries: list[str], times: list[float]) -> str:
    """Median milliseconds of the first three queries and of "coffee export quotas"."""
    shown = [0, 1, 2, queries.index("coffee export quotas")]
    medians = [statistics.median(times[i :: len(queries)]) for i in shown]
    return f"  {name} per query: " + "; ".join(
        f"{queries[i]!r} {m:.1f} ms" for i, m in zip(shown, medians, strict=True)
    )


def run_tantivy(
    passages: list[tuple[str, str, str]],
    queries: list[str],
    work: Path,
    repeats: int,
    reference: list[list[tuple[int, float]]] | None,
) -> None:
    size = len(passages)
    path = work / "tantivy"
    if not path.exists():
        shutil.rmtree(work / "tantivy.building", ignore_errors=True)
        start = time.perf_counter()
        build_tantivy(work / "tantivy.building", bodies(passages))
        os.replace(work / "tantivy.building", path)
        print(f"BUILD tantivy {size:,}: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"SIZE tantivy {size:,}: {dir_size(path) / 2**20:.0f} MiB (index only)", flush=True)
    start = time.perf_counter()
    option = Tantivy(path)
    print(f"OPEN tantivy: {(time.perf_counter() - start) * 1000:.1f} ms", flush=True)
    for each in (option, Tantivy(path, count=True)):
        times, answers = latency(each.search, queries, repeats)
        print(f"LATENCY {each.name} {size:,}: {summary(times)}", flush=True)
        print(per_query(each.name, queries, times), flush=True)
        if reference is not None:
            print(f"OVERLAP {each.name} {size:,}: {overlap(reference, answers)}", flush=True)
    commits, reloads = [], []
    for n in range(5):
        commit_s, reload_s = option.add_and_commit(size + 1 + n, f"Daily update {n}\nCoffee.")
        commits.append(commit_s * 1000)
        reloads.append(reload_s * 1000)
    print(
        f"ADD1 tantivy {size:,}: add+commit median {statistics.median(commits):.1f} ms, max "
        f"{max(commits):.1f} ms; reload+searcher median {statistics.median(reloads):.1f} ms, "
        f"max {max(reloads):.1f} ms; segments now {option.searcher.num_segments}",
        flush=True,
    )


def run_bm25s(
    passages: list[tuple[str, str, str]],
    queries: list[str],
    work: Path,
    repeats: int,
    reference: list[list[tuple[int, float]]] | None,
) -> None:
    size = len(passages)
    before = rss_mib()
    option = Bm25s([body for _, body in bodies(passages)])
    print(
        f"BUILD bm25s {size:,}: {option.build_s:.0f} s (tokenize + index, in memory; "
        f"RSS +{rss_mib() - before:.0f} MiB)",
        flush=True,
    )
    saved = work / "bm25s"
    shutil.rmtree(saved, ignore_errors=True)
    print(f"SIZE bm25s {size:,}: {option.save_size(saved) / 2**20:.0f} MiB (saved)", flush=True)
    times, answers = latency(option.search, queries, repeats)
    print(f"LATENCY bm25s {size:,}: {summary(times)}", flush=True)
    print(per_query("bm25s", queries, times), flush=True)
    if reference is not None:
        print(f"OVERLAP bm25s {size:,}: {overlap(reference, answers)}", flush=True)


# SciFact.


def run_scifact(options: list[str], root: Path, work: Path) -> None:
    import ir_measures

    docs, queries, qrels = scifact(root)
    work.mkdir(parents=True, exist_ok=True)
    passages = [(doc_id, title, text) for doc_id, title, text in docs]
    makers: dict[str, Callable[[], object]] = {}
    fts_path = work / "fts5.sqlite"
    if not fts_path.exists():
        build_fts(fts_path, passages)
    makers = {
        "fts5": lambda: Fts5(fts_path),
        "pruned": lambda: Pruned(fts_path),
        "drop": lambda: Dropped(fts_path),
    }
    if "tantivy" in options:
        path = work / "tantivy"
        if not path.exists():
            build_tantivy(path, bodies(passages))
        makers["tantivy"] = lambda: Tantivy(path)
    if "bm25s" in options:
        makers["bm25s"] = lambda: Bm25s([body for _, body in bodies(passages)])
    names = ["fts5"] + [o for o in options if o in makers and o != "fts5"]
    for name in names:
        option = makers[name]()
        run = {
            qid: {docs[rowid - 1][0]: score for rowid, score in option.search(text)}  # type: ignore[attr-defined]
            for qid, text in queries.items()
        }
        measure = ir_measures.nDCG @ 10
        value = ir_measures.calc_aggregate([measure], qrels_list(qrels), run_list(run))[measure]
        print(f"SCIFACT nDCG@10 {name}: {value:.4f} ({len(queries)} test queries)", flush=True)


def scifact(root: Path) -> tuple[list[tuple[str, str, str]], dict[str, str], dict]:
    with gzip.open(root / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        docs = [(r["_id"], r["title"], r["text"]) for r in map(json.loads, lines)]
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels/test.tsv", encoding="utf-8") as tsv:
        next(tsv)
        for line in tsv:
            qid, did, score = line.split()
            qrels.setdefault(qid, {})[did] = int(score)
    with open(root / "queries.jsonl", encoding="utf-8") as lines:
        queries = {r["_id"]: r["text"] for r in map(json.loads, lines) if r["_id"] in qrels}
    return docs, queries, qrels


def qrels_list(qrels: dict[str, dict[str, int]]) -> list:
    import ir_measures

    return [ir_measures.Qrel(q, d, s) for q, ds in qrels.items() for d, s in ds.items()]


def run_list(run: dict[str, dict[str, float]]) -> list:
    import ir_measures

    return [ir_measures.ScoredDoc(q, d, s) for q, ds in run.items() for d, s in ds.items()]


if __name__ == "__main__":
    main()
