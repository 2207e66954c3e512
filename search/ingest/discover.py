"""Finding the article files under the paths a user gives: ``discover``.

A file is an article file when its name ends in one of ``SUPPORTED_SUFFIXES``. A folder
is walked recursively, each real file taken once however it is reached. Some of what a
walk meets is left out by rule, and counted (``Discovery.left_out``), with one of
``LEFT_OUT_REASONS``:

- ``hidden``: a file or folder whose name starts with ``.``;
- ``--exclude``: what an ``exclude`` pattern matches (gitignore syntax, relative to each
  folder given);
- ``.newssearchignore``: what the patterns of a ``.newssearchignore`` file match (gitignore
  syntax, relative to the folder that holds it; a deeper file's patterns win, and ``!``
  takes a path back in);
- ``dataset note``: a README, SOURCE, LICENSE (or LICENCE) or CHANGELOG, of any case, alone
  or ending ``.md``, ``.txt`` or ``.rst``, in a folder that also holds data: a file of a
  supported format other than Markdown (``.md``) that is not such a note itself. A folder
  of Markdown files alone keeps its README (it may be someone's notes);
- ``link outside the folders``: a link, to a file or a folder, whose target is not inside
  any path given, unless ``follow_links``.

What is given by name is read, whatever these rules say. A browser's "Save page as" folder
(``page_files/`` beside ``page.html``) is skipped as "saved page assets".
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from search.domain.collections import check_collection_name, collection_name
from search.domain.text import is_text, shown
from search.errors import InputError
from search.ingest.article import Skip, SourceFile, _strerror

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

__all__ = [
    "IGNORE_FILE",
    "LEFT_OUT_REASONS",
    "SUPPORTED_SUFFIXES",
    "Discovery",
    "discover",
    "file_format",
]


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

IGNORE_FILE = ".newssearchignore"
MAX_IGNORE_BYTES = 1024 * 1024  # patterns, not data: a larger ignore file is a mistake

HIDDEN, EXCLUDED, IGNORED = "hidden", "--exclude", IGNORE_FILE
NOTE, LINK_OUTSIDE = "dataset note", "link outside the folders"
LEFT_OUT_REASONS = (HIDDEN, EXCLUDED, IGNORED, NOTE, LINK_OUTSIDE)

_NOTE_NAMES = frozenset({"readme", "source", "license", "licence", "changelog"})
_NOTE_SUFFIXES = frozenset({"", ".md", ".txt", ".rst"})


@dataclass(frozen=True)
class Discovery:
    """What ``discover`` found: the article files, what could not be used (``skips``) and
    what was left out by rule (``left_out``, each with one of ``LEFT_OUT_REASONS``)."""

    files: list[SourceFile]
    skips: list[Skip] = field(default_factory=list)
    left_out: list[Skip] = field(default_factory=list)


def discover(
    paths: Iterable[str | Path],
    *,
    exclude: Iterable[str] = (),
    follow_links: bool = False,
    collection: str | None = None,
) -> Discovery:
    """Find the article files under each path (a folder walked recursively, or a single file).

    Raises ``InputError`` for a path that does not exist, a single file of an unsupported
    type, or an ``exclude`` pattern that is not gitignore syntax. Files met on the way that
    cannot be used become ``skips``; what the module's rules leave out, ``left_out``.
    Ids are relative to the given folder's parent: ``discover(["../shared/seeds"])``
    gives ``seeds/000_815593e774ae9b48.txt``. Each file's articles belong to
    ``collection``, or by default to the collection named after the folder or file given
    (``collection_name``).
    """
    given = [Path(path) for path in paths]
    for path in given:
        _check_given(path)
    if collection is not None:
        check_collection_name(collection)
    patterns = [exclude] if isinstance(exclude, str) else list(exclude)
    try:
        excluded = _spec(patterns) if patterns else None
    except ValueError as error:
        raise InputError(f"--exclude: {error} — use gitignore syntax, such as 'drafts/'") from None
    # Lexically normalised, so that "news", "./news" and "x/../news" are one path and "."
    # still has a folder name.
    absolute = [Path(os.path.abspath(path)) for path in given]
    inside = None if follow_links else [os.path.realpath(path) for path in absolute]
    walk = _Walk(excluded, inside)
    for path in absolute:
        walk.collection = collection or collection_name(path.name, folder=path.is_dir())
        if path.is_dir():
            walk.folder(_Place(path, path.name, ""), frozenset(), ())
        else:
            walk.file(path, path.name)
    return Discovery(walk.files, walk.skips, walk.left_out)


def file_format(name: str) -> str | None:
    """The supported suffix a file name ends in (``.jsonl.gz`` for ``a.JSONL.gz``), or None."""
    lowered = name.lower()
    # Longest first, so that "a.jsonl.gz" is not taken for some shorter suffix.
    for suffix in _LONGEST_FIRST:
        if lowered.endswith(suffix):
            return suffix
    return None


_LONGEST_FIRST = sorted(SUPPORTED_SUFFIXES, key=len, reverse=True)


def _check_given(path: Path) -> None:
    if not is_text(os.path.abspath(path)):  # an article's path is stored as UTF-8 text
        raise InputError(f"{shown(os.path.abspath(path))} is not a UTF-8 path — rename it")
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        return
    if not path.is_file():
        raise InputError(f"{path} is not a file or folder")
    if file_format(path.name) is None:
        raise InputError(
            f"{path} is not a supported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )


def _spec(lines: list[str]) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec  # imported when there are patterns to match

    return GitIgnoreSpec.from_lines(lines)


def _matched(spec: GitIgnoreSpec, relative: str) -> tuple[bool | None, str]:
    """Whether ``spec`` leaves ``relative`` out (None: no pattern speaks of it), and the
    pattern that decided."""
    result = spec.check_file(relative)
    if result.include is None or result.index is None:
        return None, ""
    return result.include, str(spec.patterns[result.index].pattern)


def _is_note(name: str) -> bool:
    stem, suffix = os.path.splitext(name.lower())
    return stem in _NOTE_NAMES and suffix in _NOTE_SUFFIXES


def _is_data(name: str) -> bool:
    return file_format(name) not in (None, ".md") and not _is_note(name)


@dataclass(frozen=True)
class _Place:
    """A path met on the walk: its id base (``news/a/b.txt``) and its path relative to the
    folder given (``a/b.txt``), which patterns are matched against."""

    path: Path
    label: str
    relative: str

    def child(self, name: str) -> _Place:
        relative = f"{self.relative}/{name}" if self.relative else name
        return _Place(self.path / name, f"{self.label}/{name}", relative)


@dataclass(frozen=True)
class _IgnoreFile:
    """The patterns of one ``.newssearchignore``, relative to the folder that holds it."""

    folder: str  # relative to the folder given ("" for that folder)
    spec: GitIgnoreSpec
    label: str

    def verdict(self, relative: str) -> tuple[bool | None, str]:
        inner = relative[len(self.folder) + 1 :] if self.folder else relative
        return _matched(self.spec, inner)


class _Walk:
    """The files, skips and left-out paths found so far, and what was already seen."""

    def __init__(self, exclude: GitIgnoreSpec | None, inside: list[str] | None) -> None:
        self.files: list[SourceFile] = []
        self.skips: list[Skip] = []
        self.left_out: list[Skip] = []
        self._exclude = exclude
        self._inside = inside  # the real paths links may lead into (None: any)
        self._seen_files: set[tuple[int, int]] = set()
        self._walked_folders: set[str] = set()
        self.collection = ""

    def file(self, path: Path, id_base: str) -> None:
        try:
            status = path.stat()
        except OSError as err:
            self.skips.append(Skip(str(path), "unreadable", _strerror(err)))
            return
        # (device, inode) names the real file, however it was reached.
        key = (status.st_dev, status.st_ino)
        if key not in self._seen_files:
            self._seen_files.add(key)
            self.files.append(SourceFile(path, id_base, self.collection))

    def folder(
        self, place: _Place, ancestors: frozenset[str], ignores: tuple[_IgnoreFile, ...]
    ) -> None:
        real = os.path.realpath(place.path)
        if real in ancestors:
            self.skips.append(Skip(str(place.path), "symlink loop", f"leads back to {real}"))
            return
        if real in self._walked_folders:
            return  # reached again through a symlink: its files are already taken
        self._walked_folders.add(real)
        try:
            with os.scandir(place.path) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as err:
            self.skips.append(Skip(str(place.path), "unreadable", _strerror(err)))
            return
        names = frozenset(entry.name for entry in entries)
        if IGNORE_FILE in names:
            ignores = (*ignores, *self._ignore_file(place))
        kept: list[tuple[_Place, bool]] = []  # (where, is a folder), once the rules pass
        beside_data = False  # a dataset's folder, whatever patterns leave out of it
        for entry in entries:
            if not entry.name.startswith(".") and not is_text(entry.name):
                self.skips.append(Skip(shown(place.path / entry.name), "name not UTF-8"))
                continue
            child = place.child(entry.name)
            is_dir = self._kind(entry, child)
            beside_data = beside_data or (is_dir is False and _is_data(entry.name))
            if is_dir is not None and not self._left_out(entry, child, is_dir, ignores):
                kept.append((child, is_dir))
        for child, is_dir in kept:
            if is_dir:
                self._subfolder(child, names, ancestors | {real}, ignores)
            elif beside_data and _is_note(child.path.name):
                self._leave_out(child, NOTE, "beside data files")
            elif file_format(child.path.name) is None:
                self.skips.append(Skip(str(child.path), "unsupported type"))
            else:
                self.file(child.path, child.label)

    def _subfolder(
        self,
        place: _Place,
        siblings: frozenset[str],
        ancestors: frozenset[str],
        ignores: tuple[_IgnoreFile, ...],
    ) -> None:
        page = _saved_page(place.path.name, siblings)
        if page is None:
            self.folder(place, ancestors, ignores)
        else:  # images, scripts and ad frames of the page, not articles
            self.skips.append(Skip(str(place.path), "saved page assets", f"the files of {page}"))

    def _kind(self, entry: os.DirEntry[str], place: _Place) -> bool | None:
        """True for a folder, False for a file, None for hidden entries and anything that
        is neither (counted here)."""
        if entry.name.startswith("."):
            if entry.name != IGNORE_FILE:  # our own file, read as patterns
                self._leave_out(place, HIDDEN)
            return None
        try:
            if entry.is_dir():
                return True
            if entry.is_file():
                return False
        except OSError as err:  # a link that points back at itself, and the like
            reason = "symlink loop" if err.errno == errno.ELOOP else "unreadable"
            self.skips.append(Skip(str(place.path), reason, _strerror(err)))
            return None
        if entry.is_symlink():
            self.skips.append(Skip(str(place.path), "unreadable", "broken symlink"))
        else:
            self.skips.append(Skip(str(place.path), "unsupported type", "not a regular file"))
        return None

    def _left_out(
        self,
        entry: os.DirEntry[str],
        place: _Place,
        is_dir: bool,
        ignores: tuple[_IgnoreFile, ...],
    ) -> bool:
        """Whether a rule leaves this entry out (then counted)."""
        relative = place.relative + ("/" if is_dir else "")
        if self._exclude is not None:
            excluded, pattern = _matched(self._exclude, relative)
            if excluded:
                return self._leave_out(place, EXCLUDED, pattern)
        for ignore in reversed(ignores):  # the deepest file that speaks of it decides
            ignored, pattern = ignore.verdict(relative)
            if ignored is not None:
                if ignored:
                    return self._leave_out(place, IGNORED, f"{pattern} in {ignore.label}")
                break
        if self._inside is not None and entry.is_symlink():
            target = os.path.realpath(place.path)
            if not any(_within(target, folder) for folder in self._inside):
                return self._leave_out(place, LINK_OUTSIDE, f"leads to {target}")
        return False

    def _leave_out(self, place: _Place, reason: str, detail: str = "") -> bool:
        self.left_out.append(Skip(str(place.path), reason, detail))
        return True

    def _ignore_file(self, place: _Place) -> tuple[_IgnoreFile, ...]:
        """The folder's ``.newssearchignore``; a problem with it is a skip, and the walk
        goes on without it."""
        path = place.path / IGNORE_FILE
        label = place.child(IGNORE_FILE).label
        try:
            status = path.lstat()
            if not stat.S_ISREG(status.st_mode):  # never a link, a FIFO or a device
                self.skips.append(Skip(str(path), "unreadable", "not a regular file"))
                return ()
            if status.st_size > MAX_IGNORE_BYTES:
                self.skips.append(Skip(str(path), "too large", f"over {MAX_IGNORE_BYTES:,} bytes"))
                return ()
            lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        except OSError as err:
            self.skips.append(Skip(str(path), "unreadable", _strerror(err)))
            return ()
        try:
            return (_IgnoreFile(place.relative, _spec(lines), label),)
        except ValueError:  # said by line number: the file's text is never echoed
            self.skips.append(Skip(str(path), "malformed ignore file", _bad_line(lines)))
            return ()


def _bad_line(lines: list[str]) -> str:
    for number, line in enumerate(lines, 1):
        try:
            _spec([line])
        except ValueError:
            return f"line {number} is not gitignore syntax"
    return "not gitignore syntax"


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _saved_page(name: str, siblings: frozenset[str]) -> str | None:
    """The page that folder ``name`` holds the files of, when it is a browser's
    "Save page as" folder: ``page_files`` next to ``page.html``."""
    stem = name.removesuffix("_files")
    if stem == name or not stem:
        return None
    return next((stem + ext for ext in (".html", ".htm") if stem + ext in siblings), None)
