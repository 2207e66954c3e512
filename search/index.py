"""The ``Index``: one directory that holds a searchable collection of articles.

A thin facade over the parts that do the work, each in its own module:

- ``storage``: which files in the folder are ours, the lock, atomic and link-safe writes;
- ``manifest``: the format version, model and settings, typed and checked;
- ``planner``: what an indexing run must embed, update, remove;
- ``writer``: embedding and commits, segment merges, the format-1 upgrade;
- ``searcher``: queries, from many threads, over one consistent snapshot each;
- ``store`` (SQLite) and ``segments`` (vector files) underneath.

On disk (format 2)::

    index/
      manifest.json      format version, model, settings, counts, segments (after each commit)
      store.sqlite       articles, passages, full-text index, segments, deletions, metadata
      seg-NNNNNN.vec     immutable vector segments, memory-mapped by readers
      .lock              held by the one process writing
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.embedding import Embedder, load_embedder
from search.errors import (
    AlertExistsError,
    AlertNotFoundError,
    IndexCorruptError,
    InputError,
    ModelMismatchError,
)
from search.ingest.article import Skip
from search.ingest.chunking import CHUNKING, paragraph_text
from search.ingest.discover import Discovery, discover, file_format
from search.query.alerts import Alert, AlertRun, checked_name
from search.query.contract import (
    PERIODS,
    SPLITS,
    Counted,
    Facets,
    Hit,
    Match,
    SearchRequest,
    Timeline,
    checked_article_id,
    checked_choice,
    checked_k,
    unknown_article,
)
from search.query.research import Research
from search.query.searcher import Searcher, Snapshot
from search.storage import folder as storage
from search.storage import lexical, migrations
from search.storage.database import Store, is_empty_store
from search.storage.manifest import (
    FORMAT_VERSION,
    Settings,
    format_version,
    generation,
    lexical_commit,
    now,
    read_manifest,
)
from search.storage.segments import Segment
from search.write import planner
from search.write.planner import Engine
from search.write.writer import Progress, Writer, open_writer

__all__ = [
    "FORMAT_VERSION",
    "Alert",
    "AlertRun",
    "ArticleDetail",
    "CheckReport",
    "Counted",
    "Index",
    "IndexStats",
    "RemoveReport",
    "UpdateReport",
    "index_files",
]

# Tuned on SciFact's train split (docs/QUALITY.md): each lever kept only where it helped.
TITLE_CONTEXT = True  # embed each passage after its article's title


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
    segments: int = 1
    deleted_vectors: int = 0
    duplicate_groups: int = 0  # groups of near-duplicate articles (wire copies)
    articles_in_groups: int = 0
    collections: tuple[Counted, ...] = ()  # largest first
    outlets: tuple[Counted, ...] = ()  # the 50 largest
    outlet_count: int = 0  # outlets in all
    first_published: str | None = None  # the date span of the dated articles
    last_published: str | None = None
    # Each field filters match (--where), with its five commonest values and their counts
    fields: dict[str, tuple[Counted, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ArticleDetail:
    """A whole stored article, as ``Index.article`` returns it: its paragraphs numbered
    from 1 as ``Hit.paragraph`` counts them."""

    id: str
    title: str
    published: str | None
    source: str | None
    url: str | None
    path: str
    fields: dict[str, Any]
    duplicates: tuple[str, ...]
    paragraphs: tuple[str, ...]
    passages: int
    collection: str = ""

    @property
    def key(self) -> str:
        """``COLLECTION/ID``: what names this article whatever other collections hold."""
        return f"{self.collection}/{self.id}" if self.collection else self.id


@dataclass(frozen=True)
class UpdateReport:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    unparsed_dates: int = 0  # articles kept without a date, as theirs could not be read
    passages_embedded: int = 0
    commits: int = 0
    seconds: float = 0.0
    skipped: tuple[Skip, ...] = ()
    # Ids that two files of one collection give: (COLLECTION/ID, the file kept, the other)
    conflicts: tuple[tuple[str, str, str], ...] = ()
    # What went in, by format (".jsonl.gz"): the files, and the articles the index holds
    # from them after the run; most files first.
    files_by_format: dict[str, int] = field(default_factory=dict)
    articles_by_format: dict[str, int] = field(default_factory=dict)
    left_out: tuple[Skip, ...] = ()  # by rule: hidden, patterns, dataset notes, links out
    removed_left_out: int = 0  # of ``removed``: articles of files now left out

    def skip_counts(self) -> dict[str, int]:
        return _counts(self.skipped)

    def left_out_counts(self) -> dict[str, int]:
        return _counts(self.left_out)


def _counts(skips: Iterable[Skip]) -> dict[str, int]:
    """How many of each reason, most first."""
    counts: dict[str, int] = {}
    for skip in skips:
        counts[skip.reason] = counts.get(skip.reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class RemoveReport:
    removed: tuple[str, ...]
    not_found: tuple[str, ...]


@dataclass(frozen=True)
class CheckReport:
    """What ``Index.check`` found: ``problems`` is empty for a sound index."""

    problems: tuple[str, ...]
    segments: int
    vectors: int
    passages: int
    leftovers: tuple[str, ...] = ()
    repairs: tuple[str, ...] = ()  # what the next write puts right; queries are unharmed

    @property
    def ok(self) -> bool:
        return not self.problems


class Index:
    """A searchable index of news articles in one directory.

    >>> ix = Index.open("index")                                  # doctest: +SKIP
    >>> ix.search("Kataib Hezbollah", k=3)[0].title               # doctest: +SKIP
    "Iraq condemns 'irresponsible' US air strikes on Iran-backed groups"
    """

    def __init__(self, path: Path, settings: Settings, searcher: Searcher) -> None:
        self.path = path
        self._settings = settings
        self._searcher = searcher
        self._research = Research(searcher)
        self._embedder: Embedder | None = None
        self._writer_store: Store | None = None
        self._closed = False

    # Opening and creating.

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        model: str | Path | Embedder | None = None,
        searcher: Callable[[Path, Settings], Searcher] = Searcher,
    ) -> Index:
        """Open an existing index. A ``model`` given must be the one the index was built with;
        ``searcher`` makes what answers its queries (a sharded server's router passes its own).

        Opening writes nothing: an index on a read-only folder or mount can be searched."""
        path = Path(path)
        storage.check_folder(path, for_writing=False)
        manifest = read_manifest(path)
        store = Store.open(path / storage.STORE, readonly=True)
        try:
            meta = store.get_meta()
            format_version(meta, store.path)
            settings = Settings.from_meta(meta, store.path)
        finally:
            store.close()
        if manifest.fingerprint != settings.fingerprint:
            raise IndexCorruptError(
                f"{path}: manifest.json and store.sqlite name different models — rebuild the index"
            )
        index = cls(path, settings, searcher(path, settings))
        if model is not None:
            try:
                index._use_model(_embedder_for(model))
            except BaseException:
                index.close()
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
        """Create an empty index at ``path`` (a new folder, or one without an index).

        ``title_context`` embeds each passage with its article's title before it;
        ``passage_tokens`` caps a passage's length (default: the model's window);
        ``compact`` stores vectors as 8-bit scalars, a quarter of the memory and disk.
        """
        path = Path(path)
        if passage_tokens is not None and passage_tokens < 16:
            raise InputError("passage_tokens must be at least 16")
        storage.check_folder(path, for_writing=True)
        embedder = _embedder_for(model)
        with storage.writing(path):
            path.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            model=embedder.name,
            fingerprint=embedder.fingerprint,
            dimension=embedder.dimension,
            max_tokens=embedder.max_tokens,
            passage_tokens=min(passage_tokens or 10**9, embedder.max_tokens),
            title_context=title_context,
            compact=compact,
            chunking=CHUNKING,
        )
        with storage.lock(path):
            if (path / storage.MANIFEST).exists():
                raise InputError(f"there is already an index at {path}")
            # Nothing is ever deleted here: a store without a manifest is taken up again
            # only when it is a creation that was cut off (our schema, not one article).
            _check_unfinished_creation(path)
            store = Store.open(path / storage.STORE, create=True)
            try:
                with (
                    lexical.writing(path / lexical.FOLDER) as lexical_writer,
                    store.transaction(),
                ):
                    store.delete_meta([k for k in store.get_meta() if k.startswith("vectors_")])
                    store.set_meta(
                        {
                            **migrations.created_records(),  # format_version, news
                            **settings.to_meta(),
                            "generation": "0",
                            "next_segment": "1",
                            "created": now(),
                        }
                    )
                    store.record_counts()
                    writer = Writer(path, store, settings, lexical_writer)
                    writer.rebuild_lexical(0)
                writer.write_manifest()
            finally:
                store.checkpoint()
                store.close()
        index = cls(path, settings, Searcher(path, settings))
        index._embedder = embedder
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
        if not (Path(path) / storage.MANIFEST).exists():
            try:
                return cls.create(path, model=model, compact=bool(compact))
            except InputError:
                if not (Path(path) / storage.MANIFEST).exists():
                    raise  # not a lost race with another creator
        index = cls.open(path, model=model)
        if compact is not None and compact != index._settings.compact:
            index.close()
            raise InputError(
                f"the index at {path} was created {'without' if compact else 'with'} --compact;"
                " it applies when an index is made — build a new one with --index"
            )
        return index

    def close(self) -> None:
        self._closed = True
        self._searcher.close()
        if self._writer_store is not None:
            self._writer_store.checkpoint()
            self._writer_store.close()
            self._writer_store = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def searcher(self) -> Searcher:
        """The index's searcher, to share between threads (a server holds one)."""
        self._check_open()
        return self._searcher

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(
                f"this Index of {self.path} was closed — open it again with Index.open"
            )

    # Writing.

    def update(
        self,
        paths: Iterable[str | Path] | str | Path,
        *,
        exclude: Iterable[str] = (),
        follow_links: bool = False,
        collection: str | None = None,
        progress: Progress | None = None,
        engine: Engine | None = None,
    ) -> UpdateReport:
        """Bring the index in line with files and folders: add new and changed articles,
        and remove articles whose files under these paths are gone or now left out.

        ``exclude`` are gitignore-style patterns, relative to each folder given, of paths to
        leave out (as a ``.newssearchignore`` file in a folder does); a link that leads out
        of the paths given is left out unless ``follow_links``. Hidden files and a dataset's
        own notes (README, SOURCE, LICENSE, CHANGELOG beside data files) are left out too;
        what is given by name is always read. Each path fills the collection named after
        it, or ``collection``. With an ``engine``
        (``search.scale.ray_build.RayEngine``), reading and embedding run on its cluster."""
        return self._index(
            _listed(paths),
            remove_missing=True,
            exclude=exclude,
            follow_links=follow_links,
            collection=collection,
            progress=progress,
            engine=engine,
        )

    def add(
        self,
        paths: Iterable[str | Path] | str | Path,
        *,
        exclude: Iterable[str] = (),
        follow_links: bool = False,
        collection: str | None = None,
        progress: Progress | None = None,
        engine: Engine | None = None,
    ) -> UpdateReport:
        """Index new and changed articles from files and folders (found as ``update`` finds
        them); remove nothing."""
        return self._index(
            _listed(paths),
            remove_missing=False,
            exclude=exclude,
            follow_links=follow_links,
            collection=collection,
            progress=progress,
            engine=engine,
        )

    def remove(self, ids: Iterable[str] | str) -> RemoveReport:
        """Delete articles by id (``ID`` where one collection holds it, ``COLLECTION/ID``
        always). A later indexing run of their files adds them again. An id that several
        collections hold is an ``InputError``, and nothing is removed."""
        wanted = list(dict.fromkeys([ids] if isinstance(ids, str) else ids))
        for article_id in wanted:
            checked_article_id(article_id)
        with self._writing() as writer:
            keys = {ref: _one_article(writer.store.find_articles(ref), ref) for ref in wanted}
            found = set(writer.remove([key for key in keys.values() if key is not None]))
        return RemoveReport(
            removed=tuple(i for i in wanted if keys[i] in found),
            not_found=tuple(i for i in wanted if keys[i] not in found),
        )

    def optimize(self) -> int:
        """Merge every vector segment into one, leaving deleted rows out; returns how many
        segments were merged (0: nothing to do)."""
        with self._writing() as writer:
            return writer.optimize()

    def _index(
        self,
        paths: list[str | Path],
        *,
        remove_missing: bool,
        exclude: Iterable[str],
        follow_links: bool,
        progress: Progress | None,
        collection: str | None = None,
        engine: Engine | None = None,
    ) -> UpdateReport:
        started = time.monotonic()
        if not paths:
            raise InputError("no files or folders given to index")
        with self._writing() as writer:
            found = discover(
                paths, exclude=exclude, follow_links=follow_links, collection=collection
            )
            if not found.files:
                raise InputError(_nothing_to_index(paths, found))
            roots = [Path(os.path.abspath(p)) for p in paths]
            embedder, reader = self.embedder, None
            if engine is not None:  # the same plan and commits; the work on the cluster
                embedder = engine.embedder(self.embedder, self._settings.model)
                reader = engine.reader(self._settings)
            plan = planner.plan(
                writer.store,
                embedder,
                self._settings,
                found.files,
                roots,
                remove_missing=remove_missing,
                reader=reader,
                move=collection is not None,
                left_out=[s.path for s in found.left_out],
            )
            plan.skipped[:0] = found.skips
            embedded, commits = writer.run(plan, embedder, progress)
        files, articles = _by_format(found, plan.held)
        return UpdateReport(
            added=len(plan.changes) - plan.updated,
            updated=plan.updated,
            unparsed_dates=plan.unparsed_dates,
            removed=len(plan.removals),
            unchanged=plan.unchanged,
            passages_embedded=embedded,
            commits=commits,
            seconds=time.monotonic() - started,
            skipped=tuple(plan.skipped),
            conflicts=tuple(plan.conflicts),
            files_by_format=files,
            articles_by_format=articles,
            left_out=tuple(found.left_out),
            removed_left_out=plan.removed_left_out,
        )

    # Alerts: saved searches that report what is new (search/query/alerts.py).

    def alerts(self) -> list[Alert]:
        """The saved alerts, by name. Reading them writes nothing."""
        self._check_open()
        return self._searcher.read_rows(
            lambda store, version, current: [Alert.from_row(r, store.path) for r in store.alerts()]
        )

    def add_alert(
        self,
        name: str,
        text: str | SearchRequest,
        *,
        mode: str = "hybrid",
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        sources: Iterable[str] | str | None = None,
        where: Mapping[str, object] | Iterable[str] | None = None,
        collections: Iterable[str] | str | None = None,
        every_copy: bool = False,
    ) -> Alert:
        """Save a search (``text`` and filters, as ``search`` takes them, or a checked
        ``SearchRequest``) as the alert ``name``: letters, digits, ``.``, ``_`` and ``-``.
        Its first run reports the matching articles committed after now. Its filters must
        name fields and outlets the index has, as a query's must."""
        self._check_open()
        request = text
        if not isinstance(request, SearchRequest):
            request = SearchRequest.make(
                text,
                mode=mode,
                since=since,
                until=until,
                sources=sources,
                where=where,
                collections=collections,
                every_copy=every_copy,
            )
        checked_name(name)
        with self._writing() as writer:
            store = writer.store
            if store.alert(name) is not None:
                raise AlertExistsError(
                    f"an alert named {name!r} is saved in {self.path} already — remove it "
                    "first, or choose another name"
                )
            current = generation(store.get_meta(), store.path)
            # Its filters checked against the index as a query's are (an unknown field or
            # outlet is an error), over no articles: the ones after the current commit.
            next(iter(self.matches(request, added_after=current)), None)
            alert = Alert.saving(name, request, generation=current, created=now())
            with store.transaction():
                store.add_alert(alert.row())
        return alert

    def remove_alert(self, name: str) -> None:
        """Forget the alert ``name`` (one whose record is damaged too)."""
        self._check_open()
        checked_name(name)
        with self._writing() as writer:
            with writer.store.transaction():
                if not writer.store.remove_alert(name):
                    raise self._unknown_alert(writer.store, name)

    def run_alert(self, name: str) -> AlertRun:
        """The articles matching alert ``name`` that commits since its last run (or since
        it was saved) wrote, newest first: new articles, and changed ones written anew;
        one removed since is not reported. The run is then recorded: the next reports
        what comes after. Holds the index's lock, so no commit lands in between."""
        self._check_open()
        checked_name(name)
        with self._writing() as writer:
            store = writer.store
            alert = self._saved_alert(store, name)
            current = generation(store.get_meta(), store.path)
            found = tuple(self.matches(alert.request(), added_after=alert.generation))
            ran = now()
            with store.transaction():
                store.alert_ran(name, current, ran)
        return AlertRun(name, alert.generation, current, ran, found)

    def _saved_alert(self, store: Store, name: str) -> Alert:
        row = store.alert(name)
        if row is None:
            raise self._unknown_alert(store, name)
        return Alert.from_row(row, store.path)

    def _unknown_alert(self, store: Store, name: str) -> AlertNotFoundError:
        names = [row.name for row in store.alerts()]
        saved = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if names[10:] else "")
        return AlertNotFoundError(
            f"no alert named {name!r} in {self.path} — "
            + (f"its alerts: {saved}" if names else "it has none saved")
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Writer]:
        """Hold the lock, with a writer whose store has had every migration."""
        self._check_open()
        with (
            storage.lock(self.path),
            storage.writing(self.path),
            open_writer(self.path, self._settings, self._writer_store) as writer,
        ):
            self._writer_store = writer.store  # kept open for the next write
            yield writer

    # Reading.

    @property
    def embedder(self) -> Embedder:
        """The index's embedding model, loaded when first needed."""
        if self._embedder is None:
            self._use_model(load_embedder(self._settings.model))
        assert self._embedder is not None
        return self._embedder

    def _use_model(self, embedder: Embedder) -> None:
        settings = self._settings
        if embedder.fingerprint != settings.fingerprint or embedder.dimension != settings.dimension:
            raise ModelMismatchError(
                f"the index at {self.path} was built with model {settings.model} "
                f"(fingerprint {settings.fingerprint}), not {embedder.name} "
                f"(fingerprint {embedder.fingerprint}) — query it with its own model, "
                "or build a new index with --index"
            )
        self._embedder = embedder

    def search(
        self,
        text: str | SearchRequest,
        k: int = 10,
        mode: str = "hybrid",
        *,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        sources: Iterable[str] | str | None = None,
        where: Mapping[str, object] | Iterable[str] | None = None,
        by: str = "passage",
        collapse: bool = True,
        collections: Iterable[str] | str | None = None,
        sort: str = "relevance",
        offset: int = 0,
    ) -> list[Hit]:
        """The ``k`` best passages (``by="article"``: articles) for ``text``, best first.

        ``text`` may hold query syntax (docs/cli.md "Query syntax"): ``"a phrase"``,
        ``-word``, ``AND``/``OR``/``NOT``, ``title:word``, ``FIELD:value``, ``*``.
        ``mode`` is ``hybrid`` (full-text and vector results fused), ``dense`` or ``lexical``.
        ``since`` and ``until`` are days (``1987-03-01``, ``1987-03``, ``1987``), both
        inclusive; ``sources`` outlets, any of which may match; ``where`` field values
        (``{"topics": "crude"}``), all of which must; ``collections`` any of the index's
        collections (``stats().collections``). Near-duplicate articles show as one
        hit, with the others' ids in ``Hit.duplicates``, unless ``collapse=False``.
        ``sort`` is ``relevance``, or ``newest``/``oldest``: the matching articles
        (``matches``) by date, one hit each. ``offset`` skips that many hits (paging).
        ``text`` may also be a ``SearchRequest`` that a door has made and checked; the
        other arguments are then not used.
        """
        request = self._request(
            text, k=k, mode=mode, by=by, since=since, until=until, sources=sources,
            where=where, every_copy=not collapse, collections=collections, sort=sort,
            offset=offset,
        )  # fmt: skip
        words = request.query.words
        ranked = request.sort == "relevance" and bool(words.strip())
        query_vector = None
        if words.strip() and (request.mode != "lexical" or not ranked):
            query_vector = self._embed_while_opening(words)
        if not ranked:  # by date, or nothing to rank by: the matching set in order
            return self._research.sorted_hits(request, query_vector)
        restriction = self._research.restriction(request)
        hits = self._searcher.search(
            words,
            query_vector,
            request.k + request.offset,
            request.mode,
            only=request.only,
            by=request.by,
            collapse=request.collapse,
            restriction=restriction,
        )[request.offset :]
        if query_vector is None:
            return hits
        return self._searcher.with_relevance(hits, query_vector, by=request.by)

    def matches(
        self, text: str | SearchRequest, *, added_after: int | None = None, **options: Any
    ) -> Iterator[Match]:
        """Every article ``text`` matches (docs/cli.md "Which articles match"), in the
        request's ``sort`` order, read a batch at a time: for an export of any size.
        ``added_after``: only articles committed after that generation (an alert's).
        ``options`` are ``search``'s (``since``, ``sources``, ``sort``, ...)."""
        request = self._request(text, **options)
        added = None
        if added_after is not None:
            added = self._searcher.read_rows(
                lambda store, _v, _g: store.articles_added_after(added_after)
            )
        yield from self._research.listing(
            request, self._set_vector(request), added=added, start=request.offset
        )

    def count(self, text: str | SearchRequest, **options: Any) -> int:
        """How many articles ``text`` matches (``matches``)."""
        request = self._request(text, **options)
        return self._research.match_set(request, self._set_vector(request)).count

    def timeline(
        self,
        text: str | SearchRequest,
        every: str = "week",
        split: str | None = None,
        **options: Any,
    ) -> Timeline:
        """The articles ``text`` matches, counted per ``every`` (day, week from Monday,
        month) beside all articles in the same scope (filters, collections); ``split=
        "outlet"``: per outlet, each against its own total."""
        request = self._request(text, **options)
        every = checked_choice(every, "every", PERIODS)
        if split is not None:
            split = checked_choice(split, "split", SPLITS)
        return self._research.timeline(request, self._set_vector(request), every, split)

    def facets(self, text: str | SearchRequest, limit: int = 10, **options: Any) -> Facets:
        """The articles ``text`` matches, counted by outlet, collection and each field's
        values: the ``limit`` largest of each."""
        request = self._request(text, **options)
        limit = checked_k(limit)
        return self._research.facets(request, self._set_vector(request), limit)

    def _request(self, text: str | SearchRequest, **options: Any) -> SearchRequest:
        self._check_open()
        if isinstance(text, SearchRequest):
            return text
        if "collapse" in options:
            options["every_copy"] = not options.pop("collapse")
        return SearchRequest.make(text, **options)

    def _set_vector(self, request: SearchRequest) -> np.ndarray | None:
        """The query's vector where its matching set or its order needs it."""
        words = request.query.words
        return self._embed_while_opening(words) if words.strip() else None

    def article(self, article_id: str) -> ArticleDetail:
        """A whole article by id, as ``Hit.article_id`` names it."""
        self._check_open()

        def read(store: Store, version: int, current: int) -> ArticleDetail | None:
            key = _one_article(store.find_articles(article_id), article_id)
            row = None if key is None else store.article(key)
            if row is None:
                return None
            passages = store.article_passages(row.id)
            copies = store.group_members([row.dup_group]) if row.dup_group else {}
            return ArticleDetail(
                id=row.local_id or row.id,
                title=row.title,
                published=row.published,
                source=row.source,
                url=row.url,
                path=row.path,
                fields=row.fields,
                duplicates=tuple(a for a in copies.get(row.dup_group or "", []) if a != row.id),
                paragraphs=tuple(paragraph_text([(p.paragraph, p.text) for p in passages])),
                passages=len(passages),
                collection=row.collection,
            )

        checked_article_id(article_id)
        found = self._searcher.read_rows(read)
        if found is None:
            raise unknown_article(article_id, self.path)
        return found

    def similar(self, article_id: str, k: int = 10) -> list[Hit]:
        """The ``k`` articles most like this one (by the mean of its passages' vectors),
        best first; its own copies left out."""
        k = checked_k(k)
        article = self.article(article_id)
        vector = self._searcher.article_vector(article.key)
        if vector is None:
            return []
        exclude = frozenset([article.key, *article.duplicates])
        return self._searcher.search("", vector, k, "dense", by="article", exclude=exclude)

    def _embed_while_opening(self, text: str) -> np.ndarray:
        """The query's vector. In a fresh process the model's session takes longer to start
        than the segments take to open, so they are opened meanwhile, in this thread."""
        embedder = self.embedder
        if self._searcher.opened:
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
            self._searcher.read(lambda store, snapshot: None)
        finally:
            worker.join()
        if failure:
            raise failure[0]
        return result[0]

    def stats(self) -> IndexStats:
        self._check_open()

        def read(store: Store, snapshot: Snapshot) -> tuple[Any, ...]:
            overview = (store.collections(), store.outlets(), store.date_span())
            return *store.counts(), store.duplicate_counts(), overview, store.top_values(), snapshot

        articles, passages, (groups, copies), overview, top, snapshot = self._searcher.read(read)
        collections, outlets, (first, last) = overview
        settings = self._settings
        largest = max(snapshot.parts, key=lambda p: p.rows, default=None)
        return IndexStats(
            path=str(self.path),
            articles=articles,
            passages=passages,
            vectors=snapshot.vectors,
            model=settings.model,
            dimension=settings.dimension,
            fingerprint=settings.fingerprint,
            format_version=snapshot.format_version,
            generation=snapshot.generation,
            size_bytes=_folder_size(self.path),
            title_context=settings.title_context,
            passage_tokens=settings.passage_tokens,
            vector_layout=largest.kind if largest else ("flat-sq8" if settings.compact else "flat"),
            compact=settings.compact,
            segments=len(snapshot.parts),
            deleted_vectors=sum(p.rows - p.live for p in snapshot.parts),
            duplicate_groups=groups,
            articles_in_groups=copies,
            collections=tuple(Counted(*pair) for pair in collections),
            outlets=tuple(Counted(*pair) for pair in outlets[:50]),
            outlet_count=len(outlets),
            first_published=first,
            last_published=last,
            fields={name: tuple(Counted(*v) for v in values) for name, values in top.items()},
        )

    def check(self) -> CheckReport:
        """Verify everything: each segment's checksum, SQLite's integrity check, and that
        the live vectors are exactly the stored passages. Reads the whole index."""
        self._check_open()

        def read(store: Store, snapshot: Snapshot) -> CheckReport:
            problems = []
            integrity = store.integrity_check()
            if integrity != "ok":
                problems.append(f"{store.path}: {integrity}")
            if store.counts() != store.counted():
                problems.append(
                    f"{store.path} records {store.counts()} articles and passages, but holds "
                    f"{store.counted()}"
                )
            live = []
            for part in snapshot.parts:
                if isinstance(part.vectors, Segment):
                    try:
                        part.vectors.verify()
                    except IndexCorruptError as error:
                        problems.append(str(error))
                    keep = None if part.deleted is None else ~part.deleted
                    live.append(
                        np.asarray(part.vectors.ids if keep is None else part.vectors.ids[keep])
                    )
                else:
                    live.append(part.vectors.contents()[0])  # type: ignore[attr-defined]
            vectors = np.sort(np.concatenate(live)) if live else np.empty(0, dtype=np.int64)
            passages = np.asarray(store.passage_ids(), dtype=np.int64)
            if len(vectors) != len(passages) or not np.array_equal(vectors, passages):
                extra = len(np.setdiff1d(vectors, passages))
                missing = len(np.setdiff1d(passages, vectors))
                problems.append(
                    f"{len(passages):,} passages but {len(vectors):,} live vectors "
                    f"({missing:,} passages without a vector, {extra:,} vectors without a "
                    "passage)"
                )
            repairs: list[str] = []
            if snapshot.format_version >= 2:
                problems += self._check_lexical(store, snapshot.generation, len(passages), repairs)
            named = {p.name for p in snapshot.parts}
            return CheckReport(
                problems=tuple(problems),
                segments=len(snapshot.parts),
                vectors=len(vectors),
                passages=len(passages),
                leftovers=tuple(storage.unreferenced(self.path, named)),
                repairs=tuple(repairs),
            )

        return self._searcher.read(read)

    def _check_lexical(
        self, store: Store, current: int, passages: int, repairs: list[str]
    ) -> list[str]:
        """The lexical view queries read is the store's commit, holding each passage once
        and the ghosts the store lists; a lexical commit the store never completed (a
        write that failed or was killed midway) goes into ``repairs``."""
        lexical = self._searcher.lexical_index()
        token = lexical_commit(store.get_meta(), store.path)
        try:
            view, marker = lexical.view(current, token)
            latest = lexical.latest()
        except IndexCorruptError as error:
            return [str(error)]
        if latest.token != token:
            unharmed = marker.token == token  # queries read the store's commit's view
            repairs.append(
                f"{lexical.folder} holds a commit the store never completed (a write failed "
                "or was killed midway): "
                + (
                    "queries read the last complete one"
                    if unharmed
                    else "lexical scores may differ slightly until then"
                )
                + "; the next `newssearch index` run puts it right"
            )
            if not unharmed:
                return []
        elif marker.token != token:
            return [f"{lexical.folder} is not the commit the store names — rebuild the index"]
        expected = passages + store.lexical_ghost_count() + 1  # and its marker
        held = lexical.documents(view)
        if held != expected:
            return [f"{lexical.folder} holds {held:,} documents, {expected:,} expected"]
        return []


def index_files(
    index: str | Path,
    paths: Iterable[str | Path] | str | Path,
    *,
    model: str | Path | Embedder | None = None,
    compact: bool | None = None,
    keep_missing: bool = False,
    exclude: Iterable[str] = (),
    follow_links: bool = False,
    collection: str | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> UpdateReport:
    """What ``newssearch index`` does: open the index (or create it) and bring it in line
    with ``paths`` (on a Ray cluster with an ``engine``; ``exclude`` and ``follow_links``
    as ``Index.update`` takes them). A first run that fails before
    anything is committed (a mistyped path, nothing to index) leaves no index behind: the
    folder is as it was."""
    index = Path(index)
    existed = index.exists()
    fresh = not (index / storage.MANIFEST).exists()
    with Index.open_or_create(index, model=model, compact=compact) as ix:
        try:
            run = ix.add if keep_missing else ix.update
            return run(
                paths,
                exclude=exclude,
                follow_links=follow_links,
                collection=collection,
                progress=progress,
                engine=engine,
            )
        except InputError:
            if fresh and ix.stats().generation == 0:
                ix.close()
                _remove_empty_index(index, remove_folder=not existed)
            raise


def _one_article(keys: list[str], ref: str) -> str | None:
    """The one article ``ref`` names, or None; an ``InputError`` when several collections
    hold an article of that id."""
    if len(keys) > 1:
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        raise InputError(f"{len(keys)} collections hold an article {ref!r}: give one of {shown}")
    return keys[0] if keys else None


def _remove_empty_index(folder: Path, *, remove_folder: bool) -> None:
    names = [p.name for p in folder.iterdir() if storage.is_ours(p.name)]
    storage.remove_files(folder, names)
    shutil.rmtree(folder / lexical.FOLDER, ignore_errors=True)  # made by this run
    if remove_folder:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty: nothing of anyone else's goes


def _listed(paths: Iterable[str | Path] | str | Path) -> list[str | Path]:
    """One path given alone is one path, not a list of its characters."""
    if isinstance(paths, str | Path):
        return [paths]
    return list(paths)


def _embedder_for(model: str | Path | Embedder | None) -> Embedder:
    if model is not None and not isinstance(model, str | Path):
        return model
    return load_embedder(model)


def _by_format(found: Discovery, held: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """The files found, and the articles the index holds from them, by format; most files
    first."""
    files: dict[str, int] = {}
    articles: dict[str, int] = {}
    for source in found.files:
        kind = file_format(source.path.name) or source.path.suffix
        files[kind] = files.get(kind, 0) + 1
        articles[kind] = articles.get(kind, 0) + held.get(str(source.path), 0)
    order = sorted(files, key=lambda kind: (-files[kind], kind))
    return {k: files[k] for k in order}, {k: articles[k] for k in order}


def _nothing_to_index(paths: Sequence[str | Path], found: Discovery) -> str:
    where = ", ".join(str(p) for p in paths)
    left_out = ""
    if found.left_out:
        counts = ", ".join(f"{n} {reason}" for reason, n in _counts(found.left_out).items())
        left_out = f"; {len(found.left_out)} left out ({counts})"
    if found.skips:
        return (
            f"nothing to index in {where}: {len(found.skips)} files skipped, none readable as "
            f"articles{left_out}"
        )
    return (
        f"nothing to index in {where}: no article files "
        f"(.txt, .md, .json, .jsonl, .html, feeds, .warc) found{left_out}"
    )


def _check_unfinished_creation(path: Path) -> None:
    """Refuse to create an index over index files that hold anything: a folder with a store
    but no manifest is a damaged index (or not ours), never a fresh start."""
    file = path / storage.STORE
    if not file.exists() or (file.is_file() and file.stat().st_size == 0):
        return
    if not is_empty_store(file):
        raise IndexCorruptError(
            f"{path} holds {storage.STORE} but no {storage.MANIFEST}, so it is not a whole "
            "index; nothing was changed — restore manifest.json, or index into another folder "
            "with --index"
        )


def _folder_size(folder: Path) -> int:
    """Bytes in the index's own files; a file a writer removes meanwhile counts as nothing."""
    total = 0
    for where, ours in ((folder, storage.is_ours), (folder / lexical.FOLDER, _any_name)):
        with contextlib.suppress(FileNotFoundError), os.scandir(where) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if ours(entry.name) and entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _any_name(name: str) -> bool:
    return True
