"""The index folder as files: which names are ours, and the only ways they are opened.

Every file newssearch writes in an index folder goes through ``write_atomic`` (or SQLite),
and every file it reads directly goes through ``open_regular``. Both refuse to follow
symbolic links and read only regular files, so a link or FIFO planted in the folder can
neither redirect a write outside it nor hang or flood a reader. Names come from fixed
patterns (``is_ours``); a file of any other name is never written, read or deleted, so a
user's own files beside an index are safe.

The write lock is ``lock``: an ``flock`` on ``.lock``, dropped by the OS with its process.
Any ``OSError`` while writing becomes an ``IndexWriteError`` naming the path and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from search.domain.text import is_text, shown
from search.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexWriteError,
    InputError,
)

__all__ = [
    "LOCK",
    "MANIFEST",
    "STORE",
    "check_folder",
    "check_path",
    "check_regular_files",
    "is_ours",
    "lock",
    "map_file",
    "open_regular",
    "read_small",
    "remove_files",
    "segment_name",
    "segment_path",
    "sync_directory",
    "unreferenced",
    "write_atomic",
    "writing",
]

MANIFEST = "manifest.json"
STORE = "store.sqlite"
LOCK = ".lock"
_SEGMENT = re.compile(r"seg-(\d{6,})\.vec")
_LEGACY_VECTORS = re.compile(r"vectors\.\d+\.faiss")  # format 1's one vector file
_TEMPORARY = re.compile(r"(manifest\.json|seg-\d{6,}\.vec|vectors\.\d+\.faiss)\.tmp")
_STORE_FILES = (STORE, STORE + "-wal", STORE + "-shm", STORE + "-journal")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def segment_name(number: int) -> str:
    """The file name of segment ``number``: ``seg-000042.vec``."""
    return f"seg-{number:06d}.vec"


def segment_path(folder: Path, name: str) -> Path:
    """The path of a segment the store names; a name off the pattern (``../x``, ``/dev/zero``)
    is a damaged index, never a path to follow."""
    if not isinstance(name, str) or not _SEGMENT.fullmatch(name):
        raise IndexCorruptError(
            f"{folder / STORE} names a vector file {str(name)[:60]!r} that is not one of its "
            "segments — rebuild the index"
        )
    return folder / name


def is_ours(name: str) -> bool:
    """Whether a file of this name belongs to the index (and may be replaced or removed)."""
    return (
        name in (MANIFEST, LOCK, *_STORE_FILES)
        or bool(_SEGMENT.fullmatch(name))
        or bool(_LEGACY_VECTORS.fullmatch(name))
        or bool(_TEMPORARY.fullmatch(name))
    )


def unreferenced(folder: Path, keep: set[str]) -> list[str]:
    """Vector files and temporary files of ours in ``folder`` that ``keep`` does not name:
    what a killed writer or a finished merge left behind."""
    names = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name in keep:
                continue
            if (
                _SEGMENT.fullmatch(name)
                or _LEGACY_VECTORS.fullmatch(name)
                or _TEMPORARY.fullmatch(name)
            ):
                names.append(name)
    return sorted(names)


def remove_files(folder: Path, names: list[str]) -> None:
    """Delete files of ours (a link is removed itself, never what it points to)."""
    for name in names:
        if is_ours(name):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                os.unlink(folder / name)


# ---------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Report an ``OSError`` raised inside as one ``IndexWriteError`` about ``path``."""
    try:
        yield
    except FileNotFoundError as error:
        raise IndexCorruptError(
            f"{error.filename or path} is missing — rebuild the index"
        ) from error
    except OSError as error:
        raise write_error(path, error) from error


def write_error(path: Path, error: OSError) -> IndexWriteError:
    path = Path(error.filename) if isinstance(error.filename, str) else path
    cause = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        advice = "free some space and run it again; the index is as it was"
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "the index is read-only here: query it, or copy it somewhere writable"
    else:
        advice = "the index is as it was"
    return IndexWriteError(f"cannot write {path}: {cause} — {advice}")


def write_atomic(folder: Path, name: str, write: Callable[[BinaryIO], None]) -> int:
    """Write ``folder/name`` whole or not at all: a new temporary file (never through a
    link), synced, then renamed over the old one. Returns the bytes written."""
    if not is_ours(name):
        raise ValueError(f"{name} is not an index file name")
    final = folder / name
    temporary = folder / (name + ".tmp")
    with writing(final):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)  # a leftover, or a planted link: the link itself goes
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            os.replace(temporary, final)  # rename replaces a link at ``final``, not its target
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        sync_directory(folder)
    return size


def sync_directory(folder: Path) -> None:
    """Make the names in ``folder`` (a file created, renamed or removed) durable."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is done all the same
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def lock(folder: Path) -> Iterator[None]:
    """Hold the index's write lock; the OS drops it if the process dies."""
    import fcntl

    path = folder / LOCK
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IndexCorruptError(
                f"{path} is a symbolic link; an index's files must be its own — remove it"
            ) from error
        raise write_error(path, error) from error
    with os.fdopen(descriptor, "r+") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise IndexCorruptError(f"{path} is not a regular file — remove it")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read(100).strip() or "another process"
            raise IndexLockedError(
                f"the index at {folder} is being written by {holder} — wait for it to finish"
            ) from None
        with writing(path):
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
        yield


# ---------------------------------------------------------------------------
# Reading


def open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file and not a link.

    ``FileNotFoundError`` passes through (a writer may have just replaced the file);
    anything else that is wrong is an ``IndexCorruptError``."""
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IndexCorruptError(
                f"{path} is a symbolic link; an index's files must be its own — rebuild the index"
            ) from error
        raise IndexCorruptError(
            f"cannot read {path}: {error.strerror} — rebuild the index"
        ) from error
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IndexCorruptError(f"{path} is not a regular file — rebuild the index")
    return descriptor


def check_regular_files(folder: Path, subfolders: Callable[[str], bool] | None = None) -> None:
    """Refuse a folder whose files another library opens by name (tantivy's), unless each
    entry is a regular file, or a subfolder ``subfolders`` accepts by name: a link there
    could lead its reads to another index or out of the index, a FIFO hang them."""
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed meanwhile (a writer's leftover swept)
            if stat.S_ISREG(mode) or (
                stat.S_ISDIR(mode) and subfolders is not None and subfolders(entry.name)
            ):
                continue
            if stat.S_ISLNK(mode):
                raise IndexCorruptError(
                    f"{entry.path} is a symbolic link; an index's files must be its own — "
                    "rebuild the index"
                )
            raise IndexCorruptError(f"{entry.path} is not a regular file — rebuild the index")


def read_small(path: Path, limit: int) -> bytes:
    """The whole of a small file (the manifest); larger than ``limit`` is corrupt."""
    descriptor = open_regular(path)
    with os.fdopen(descriptor, "rb") as handle:
        size = os.fstat(descriptor).st_size
        if size > limit:
            raise IndexCorruptError(f"{path} is {size:,} bytes, too large to be ours")
        return handle.read(limit + 1)[:limit]


def map_file(path: Path, expected_bytes: int) -> mmap.mmap:
    """Memory-map a whole file read-only, after checking it has exactly the size recorded
    for it, so nothing is read or allocated past its end."""
    descriptor = open_regular(path)
    try:
        size = os.fstat(descriptor).st_size
        if size != expected_bytes:
            raise IndexCorruptError(
                f"{path} is {size:,} bytes, the index recorded {expected_bytes:,}: it was cut "
                "short or overwritten — rebuild the index"
            )
        if size == 0:
            raise IndexCorruptError(f"{path} is empty — rebuild the index")
        return mmap.mmap(descriptor, size, access=mmap.ACCESS_READ)
    finally:
        os.close(descriptor)


def check_folder(path: Path, *, for_writing: bool) -> None:
    """One clear line for an ``--index`` that cannot be an index folder."""
    check_path(path)
    if path.is_symlink() and not path.exists():
        raise (InputError if for_writing else IndexNotFoundError)(
            f"no index at {path}: it is a symbolic link to nothing — point --index at a folder"
        )
    if path.exists() and not path.is_dir():
        if not for_writing:
            raise IndexNotFoundError(f"no index at {path}: it is a file, not a folder")
        raise InputError(f"{path} is a file, not an index folder")
    if for_writing and not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            raise IndexWriteError(
                f"cannot create {path}: {parent} is not writable — choose another --index"
            )


def check_path(path: Path) -> None:
    """Refuse an index path that is not UTF-8 before anything is made or read there:
    SQLite and tantivy cannot open it, nor can a URL or a message carry it."""
    where = os.path.abspath(path)
    if not is_text(where):
        raise InputError(
            f"the index path {shown(where)} is not UTF-8 — rename it, or choose another --index"
        )


_T = TypeVar("_T")


class Reopening(Generic[_T]):
    """What reads an index folder (an ``Index``, a replica's reader), opened on first use
    and again whenever the folder's store is another file (the index was removed or built
    anew): never a stale or mixed view. One opened before is not closed when replaced:
    requests under way may still read it."""

    def __init__(self, folder: Path, open_it: Callable[[], _T]) -> None:
        self.folder, self._open_it = folder, open_it
        self._value: _T | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        with self._lock:
            identity = _store_identity(self.folder)
            if self._value is None or identity != self._identity:
                self._value, self._identity = self._open_it(), identity
            return self._value

    def forget(self, value: _T) -> None:
        """Open afresh next time, if ``value`` is still the one held."""
        with self._lock:
            if self._value is value:
                self._value = None

    def take(self) -> _T | None:
        """The one held, if any, held no longer (the caller closes it)."""
        with self._lock:
            value, self._value = self._value, None
            return value


def _store_identity(folder: Path) -> tuple[int, int] | None:
    """Which file the folder's store is (None: none): another after a rebuild."""
    try:
        info = os.stat(folder / STORE)
    except OSError:
        return None
    return info.st_dev, info.st_ino
