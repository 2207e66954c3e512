"""The lexical half: BM25 over passages in a tantivy index, with top-k pruning.

The only module that imports tantivy. SQLite's FTS5 scores every passage that holds any
query word (no top-k pruning): a common-word query over a million passages took a second.
tantivy keeps Lucene-style segments with block-max WAND, and answers the same top 300 in
milliseconds (scripts/bench_lexical.py).

One document per passage: its id (a fast field) and its article's title and text as one
body field, analysed as FTS5 analysed it (``analyse``) and scored as FTS5 scored its two
columns with equal weights: one term frequency over both, one length, FTS5's idf. Measured
on SciFact (docs/QUALITY.md), this gives FTS5's quality back: tantivy's own analysis scored
lower, and two fields, each with its own length, lower still.

How it commits with the store (``writer.py`` drives it): the tantivy commit of generation N
lands inside the store's transaction of N, before it commits. So tantivy is never behind a
committed store: a reader takes its store snapshot, then a tantivy searcher at least as new,
and drops any hit its snapshot does not hold (``searcher.hydrate``). Deleted passages stay in
tantivy as "ghosts" for one more commit, so that a reader one generation behind still finds
them; the commit after removes them, and records up to which generation it did in a marker
document (id 0). A reader whose snapshot is older than that retries on a newer one. A store
transaction that fails after its tantivy commit leaves documents with ids the store never
committed; ``LexicalWriter.reconcile`` deletes them before the next write.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import secrets
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.domain.filters import FIRST_DAY, LAST_DAY, SOURCE_FIELD, Filter, Scope, day_number
from search.errors import IndexCorruptError, IndexWriteError

__all__ = ["FOLDER", "LexicalIndex", "LexicalWriter", "Marker", "query_terms"]

FOLDER = "lexical"
_MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)
_MARKER_ID = 0  # passage ids start at 1
_LAST_ID = 2**62  # above any passage id
_IDF_FLOOR = 1e-6  # FTS5's idf for a word in half the documents or more
_WRITER_HEAP = 64_000_000
SCHEMA = 2  # 2: the day and terms filters match; an index of an older one is built again

Document = tuple[int, str, "str | None", "list[tuple[str, str]]"]
"""A passage as the lexical index takes it: (id, title and text, published, filter terms)."""


@dataclass(frozen=True)
class Marker:
    """What a tantivy commit says of itself: the store generation it belongs to, the
    generation up to which deleted passages have been removed from it, and a token the store
    records in the same transaction (``lexical_commit``), naming the one commit it goes with."""

    generation: int
    cleaned: int
    token: int = 0

    @classmethod
    def new(cls, generation: int, cleaned: int) -> Marker:
        return cls(generation, cleaned, secrets.randbits(62) + 1)


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=False, indexed=True, fast=True)
    builder.add_integer_field("generation", stored=True, indexed=False)
    builder.add_integer_field("cleaned", stored=True, indexed=False)
    builder.add_integer_field("token", stored=True, indexed=False)
    builder.add_text_field("body", stored=False, tokenizer_name="news", index_option="freq")
    # What filters match (``filters``): the publication day, and "field\x1fvalue" terms.
    builder.add_integer_field("day", stored=False, indexed=True, fast=True)
    builder.add_text_field("terms", stored=False, tokenizer_name="raw", index_option="basic")
    return builder.build()


def _term(name: str, value: str) -> str:
    return f"{name}\x1f{value}"


def _filter_clauses(schema: Any, only: Filter) -> list[Any]:
    """tantivy clauses that keep only what the filter allows, adding nothing to a score."""
    import tantivy

    queries = []
    if only.since is not None or only.until is not None:
        queries.append(
            tantivy.Query.range_query(
                schema, "day", tantivy.FieldType.Integer, only.since, only.until
            )
        )
    if only.sources:
        terms = [_term(SOURCE_FIELD, source) for source in only.sources]
        queries.append(tantivy.Query.term_set_query(schema, "terms", terms))
    for name, value in only.where:
        queries.append(tantivy.Query.term_query(schema, "terms", _term(name, value)))
    return [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in queries]


def _scope_clause(schema: Any, scope: Scope) -> tuple[Any, Any]:
    """A tantivy clause keeping only a shard's passages (``Scope``), adding nothing to a
    score: its days, and its ids among the undated (which have no day)."""
    import tantivy

    integer = tantivy.FieldType.Integer
    options = []
    if scope.dated:
        options.append(tantivy.Query.range_query(schema, "day", integer, *scope.day_range))
    if scope.undated:
        last_id = _LAST_ID if scope.last_id is None else scope.last_id
        ids = tantivy.Query.range_query(schema, "id", integer, scope.first_id, last_id)
        dated = tantivy.Query.range_query(schema, "day", integer, FIRST_DAY, LAST_DAY)
        options.append(
            tantivy.Query.boolean_query([(tantivy.Occur.Must, ids), (tantivy.Occur.MustNot, dated)])
        )
    if not options:
        options.append(tantivy.Query.range_query(schema, "id", integer, 1, 0))  # nothing
    either = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in options])
    return tantivy.Occur.Must, tantivy.Query.const_score_query(either, 0.0)


def _analyzer() -> Any:
    """tantivy's side of the analysis: text arrives analysed (``analyse``), one term a word."""
    import tantivy

    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


def analyse(text: str) -> list[str]:
    """The terms of a text, as SQLite FTS5's ``porter unicode61 remove_diacritics 2`` made
    them: words, lower case, accents folded, Porter-stemmed (tantivy's own English stemmer,
    Snowball's later algorithm, and its idf scored SciFact train hybrid nDCG@10 0.7376
    against 0.7385; this analysis and FTS5's idf give 0.7386). Words over 40 characters are
    left out.

    >>> analyse("Strikes at Zürich's DEPOTS")
    ['strike', 'at', 'zurich', 'depot']
    """
    folded = unicodedata.normalize("NFKD", text.lower())
    if not folded.isascii():
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    stems = _stemmer().stemWords([w for w in _WORD.findall(folded) if len(w) <= 40])
    return [stem for stem in stems if stem]  # Porter leaves nothing of a lone "s"


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("porter")


def _open(folder: Path, *, create: bool) -> Any:
    """The tantivy index in ``folder`` (made with ``create``), its analyser registered."""
    import tantivy

    try:
        mode = folder.lstat().st_mode
    except FileNotFoundError:
        if not create:
            raise IndexCorruptError(f"{folder} is missing — rebuild the index") from None
        try:
            folder.mkdir()
        except OSError as error:
            raise IndexWriteError(f"cannot write {folder}: {error.strerror}") from error
        mode = folder.lstat().st_mode
    if not stat.S_ISDIR(mode):
        raise IndexCorruptError(f"{folder} is not a folder (a link?) — rebuild the index")
    try:
        if create:
            index = _create(folder)
        else:
            if not tantivy.Index.exists(str(folder)):
                raise IndexCorruptError(f"{folder} holds no lexical index — rebuild the index")
            index = tantivy.Index.open(str(folder))
    except (OSError, ValueError, RuntimeError) as error:
        raise IndexCorruptError(f"{folder} is unreadable ({error}) — rebuild the index") from None
    index.register_tokenizer("news", _analyzer())
    return index


def _create(folder: Path) -> Any:
    """The index in ``folder`` with our schema. One of an older schema is emptied and made
    anew (every file in the folder is tantivy's); the writer then indexes every passage
    again, as it does for a lost lexical index (``Writer.reconcile_lexical``)."""
    import tantivy

    try:
        return tantivy.Index(_schema(), path=str(folder), reuse=True)
    except ValueError as error:
        if "schema does not match" not in str(error):
            raise
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
    return tantivy.Index(_schema(), path=str(folder), reuse=True)


def _read_only_view(folder: Path) -> tempfile.TemporaryDirectory[str]:
    """tantivy takes a lock file in its folder even to read it, which a read-only folder or
    mount cannot hold: read such an index through a scratch folder of links to its files
    (by absolute path: the scratch folder is elsewhere), where tantivy can put its lock."""
    view = tempfile.TemporaryDirectory(prefix="newssearch-lexical-")
    source = os.path.abspath(folder)
    for entry in os.scandir(source):
        if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".lock"):
            os.symlink(os.path.join(source, entry.name), os.path.join(view.name, entry.name))
    return view


def tantivy_idf(found: int, total: int) -> float:
    """The idf tantivy's BM25 gives a term in ``found`` of ``total`` documents."""
    return math.log(1 + (max(total - found, 0) + 0.5) / (found + 0.5))


def fts5_idf(found: int, total: int) -> float:
    """The idf SQLite FTS5's BM25 gave: a term in half the documents or more counts for
    next to nothing (tantivy's never falls below ln 2). Each query term is boosted by this
    over tantivy's own, so that the scores are FTS5's, which fusion was tuned on."""
    # tantivy counts a document deleted but not yet merged away in ``found``, not in ``total``.
    ratio = (max(total - found, 0) + 0.5) / (found + 0.5)
    return max(math.log(ratio), _IDF_FLOOR)


def query_terms(text: str) -> list[str]:
    """The terms of a free-text query, each once, in order. No character of the user's text
    is query syntax: every word is a term."""
    return list(dict.fromkeys(analyse(text)))[:_MAX_QUERY_TERMS]


class LexicalIndex:
    """Searches the lexical index of one index folder; safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._view: tempfile.TemporaryDirectory[str] | None = None
        if folder.is_dir() and not os.access(folder, os.W_OK):
            self._view = _read_only_view(folder)  # nobody can write it: it never changes
            self._index = _open(Path(self._view.name), create=False)
        else:
            self._index = _open(folder, create=False)
        self._index.config_reader(reload_policy="Manual")
        self._lock = threading.Lock()
        self._schema = self._index.schema
        self._searcher = self._index.searcher()
        self._marker = _read_marker(self._searcher, self._schema)

    def view(self, generation: int, token: int) -> tuple[Any, Marker]:
        """A searcher at least as new as the store's ``generation``, whose commit ``token``
        the store names, with its marker."""
        with self._lock:
            if self._marker.generation < generation or self._marker.token != token:
                self._index.reload()
                self._searcher = self._index.searcher()
                self._marker = _read_marker(self._searcher, self._schema)
            return self._searcher, self._marker

    def search(
        self,
        searcher: Any,
        text: str,
        limit: int,
        only: Filter | None = None,
        within: Scope | None = None,
    ) -> list[tuple[int, float]]:
        """(passage id, BM25 score) best first, ghosts included (the caller drops them);
        with ``only``, just the passages it allows; ``within``, just a shard's. Scores are
        the whole index's BM25 either way, so a shard's compare with another's."""
        import tantivy

        total = int(searcher.num_docs)
        weighed = [(term, int(searcher.doc_freq("body", term))) for term in query_terms(text)]
        weighed = [(term, found) for term, found in weighed if found]
        # A word in half the passages or more adds next to nothing to a score beside the
        # query's other words, and scoring its postings is most of a query's cost: it is
        # left out, unless the query has nothing else.
        telling = [(t, f) for t, f in weighed if fts5_idf(f, total) > _IDF_FLOOR]
        clauses = []
        for term, found in telling or weighed:
            query = tantivy.Query.term_query(self._schema, "body", term)
            boost = fts5_idf(found, total) / tantivy_idf(found, total)
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))
        if not clauses:
            return []
        query = tantivy.Query.boolean_query(clauses)
        restrictions = [] if only is None else _filter_clauses(self._schema, only)
        if within is not None:
            restrictions.append(_scope_clause(self._schema, within))
        if restrictions:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), *restrictions])
        return _best(searcher, query, limit)

    def documents(self) -> int:
        """Documents held, the marker and ghosts included."""
        searcher = self._index.searcher()
        return int(searcher.num_docs)


def _best(searcher: Any, query: Any, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` best hits as (passage id, score), ties by id, at the cut too: tantivy
    orders ties by where documents sit in its segments, which differs between indexes
    holding the same passages (a shard's restricted view and the whole index)."""
    if limit <= 0:
        return []
    fetch = limit
    while True:
        hits = searcher.search(query, fetch, count=False).hits
        if len(hits) < fetch or hits[-1][0] < hits[limit - 1][0]:
            break  # every hit tied with the last kept one is here
        fetch *= 4
    ids = searcher.fast_field_values("id", [address for _, address in hits])
    found = sorted(
        ((int(i), float(s)) for (s, _), i in zip(hits, ids, strict=True)),
        key=lambda hit: (-hit[1], hit[0]),
    )
    return found[:limit]


def _read_marker(searcher: Any, schema: Any) -> Marker:
    import tantivy

    query = tantivy.Query.term_query(schema, "id", _MARKER_ID)
    hits = searcher.search(query, 1).hits
    if not hits:
        return Marker(0, 0)
    fields = searcher.doc(hits[0][1]).to_dict()
    try:
        return Marker(
            int(fields["generation"][0]), int(fields["cleaned"][0]), int(fields["token"][0])
        )
    except (KeyError, IndexError, TypeError, ValueError):
        raise IndexCorruptError(
            "the lexical index's marker is damaged — rebuild the index"
        ) from None


class LexicalWriter:
    """Changes the lexical index; one at a time, under the index's lock. Each ``commit``
    is durable when it returns."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index = _open(folder, create=True)
        try:
            self._writer = self._index.writer(_WRITER_HEAP, 1)
        except ValueError as error:
            raise IndexCorruptError(
                f"{folder}: the lexical index cannot be written ({error})"
            ) from None

    def marker(self) -> Marker:
        self._index.reload()
        return _read_marker(self._index.searcher(), self._index.schema)

    def add(self, documents: Iterable[Document]) -> None:
        import tantivy

        for passage_id, body, published, terms in documents:
            fields: dict[str, Any] = {"id": passage_id, "body": " ".join(analyse(body))}
            day = day_number(published)
            if day is not None:
                fields["day"] = day
            if terms:
                fields["terms"] = [_term(name, value) for name, value in terms]
            self._writer.add_document(tantivy.Document(**fields))

    def delete(self, ids: Iterable[int]) -> None:
        for passage_id in ids:
            self._writer.delete_documents_by_term("id", passage_id)

    def delete_all(self) -> None:
        self._writer.delete_all_documents()

    def delete_from(self, first_id: int) -> None:
        """Delete every passage document with an id of ``first_id`` or more."""
        import tantivy

        query = tantivy.Query.range_query(
            self._index.schema, "id", tantivy.FieldType.Integer, first_id, None
        )
        self._writer.delete_documents_by_query(query)

    def commit(self, marker: Marker) -> None:
        """Publish the changes so far, with ``marker`` saying what they make."""
        import tantivy

        self._writer.delete_documents_by_term("id", _MARKER_ID)
        self._writer.add_document(
            tantivy.Document(
                id=_MARKER_ID,
                generation=marker.generation,
                cleaned=marker.cleaned,
                token=marker.token,
            )
        )
        try:
            self._writer.commit()
        except (OSError, ValueError, RuntimeError) as error:
            with contextlib.suppress(Exception):
                self._writer.rollback()
            raise IndexWriteError(
                f"cannot write {self.folder}: {error} — the index is as it was"
            ) from None

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.rollback()

    def close(self) -> None:
        """Let tantivy's own segment merges finish, and release its writer."""
        with contextlib.suppress(Exception):
            self._writer.wait_merging_threads()


@contextlib.contextmanager
def writing(folder: Path) -> Iterator[LexicalWriter]:
    writer = LexicalWriter(folder)
    try:
        yield writer
    finally:
        writer.close()
