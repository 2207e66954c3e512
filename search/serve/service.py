"""One open index answering requests from many threads: the layer that the HTTP API, the
MCP server and the CLI's fast path share.

A request arrives as loose values (strings from a URL, JSON from an agent); the service
checks them against the same rules as the CLI and answers with plain JSON-ready data, each
hit exactly as ``newssearch query --json`` prints it. Errors stay ``SearchError``s;
``status_of`` says which HTTP status each one is.

The index is opened on the first request that needs it, and again after it went missing,
so a server started before ``newssearch index`` has built anything begins answering as soon
as there is an index. New commits need nothing: the searcher reads each query's generation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import (
    AlertExistsError,
    AlertNotFoundError,
    ArticleNotFoundError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    IndexWriteError,
    InputError,
    ModelError,
    QueryError,
    SearchError,
    ShardUnavailableError,
)
from search.query.alerts import checked_name
from search.query.contract import (
    HTTP,
    MAX_OFFSET,
    Door,
    SearchRequest,
    checked_article_id,
    checked_k,
    unknown_article,
)
from search.serve.export import FORMATS, export_text
from search.storage.folder import Reopening

if TYPE_CHECKING:
    from search.embedding import Embedder
    from search.index import Index

_PROBE = "health"  # what /api/health asks the lexical index: any word will do

_DAMAGED = (IndexNotFoundError, IndexCorruptError, IndexVersionError)
_UNAVAILABLE = (
    IndexNotFoundError,
    IndexCorruptError,
    IndexVersionError,
    IndexLockedError,
    IndexWriteError,  # an alert's write to a read-only or full disk
    ModelError,
    ShardUnavailableError,
)


def status_of(error: SearchError) -> int:
    """The HTTP status that tells a client what kind of error this is."""
    if isinstance(error, ArticleNotFoundError | AlertNotFoundError):
        return 404
    if isinstance(error, AlertExistsError):
        return 409
    if isinstance(error, _UNAVAILABLE):
        return 503
    return 400  # QueryError, InputError and the rest are the request's fault


class Service:
    """An index folder served to many threads at once. ``close`` when done."""

    def __init__(
        self,
        path: str | Path,
        *,
        model: str | Path | Embedder | None = None,
        opener: Callable[[], Any] | None = None,
    ) -> None:
        """``opener``, if given, opens what answers instead of ``Index.open`` (a sharded
        server's ``RouterClient``, which has the methods the service calls)."""
        self.path = Path(path)
        self._model = model
        self._opener = opener
        self._opened: Reopening[Index] = Reopening(self.path, self._open)
        self._writing = threading.Lock()  # one write at a time: alerts, under the index's lock

    def index(self) -> Index:
        """The open index, opened now if it is not yet, or again if the folder was removed
        or built anew since (its store is another file): never a stale or mixed view."""
        return self._opened.get()

    def _open(self) -> Index:
        if self._opener is not None:
            return self._opener()
        from search.index import Index

        opened = Index.open(self.path, model=self._model)
        try:
            _ = opened.embedder  # loaded once here, not by each first request
        except BaseException:
            opened.close()
            raise
        return opened

    def warm(self) -> None:
        """Load the model and open the files now, so the first request is as fast as any."""
        try:
            self.index().search("warm", k=1)
        except SearchError:
            pass  # no index yet, or an empty one: requests will say so

    def close(self) -> None:
        opened = self._opened.take()
        if opened is not None:
            opened.close()

    def search(self, request: SearchRequest, *, facets: bool = False) -> dict[str, Any]:
        """``{"hits": [...], "took_ms": ..., "next_offset": ...}``, each hit as ``query
        --json`` prints it; ``next_offset`` is the ``offset`` of the next page, None at the
        end. With ``facets``, the matching articles counted (``Index.facets``) too."""
        started = time.perf_counter()
        # One hit more than asked says whether there is a next page. Below CANDIDATES the
        # first k are those a search for k finds: each retriever takes CANDIDATES anyway.
        probe = dataclasses.replace(request, k=request.k + 1)
        hits = self._answer(lambda index: index.search(probe))
        answer: dict[str, Any] = {
            "hits": [dataclasses.asdict(hit) for hit in hits[: request.k]],
            "next_offset": _next_offset(request, more=len(hits) > request.k),
        }
        if facets:
            counted = self._answer(lambda index: _able(index, "facets")(request))
            answer["facets"] = dataclasses.asdict(counted)
        return {**answer, "took_ms": _since(started)}

    def timeline(
        self, request: SearchRequest, every: object = "week", split: object = None
    ) -> dict[str, Any]:
        """The matching articles counted by period (``Index.timeline``, which checks
        ``every`` and ``split``), as ``timeline --json`` prints it."""
        timeline = self._answer(
            lambda index: _able(index, "timeline")(request, every=every, split=split)
        )
        return dataclasses.asdict(timeline)

    def export(self, request: SearchRequest, form: str) -> Generator[str, None, None]:
        """Every matching article (``Index.matches``), as ``export --format FORM`` writes
        it, a piece at a time. Lazy: the pieces are read in the thread that iterates, and
        one thread must read them all (the index's read transaction is that thread's)."""
        if form not in FORMATS:
            raise QueryError(f"format must be one of {', '.join(FORMATS)}, not {form!r}")
        index = self.index()
        matches = _able(index, "matches")

        def pieces() -> Generator[str, None, None]:
            try:
                yield from export_text(matches(request), form)
            except _DAMAGED:
                self._opened.forget(index)
                raise

        return pieces()

    def article(self, article_id: object, *, door: Door = HTTP) -> dict[str, Any]:
        """The whole article, as ``show --json`` prints it; the id is checked, and an
        unknown one told, as ``door`` takes it."""
        checked = checked_article_id(article_id, door)
        with self._unknown_as(door, checked):
            return dataclasses.asdict(self._answer(lambda index: index.article(checked)))

    def similar(self, article_id: object, k: object = 10, *, door: Door = HTTP) -> dict[str, Any]:
        """``{"hits": [...], "took_ms": ...}``: the articles most like this one; the id
        and ``k`` are checked as ``door`` takes them."""
        checked = checked_article_id(article_id, door)
        top = checked_k(k, door)
        started = time.perf_counter()
        with self._unknown_as(door, checked):
            hits = self._answer(lambda index: index.similar(checked, k=top))
        return {"hits": [dataclasses.asdict(hit) for hit in hits], "took_ms": _since(started)}

    @contextlib.contextmanager
    def _unknown_as(self, door: Door, article_id: str) -> Iterator[None]:
        """An unknown id said in the door's words: where its user finds ids."""
        try:
            yield
        except ArticleNotFoundError:
            raise unknown_article(article_id, self.path, door) from None

    def stats(self) -> dict[str, Any]:
        """What ``info --json`` prints."""
        return dataclasses.asdict(self._answer(lambda index: index.stats()))

    def health(self) -> dict[str, Any]:
        """Whether the index can be read now, and which commit it is at; for a sharded
        server, what each shard holds, or a ``ShardUnavailableError`` if one does not answer.
        The store, its segments (``stats``) and the lexical index (a one-word lexical query,
        no model) are each opened as a query opens them, so a damaged one is an error here
        too; once open, each costs a lookup."""
        stats = self.stats()
        self._answer(lambda index: index.search(_PROBE, k=1, mode="lexical"))
        found = {
            "status": "ok",
            "index": str(self.path.resolve()),
            "generation": stats["generation"],
            "articles": stats["articles"],
        }
        shards = getattr(self.index(), "shards", None)
        if shards is not None:
            found["shards"] = listed = shards()
            missing = [n for n, shard in enumerate(listed, start=1) if "error" in shard]
            if missing:
                raise ShardUnavailableError(
                    f"shard {missing[0]} of {len(listed)} is not answering: "
                    f"{listed[missing[0] - 1]['error']}"
                )
        return found

    # Alerts (search/query/alerts.py): each as ``alert list --json`` / ``alert run --json``
    # print it. Saving, removing and running one writes the index.

    def alerts(self) -> dict[str, Any]:
        """``{"alerts": [...]}``: the saved alerts, by name."""
        saved = self._answer(lambda index: _alerting(index).alerts())
        return {"alerts": [dataclasses.asdict(alert) for alert in saved]}

    def add_alert(self, name: object, request: SearchRequest) -> dict[str, Any]:
        """Save ``request`` as the alert ``name``; the alert saved."""
        checked = checked_name(name)
        return self._write(lambda index: _alerting(index).add_alert(checked, request))

    def remove_alert(self, name: object) -> dict[str, Any]:
        """Forget the alert ``name``: ``{"removed": name}``."""
        checked = checked_name(name)
        with self._writing:
            self._answer(lambda index: _alerting(index).remove_alert(checked))
        return {"removed": checked}

    def run_alert(self, name: object) -> dict[str, Any]:
        """Run the alert ``name``: the articles committed since it last ran that match it."""
        checked = checked_name(name)
        return self._write(lambda index: _alerting(index).run_alert(checked))

    def _write(self, change: Callable[[Index], Any]) -> dict[str, Any]:
        with self._writing:
            return dataclasses.asdict(self._answer(change))

    def _answer(self, ask: Any) -> Any:
        index = self.index()
        try:
            return ask(index)
        except _DAMAGED:
            # Damaged, or changed under us: open it afresh next time. Not closed here:
            # other threads may be reading it still; it closes when the last lets it go.
            self._opened.forget(index)
            raise


def _next_offset(request: SearchRequest, *, more: bool) -> int | None:
    """Where the next page starts: None at the end, or past what a served door may skip."""
    following = request.offset + request.k
    return following if more and following <= MAX_OFFSET else None


def _able(index: Any, method: str) -> Any:
    """``index``'s method, or a ``QueryError`` where a sharded server has none."""
    found = getattr(index, method, None)
    if found is None:
        raise QueryError(
            f"a sharded server answers searches, not {method} — ask a server that is not "
            "sharded (`newssearch serve`), or run it on the index with the CLI"
        )
    return found


def _alerting(index: Any) -> Index:
    """The index, which keeps alerts; a sharded server's router keeps none."""
    if not hasattr(index, "alerts"):
        raise InputError(
            "a sharded server keeps no alerts — use `newssearch alert` on the index, or serve "
            "it without --engine ray"
        )
    return index


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
