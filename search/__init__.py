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
    InputError,
    ModelError,
    ModelMismatchError,
    QueryError,
    SearchError,
)
from .index import MODES, Hit, Index, IndexStats, RemoveReport, UpdateReport

__all__ = [
    "DEFAULT_MODEL",
    "MODES",
    "Article",
    "Embedder",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexStats",
    "IndexVersionError",
    "InputError",
    "ModelError",
    "ModelMismatchError",
    "Passage",
    "QueryError",
    "RemoveReport",
    "SearchError",
    "Skip",
    "UpdateReport",
    "__version__",
    "load_embedder",
]
