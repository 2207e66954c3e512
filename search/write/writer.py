"""The writer: embeds planned changes and commits them, merges segments, runs migrations.

One writer at a time holds the index's lock (``storage.lock``) and opens the index with
``open_writer``, which runs the migrations the index has not had
(``search/storage/migrations.py``). Every change is a commit:

1. new vectors are written as a new segment file (``segments.build_segment``: a temporary
   name, synced, renamed into place);
2. one SQLite transaction records the articles, passages, deletions, the segment and the
   new generation; the lexical index commits (and keeps that commit's view for readers,
   ``storage/lexical.py``) just before it;
3. ``manifest.json`` is rewritten from the store;
4. files no commit names any more (merged segments, leftovers of a killed run) are deleted.

A process killed anywhere leaves the last complete commit: a segment written before step 2
is named by no commit and is swept by the next writer. Readers keep the files they mapped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.embedding import Embedder
from search.errors import IndexCorruptError
from search.storage import folder as storage
from search.storage import lexical as lexical_index
from search.storage import migrations
from search.storage.database import Store
from search.storage.lexical import Document, LexicalWriter, Marker
from search.storage.manifest import (
    Meta,
    Settings,
    lexical_commit,
    now,
    read_manifest,
    write_manifest,
)
from search.storage.segments import (
    Segment,
    SegmentRow,
    SegmentStat,
    build_segment,
    merge_contents,
    plan_merges,
)
from search.storage.vectors import load_legacy
from search.write import faults
from search.write import wire_copies as groups
from search.write.planner import Change, Plan

__all__ = ["COMMIT_PASSAGES", "COMMIT_SECONDS", "EMBED_BATCH", "Writer", "open_writer"]

EMBED_BATCH = 4096  # passages embedded together: sorted by length, repeats embedded once
COMMIT_PASSAGES = 20_000  # a long run commits at least this often, so a kill loses little
COMMIT_SECONDS = 120.0

Progress = Callable[[int, int], None]


@dataclass
class _Pending:
    """What the next commit writes, besides the changes' articles and vectors."""

    removals: Sequence[str] = ()
    sources: Sequence[tuple[str, int, int]] = ()
    forget: Sequence[str] = ()
    moved: Sequence[tuple[str, str]] = ()


class Writer:
    """Writes one index folder; the caller holds its lock for the writer's whole life."""

    def __init__(
        self, folder: Path, store: Store, settings: Settings, lexical: LexicalWriter | None
    ) -> None:
        self.folder, self.store, self.settings = folder, store, settings
        self.lexical = lexical  # None only while a format-1 index awaits its upgrade
        self._written: list[str] = []  # segment files of the commit under way
        self._lexical_commit: int | None = None  # the store's, as of the last sweep
        self.migrated: list[str] = []  # the migrations ``open_writer`` ran, by name

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The store's transaction; if it fails, the segment files it wrote go too."""
        self._written = []
        try:
            with self.store.transaction():
                yield
        except BaseException:
            storage.remove_files(self.folder, self._written)
            if self.lexical is not None:
                self.lexical.rollback()
            raise
        finally:
            self._written = []

    # Embedding and committing a plan.

    def run(self, plan: Plan, embedder: Embedder, progress: Progress | None) -> tuple[int, int]:
        """Embed the planned changes batch by batch, committing every so often; merge as
        the policy asks after each commit. Returns (passages embedded, commits)."""
        changes = plan.changes
        total = sum(len(c.spans) for c in changes)
        done = commits = committed = position = next_source = 0
        last_commit = time.monotonic()
        if progress is not None:
            progress(0, total)
        while True:
            end, size = position, 0
            while end < len(changes) and size < EMBED_BATCH:
                size += len(changes[end].spans)
                end += 1
            if end > position:
                done = _embed(embedder, changes[position:end], done, total, progress)
            position = end
            finished = position == len(changes)
            pending = sum(len(c.spans) for c in changes[committed:position])
            if (
                finished
                or pending >= COMMIT_PASSAGES
                or time.monotonic() - last_commit >= COMMIT_SECONDS
            ):
                first = commits == 0
                sources = []
                # A source's state is recorded with the commit holding its last change.
                while next_source < len(plan.sources) and plan.sources[next_source][0] < position:
                    sources.append(plan.sources[next_source][1:])
                    next_source += 1
                extra = _Pending(sources=sources)
                if first:
                    extra = _Pending(plan.removals, sources, plan.forget, plan.moved)
                self.commit(changes[committed:position], extra)
                for change in changes[committed:position]:
                    change.vectors = None  # written out: free the memory
                commits += 1
                committed = position
                last_commit = time.monotonic()
                self.merge_as_needed()
            if finished:
                return done, commits

    def commit(self, changes: Sequence[Change], extra: _Pending | None = None) -> None:
        """One commit: these changes, removals and source records, as a new generation."""
        extra = extra or _Pending()
        if not (changes or extra.removals or extra.sources or extra.forget or extra.moved):
            return
        store = self.store
        with self._transaction():
            meta = self._meta()
            generation = meta.generation + 1
            replaced = store.existing_articles(c.key for c in changes)
            leaving = [*extra.removals, *replaced]
            split = groups.removing(store, leaving)
            gone = store.delete_articles(leaving)
            groups.regroup(store, split)
            store.add_deletions(gone)
            new_ids: list[int] = []
            documents: list[Document] = []
            for change in changes:
                article, terms = change.article, change.terms()
                # A changed article is written anew: alerts report it again.
                ids = store.insert_article(change.row(), change.spans, terms, generation=generation)
                groups.add(store, change.key, article.title, article.text)
                documents += [
                    (pid, article.title, span[4], article.published, terms)
                    for pid, span in zip(ids, change.spans, strict=True)
                ]
                new_ids += ids
            for article_id, path in extra.moved:
                store.move_article(article_id, path)
            for path, size, mtime in extra.sources:
                store.set_source(path, size, mtime)
            for path in extra.forget:
                store.forget_source(path)
            if new_ids:
                vectors = np.concatenate([c.vectors for c in changes if c.vectors is not None])
                self._add_segment(np.asarray(new_ids, dtype=np.int64), vectors, generation, meta)
            self._check_counts()
            store.set_meta({"generation": str(generation), "updated": now()})
            self._commit_lexical(generation, documents, gone)
            faults.reached("mid-commit")
        self._after_commit()

    def _commit_lexical(
        self, generation: int, added: Iterable[Document], deleted: Sequence[int]
    ) -> None:
        """The lexical half of commit ``generation``, last in its store transaction: ghosts
        of earlier commits go, this commit's passages come, its deletions stay as ghosts."""
        lexical = self.lexical
        if lexical is None:
            raise RuntimeError("a format-1 index is written only after its upgrade")
        ghosts = self.store.lexical_ghosts(up_to=generation - 1)
        lexical.delete(ghosts)
        lexical.add(added)
        self.store.forget_lexical_deletions(ghosts)
        self.store.add_lexical_deletions(deleted, generation)
        self._publish(Marker.new(generation, generation - 1))

    def _publish(self, marker: Marker) -> None:
        """Commit the lexical index, naming that commit in the store's transaction under way."""
        assert self.lexical is not None
        self.store.set_meta({"lexical_commit": str(marker.token)})
        self.lexical.commit(marker)

    def reconcile_lexical(self) -> None:
        """Bring the lexical index back in line with the store after a commit that failed
        (or a process killed) between tantivy's commit and the store's."""
        lexical = self.lexical
        if lexical is None:
            return
        marker = lexical.marker()
        meta = self._meta()
        current = meta.generation
        if marker.token == meta.lexical_commit:
            lexical.keep(marker.token)  # its committed view, if an older version made none
            return
        with self._transaction():
            if marker.generation < current:
                # Never the case for an index we wrote: its lexical index was replaced or lost.
                self.rebuild_lexical(current)
                return
            lexical.delete_from(self.store.last_passage_id() + 1)
            self._publish(Marker.new(current, min(marker.cleaned, current)))

    def rebuild_lexical(self, generation: int) -> None:
        """Index every stored passage anew in the lexical index."""
        lexical = self.lexical
        assert lexical is not None
        lexical.delete_all()
        for batch in self.store.passage_documents():
            lexical.add(batch)
        ghosts = self.store.lexical_ghosts(up_to=generation)
        self.store.forget_lexical_deletions(ghosts)
        self._publish(Marker.new(generation, generation))

    def remove(self, ids: Sequence[str]) -> list[str]:
        """Delete articles by id; returns the ids found. Their files are forgotten, so the
        next indexing run of an unchanged file brings an article back."""
        found = sorted(set(self.store.existing_articles(ids)))
        if found:
            sources = sorted({row.path for i in found if (row := self.store.article(i))})
            self.commit([], _Pending(removals=found, forget=sources))
        return found

    def _add_segment(
        self, ids: np.ndarray, vectors: np.ndarray, generation: int, meta: Meta
    ) -> SegmentRow:
        number = meta.next_segment
        name = storage.segment_name(number)
        self._written.append(name)
        written = build_segment(self.folder, name, ids, vectors, compact=self.settings.compact)
        faults.reached("after-segment-written")
        row = dataclasses.replace(written, generation=generation)
        self.store.add_segment(row)
        self.store.set_meta({"next_segment": str(number + 1)})
        return row

    def _check_counts(self) -> None:
        rows = sum(s.rows for s in self.store.segments())
        deleted = len(self.store.deletions())
        _, passages = self.store.counts()
        if rows - deleted != passages:
            raise IndexCorruptError(
                f"{self.folder}: {passages} passages but {rows - deleted} vectors after an "
                "update — the index was not changed"
            )

    def _after_commit(self) -> None:
        faults.reached("before-manifest")
        self.write_manifest()
        faults.reached("before-sweep")
        self.sweep()

    def repair_manifest(self) -> None:
        """Rewrite the manifest if a process died between a commit and its manifest."""
        try:
            recorded = read_manifest(self.folder).generation
        except IndexCorruptError:
            recorded = -1
        if recorded != self._meta().generation:
            self.write_manifest()

    def sweep(self) -> None:
        """Delete files of ours that no commit names: merged segments, leftovers of a kill."""
        keep = {s.name for s in self.store.segments()}
        vectors_file = self._meta().vectors_file
        if vectors_file is not None:
            keep.add(vectors_file)  # a format-1 index not yet upgraded
        storage.remove_files(self.folder, storage.unreferenced(self.folder, keep))
        self._lexical_commit = self._meta().lexical_commit
        if self.lexical is not None:
            self.lexical.sweep(self._lexical_commit)

    def settle(self) -> None:
        """The end of a write: tantivy's merges finished, and viewed (``LexicalWriter``).
        The store's lexical commit is the one the last sweep read: the caller may have
        closed the store by now."""
        if self.lexical is not None and self._lexical_commit is not None:
            self.lexical.settle(self._lexical_commit)

    def write_manifest(self) -> None:
        store = self.store
        meta = self._meta()
        articles, passages = store.counts()
        segments = store.segments()
        write_manifest(
            self.folder,
            self.settings,
            generation=meta.generation,
            articles=articles,
            passages=passages,
            vectors={
                "count": passages,
                "metric": "inner product",
                "deleted": len(store.deletions()),
                "segments": [{"name": s.name, "kind": s.kind, "rows": s.rows} for s in segments],
            },
            updated=now() if meta.last_change is None else meta.last_change,
        )

    # Merging.

    def merge_as_needed(self) -> int:
        """Merge what the policy asks for until it asks for nothing; returns merges done."""
        merges = 0
        while True:
            groups = plan_merges(self._stats())
            if not groups:
                return merges
            for group in groups:
                self.merge(group)
                merges += 1

    def optimize(self) -> int:
        """Merge every segment into one, without deleted rows; returns segments merged."""
        segments = self.store.segments()
        if len(segments) <= 1 and not self.store.deletions():
            return 0
        self.merge([s.name for s in segments])
        return len(segments)

    def merge(self, names: Sequence[str]) -> None:
        """Fold the named segments into one new segment (nothing, if no row is live)."""
        store = self.store
        by_name = {s.name: s for s in store.segments()}
        deleted = np.asarray(store.deletions(), dtype=np.int64)
        parts = []
        dropped: list[np.ndarray] = []
        for name in names:
            segment = self._open(by_name[name])
            mask = segment.deleted_mask(deleted)
            parts.append((segment, mask))
            if mask is not None:
                dropped.append(segment.ids[mask])
        ids, vectors = merge_contents(parts)
        with self._transaction():
            meta = self._meta()
            generation = meta.generation + 1
            store.drop_segments(names)
            if len(ids):
                self._add_segment(ids, vectors, generation, meta)
            if dropped:
                store.forget_deletions(int(i) for i in np.concatenate(dropped))
            self._check_counts()
            store.set_meta({"generation": str(generation), "updated": now()})
            self._commit_lexical(generation, (), ())
            faults.reached("mid-merge")
        self._after_commit()

    def _stats(self) -> list[SegmentStat]:
        deleted = np.asarray(self.store.deletions(), dtype=np.int64)
        stats = []
        for row in self.store.segments():
            dead = 0
            if len(deleted):
                inside = row.deleted_within(deleted)
                if len(inside):
                    mask = self._open(row).deleted_mask(inside)
                    dead = 0 if mask is None else int(mask.sum())
            stats.append(SegmentStat(row.name, row.rows, row.rows - dead))
        return stats

    def _open(self, row: SegmentRow) -> Segment:
        return Segment.open(self.folder, row, self.settings.dimension)

    # Migrations: the writer's steps of those that rewrite data (storage/migrations.py).

    def migrate(self) -> list[str]:
        """Run the migrations the store has not had, in order, each in a transaction of its
        own that records it as applied; one that makes a new generation is a commit (its
        manifest written, leftovers swept). Returns the names of those run."""
        ran = []
        for migration in migrations.pending(self.store):
            with self._transaction():
                committed = migration.apply(self.store, self)
            if committed:
                self._after_commit()
            ran.append(migration.name)
        return ran

    def move_vectors(self, generation: int) -> None:
        """Format 1's one vector file into a segment of ``generation`` (m003), checked to
        hold a vector for each passage."""
        store = self.store
        record = store.get_meta()  # the file's name, size and checksum: format 1's keys
        legacy = load_legacy(self.folder, record, self.settings.dimension)
        ids, vectors = legacy.contents()
        _, passages = store.counts()
        if len(ids) != passages:
            raise IndexCorruptError(
                f"{self.folder}: {passages} passages but {len(ids)} vectors — the index "
                "was not upgraded; rebuild it"
            )
        if len(ids):
            self._add_segment(ids, vectors, generation, Meta.read(record, store.path))
        self._check_counts()

    def add_news(self) -> None:
        """Every stored article's MinHash signature and duplicate group (m004), from its
        text as its passages hold it."""
        for batch in self.store.articles_for_backfill():
            for article_id, _title, _date in batch:
                groups.add_stored(self.store, article_id)

    def regroup_copies(self) -> None:
        """Every stored article's signature, anchors and duplicate group found anew (m006)."""
        self.store.forget_copies()
        self.add_news()

    def _meta(self) -> Meta:
        return Meta.read(self.store.get_meta(), self.store.path)


@contextlib.contextmanager
def open_writer(folder: Path, settings: Settings, store: Store | None = None) -> Iterator[Writer]:
    """Open the index at ``folder`` for writing: the one way to. Its store is opened once
    (``store``: one this process holds open already), the migrations it has not had run in
    order (``Writer.migrate``; their names in ``writer.migrated``), the lexical index and
    the manifest (read once) are brought in line with the store, and leftovers are swept.
    The caller holds the folder's lock; a store opened here is the caller's to close
    (``writer.store``) once the writer is handed over."""
    opened = store is None
    if store is None:
        store = Store.open(folder / storage.STORE)
    try:
        where = folder / lexical_index.FOLDER
        lexical_index.roll_back(where, lexical_commit(store.get_meta(), store.path))
        with lexical_index.writing(where) as lexical:
            writer = Writer(folder, store, settings, lexical)
            writer.migrated = writer.migrate()
            writer.reconcile_lexical()
            writer.repair_manifest()
            writer.sweep()
            opened = False
            yield writer
            writer.settle()
    finally:
        if opened:  # failed before the caller had it
            store.close()


def _embed(
    embedder: Embedder, batch: Sequence[Change], done: int, total: int, progress: Progress | None
) -> int:
    texts = [text for change in batch for text in change.texts()]
    report = None
    if progress is not None:
        report = lambda n: progress(min(done + n, total), total)  # noqa: E731
    vectors = embedder.embed(texts, progress=report)
    row = 0
    for change in batch:
        change.vectors = vectors[row : row + len(change.spans)]
        row += len(change.spans)
    return done + len(texts)
