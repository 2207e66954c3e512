"""newssearch: semantic search over news articles.

>>> import search                                                    # doctest: +SKIP
>>> ix = search.Index.open("index")                                  # doctest: +SKIP
>>> [hit.title for hit in ix.search("Kataib Hezbollah", k=3)]        # doctest: +SKIP
"""

from ._version import __version__
from .articles import Article, Skip
from .chunking import Passage
from .embedding import DEFAULT_MODEL, Embedder, load_embedder
from .errors import (
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
)
from .index import (
    MAX_K,
    MODES,
    UNITS,
    ArticleDetail,
    CheckReport,
    Hit,
    Index,
    IndexStats,
    RemoveReport,
    UpdateReport,
    index_files,
)
from .manifest import Settings
from .searcher import Searcher

__all__ = [
    "DEFAULT_MODEL",
    "MAX_K",
    "MODES",
    "UNITS",
    "Article",
    "ArticleDetail",
    "CheckReport",
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
    "ModelError",
    "ModelMismatchError",
    "Passage",
    "QueryError",
    "RemoveReport",
    "SearchError",
    "Searcher",
    "Settings",
    "Skip",
    "UpdateReport",
    "__version__",
    "index_files",
    "load_embedder",
]
