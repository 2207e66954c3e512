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
lands inside the store's transaction of N, before it commits, and is then kept as a view:
``lexical/commit-<token>/``, hard links to that commit's files (``LexicalWriter.keep``),
which tantivy's later commits and merges leave as they are. A reader opens the view of the
token its store snapshot names (``LexicalIndex.view``), so it scores with the statistics of
the committed generation only, even when tantivy holds a commit whose store transaction then
failed (a full disk) or was cut off (``kill -9``); the next writer puts tantivy's folder back
to that view (``roll_back``) before it writes. Deleted passages stay in tantivy as "ghosts"
for one more commit, and the commit after removes them, recording up to which generation it
did in a marker document (id 0). Where no view can be made (no hard links), a reader opens
tantivy's folder itself, at least as new as its snapshot, drops any hit its snapshot does
not hold (``searcher.hydrate``) and retries on a newer snapshot if the ghosts it needs are
gone; ``Writer.reconcile_lexical`` then deletes what a failed commit added.

Nothing in the folder may be a link or a FIFO (tantivy opens files by name, through both),
and what tantivy says of a damaged file is cut to its first words (``_cause``): it can
quote the file's bytes.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from search.domain.filters import (
    COLLECTION_FIELD,
    FIRST_DAY,
    LAST_DAY,
    SOURCE_FIELD,
    Filter,
    Scope,
    day_number,
)
from search.errors import IndexCorruptError, IndexWriteError, QueryError
from search.storage import folder as storage
from search.storage.ids import among

__all__ = [
    "FOLDER",
    "LexicalIndex",
    "LexicalWriter",
    "Marker",
    "View",
    "analyse",
    "folded_words",
    "query_terms",
    "roll_back",
]

FOLDER = "lexical"
_MAX_QUERY_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)
_MARKER_ID = 0  # passage ids start at 1
_LAST_ID = 2**62  # above any passage id
_IDF_FLOOR = 1e-6  # FTS5's idf for a word in half the documents or more
_WRITER_HEAP = 64_000_000
SCHEMA = 3  # 2: the day and terms filters match; 3: positions (phrases) and the title apart
_MAX_EXPANSION = 4096  # words one ``word*`` may stand for
_OLD_SCHEMA = (
    "phrases and title: need this index's lexical half made again — run any writing "
    "command on it once (`newssearch index` of its folders)"
)
_META = "meta.json"  # tantivy's: which segments (and deletions) a commit holds
_META_LIMIT = 64 << 20
_VIEW_PREFIX = "commit-"  # a committed view: commit-<token>, hard links to that commit's files
_VIEW = re.compile(r"commit-\d{1,20}(\.tmp|\.old)?")
_VIEWS_KEPT = 2  # views a reader keeps open: readers of the last commit and the one before
_T = TypeVar("_T")
_P = ParamSpec("_P")
_REPLACING_TRIES = 200  # 1 ms apart: a view being replaced is back within them
_KEEP_TRIES = 20  # a view made while tantivy's merges replace segments is made again
_ROLLBACK = ".rollback"  # meta.json.rollback: the view's meta.json, about to replace it
_SEGMENT_FILE = re.compile(r"[0-9a-f]{32}\.")  # tantivy's <segment id>.<component>
_NO_HARD_LINKS = (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)
_FILE_NAMED = re.compile(r"\b([0-9a-f]{32}(?:\.\d+)?\.[a-z]+|meta\.json|\.managed\.json)\b")

Document = tuple[int, str, str, "str | None", "list[tuple[str, str]]"]
"""A passage as the lexical index takes it: (id, its article's title, its text, published,
filter terms)."""


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
    # Positions, for phrases (``matching``); the title again on its own, for ``title:``.
    builder.add_text_field("body", stored=False, tokenizer_name="news", index_option="position")
    builder.add_text_field("title", stored=False, tokenizer_name="news", index_option="position")
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
    for name, values in ((SOURCE_FIELD, only.sources), (COLLECTION_FIELD, only.collections)):
        if values:  # any of them
            terms = [_term(name, value) for value in values]
            queries.append(tantivy.Query.term_set_query(schema, "terms", terms))
    for name, value in only.where:
        queries.append(tantivy.Query.term_query(schema, "terms", _term(name, value)))
    return [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in queries]


def _passages_clause(schema: Any, ids: np.ndarray) -> tuple[Any, Any]:
    """A tantivy clause keeping only these passages, adding nothing to a score."""
    import tantivy

    listed = tantivy.Query.term_set_query(schema, "id", ids.tolist())
    return tantivy.Occur.Must, tantivy.Query.const_score_query(listed, 0.0)


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
    stems = _stemmer().stemWords(folded_words(text))
    return [stem for stem in stems if stem]  # Porter leaves nothing of a lone "s"


def folded_words(text: str) -> list[str]:
    """A text's words as ``analyse`` finds them, before stemming: lower case, accents
    folded, none over 40 characters."""
    folded = unicodedata.normalize("NFKD", text.lower())
    if not folded.isascii():
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.findall(folded) if len(w) <= 40]


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("porter")


def _open(folder: Path, *, create: bool) -> Any:
    """The tantivy index in ``folder`` (made with ``create``), its analyser registered."""
    _check_folder(folder, create=create)
    return _tantivy_index(folder, folder, create=create)


def _check_folder(folder: Path, *, create: bool) -> None:
    """``folder`` is a folder (made with ``create``) whose every entry is a regular file, or
    a committed view (``LexicalWriter.keep``): tantivy opens its files by name, through
    links and into FIFOs."""
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
    storage.check_regular_files(folder, _is_view)


def _tantivy_index(folder: Path, where: Path, *, create: bool) -> Any:
    """tantivy's index of ``folder``, opened at ``where`` (the folder, or a scratch view of
    it). tantivy's messages can quote a file's bytes: only their first words are kept."""
    import tantivy

    try:
        if create:
            index = _create(where)
        else:
            if not tantivy.Index.exists(str(where)):
                raise IndexCorruptError(f"{folder} holds no lexical index — rebuild the index")
            index = tantivy.Index.open(str(where))
    except (OSError, ValueError, RuntimeError) as error:
        raise IndexCorruptError(
            f"{folder} is unreadable ({_cause(error)}) — rebuild the index"
        ) from None
    index.register_tokenizer("news", _analyzer())
    return index


def _cause(error: BaseException) -> str:
    """What went wrong, without what tantivy quotes of a file: its message's first words
    ("Data corrupted", "Failed to open file for read"), and the index file it names."""
    text = str(error)
    cause = re.split(r"[:(\n]", text, maxsplit=1)[0].strip()[:60] or type(error).__name__
    named = _FILE_NAMED.search(text)
    return f"{cause}: {named.group(1)}" if named else cause


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


# Committed views: what readers open.


def _view_name(token: int) -> str:
    return f"{_VIEW_PREFIX}{token}"


def _is_view(name: str) -> bool:
    """Whether a subfolder of the lexical index is a committed view (or one being made or
    replaced), which ``LexicalWriter.sweep`` may remove."""
    return bool(_VIEW.fullmatch(name))


def _segment_files(folder: Path, meta: bytes) -> list[str]:
    """The files in ``folder`` that the tantivy ``meta.json`` given names: each segment's
    components (``<id>.idx``, ``<id>.term``, ...), and its deletions of that commit
    (``<id>.<opstamp>.del``), not older ones nor a segment's temporary store."""
    try:
        segments = json.loads(meta)["segments"]
        wanted = {}
        for segment in segments:
            deletes = segment.get("deletes") or {}
            wanted[str(segment["segment_id"]).replace("-", "")] = deletes.get("opstamp")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IndexCorruptError(
            f"{folder / _META} is not a tantivy index's — rebuild the index"
        ) from None
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, _, rest = entry.name.partition(".")
            if stem not in wanted or rest.endswith(".temp"):
                continue
            if rest.endswith(".del") and rest != f"{wanted[stem]}.del":
                continue
            names.append(entry.name)
    return names


def _remove_tree(path: Path) -> None:
    """Remove a committed view (a link in its place is removed itself, never followed)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _replace_tree(new: Path, target: Path) -> None:
    """Put the view ``new`` in the place of ``target`` (a reader opening it meanwhile finds
    none, and reads the index itself, at the same commit)."""
    old = target.with_name(target.name + ".old")
    _remove_tree(old)
    with contextlib.suppress(FileNotFoundError):
        os.rename(target, old)
    os.rename(new, target)
    _remove_tree(old)


def _is_current(folder: Path, view: Path) -> bool:
    """Whether ``view`` is of the commit ``folder`` is at, each of its files still a hard
    link to the index's own (a view damaged since is made again)."""
    if not _same_file(folder / _META, view / _META):
        return False
    try:
        with os.scandir(view) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    return False
                if not entry.name.startswith(".") and not _same_file(
                    folder / entry.name, Path(entry.path)
                ):
                    return False
    except OSError:
        return False
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        first, second = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


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


@dataclass(frozen=True)
class View:
    """A tantivy searcher of one commit, with the schema it was made with and its marker."""

    searcher: Any
    schema: Any
    marker: Marker
    live: bool = False  # the index itself, which a writer may be changing (not a view)


class _Opened:
    """One tantivy index opened to read: its view as of when it was (re)loaded, and the
    scratch folder it is read through, if any."""

    def __init__(self, folder: Path, identity: tuple[int, int] | None = None) -> None:
        self.folder, self.identity = folder, identity
        self.scratch: tempfile.TemporaryDirectory[str] | None = None
        _check_folder(folder, create=False)
        where = folder
        if not os.access(folder, os.W_OK):  # nobody can write it: it never changes
            self.scratch = _read_only_view(folder)
            where = Path(self.scratch.name)
        self.index = _tantivy_index(folder, where, create=False)
        self.index.config_reader(reload_policy="Manual")
        self.schema = self.index.schema
        self.reload(check=False)

    def reload(self, *, check: bool = True) -> None:
        if check:
            storage.check_regular_files(self.folder, _is_view)  # anything planted since
        try:
            self.index.reload()
            searcher = self.index.searcher()
        except (OSError, ValueError, RuntimeError) as error:
            raise IndexCorruptError(
                f"{self.folder} is unreadable ({_cause(error)}) — rebuild the index"
            ) from None
        live = self.identity is None  # the index's own folder, not a committed view
        self.view = View(searcher, self.schema, _read_marker(searcher, self.schema), live)

    @property
    def marker(self) -> Marker:
        return self.view.marker


def _reading(
    method: Callable[Concatenate[LexicalIndex, View, _P], _T],
) -> Callable[Concatenate[LexicalIndex, View, _P], _T]:
    """A read of a view, with tantivy's panics made ours (``LexicalIndex._guarded``)."""

    @functools.wraps(method)
    def read(index: LexicalIndex, view: View, *args: _P.args, **options: _P.kwargs) -> _T:
        return index._guarded(view, lambda: method(index, view, *args, **options))

    return read


class LexicalIndex:
    """Searches the lexical index of one index folder; safe to share between threads.

    A reader opens the committed view (``commit-<token>``) of the store's commit: the
    lexical index exactly as that commit left it, whatever tantivy's later commits, merges
    or a commit whose store transaction failed did to the index itself since. An index
    without one (written before views, or where hard links cannot be made) is read itself,
    at least as new as the store's commit (the caller drops what its snapshot lacks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._main: _Opened | None = None  # the index itself, opened when first needed
        self._views: OrderedDict[int, _Opened] = OrderedDict()  # the last few, by token

    def view(self, generation: int, token: int) -> tuple[View, Marker]:
        """A view of the store's commit ``generation`` whose lexical commit is ``token``,
        with its marker: that commit's view, or else the index itself, at least as new.
        ``FileNotFoundError``: the view went as it was opened (a newer commit replaced
        it); read the store again."""
        with self._lock:
            opened = self._view(token) or self._latest(generation, token)
            return opened.view, opened.marker

    def latest(self) -> Marker:
        """The marker of the index itself, as tantivy's last commit left it (the store's,
        or one whose store transaction failed)."""
        with self._lock:
            return self._latest(_LAST_ID, -1).marker

    def _view(self, token: int) -> _Opened | None:
        if token == 0:
            return None  # the store names no commit (an index being created)
        info = self._view_meta(token)
        if info is None:
            self._views.pop(token, None)
            return None
        identity = (info.st_dev, info.st_ino)  # another after the writer made it anew
        opened = self._views.get(token)
        if opened is not None and opened.identity == identity:
            self._views.move_to_end(token)
            return opened
        folder = self.folder / _view_name(token)
        try:
            _check_folder(self.folder, create=False)  # the index's own files too: a link
            opened = _Opened(folder, identity)  # or FIFO there is a damaged index
        except IndexCorruptError:
            try:
                now = os.lstat(folder / _META)
                replaced = (now.st_dev, now.st_ino) != identity
            except FileNotFoundError:
                replaced = True
            if replaced:  # removed or made anew while we opened it: look again
                raise FileNotFoundError(folder) from None
            raise
        if opened.marker.token != token:
            raise IndexCorruptError(
                f"{folder} holds another commit than its name says — rebuild the index"
            )
        self._views[token] = opened
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)
        return opened

    def _view_meta(self, token: int) -> os.stat_result | None:
        """The view's ``meta.json`` (once a query), or None where there is no view. While
        the writer puts a new view of the same commit in the old one's place (tantivy's
        merges viewed), there is briefly none: that is waited out, up to 0.2 s, for the
        index itself is no place to read while a writer changes it."""
        name = f"{self.folder}/{_VIEW_PREFIX}{token}"
        for _try in range(_REPLACING_TRIES):
            try:
                return os.lstat(f"{name}/{_META}")
            except FileNotFoundError:
                if not any(os.path.lexists(f"{name}{end}") for end in (".old", ".tmp")):
                    return None
                time.sleep(0.001)
        return None

    def _latest(self, generation: int, token: int) -> _Opened:
        main = self._main
        if main is None:
            main = self._main = _Opened(self.folder)
        elif main.marker.generation < generation or main.marker.token != token:
            main.reload()
        return main

    def _guarded(self, view: View, read: Callable[[], _T]) -> _T:
        """``read``, with tantivy's panics (a Rust assertion on the data it read, which
        pyo3 raises as a BaseException) made ours. Reading the index itself while another
        process's writer changes it, tantivy can read a segment's files torn: that is no
        damage, and ``FileNotFoundError`` has the reader look again (the committed view
        is back by then); in a committed view, whose files never change, it is damage."""
        try:
            return read()
        except BaseException as error:
            if type(error).__name__ != "PanicException":
                raise
            if view.live:
                with self._lock:
                    if self._main is not None and self._main.view is view:
                        self._main = None  # opened afresh by the next read
                raise FileNotFoundError(
                    errno.ENOENT, "the lexical index changed under the read", str(self.folder)
                ) from None
            raise IndexCorruptError(
                f"{self.folder} is unreadable ({_cause(error)}) — rebuild the index"
            ) from None

    @_reading
    def search(
        self,
        view: View,
        text: str,
        limit: int,
        only: Filter | None = None,
        within: Scope | None = None,
        passages: tuple[np.ndarray, bool] | None = None,
    ) -> list[tuple[int, float]]:
        """(passage id, BM25 score) best first, ghosts included (the caller drops them);
        with ``only``, just the passages it allows; ``within``, just a shard's;
        ``passages``, (ids, True): just these; (ids, False): all but these. Scores are the
        whole index's BM25 either way, so a shard's compare with another's."""
        import tantivy

        searcher, schema = view.searcher, view.schema
        total = int(searcher.num_docs)
        weighed = [(term, int(searcher.doc_freq("body", term))) for term in query_terms(text)]
        weighed = [(term, found) for term, found in weighed if found]
        # A word in half the passages or more adds next to nothing to a score beside the
        # query's other words, and scoring its postings is most of a query's cost: it is
        # left out, unless the query has nothing else.
        telling = [(t, f) for t, f in weighed if fts5_idf(f, total) > _IDF_FLOOR]
        clauses = []
        for term, found in telling or weighed:
            query = tantivy.Query.term_query(schema, "body", term)
            boost = fts5_idf(found, total) / tantivy_idf(found, total)
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))
        if not clauses:
            return []
        query = tantivy.Query.boolean_query(clauses)
        restrictions = [] if only is None else _filter_clauses(schema, only)
        if within is not None:
            restrictions.append(_scope_clause(schema, within))
        if restrictions:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), *restrictions])
        try:
            if passages is None:
                return _best(searcher, query, limit)
            return _best_of(searcher, schema, query, limit, *passages)
        except (OSError, ValueError, RuntimeError) as error:  # a file damaged past its checks
            raise IndexCorruptError(
                f"{self.folder} is unreadable ({_cause(error)}) — rebuild the index"
            ) from None

    @_reading
    def matching(
        self,
        view: View,
        field: str,
        terms: list[str],
        *,
        phrase: bool = False,
        prefix: bool = False,
        within: np.ndarray | None = None,
    ) -> np.ndarray:
        """Ids of the passages (ghosts included), sorted, whose ``field`` ("body": title and
        text, or "title") holds ``terms`` (analysed): every one (a single term, or terms
        where not ``phrase``), them in this order (``phrase``), or a word whose stem begins
        with the one term given, or that it begins with, a few letters short (``prefix``:
        stems are what is indexed, and "immigration"'s is "immigr"). ``within``: only among
        these passages (an alert's new ones), so that the cost is theirs, not the index's."""
        import tantivy

        searcher, schema = view.searcher, view.schema
        if field == "title" and not _has_title(schema):
            raise QueryError(_OLD_SCHEMA)
        if prefix:
            words = _expansions(searcher, field, terms[0])
            if not words:
                return np.empty(0, dtype=np.int64)
            query = tantivy.Query.term_set_query(schema, field, words)
        elif phrase and len(terms) > 1:
            if not _has_title(schema):
                raise QueryError(_OLD_SCHEMA)
            phrase_words: list[str | tuple[int, str]] = list(terms)
            query = tantivy.Query.phrase_query(schema, field, phrase_words)
        else:
            queries = [tantivy.Query.term_query(schema, field, term) for term in terms]
            if len(queries) == 1:
                query = queries[0]
            else:
                query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])
        if within is not None:
            if not len(within):
                return np.empty(0, dtype=np.int64)
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), _passages_clause(schema, within)]
            )
        try:
            return _every_id(searcher, query)
        except (OSError, ValueError, RuntimeError) as error:
            raise IndexCorruptError(
                f"{self.folder} is unreadable ({_cause(error)}) — rebuild the index"
            ) from None

    def documents(self, view: View | None = None) -> int:
        """Documents a view holds (by default the index itself, as tantivy's last commit
        left it), the marker and ghosts included."""
        if view is None:
            with self._lock:
                view = self._latest(_LAST_ID, -1).view
        return int(view.searcher.num_docs)


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


def _best_of(
    searcher: Any, schema: Any, query: Any, limit: int, ids: np.ndarray, include: bool
) -> list[tuple[int, float]]:
    """The ``limit`` best hits among these passages (``include``), or among all but them.
    The best hits are fetched deeper and deeper, and these kept or dropped here: tantivy
    scores a term set of ids, as MustNot or Must, without block-max WAND, 10-100 times as
    long (at 1M passages, 30-55 ms for 10,000-19,000 ids; fetching the best 600, 3 ms).
    Passages kept that are too rare among the best are asked of tantivy as a term set."""
    fetch = 2 * max(limit, 1)
    while True:
        if not include:  # at most ``ids`` of the best are dropped
            fetch = min(fetch, limit + len(ids))
        fetched = _best(searcher, query, fetch)
        found = np.asarray([pid for pid, _ in fetched], dtype=np.int64)
        keep = among(found, ids) == include
        if keep.sum() >= limit or len(fetched) < fetch:
            return [hit for hit, kept in zip(fetched, keep.tolist(), strict=True) if kept][:limit]
        if include and fetch >= 32 * max(limit, 1):
            import tantivy

            clause = _passages_clause(schema, ids)
            return _best(
                searcher, tantivy.Query.boolean_query([(tantivy.Occur.Must, query), clause]), limit
            )
        fetch *= 4


def _every_id(searcher: Any, query: Any) -> np.ndarray:
    """The passage ids of every document ``query`` matches, sorted (not the marker's)."""
    total = int(searcher.num_docs)
    if total == 0:
        return np.empty(0, dtype=np.int64)
    import tantivy

    # Ordered by id, not scored: each hit carries its id, and none is scored.
    hits = searcher.search(
        query, total, count=False, order_by_field="id", order=tantivy.Order.Asc
    ).hits
    ids = np.fromiter((key for key, _ in hits), dtype=np.int64, count=len(hits))
    return ids[ids != _MARKER_ID]


def _has_title(schema: Any) -> bool:
    """Whether the lexical index was made with positions and the title apart (schema 3)."""
    import tantivy

    try:
        tantivy.Query.term_query(schema, "title", "")
    except ValueError:
        return False
    return True


def _expansions(searcher: Any, field: str, start: str) -> list[str]:
    """The indexed words ``start*`` stands for: stems beginning with it, and stems it
    begins with that are at most 3 letters shorter (and at least 4 long)."""
    found = [term for term, _count in searcher.terms_with_prefix(field, start)]
    for length in range(max(4, len(start) - 3), len(start)):
        shorter = start[:length]
        if int(searcher.doc_freq(field, shorter)) > 0:
            found.append(shorter)
    if len(found) > _MAX_EXPANSION:
        raise QueryError(
            f"{start}* stands for {len(found):,} words; the limit is {_MAX_EXPANSION:,} — "
            "give more of the word"
        )
    return sorted(set(found))


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
        self._closed = False
        self._index = _open(folder, create=True)
        try:
            self._writer = self._index.writer(_WRITER_HEAP, 1)
        except ValueError as error:
            raise IndexCorruptError(
                f"{folder}: the lexical index cannot be written ({_cause(error)})"
            ) from None

    def marker(self) -> Marker:
        self._index.reload()
        return _read_marker(self._index.searcher(), self._index.schema)

    def add(self, documents: Iterable[Document]) -> None:
        import tantivy

        for passage_id, title, text, published, terms in documents:
            title_terms = analyse(title)
            body = " ".join([*title_terms, *analyse(text)])  # as analyse(f"{title}\n{text}")
            fields: dict[str, Any] = {
                "id": passage_id,
                "body": body,
                "title": " ".join(title_terms),
            }
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
                f"cannot write {self.folder}: {_cause(error)} — the index is as it was"
            ) from None
        self.keep(marker.token)

    def keep(self, token: int) -> None:
        """Make ``commit-<token>``, the committed view readers open for the store's commit
        that names ``token``: hard links to the files of tantivy's current commit, which
        its later commits and merges leave alone (they unlink their own names only).

        The current commit's ``meta.json`` is linked first, then the files it names; if
        it was replaced meanwhile (a merge ended, and removes what it merged), the view is
        made again. Where hard links cannot be made, there is no view: readers read the
        index itself."""
        target = self.folder / _view_name(token)
        if _is_current(self.folder, target):
            return  # made already, of this very commit, and whole
        staging = self.folder / (target.name + ".tmp")
        for _try in range(_KEEP_TRIES):
            _remove_tree(staging)
            try:
                with storage.writing(staging):
                    staging.mkdir()
                    os.link(self.folder / _META, staging / _META, follow_symlinks=False)
                    meta = storage.read_small(staging / _META, _META_LIMIT)
                    for name in _segment_files(self.folder, meta):
                        os.link(self.folder / name, staging / name, follow_symlinks=False)
                    if not _same_file(self.folder / _META, staging / _META):
                        continue  # tantivy replaced its commit under us: again
                    storage.sync_directory(staging)
                    _replace_tree(staging, target)
                    storage.sync_directory(self.folder)
                return
            except IndexCorruptError:
                continue  # a file the commit named was gone: it was replaced, again
            except IndexWriteError as error:
                cause = error.__cause__
                if isinstance(cause, OSError) and cause.errno in _NO_HARD_LINKS:
                    _remove_tree(staging)
                    return
                raise
        raise IndexWriteError(
            f"cannot write {target}: tantivy changed its files under every try — "
            "the index is as it was"
        )

    def sweep(self, token: int) -> None:
        """Remove every committed view but that of ``token`` (the store's commit): what
        readers of older commits opened stays readable to them until they let it go."""
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as entries:
            names = [e.name for e in entries if _is_view(e.name)]
        for name in names:
            if name != _view_name(token):
                _remove_tree(self.folder / name)

    def settle(self, token: int) -> None:
        """At the end of a write: let tantivy's merges finish, view the merged segments
        if the index is still at the store's commit ``token``, and sweep older views and
        the segment files no commit names any more."""
        self.close()
        if self.marker().token == token:
            self.keep(token)
            _sweep_segments(self.folder)
        self.sweep(token)

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.rollback()

    def close(self) -> None:
        """Let tantivy's own segment merges finish, and release its writer."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._writer.wait_merging_threads()


def roll_back(folder: Path, token: int) -> bool:
    """Put the lexical index in ``folder`` back as the store's commit ``token`` left it,
    from that commit's view, if it moved on since: a commit whose store transaction failed
    (or a process killed between the two), or merges not yet viewed. Exact, statistics and
    all, so the next commit starts from what readers read. Run by a writer holding the
    index's lock, before tantivy's writer opens; returns whether it rolled back.

    The view's files are linked back first, then its ``meta.json`` renamed over tantivy's,
    then the undone commit's files removed; killed before the rename, the index is as it
    was, and the next writer does it again."""
    view = folder / _view_name(token)
    if token == 0 or not _is_folder(view) or _same_file(folder / _META, view / _META):
        return False
    _check_folder(folder, create=False)
    try:
        whole = _Opened(view).marker.token == token  # every file it names opens
    except IndexCorruptError:
        whole = False
    if not whole:
        return False  # a damaged view: the writer reconciles without it, and views anew
    staged = folder / (_META + _ROLLBACK)
    with storage.writing(folder):
        for entry in os.scandir(view):
            if entry.name.startswith(".") or entry.name == _META:
                continue
            if not os.path.lexists(folder / entry.name):
                os.link(entry.path, folder / entry.name, follow_symlinks=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
        os.link(view / _META, staged, follow_symlinks=False)
        os.replace(staged, folder / _META)
        storage.sync_directory(folder)
        # The undone commit's files go: tantivy would write some of its names again.
        _sweep_segments(folder)
    return True


def _sweep_segments(folder: Path) -> None:
    """Remove the segment files in ``folder`` that its ``meta.json`` does not name: an
    undone commit's, and those ``roll_back`` linked back that a later merge replaced
    (tantivy removes only the files it made). Only while no tantivy writer is open: its
    commits and merges write files no commit names yet."""
    meta = storage.read_small(folder / _META, _META_LIMIT)
    named = set(_segment_files(folder, meta))
    with os.scandir(folder) as entries:
        for entry in entries:
            if _SEGMENT_FILE.match(entry.name) and entry.name not in named:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def writing(folder: Path) -> Iterator[LexicalWriter]:
    writer = LexicalWriter(folder)
    try:
        yield writer
    finally:
        writer.close()
