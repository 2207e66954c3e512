"""Finding the article files under the paths a user gives: ``discover``.

A file is an article file when its name ends in one of ``SUPPORTED_SUFFIXES``. A folder
is walked recursively, hidden entries left out, each real file taken once however it is
reached; a browser's "Save page as" folder (``page_files/`` beside ``page.html``) is
skipped as "saved page assets".
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from search.domain.text import is_text, shown
from search.errors import InputError
from search.ingest.article import Skip, SourceFile, _strerror

__all__ = ["SUPPORTED_SUFFIXES", "discover"]


SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".txt",
    ".md",
    ".jsonl",
    ".jsonl.gz",
    ".json",
    ".json.gz",
    ".html",
    ".htm",
    ".rss",
    ".atom",
    ".xml",
    ".warc",
    ".warc.gz",
)


def discover(paths: Iterable[str | Path]) -> tuple[list[SourceFile], list[Skip]]:
    """Find the article files under each path (a folder walked recursively, or a single file).

    Raises ``InputError`` for a path that does not exist or a single file of an
    unsupported type. Files met on the way that cannot be used become ``Skip``s, and so
    does a ``page_files`` folder beside ``page.html`` (a saved page's images and ads).
    Ids are relative to the given folder's parent: ``discover(["../shared/seeds"])``
    gives ``seeds/000_815593e774ae9b48.txt``.
    """
    given = [Path(path) for path in paths]
    for path in given:
        _check_given(path)
    walk = _Walk()
    for path in given:
        # Lexically normalised, so that "news", "./news" and "x/../news" are one path
        # and "." still has a folder name.
        absolute = Path(os.path.abspath(path))
        if path.is_dir():
            walk.folder(absolute, absolute.name, frozenset())
        else:
            walk.file(absolute, absolute.name)
    return walk.files, walk.skips


def _check_given(path: Path) -> None:
    if not is_text(os.path.abspath(path)):  # an article's path is stored as UTF-8 text
        raise InputError(f"{shown(os.path.abspath(path))} is not a UTF-8 path — rename it")
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        return
    if not path.is_file():
        raise InputError(f"{path} is not a file or folder")
    if _suffix(path.name) is None:
        raise InputError(
            f"{path} is not a supported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )


def _suffix(name: str) -> str | None:
    lowered = name.lower()
    # Longest first, so that "a.jsonl.gz" is not taken for some shorter suffix.
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return suffix
    return None


class _Walk:
    """The files and skips found so far, and what was already seen."""

    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        self.skips: list[Skip] = []
        self._seen_files: set[tuple[int, int]] = set()
        self._walked_folders: set[str] = set()

    def file(self, path: Path, id_base: str) -> None:
        try:
            stat = path.stat()
        except OSError as err:
            self.skips.append(Skip(str(path), "unreadable", _strerror(err)))
            return
        # (device, inode) names the real file, however it was reached.
        key = (stat.st_dev, stat.st_ino)
        if key not in self._seen_files:
            self._seen_files.add(key)
            self.files.append(SourceFile(path, id_base))

    def folder(self, path: Path, label: str, ancestors: frozenset[str]) -> None:
        real = os.path.realpath(path)
        if real in ancestors:
            self.skips.append(Skip(str(path), "symlink loop", f"leads back to {real}"))
            return
        if real in self._walked_folders:
            return  # reached again through a symlink: its files are already taken
        self._walked_folders.add(real)
        try:
            with os.scandir(path) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as err:
            self.skips.append(Skip(str(path), "unreadable", _strerror(err)))
            return
        inside = ancestors | {real}
        names = frozenset(entry.name for entry in entries)
        for entry in entries:
            if not entry.name.startswith(".") and not is_text(entry.name):
                self.skips.append(Skip(shown(path / entry.name), "name not UTF-8"))
            elif not entry.name.startswith("."):
                child_label = f"{label}/{entry.name}" if label else entry.name
                self._entry(entry, path / entry.name, child_label, inside, names)

    def _entry(
        self,
        entry: os.DirEntry[str],
        path: Path,
        label: str,
        ancestors: frozenset[str],
        siblings: frozenset[str],
    ) -> None:
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError as err:  # a link that points back at itself, and the like
            reason = "symlink loop" if err.errno == errno.ELOOP else "unreadable"
            self.skips.append(Skip(str(path), reason, _strerror(err)))
            return
        page = _saved_page(entry.name, siblings) if is_dir else None
        if page is not None:
            # Images, scripts and ad frames of the page, not articles.
            self.skips.append(Skip(str(path), "saved page assets", f"the files of {page}"))
        elif is_dir:
            self.folder(path, label, ancestors)
        elif is_file:
            if _suffix(entry.name) is None:
                self.skips.append(Skip(str(path), "unsupported type"))
            else:
                self.file(path, label)
        elif entry.is_symlink():
            self.skips.append(Skip(str(path), "unreadable", "broken symlink"))
        else:
            self.skips.append(Skip(str(path), "unsupported type", "not a regular file"))


def _saved_page(name: str, siblings: frozenset[str]) -> str | None:
    """The page that folder ``name`` holds the files of, when it is a browser's
    "Save page as" folder: ``page_files`` next to ``page.html``."""
    stem = name.removesuffix("_files")
    if stem == name or not stem:
        return None
    return next((stem + ext for ext in (".html", ".htm") if stem + ext in siblings), None)
