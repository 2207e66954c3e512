"""The ``Index``: one directory that holds a searchable collection of articles.

On disk::

    index/
      manifest.json        format version, model, counts (rewritten after every commit)
      store.sqlite         articles, passages, full-text index, metadata (the source of truth)
      vectors.<N>.faiss    passage vectors of commit N, named by the store
      .lock                held by the one process writing

A commit writes the new vector file under a new name, then commits the SQLite transaction
that names it, then rewrites the manifest: a process killed at any point leaves the last
commit whole. Readers take a SQLite snapshot and load the vector file it names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ._version import __version__
from .articles import Article, Skip, SourceFile, discover, read_source
from .chunking import chunk_text
from .embedding import Embedder, load_embedder
from .errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    InputError,
    ModelMismatchError,
    QueryError,
)
from .fusion import reciprocal_rank_fusion, score_fusion
from .store import ArticleRow, PassageRow, Store, is_empty_store
from .vectors import VectorIndex

__all__ = ["FORMAT_VERSION", "MODES", "Hit", "Index", "IndexStats", "RemoveReport", "UpdateReport"]

FORMAT_VERSION = 1
MODES = ("hybrid", "dense", "lexical")
# Tuned on SciFact's train split (docs/QUALITY.md): each lever kept only where it helped.
TITLE_CONTEXT = True  # embed each passage after its article's title
_MANIFEST = "manifest.json"
_STORE = "store.sqlite"
_LOCK = ".lock"
_CANDIDATES = 300  # passages each retriever hands to fusion
HYBRID_FUSION = "zscore"  # "rrf", or "minmax"/"zscore" score fusion weighted as below
HYBRID_DENSE_WEIGHT = 0.5
_EMBED_BATCH = 4096  # passages embedded together: sorted by length, repeats embedded once
_COMMIT_PASSAGES = 20_000  # a long run commits at least this often, so a kill loses little
_COMMIT_SECONDS = 120.0

_T = TypeVar("_T")

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while passages are embedded."""


@dataclass(frozen=True)
class Hit:
    """One ranked passage."""

    rank: int
    score: float
    article_id: str
    title: str
    paragraph: int
    text: str
    source: str
    date: str | None
    url: str | None
    passage_id: int
    start: int
    end: int


@dataclass(frozen=True)
class IndexStats:
    path: str
    articles: int
    passages: int
    vectors: int
    model: str
    dimension: int
    fingerprint: str
    format_version: int
    generation: int
    size_bytes: int
    title_context: bool
    passage_tokens: int
    vector_layout: str = "flat"
    compact: bool = False


@dataclass(frozen=True)
class UpdateReport:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    passages_embedded: int = 0
    commits: int = 0
    seconds: float = 0.0
    skipped: tuple[Skip, ...] = ()

    def skip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class RemoveReport:
    removed: tuple[str, ...]
    not_found: tuple[str, ...]


@dataclass
class _Change:
    """An article to (re)embed, with its passages."""

    article: Article
    content_hash: str
    spans: list[tuple[int, int, int, int, str]]
    context: str = ""  # embedded before each passage: the title, when the index says so
    vectors: np.ndarray | None = None


@dataclass
class _Plan:
    """What an indexing run will write, worked out before any embedding."""

    changes: list[_Change] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    # Source states to record once the source's last change is committed: the index of
    # that change in ``changes`` (-1: record with the first commit), path, size, mtime.
    sources: list[tuple[int, str, int, int]] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    updated: int = 0
    skipped: list[Skip] = field(default_factory=list)


class Index:
    """A searchable index of news articles in one directory.

    >>> ix = Index.open("index")                                  # doctest: +SKIP
    >>> ix.search("Kataib Hezbollah", k=3)[0].title               # doctest: +SKIP
    "Iraq condemns 'irresponsible' US air strikes on Iran-backed groups"
    """

    def __init__(self, path: Path, store: Store, embedder: Embedder | None, model: Any) -> None:
        self.path = path
        self._store = store
        self._embedder = embedder
        self._model_request = model
        self._meta = store.get_meta()
        self._vectors: VectorIndex | None = None
        self._vectors_generation: str | None = None
        self._lock_file: Any = None

    # Opening and creating.

    @classmethod
    def open(cls, path: str | Path, *, model: str | Path | Embedder | None = None) -> Index:
        """Open an existing index. A ``model`` given must be the one the index was built with."""
        path = Path(path)
        manifest = _read_manifest(path)
        store = Store.open(path / _STORE)
        try:
            meta = store.get_meta()
            _check_meta(path, meta, manifest)
            embedder = _embedder_for(model) if model is not None else None
            index = cls(path, store, embedder, model)
            if embedder is not None:
                index._check_model(embedder)
        except BaseException:
            store.close()
            raise
        return index

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        model: str | Path | Embedder | None = None,
        title_context: bool = TITLE_CONTEXT,
        passage_tokens: int | None = None,
        compact: bool = False,
    ) -> Index:
        """Create an empty index at ``path`` (a new or empty-of-index directory).

        ``title_context`` embeds each passage with its article's title before it;
        ``passage_tokens`` caps a passage's length (default: the model's window);
        ``compact`` stores vectors as 8-bit scalars, a quarter of the memory and disk.
        """
        path = Path(path)
        embedder = _embedder_for(model)
        if passage_tokens is not None and passage_tokens < 16:
            raise InputError("passage_tokens must be at least 16")
        if path.exists() and not path.is_dir():
            raise InputError(f"{path} is a file, not an index folder")
        path.mkdir(parents=True, exist_ok=True)
        with _exclusive(path):
            if (path / _MANIFEST).exists():
                raise InputError(f"there is already an index at {path}")
            # Nothing is ever deleted here: a store without a manifest is taken up again
            # only when it is a creation that was cut off (our schema, not one article).
            _check_unfinished_creation(path)
            store = Store.open(path / _STORE, create=True)
            empty = VectorIndex.empty(embedder.dimension, compact=compact)
            name = "vectors.0.faiss"
            size, checksum = empty.save(path / name)
            with store.transaction():
                store.set_meta(
                    {
                        "format_version": str(FORMAT_VERSION),
                        "model": embedder.name,
                        "fingerprint": embedder.fingerprint,
                        "dimension": str(embedder.dimension),
                        "max_tokens": str(embedder.max_tokens),
                        "passage_tokens": str(min(passage_tokens or 10**9, embedder.max_tokens)),
                        "title_context": "1" if title_context else "0",
                        "compact": "1" if compact else "0",
                        "generation": "0",
                        "vectors_file": name,
                        "vectors_bytes": str(size),
                        "vectors_crc32": str(checksum),
                        "vectors_count": "0",
                        **_layout_meta(empty),
                        "created": _now(),
                    }
                )
            index = cls(path, store, embedder, model)
            index._write_manifest()
        return index

    @classmethod
    def open_or_create(
        cls,
        path: str | Path,
        *,
        model: str | Path | Embedder | None = None,
        compact: bool | None = None,
    ) -> Index:
        """Open the index at ``path``, creating it if there is none.

        ``compact`` is for a new index; an existing one must already be of that kind.
        """
        if not (Path(path) / _MANIFEST).exists():
            try:
                return cls.create(path, model=model, compact=bool(compact))
            except InputError:
                if not (Path(path) / _MANIFEST).exists():
                    raise  # not a lost race with another creator
        index = cls.open(path, model=model)
        if compact is not None and compact != (index._meta.get("compact") == "1"):
            index.close()
            raise InputError(
                f"the index at {path} was created {'without' if compact else 'with'} --compact;"
                " it applies when an index is made — build a new one with --index"
            )
        return index

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Writing.

    def update(
        self, paths: Iterable[str | Path], *, progress: Progress | None = None
    ) -> UpdateReport:
        """Bring the index in line with files and folders: add new and changed articles,
        and remove articles whose files under these paths are gone."""
        return self._index(list(paths), remove_missing=True, progress=progress)

    def add(self, paths: Iterable[str | Path], *, progress: Progress | None = None) -> UpdateReport:
        """Index new and changed articles from files and folders; remove nothing."""
        return self._index(list(paths), remove_missing=False, progress=progress)

    def remove(self, ids: Iterable[str]) -> RemoveReport:
        """Delete articles by id."""
        ids = list(dict.fromkeys(ids))
        with self._writing():
            found = set(self._store.existing_articles(ids))
            if found:
                self._commit(removals=sorted(found), changes=[], sources=[], forget=[], moved=[])
        return RemoveReport(
            removed=tuple(i for i in ids if i in found),
            not_found=tuple(i for i in ids if i not in found),
        )

    def _index(
        self, paths: list[str | Path], *, remove_missing: bool, progress: Progress | None
    ) -> UpdateReport:
        started = time.monotonic()
        if not paths:
            raise InputError("no files or folders given to index")
        with self._writing():
            sources, skips = discover(paths)
            if not sources:
                raise InputError(_nothing_to_index(paths, skips))
            plan = self._plan(sources, [Path(os.path.abspath(p)) for p in paths], remove_missing)
            plan.skipped[:0] = skips
            embedded, commits = self._embed_and_commit(plan, progress)
        return UpdateReport(
            added=len(plan.changes) - plan.updated,
            updated=plan.updated,
            removed=len(plan.removals),
            unchanged=plan.unchanged,
            passages_embedded=embedded,
            commits=commits,
            seconds=time.monotonic() - started,
            skipped=tuple(plan.skipped),
        )

    def _plan(self, sources: list[SourceFile], roots: list[Path], remove_missing: bool) -> _Plan:
        plan = _Plan()
        claimed: dict[str, str] = {}  # article id -> the file that gave it in this run
        found = {str(s.path) for s in sources}
        for source in sources:
            self._plan_source(plan, source, claimed, found)
        if remove_missing:
            for root in roots:
                for gone in self._store.sources_under(str(root)):
                    if gone not in found and not os.path.exists(gone):
                        plan.removals += sorted(set(self._store.articles_from(gone)) - set(claimed))
                        plan.forget.append(gone)
        plan.removals = sorted(set(plan.removals))
        return plan

    def _plan_source(
        self, plan: _Plan, source: SourceFile, claimed: dict[str, str], found: set[str]
    ) -> None:
        path = str(source.path)
        before = self._store.articles_from(path)
        try:
            status = source.path.stat()
        except OSError as error:
            plan.skipped.append(Skip(path, "unreadable", error.strerror or str(error)))
            _claim(claimed, before, path)
            return
        if self._store.source_state(path) == (status.st_size, status.st_mtime_ns):
            plan.unchanged += len(before)
            _claim(claimed, before, path)
            return
        articles, skips = read_source(source)
        plan.skipped += skips
        current: set[str] = set()
        for article in articles:
            row = self._store.article(article.id)
            owner = claimed.get(article.id) or _other_owner(row, path, found)
            if owner is not None:
                plan.skipped.append(Skip(path, "duplicate id", f"{article.id} is also in {owner}"))
                continue
            claimed[article.id] = path
            current.add(article.id)
            self._plan_article(plan, article, row, path)
        if skips:
            # Some records could not be read: keep the articles they were, and read the
            # file again next run rather than record it as done.
            _claim(claimed, {i: "" for i in before if i not in current}, path)
            return
        plan.removals += sorted(set(before) - current)
        plan.sources.append((len(plan.changes) - 1, path, status.st_size, status.st_mtime_ns))

    def _plan_article(
        self, plan: _Plan, article: Article, row: ArticleRow | None, path: str
    ) -> None:
        """Plan one article read from ``path``; ``row`` is what the index holds under its id."""
        digest = _content_hash(article)
        if row is not None and row.content_hash == digest:
            plan.unchanged += 1
            if row.source != path:
                plan.moved.append((article.id, path))
            return
        if row is not None:
            plan.updated += 1
        context, budget = self._context_and_budget(article.title)
        spans = _passages(article, self.embedder, budget)
        plan.changes.append(_Change(article, digest, spans, context))

    def _context_and_budget(self, title: str) -> tuple[str, int]:
        """The title as embedded before each passage (at most a quarter of the window), and
        the tokens left for the passage beside it."""
        title_context, budget = _settings(self._meta)
        if not title_context or not title.strip():
            return "", budget
        spans = self.embedder.token_spans(title)
        limit = self.embedder.max_tokens // 4
        used = min(len(spans), limit)
        context = title if len(spans) <= limit else title[: spans[limit - 1][1]]
        # The title and a line break share the window with the passage.
        return context, min(budget, self.embedder.max_tokens - used - 1)

    def _embed_and_commit(self, plan: _Plan, progress: Progress | None) -> tuple[int, int]:
        """Embed the planned changes batch by batch, committing every so often."""
        changes = plan.changes
        total = sum(len(c.spans) for c in changes)
        done = commits = 0
        committed = position = next_source = 0
        last_commit = time.monotonic()
        if progress is not None:
            progress(0, total)
        while True:
            end, size = position, 0
            while end < len(changes) and size < _EMBED_BATCH:
                size += len(changes[end].spans)
                end += 1
            if end > position:
                done = self._embed(changes[position:end], done, total, progress)
            position = end
            finished = position == len(changes)
            pending = sum(len(c.spans) for c in changes[committed:position])
            if (
                finished
                or pending >= _COMMIT_PASSAGES
                or (time.monotonic() - last_commit >= _COMMIT_SECONDS)
            ):
                first = commits == 0
                sources = []
                # A source's state is recorded with the commit holding its last change.
                while next_source < len(plan.sources) and plan.sources[next_source][0] < position:
                    sources.append(plan.sources[next_source][1:])
                    next_source += 1
                self._commit(
                    removals=plan.removals if first else [],
                    changes=changes[committed:position],
                    sources=sources,
                    forget=plan.forget if first else [],
                    moved=plan.moved if first else [],
                )
                for change in changes[committed:position]:
                    change.vectors = None  # written out: free the memory
                commits += 1
                committed = position
                last_commit = time.monotonic()
            if finished:
                return done, commits

    def _embed(self, batch: list[_Change], done: int, total: int, progress: Progress | None) -> int:
        texts = [
            f"{change.context}\n{span[4]}" if change.context else span[4]
            for change in batch
            for span in change.spans
        ]
        report = None
        if progress is not None:
            report = lambda n: progress(min(done + n, total), total)  # noqa: E731
        vectors = self.embedder.embed(texts, progress=report)
        row = 0
        for change in batch:
            change.vectors = vectors[row : row + len(change.spans)]
            row += len(change.spans)
        return done + len(texts)

    def _commit(
        self,
        *,
        removals: list[str],
        changes: list[_Change],
        sources: list[tuple[str, int, int]],
        forget: list[str],
        moved: list[tuple[str, str]],
    ) -> None:
        if not (removals or changes or sources or forget or moved):
            return
        vectors = self._load_vectors()
        generation = int(self._store.get_meta()["generation"]) + 1
        name = f"vectors.{generation}.faiss"
        try:
            with self._store.transaction():
                replaced = self._store.existing_articles(c.article.id for c in changes)
                gone = self._store.delete_articles([*removals, *replaced])
                new_ids: list[int] = []
                for change in changes:
                    new_ids += self._store.insert_article(_article_row(change), change.spans)
                for article_id, path in moved:
                    self._store.move_article(article_id, path)
                for path, size, mtime in sources:
                    self._store.set_source(path, size, mtime)
                for path in forget:
                    self._store.forget_source(path)
                vectors.remove(np.asarray(gone, dtype=np.int64))
                if changes:
                    vectors.add(
                        np.asarray(new_ids, dtype=np.int64),
                        np.concatenate([c.vectors for c in changes if c.vectors is not None]),
                    )
                # Exact while small, IVF when large: rebuilt when the size calls for it.
                vectors = self._vectors = vectors.replanned(
                    compact=self._meta.get("compact") == "1"
                )
                articles, passages = self._store.counts()
                if vectors.count != passages:
                    raise IndexCorruptError(
                        f"{self.path}: {passages} passages but {vectors.count} vectors "
                        "after an update — the index was not changed"
                    )
                size, checksum = vectors.save(self.path / name)
                self._store.set_meta(
                    {
                        "generation": str(generation),
                        "vectors_file": name,
                        "vectors_bytes": str(size),
                        "vectors_crc32": str(checksum),
                        "vectors_count": str(vectors.count),
                        **_layout_meta(vectors),
                        "updated": _now(),
                    }
                )
        except BaseException:
            # The in-memory vectors may hold half of this change: read them again.
            self._vectors = None
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
            raise
        self._vectors_generation = str(generation)
        self._meta = self._store.get_meta()
        self._write_manifest(articles=articles, passages=passages)
        for stale in self.path.glob("vectors.*.faiss*"):
            if stale.name != name:
                with contextlib.suppress(OSError):
                    stale.unlink()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with _exclusive(self.path):
            self._meta = self._store.get_meta()
            yield

    # Reading.

    @property
    def embedder(self) -> Embedder:
        """The index's embedding model, loaded when first needed."""
        if self._embedder is None:
            embedder = load_embedder(self._meta["model"])
            self._check_model(embedder)
            self._embedder = embedder
        return self._embedder

    def search(self, text: str, k: int = 10, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best passages for ``text``, best first.

        ``mode`` is ``hybrid`` (full-text and vector results fused), ``dense`` or ``lexical``.
        """
        if not isinstance(text, str) or not text.strip():
            raise QueryError("the query is empty — give some words to search for")
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r} — use one of {', '.join(MODES)}")
        if k < 1:
            raise QueryError("k must be at least 1")
        query_vector = None
        if mode != "lexical":
            query_vector = self._embed_while_loading(text)
        return self._read(lambda: self._search_snapshot(text, query_vector, k, mode))

    def _embed_while_loading(self, text: str) -> np.ndarray:
        """The query's vector. In a fresh process the model's session takes longer to start
        than the vector file takes to load, so the file is read meanwhile, in this thread."""
        embedder = self.embedder
        if self._vectors is not None:
            return embedder.embed_query(text)
        result: list[np.ndarray] = []
        failure: list[BaseException] = []

        def embed() -> None:
            try:
                result.append(embedder.embed_query(text))
            except BaseException as error:  # raised again in the caller's thread
                failure.append(error)

        worker = threading.Thread(target=embed, name="newssearch-embed-query")
        worker.start()
        try:
            self._read(self._load_vectors)
        finally:
            worker.join()
        if failure:
            raise failure[0]
        return result[0]

    def _read(self, read: Callable[[], _T]) -> _T:
        """Run ``read`` on a consistent snapshot of the index."""
        for _attempt in range(5):
            try:
                with self._store.snapshot():
                    return read()
            except FileNotFoundError:
                continue  # a writer replaced the vector file between our reads: look again
        meta = self._store.get_meta()
        raise IndexCorruptError(
            f"{self.path / meta['vectors_file']} is missing — rebuild the index"
        )

    def _search_snapshot(
        self, text: str, query_vector: np.ndarray | None, k: int, mode: str
    ) -> list[Hit]:
        depth = k if mode != "hybrid" else max(k, _CANDIDATES)
        dense, lexical = self._candidates(text, query_vector, depth, lexical=mode != "dense")
        ranked = fuse(dense, lexical) if mode == "hybrid" else dense or lexical
        ranked = ranked[:k]
        rows = self._store.passages([i for i, _ in ranked])
        return [
            _hit(rank, score, rows[pid])
            for rank, (pid, score) in enumerate(((p, s) for p, s in ranked if p in rows), start=1)
        ]

    def _candidates(
        self, text: str, query_vector: np.ndarray | None, depth: int, *, lexical: bool = True
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """(dense, lexical) passage rankings, each (passage id, score) best first."""
        dense = [] if query_vector is None else self._load_vectors().search(query_vector, depth)
        return dense, self._store.lexical_search(text, depth) if lexical else []

    def stats(self) -> IndexStats:
        def read() -> tuple[dict[str, str], int, int, VectorIndex]:
            return self._store.get_meta(), *self._store.counts(), self._load_vectors()

        meta, articles, passages, vectors = self._read(read)
        layout = vectors.layout
        title_context, passage_tokens = _settings(meta)
        size = _folder_size(self.path)
        return IndexStats(
            path=str(self.path),
            articles=articles,
            passages=passages,
            vectors=vectors.count,
            model=meta["model"],
            dimension=int(meta["dimension"]),
            fingerprint=meta["fingerprint"],
            format_version=int(meta["format_version"]),
            generation=int(meta["generation"]),
            size_bytes=size,
            title_context=title_context,
            passage_tokens=passage_tokens,
            vector_layout=layout.kind,
            compact=meta.get("compact") == "1",
        )

    def _load_vectors(self) -> VectorIndex:
        """The vectors of the store's current commit (call inside a snapshot or the lock)."""
        meta = self._store.get_meta()
        if self._vectors is None or self._vectors_generation != meta["generation"]:
            self._vectors = VectorIndex.load(
                self.path / meta["vectors_file"],
                dimension=int(meta["dimension"]),
                expected_bytes=int(meta["vectors_bytes"]),
                expected_crc32=int(meta["vectors_crc32"]) if "vectors_crc32" in meta else None,
                trained_on=int(meta.get("vectors_trained", "0")),
            )
            self._vectors_generation = meta["generation"]
            if self._vectors.count != int(meta["vectors_count"]):
                raise IndexCorruptError(
                    f"{meta['vectors_file']} holds {self._vectors.count} vectors, "
                    f"the index recorded {meta['vectors_count']}"
                )
        return self._vectors

    def _check_model(self, embedder: Embedder) -> None:
        if (
            embedder.fingerprint != self._meta["fingerprint"]
            or str(embedder.dimension) != (self._meta["dimension"])
        ):
            raise ModelMismatchError(
                f"the index at {self.path} was built with model {self._meta['model']} "
                f"(fingerprint {self._meta['fingerprint']}), not {embedder.name} "
                f"(fingerprint {embedder.fingerprint}) — query it with its own model, "
                "or build a new index with --index"
            )

    def _write_manifest(self, *, articles: int | None = None, passages: int | None = None) -> None:
        meta = self._store.get_meta()
        if articles is None or passages is None:
            articles, passages = self._store.counts()
        title_context, passage_tokens = _settings(meta)
        manifest = {
            "format": "newssearch-index",
            "format_version": FORMAT_VERSION,
            "written_by": f"newssearch {__version__}",
            "model": {
                "name": meta["model"],
                "fingerprint": meta["fingerprint"],
                "dimension": int(meta["dimension"]),
                "max_tokens": int(meta["max_tokens"]),
            },
            "vectors": {
                "file": meta["vectors_file"],
                "count": int(meta["vectors_count"]),
                **_layout_record(meta),
            },
            "settings": {
                "title_context": title_context,
                "passage_tokens": passage_tokens,
                "compact": meta.get("compact") == "1",
            },
            "counts": {"articles": articles, "passages": passages},
            "generation": int(meta["generation"]),
            "updated": meta.get("updated", meta.get("created")),
        }
        _write_atomic(self.path / _MANIFEST, json.dumps(manifest, indent=2) + "\n")


def fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    """The hybrid ranking: how dense and lexical candidates are combined (see QUALITY.md)."""
    if HYBRID_FUSION == "rrf":
        return reciprocal_rank_fusion([dense, lexical])
    weights = [HYBRID_DENSE_WEIGHT, 1.0 - HYBRID_DENSE_WEIGHT]
    return score_fusion([dense, lexical], weights=weights, normalization=HYBRID_FUSION)


def _layout_meta(vectors: VectorIndex) -> dict[str, str]:
    layout = vectors.layout
    return {
        "vectors_layout": layout.kind,
        "vectors_lists": str(layout.lists),
        "vectors_probes": str(layout.probes),
        "vectors_trained": str(vectors.trained_on),
    }


def _layout_record(meta: dict[str, str]) -> dict[str, Any]:
    """The vector index's type, as the manifest records it."""
    kind = meta.get("vectors_layout", "flat")
    record: dict[str, Any] = {"kind": kind, "metric": "inner product"}
    if kind.startswith("ivf"):
        record.update(lists=int(meta["vectors_lists"]), probes=int(meta["vectors_probes"]))
    if kind != "flat":
        record["trained_on"] = int(meta.get("vectors_trained", "0"))
    return record


def _settings(meta: dict[str, str]) -> tuple[bool, int]:
    """The index's (title context, passage tokens), as recorded when it was created."""
    return meta.get("title_context") == "1", int(meta.get("passage_tokens", meta["max_tokens"]))


def _other_owner(row: ArticleRow | None, path: str, found: set[str]) -> str | None:
    """The file that already holds this article, if it is another file still there."""
    if row is None or row.source == path:
        return None
    if row.source in found or os.path.exists(row.source):
        return row.source
    return None  # its old file is gone: the article has moved here


def _embedder_for(model: str | Path | Embedder | None) -> Embedder:
    if model is not None and not isinstance(model, (str, Path)):
        return model
    return load_embedder(model)


def _passages(
    article: Article, embedder: Embedder, budget: int
) -> list[tuple[int, int, int, int, str]]:
    spans = chunk_text(article.text, max_tokens=budget, token_spans=embedder.token_spans)
    return [(s.paragraph, s.part, s.start, s.end, article.text[s.start : s.end]) for s in spans]


def _content_hash(article: Article) -> str:
    fields = [article.title, article.text, article.date, article.url]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _article_row(change: _Change) -> ArticleRow:
    a = change.article
    return ArticleRow(a.id, a.source, a.title, a.date, a.url, change.content_hash)


def _hit(rank: int, score: float, row: PassageRow) -> Hit:
    return Hit(
        rank=rank,
        score=score,
        article_id=row.article_id,
        title=row.title,
        paragraph=row.paragraph,
        text=row.text,
        source=row.source,
        date=row.date,
        url=row.url,
        passage_id=row.id,
        start=row.start,
        end=row.end,
    )


def _claim(claimed: dict[str, str], articles: dict[str, str], path: str) -> None:
    """Mark already-indexed articles as taken, so no other file takes their ids."""
    for article_id in articles:
        claimed.setdefault(article_id, path)


def _nothing_to_index(paths: Sequence[str | Path], skips: list[Skip]) -> str:
    where = ", ".join(str(p) for p in paths)
    if skips:
        return f"nothing to index in {where}: {len(skips)} files skipped, none readable as articles"
    return f"nothing to index in {where}: no .txt, .md, .json, .jsonl or .html files found"


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / _MANIFEST
    if not file.is_file():
        raise IndexNotFoundError(f"no index at {path} — run `newssearch index DIR` first")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"{file} is unreadable ({error}) — rebuild the index") from error
    if not isinstance(manifest, dict) or manifest.get("format") != "newssearch-index":
        raise IndexCorruptError(f"{file} is not a newssearch manifest — is {path} an index?")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise IndexCorruptError(f"{file} has no format version")
    if version > FORMAT_VERSION:
        raise IndexVersionError(
            f"the index at {path} has format version {version}; this newssearch reads "
            f"version {FORMAT_VERSION} — upgrade newssearch"
        )
    return manifest


def _check_unfinished_creation(path: Path) -> None:
    """Refuse to create an index over index files that hold anything: a folder with a store
    but no manifest is a damaged index (or not ours), never a fresh start."""
    file = path / _STORE
    if not file.exists() or (file.is_file() and file.stat().st_size == 0):
        return
    advice = (
        f"{path} holds {_STORE} but no {_MANIFEST}, so it is not a whole index; nothing was "
        "changed — restore manifest.json, or index into another folder with --index"
    )
    if not is_empty_store(file):
        raise IndexCorruptError(advice)


def _check_meta(path: Path, meta: dict[str, str], manifest: dict[str, Any]) -> None:
    needed = (
        "format_version",
        "model",
        "fingerprint",
        "dimension",
        "generation",
        "vectors_file",
        "vectors_bytes",
        "vectors_count",
        "max_tokens",
    )
    missing = [key for key in needed if key not in meta]
    if missing:
        raise IndexCorruptError(f"{path / _STORE} lacks {', '.join(missing)} — rebuild the index")
    if int(meta["format_version"]) > FORMAT_VERSION:
        raise IndexVersionError(
            f"the index at {path} has format version {meta['format_version']}; this "
            f"newssearch reads version {FORMAT_VERSION} — upgrade newssearch"
        )
    model = manifest.get("model", {})
    if model.get("fingerprint") != meta["fingerprint"]:
        raise IndexCorruptError(
            f"{path}: manifest.json and store.sqlite name different models — rebuild the index"
        )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold the index's write lock; the OS drops it if the process dies."""
    import fcntl

    handle = open(path / _LOCK, "a+")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"the index at {path} is being written by {holder} — wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def _folder_size(folder: Path) -> int:
    """Bytes in the folder's files; a file a writer removes meanwhile counts as nothing."""
    total = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file():
                    total += entry.stat().st_size
    return total


def _write_atomic(file: Path, text: str) -> None:
    temporary = file.with_name(file.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, file)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
