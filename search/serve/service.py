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

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import (
    ArticleNotFoundError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    InputError,
    ModelError,
    QueryError,
    SearchError,
    ShardUnavailableError,
)
from search.query.searcher import MODES, UNITS
from search.storage.folder import Reopening

if TYPE_CHECKING:
    from search.embedding import Embedder
    from search.index import Index

MAX_QUERY_CHARS = 2000  # a served query's length: a paragraph, not a document
MAX_SERVED_K = 1000  # hits one request may ask for
MAX_FILTER_VALUES = 64  # --source and --where values in one request
MAX_DAY_CHARS = 64  # --since and --until
MAX_ID_CHARS = 4096  # an article id's length (a path inside the archive)

_UNAVAILABLE = (
    IndexNotFoundError,
    IndexCorruptError,
    IndexVersionError,
    IndexLockedError,
    ModelError,
    ShardUnavailableError,
)


def status_of(error: SearchError) -> int:
    """The HTTP status that tells a client what kind of error this is."""
    if isinstance(error, ArticleNotFoundError):
        return 404
    if isinstance(error, _UNAVAILABLE):
        return 503
    return 400  # QueryError, InputError and the rest are the request's fault


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    """A query and its options, checked: what ``Service.search`` runs."""

    text: str
    k: int = 10
    mode: str = "hybrid"
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    by: str = "passage"
    every_copy: bool = False

    @classmethod
    def make(
        cls,
        text: object,
        *,
        k: object = 10,
        mode: object = "hybrid",
        since: object = None,
        until: object = None,
        sources: object = (),
        where: object = (),
        by: object = "passage",
        every_copy: object = False,
    ) -> SearchRequest:
        """A request from loose values, or a ``QueryError`` saying what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise QueryError("the query is empty — give some words to search for")
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError(
                f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
            )
        return cls(
            text=text,
            k=_whole_number(k, "k", MAX_SERVED_K),
            mode=_choice(mode, "mode", MODES),
            since=_optional_text(since, "since"),
            until=_optional_text(until, "until"),
            sources=_texts(sources, "source"),
            where=_texts(where, "where"),
            by=_choice(by, "by", UNITS),
            every_copy=_flag(every_copy, "all"),
        )


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

    def search(self, request: SearchRequest) -> dict[str, Any]:
        """``{"hits": [...], "took_ms": ...}``, each hit as ``query --json`` prints it."""
        started = time.perf_counter()
        hits = self._answer(
            lambda index: index.search(
                request.text,
                k=request.k,
                mode=request.mode,
                since=request.since,
                until=request.until,
                sources=list(request.sources) or None,
                where=list(request.where) or None,
                by=request.by,
                collapse=not request.every_copy,
            )
        )
        return {"hits": [dataclasses.asdict(hit) for hit in hits], "took_ms": _since(started)}

    def article(self, article_id: object) -> dict[str, Any]:
        """The whole article, as ``show --json`` prints it."""
        checked = _article_id(article_id)
        return dataclasses.asdict(self._answer(lambda index: index.article(checked)))

    def similar(self, article_id: object, k: object = 10) -> dict[str, Any]:
        """``{"hits": [...], "took_ms": ...}``: the articles most like this one."""
        checked = _article_id(article_id)
        top = _whole_number(k, "k", MAX_SERVED_K)
        started = time.perf_counter()
        hits = self._answer(lambda index: index.similar(checked, k=top))
        return {"hits": [dataclasses.asdict(hit) for hit in hits], "took_ms": _since(started)}

    def stats(self) -> dict[str, Any]:
        """What ``info --json`` prints."""
        return dataclasses.asdict(self._answer(lambda index: index.stats()))

    def health(self) -> dict[str, Any]:
        """Whether the index can be read now, and which commit it is at; for a sharded
        server, what each shard holds, or a ``ShardUnavailableError`` if one does not answer."""
        stats = self.stats()
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

    def _answer(self, ask: Any) -> Any:
        index = self.index()
        try:
            return ask(index)
        except (IndexNotFoundError, IndexCorruptError, IndexVersionError):
            # Damaged, or changed under us: open it afresh next time. Not closed here:
            # other threads may be reading it still; it closes when the last lets it go.
            self._opened.forget(index)
            raise


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _whole_number(value: object, name: str, limit: int) -> int:
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise QueryError(f"{name} must be a whole number from 1 to {limit:,}, not {value!r}")
        value = int(text) if len(text) <= 9 else limit + 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise QueryError(f"{name} must be a whole number from 1 to {limit:,}, not {value!r}")
    return value


def _choice(value: object, name: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(allowed)}, not {_short(value)}")
    return value


def _optional_text(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_DAY_CHARS:
        raise QueryError(f"{name} must be a day such as 1987-03-01, not {_short(value)}")
    return value


def _texts(values: object, name: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise QueryError(f"{name} must be a list of texts")
    found = tuple(values)
    if len(found) > MAX_FILTER_VALUES:
        raise QueryError(f"at most {MAX_FILTER_VALUES} {name} values in one request")
    for value in found:
        if not isinstance(value, str) or not value or len(value) > MAX_QUERY_CHARS:
            raise QueryError(f"each {name} value must be a non-empty text, not {_short(value)}")
    return found


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _FLAGS:
        return _FLAGS[value.lower()]
    raise QueryError(f"{name} must be true or false, not {_short(value)}")


_FLAGS = {"": True, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _article_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise InputError("an article id is a non-empty string, as `query --json` shows it")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
