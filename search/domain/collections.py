"""Collections: the named parts of an index that independent archives fill.

Every article belongs to one collection, and its id is unique within it: two archives
that both number their records from 1 never collide. Inside the index an article is
keyed ``COLLECTION/ID`` (``article_key``); a collection's name holds no ``/``, so the key
splits back unambiguously. By default ``newssearch index PATH`` fills the collection
named after the folder or file given (``collection_name``); ``--collection`` names it.
"""

from __future__ import annotations

from search.errors import InputError

__all__ = [
    "MAX_COLLECTION_CHARS",
    "article_key",
    "check_collection_name",
    "collection_name",
    "split_key",
]

MAX_COLLECTION_CHARS = 100


def collection_name(name: str, *, folder: bool) -> str:
    """The collection a folder or file given to ``index`` fills by default: the folder's
    name, or the file's without its suffixes; "articles" when that cannot name one.

    >>> collection_name("reuters", folder=True), collection_name("bbc_news.jsonl.gz", folder=False)
    ('reuters', 'bbc_news')
    """
    if not folder:
        name = name.removesuffix(".gz").removesuffix(".GZ")
        stem, dot, _ = name.rpartition(".")
        name = stem if dot and stem else name
    name = " ".join(name.split())[:MAX_COLLECTION_CHARS]
    return name if _usable(name) else "articles"


def check_collection_name(name: object) -> str:
    """A collection name as a user gave it (``--collection``), or an ``InputError``."""
    if not isinstance(name, str) or not _usable(name):
        raise InputError(
            f"{name!r} cannot name a collection: give 1 to {MAX_COLLECTION_CHARS} characters "
            "of text with no '/', no control characters and no spaces at either end"
        )
    return name


def article_key(collection: str, article_id: str) -> str:
    """How the index keys an article: ``COLLECTION/ID``."""
    return f"{collection}/{article_id}"


def split_key(key: str) -> tuple[str, str]:
    """(collection, id) of an article's key.

    >>> split_key("seeds/seeds/000.txt")
    ('seeds', 'seeds/000.txt')
    """
    collection, _, article_id = key.partition("/")
    return collection, article_id


def _usable(name: str) -> bool:
    return (
        0 < len(name) <= MAX_COLLECTION_CHARS
        and name == name.strip()
        and "/" not in name
        and name not in {".", ".."}
        and name.isprintable()
        and not any("\ud800" <= c <= "\udfff" for c in name)
    )
