"""newssearch: semantic search over news articles.

>>> import search                                                    # doctest: +SKIP
>>> ix = search.Index.open("index")                                  # doctest: +SKIP
>>> [hit.title for hit in ix.search("Kataib Hezbollah", k=3)]        # doctest: +SKIP

The names below are imported on first use, so that ``import search`` (and the CLI's
start, which asks a running server before it loads anything) costs almost nothing.
"""

import importlib as _importlib
import typing as _typing

from search._version import __version__

if _typing.TYPE_CHECKING:
    from search.embedding import DEFAULT_MODEL, Embedder, load_embedder
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
        ModelMismatchError,
        QueryError,
        SearchError,
        ShardUnavailableError,
    )
    from search.index import (
        ArticleDetail,
        CheckReport,
        Index,
        IndexStats,
        RemoveReport,
        UpdateReport,
        index_files,
    )
    from search.ingest.article import Article, Skip
    from search.ingest.chunking import Passage
    from search.query.alerts import Alert, AlertRun
    from search.query.contract import MAX_K, MODES, UNITS, Hit, SearchRequest

_HOMES = {
    "ingest.article": ["Article", "Skip"],
    "ingest.chunking": ["Passage"],
    "embedding": ["DEFAULT_MODEL", "Embedder", "load_embedder"],
    "errors": [
        "AlertExistsError",
        "AlertNotFoundError",
        "ArticleNotFoundError",
        "IndexCorruptError",
        "IndexLockedError",
        "IndexNotFoundError",
        "IndexVersionError",
        "IndexWriteError",
        "InputError",
        "ModelError",
        "ModelMismatchError",
        "QueryError",
        "SearchError",
        "ShardUnavailableError",
    ],
    "query.alerts": ["Alert", "AlertRun"],
    "query.contract": ["MAX_K", "MODES", "UNITS", "Hit", "SearchRequest"],
    "index": [
        "ArticleDetail",
        "CheckReport",
        "Index",
        "IndexStats",
        "RemoveReport",
        "UpdateReport",
        "index_files",
    ],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Alert",
    "AlertExistsError",
    "AlertNotFoundError",
    "AlertRun",
    "Article",
    "ArticleDetail",
    "ArticleNotFoundError",
    "CheckReport",
    "DEFAULT_MODEL",
    "Embedder",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexStats",
    "IndexVersionError",
    "IndexWriteError",
    "InputError",
    "MAX_K",
    "MODES",
    "ModelError",
    "ModelMismatchError",
    "Passage",
    "QueryError",
    "RemoveReport",
    "SearchError",
    "SearchRequest",
    "ShardUnavailableError",
    "Skip",
    "UNITS",
    "UpdateReport",
    "__version__",
    "index_files",
    "load_embedder",
]


def __getattr__(name: str) -> object:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME_OF})
