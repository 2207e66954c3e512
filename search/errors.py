"""The exceptions newssearch raises.

Every error a user can cause is a ``SearchError``; its message says what happened
and what to do next, and its ``exit_code`` is what the CLI exits with::

    SearchError                      exit 1
    ├── InputError                   exit 2   bad paths, nothing to index
    │   ├── ArticleNotFoundError     exit 11  no article with the id asked for
    │   ├── AlertNotFoundError       exit 13  no saved alert of the name asked for
    │   └── AlertExistsError         exit 14  an alert of that name is saved already
    ├── QueryError                   exit 3   empty or unusable query
    ├── IndexNotFoundError           exit 4   no index at the path
    ├── IndexCorruptError            exit 5   unreadable or inconsistent index files
    ├── IndexVersionError            exit 6   index written by a newer newssearch
    ├── IndexLockedError             exit 7   another process is writing the index
    ├── ModelError                   exit 8   model missing or unloadable
    │   └── ModelMismatchError       exit 9   index built with another model
    ├── IndexWriteError              exit 10  the index cannot be written: disk full,
    │                                         no permission, a read-only index
    └── ShardUnavailableError        exit 12  a shard of a sharded server is not answering
"""

from __future__ import annotations

__all__ = [
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
]


class SearchError(Exception):
    """Base class of every error newssearch reports to a user."""

    exit_code = 1


class InputError(SearchError):
    """The files or folders given to index cannot be used."""

    exit_code = 2


class ArticleNotFoundError(InputError):
    """No article in the index has the id asked for."""

    exit_code = 11


class AlertNotFoundError(InputError):
    """No alert of the name asked for is saved in the index."""

    exit_code = 13


class AlertExistsError(InputError):
    """An alert of that name is saved already."""

    exit_code = 14


class QueryError(SearchError):
    """The query cannot be answered as given."""

    exit_code = 3


class IndexNotFoundError(SearchError):
    """There is no index at the given path."""

    exit_code = 4


class IndexCorruptError(SearchError):
    """The index files are unreadable, truncated or disagree with each other."""

    exit_code = 5


class IndexVersionError(SearchError):
    """The index was written in a format this version cannot read."""

    exit_code = 6


class IndexLockedError(SearchError):
    """Another process holds the index's write lock."""

    exit_code = 7


class ModelError(SearchError):
    """The embedding model cannot be found or loaded."""

    exit_code = 8


class ModelMismatchError(ModelError):
    """The index was built with a different embedding model."""

    exit_code = 9


class IndexWriteError(SearchError):
    """Writing the index failed (disk full, no permission, a read-only folder or mount);
    the index is left as its last commit."""

    exit_code = 10


class ShardUnavailableError(SearchError):
    """A shard of a sharded server did not answer in time (its replica died or is
    restarting): the query is refused rather than answered from the other shards alone."""

    exit_code = 12
