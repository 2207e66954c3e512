"""Reading files into ``Article``s.

``discover`` finds the article files under the paths a user gives; ``read_source``
reads one of them. Formats, chosen by file name:

- ``.txt``, ``.md``: one article; the first non-empty line is the title (for ``.md``, without
  its ``#``s). YAML front matter between a first line ``---`` and the next ``---`` line gives
  the title, date, outlet, url and other fields.
- ``.jsonl``, ``.jsonl.gz``: one JSON object per line (BEIR ``corpus.jsonl`` works as is),
  streamed line by line.
- ``.json``, ``.json.gz``: a list of objects, one object, or ``{"articles": [...]}``.
- ``.html``, ``.htm``: main text, title, date and site name extracted by trafilatura.
  ``discover`` leaves out ``page_files/``, the folder a browser's "Save page as" writes
  next to ``page.html``.
- ``.rss``, ``.atom``, and ``.xml`` when it is a feed: each entry an article.
- ``.warc``, ``.warc.gz``: each HTML page a crawler saved with status 200, streamed.

A record's metadata is normalised by ``metadata``: ``published`` in ISO 8601 (UTC),
``source`` the outlet, ``fields`` its other scalar and list-of-strings fields.
A record with a title and no text is an article whose text is its title.

Memory is bounded: a JSON Lines line, a WARC page or a one-article file over
``MAX_ARTICLE_BYTES`` (64 MiB), or a ``.json`` file or feed over ``MAX_DOCUMENT_BYTES``
(64 MiB), decompressed, is skipped as "too large" without being held whole. (JSON Lines
in UTF-16 or UTF-32, which cannot be split into lines as bytes, is read whole under
``MAX_DOCUMENT_BYTES``.)

A file or record that cannot be used becomes a ``Skip`` with one of these reasons:
"unsupported type", "symlink loop", "saved page assets", "empty", "binary", "undecodable",
"unreadable", "too large", "malformed JSON line", "malformed front matter",
"malformed feed", "malformed WARC record", "invalid record", "no text".
Bad content never raises, and a problem partway through a file keeps what was read before it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import errno
import functools
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from search.errors import InputError
from search.ingest.metadata import (
    BODY_KEYS,
    ID_KEYS,
    FieldValue,
    has_lone_surrogate,
    normalise_date,
    read_date,
    record_date,
    record_fields,
    record_outlet,
    record_url,
    url_host,
)

if TYPE_CHECKING:
    from search.ingest.feeds import Entry
    from search.ingest.warc import Page

__all__ = [
    "MAX_ARTICLE_BYTES",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Article",
    "FieldValue",
    "Skip",
    "SourceFile",
    "discover",
    "read_source",
    "split_paragraphs",
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

MAX_ARTICLE_BYTES = 64 * 1024 * 1024
"""The most one article may take, decompressed: a JSON Lines line, a WARC page, a
``.txt``, ``.md`` or ``.html`` file. Longer than any news article by far, and room for a
book-length text (a 50 MB one is tested)."""

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""The most a ``.json`` file or a feed may take, decompressed: these are parsed whole."""


@dataclass(frozen=True)
class Article:
    """One news article as read from a file.

    ``text`` is the body with paragraphs separated by one blank line ("\\n\\n");
    passage offsets index into it. ``published`` is ISO 8601: ``1987-02-26T15:01:01Z`` (UTC)
    or ``1987-02-26`` when only the day is known. ``source`` is the outlet ("Reuters"),
    ``path`` the file the article was read from. ``fields`` holds the record's other
    scalar and list-of-strings fields (Reuters ``topics``, BBC ``category``).
    ``unparsed_date`` is a date the record gave that could not be read (``published`` is
    then None): the run's summary counts such articles.
    """

    id: str
    title: str
    text: str
    path: str
    published: str | None = None
    source: str | None = None
    url: str | None = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    unparsed_date: str | None = None


@dataclass(frozen=True)
class Skip:
    """Something that was not indexed, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class SourceFile:
    """A file found under an indexed path, with the id its articles derive from."""

    path: Path
    id_base: str


# ---------------------------------------------------------------------------
# Finding files


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
            if not entry.name.startswith("."):
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


def _strerror(err: OSError) -> str:
    return err.strerror or str(err)


# ---------------------------------------------------------------------------
# Reading one file


class _Unusable(Exception):
    """Raised inside this module for content that becomes a ``Skip``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


_Reader = Callable[[SourceFile], tuple[list[Article], list[Skip]]]


def read_source(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    """Read one file into articles; problems become Skips, never exceptions."""
    suffix = _suffix(source.path.name)
    if suffix is None:
        return [], [Skip(str(source.path), "unsupported type")]
    try:
        return _READERS[suffix](source)
    except _Unusable as problem:
        return [], [Skip(str(source.path), problem.reason, problem.detail)]


class _Records:
    """The articles and skips of one file, gathered as its records are read."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.articles: list[Article] = []
        self.skips: list[Skip] = []

    def skip(self, reason: str, detail: str = "") -> None:
        self.skips.append(Skip(str(self.source.path), reason, detail))

    def add(self, make: Callable[..., Article], *args: Any) -> None:
        """Add the article ``make(*args)`` builds, or its problem as a skip."""
        try:
            self.articles.append(make(*args))
        except _Unusable as problem:
            self.skip(problem.reason, problem.detail)

    def result(self) -> tuple[list[Article], list[Skip]]:
        return self.articles, self.skips


def _compressed(source: SourceFile) -> bool:
    return source.path.name.lower().endswith(".gz")


@contextmanager
def _opened(path: Path, compressed: bool) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when ``compressed``; read errors become ``_Unusable``."""
    try:
        with path.open("rb") as raw:
            if not compressed:
                yield raw
                return
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield cast(IO[bytes], unzipped)  # a GzipFile reads as any binary file does
    except gzip.BadGzipFile:  # an OSError: first
        raise _Unusable("unreadable", "not a valid gzip file") from None
    except EOFError:
        raise _Unusable("unreadable", "truncated gzip file") from None
    except zlib.error as err:
        raise _Unusable("unreadable", f"corrupt gzip data ({err})") from None
    except OSError as err:
        raise _Unusable("unreadable", _strerror(err)) from None


def _read_capped(source: SourceFile, limit: int) -> bytes:
    """The whole file, decompressed; "too large" past ``limit`` bytes, read no further."""
    compressed = _compressed(source)
    with _opened(source.path, compressed) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        unpacked = " decompressed" if compressed else ""
        raise _Unusable("too large", f"more than {limit:,} bytes{unpacked}")
    return data


def _read_text(source: SourceFile, limit: int) -> str:
    return _decode(_read_capped(source, limit))


# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 8192
_GUESS_BYTES = 1 << 20


def _decode(data: bytes) -> str:
    """Decode a file's bytes to text with "\\n" line endings."""
    if not data:
        raise _Unusable("empty")
    text = _decode_bytes(data)
    if text.isspace():
        raise _Unusable("empty", "only whitespace")
    return _normalise_newlines(text)


def _decode_bytes(data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as err:
                raise _Unusable("undecodable", f"invalid {codec}: {err.reason}") from None
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise _Unusable("binary", "NUL bytes near the start")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _decode_guessing(data)[0]


def _decode_guessing(data: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8, decoded with the likeliest encoding: (text, encoding)."""
    # Guessing from the start is much faster on a large file; check on the whole.
    for sample in (data[:_GUESS_BYTES], data) if len(data) > _GUESS_BYTES else (data,):
        encoding = _guess_encoding(sample)
        if encoding is None:
            continue
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    raise _Unusable("undecodable", "not UTF-8, and no other encoding fits")


def _guess_encoding(data: bytes) -> str | None:
    if _plausible_cp1252(data):
        return "cp1252"
    from charset_normalizer import from_bytes  # only for files that are not UTF-8

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    # On short text charset-normalizer cannot tell single-byte code pages apart and
    # picks one of many equally scored; Windows-1252 is the likeliest for news text.
    for match in matches:
        close = match.chaos - best.chaos <= 0.01 and best.coherence - match.coherence <= 0.05
        if close and "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return best.encoding


def _plausible_cp1252(data: bytes) -> bool:
    """Windows-1252, the commonest legacy encoding of news text, if it fits the bytes and
    reads as Western text: accented letters sparse among plain ones (Cyrillic bytes read
    as cp1252 give words made wholly of accented letters)."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    letters = [c for c in text if c.isalpha()]
    accented = sum(1 for c in letters if ord(c) > 127)
    return accented <= 0.3 * len(letters)


def _normalise_newlines(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_paragraphs(text: str) -> list[str]:
    """Split body text into paragraphs, each stripped and on one line.

    Paragraphs are separated by blank lines when the text has any; otherwise
    every non-empty line is a paragraph.

    >>> split_paragraphs("One\\nline.\\n\\nTwo.")
    ['One line.', 'Two.']
    >>> split_paragraphs("One.\\nTwo.")
    ['One.', 'Two.']
    """
    lines = [line.rstrip() for line in _normalise_newlines(text).split("\n")]
    filled = [number for number, line in enumerate(lines) if line]
    if not filled:
        return []
    # Blank lines before the first or after the last paragraph separate nothing.
    lines = lines[filled[0] : filled[-1] + 1]
    if len(filled) == len(lines):
        return [line.strip() for line in lines]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return paragraphs


def _body(text: str, where: str, title: str = "") -> str:
    """The text as paragraphs; a record with a title and no text is its title alone."""
    body = "\n\n".join(split_paragraphs(text)) or title
    if not body:
        raise _Unusable("no text", where)
    return body


def _checked(article: Article, where: str) -> Article:
    """The article, unless a string of it cannot be stored as UTF-8 (a lone surrogate)."""
    strings = [article.id, article.title, article.text, article.url, article.source]
    if has_lone_surrogate([*strings, article.unparsed_date, article.fields]):
        raise _Unusable("invalid record", f"{where}: {_SURROGATE_PROBLEM}")
    return article


_SURROGATE_PROBLEM = "a string holds a lone surrogate, which UTF-8 cannot store"


# --- plain text and Markdown, with front matter

_MD_CLOSING_HASHES = re.compile(r"\s+#+\s*$")
_MD_SETEXT_UNDERLINE = re.compile(r"\s*(=+|-+)\s*")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_MAX_FRONT_MATTER_CHARS = 64 * 1024  # PyYAML is slow: a bound on the time it may take


def _read_txt(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    meta, rest = _front_matter(_read_text(source, MAX_ARTICLE_BYTES))
    title = _meta_title(meta)
    if not title:
        first, _, rest = rest.lstrip().partition("\n")
        title = first.strip()
    return [_text_article(title, rest, meta, source)], []


def _read_md(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    meta, rest = _front_matter(_read_text(source, MAX_ARTICLE_BYTES))
    heading, after = _md_heading(rest)
    title = _meta_title(meta)
    if not title:
        title, rest = heading, after
    elif heading == title:
        rest = after  # the title, repeated as the first heading
    return [_text_article(title, rest, meta, source)], []


def _md_heading(text: str) -> tuple[str, str]:
    """The first line as a title without its ``#``s or setext underline, and the rest."""
    heading, _, rest = text.lstrip().partition("\n")
    title = _MD_CLOSING_HASHES.sub("", heading.strip().lstrip("#")).strip()
    underline, _, after = rest.partition("\n")
    if _MD_SETEXT_UNDERLINE.fullmatch(underline):
        rest = after
    return title, rest


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a text file and the text after it; ``{}`` and the whole
    text when the first line is not ``---``."""
    first, _, rest = text.lstrip().partition("\n")
    if first.rstrip() != "---":
        return {}, text
    end = _FRONT_MATTER_END.search(rest)
    if end is None:
        raise _Unusable("malformed front matter", "no closing '---' line")
    if end.start() > _MAX_FRONT_MATTER_CHARS:
        raise _Unusable("too large", f"front matter over {_MAX_FRONT_MATTER_CHARS:,} characters")
    meta = _load_yaml(rest[: end.start()])
    if meta is None:
        meta = {}  # "---" then "---": front matter with nothing in it
    if not isinstance(meta, dict):
        raise _Unusable("malformed front matter", f"YAML {type(meta).__name__}, not a mapping")
    if has_lone_surrogate(meta):
        raise _Unusable("malformed front matter", _SURROGATE_PROBLEM)
    return meta, rest[end.end() :]


def _load_yaml(block: str) -> Any:
    import yaml  # only front matter needs it

    try:
        return yaml.load(block, Loader=_yaml_loader())  # a SafeLoader: builds no objects
    except (yaml.YAMLError, RecursionError) as err:
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise _Unusable("malformed front matter", detail) from None


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's SafeLoader, but an impossible date (``2024-02-30``) stays a string, to
    become the article's ``unparsed_date`` rather than cost it."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
        try:
            return loader.construct_yaml_timestamp(node)
        except ValueError:
            return loader.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return Loader


def _meta_title(meta: dict[str, Any]) -> str:
    value = meta.get("title")
    # YAML reads "title: 1984" as a number; it is still the title.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return " ".join(str(value).split())
    return ""


def _text_article(title: str, rest: str, meta: dict[str, Any], source: SourceFile) -> Article:
    body = _body(rest, "nothing after the title")
    published, unparsed = record_date(meta)
    article = Article(
        id=source.id_base,
        title=title,
        text=body,
        path=str(source.path),
        published=published,
        source=record_outlet(meta),
        url=record_url(meta),
        fields=record_fields(meta),
        unparsed_date=unparsed,
    )
    return _checked(article, "front matter")


# --- JSON Lines and JSON

# Only a \u escape in the raw JSON can make a lone surrogate: decoded UTF-8 never holds one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SKIP_BLOCK = 1 << 20  # how much of an over-long line is read (and dropped) at a time
_UTF16_32_BOMS = tuple(bom for bom, codec in _BOMS if codec != "utf-8-sig")


def _read_jsonl(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    with _opened(source.path, _compressed(source)) as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise _Unusable("empty")
    if head.startswith(_UTF16_32_BOMS):  # lines are not bytes split at b"\n": read it whole
        return _read_jsonl_text(source)
    if b"\x00" in head:
        raise _Unusable("binary", "NUL bytes near the start")
    records = _Records(source)
    try:
        with _opened(source.path, _compressed(source)) as handle:
            _read_jsonl_lines(handle, records)
    except _Unusable as problem:  # a truncated gzip: keep the lines before it
        records.skip(problem.reason, problem.detail)
    if not records.articles and not records.skips:
        raise _Unusable("empty", "only whitespace")
    return records.result()


def _read_jsonl_lines(handle: IO[bytes], records: _Records) -> None:
    decoder = _LineDecoder()
    limit = MAX_ARTICLE_BYTES
    for number, line in _binary_lines(handle, limit):
        if number == 1 and line is not None:
            line = line.removeprefix(codecs.BOM_UTF8)
        if line is None:
            records.skip("too large", f"line {number}: more than {limit:,} bytes")
        elif line and not line.isspace():
            try:
                text = decoder.decode(line)
            except _Unusable as problem:
                records.skip(problem.reason, f"line {number}: {problem.detail}")
                continue
            _add_json_line(records, text, number)


def _binary_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(1-based number, line) for each line split at b"\\n"; the line is None when it is
    longer than ``limit`` bytes, and then it is read past, never held."""
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := handle.readline(_SKIP_BLOCK)) and not rest.endswith(b"\n"):
            pass
        yield number, None


class _LineDecoder:
    """Decodes JSON Lines one line at a time: UTF-8, or the encoding a line that is not
    UTF-8 was found in, tried first on the lines after it."""

    def __init__(self) -> None:
        self.fallback: str | None = None

    def decode(self, line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if self.fallback is not None:
            try:
                return line.decode(self.fallback)
            except UnicodeDecodeError:
                pass
        text, self.fallback = _decode_guessing(line)
        return text


def _read_jsonl_text(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    records = _Records(source)
    for number, line in _numbered_lines(_read_text(source, MAX_DOCUMENT_BYTES)):
        if line and not line.isspace():
            _add_json_line(records, line, number)
    return records.result()


def _add_json_line(records: _Records, line: str, number: int) -> None:
    where = f"line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        records.skip("malformed JSON line", f"{where}: {err.msg} (column {err.colno})")
        return
    except ValueError as err:  # an integer over Python's 4,300 digits
        records.skip("malformed JSON line", f"{where}: {str(err).split(';')[0]}")
        return
    except RecursionError:
        records.skip("malformed JSON line", f"{where}: nested too deep")
        return
    fallback_id = f"{records.source.id_base}#{number}"
    surrogates = _SURROGATE_ESCAPE.search(line) is not None
    records.add(_record_article, record, where, fallback_id, records.source, surrogates)


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based number, line) split on "\\n" only, without copying the whole text.

    ``str.splitlines`` would also split on characters such as U+2028, which
    JSON allows unescaped inside strings.
    """
    start, number = 0, 1
    while start < len(text):
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        yield number, text[start:end]
        start, number = end + 1, number + 1


def _read_json(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    text = _read_text(source, MAX_DOCUMENT_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        detail = f"line {err.lineno} col {err.colno}: {err.msg}"
        raise _Unusable("malformed JSON line", detail) from None
    except ValueError as err:  # an integer over Python's 4,300 digits
        raise _Unusable("malformed JSON line", str(err).split(";")[0]) from None
    except RecursionError:
        raise _Unusable("malformed JSON line", "nested too deep") from None
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    del text
    records, outlet = _json_records(data)
    result = _Records(source)
    for position, record in enumerate(records, 1):
        where, fallback_id = f"record {position}", f"{source.id_base}#{position}"
        result.add(_record_article, record, where, fallback_id, source, surrogates, outlet)
    return result.result()


def _json_records(data: Any) -> tuple[list[Any], str | None]:
    """The records of a JSON document, and the outlet a wrapper object names for them all."""
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        records, outlet = data["articles"], record_outlet(data)
    elif isinstance(data, dict):
        records, outlet = [data], None
    elif isinstance(data, list):
        records, outlet = data, None
    else:
        detail = f"expected an object or a list of objects, got {_json_type(data)}"
        raise _Unusable("invalid record", detail)
    if not records:
        raise _Unusable("empty", "no records")
    return records, outlet


def _record_article(
    record: Any,
    where: str,
    fallback_id: str,
    source: SourceFile,
    surrogates: bool = True,
    outlet: str | None = None,
) -> Article:
    """The article of one JSON record. ``surrogates``: whether the record's JSON may hold a
    lone surrogate (it is looked for only then); ``outlet``: the source when it names none."""
    if not isinstance(record, dict):
        raise _Unusable("invalid record", f"{where}: expected an object, got {_json_type(record)}")
    if surrogates and has_lone_surrogate(record):
        raise _Unusable("invalid record", f"{where}: {_SURROGATE_PROBLEM}")
    given_id = _record_id(record, where)
    title = " ".join((_string_field(record, ("title",), where) or "").split())
    text = _string_field(record, BODY_KEYS, where) or ""
    body = _body(text, f"{where} (id {given_id})" if given_id else where, title)
    published, unparsed = record_date(record)
    return Article(
        id=given_id or fallback_id,
        title=title,
        text=body,
        path=str(source.path),
        published=published,
        source=record_outlet(record) or outlet,
        url=record_url(record),
        fields=record_fields(record),
        unparsed_date=unparsed,
    )


def _record_id(record: dict[str, Any], where: str) -> str | None:
    for name in ID_KEYS:
        value = record.get(name)
        if value is None:
            continue
        # bool is an int to Python, but never an id.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _Unusable("invalid record", _wrong_type(where, name, value, "string or integer"))
        if value.strip():
            return value
    return None


def _string_field(record: dict[str, Any], names: tuple[str, ...], where: str) -> str | None:
    """The first of ``names`` present (and not null) in ``record``, which must be a string."""
    for name in names:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _Unusable("invalid record", _wrong_type(where, name, value, "string"))
        return value
    return None


def _wrong_type(where: str, name: str, value: Any, expected: str) -> str:
    return f"{where}: {name!r} is {_json_type(value)}, expected {expected}"


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


# --- HTML


def _read_html(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    markup = _read_text(source, MAX_ARTICLE_BYTES)
    article = _page_article(markup, source, source.id_base, source.path.stem)
    return [article], []


def _page_article(
    markup: str,
    source: SourceFile,
    page_id: str,
    fallback_title: str,
    url: str | None = None,
    crawled: str | None = None,
) -> Article:
    """The article of an HTML page. ``url`` is where it was fetched from (it then gives the
    id and the outlet); ``crawled`` the date it was fetched, used when the page gives none."""
    page = _extract_page(markup, url)
    title = " ".join((page.get("title") or "").split()) or fallback_title
    paragraphs = split_paragraphs(page.get("text") or "")
    if paragraphs and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # the headline, repeated at the top of the body
    if not paragraphs:
        raise _Unusable("no text", f"{url}: no main text found" if url else "no main text found")
    published, unparsed = read_date(page.get("date"))
    if published is None:
        published, _ = read_date(crawled)
    page_url = url or page.get("url") or None
    outlet = url_host(url) if url else page.get("sitename") or url_host(page_url)
    fields = {key: page.get(key) for key in ("author", "categories", "tags") if page.get(key)}
    article = Article(
        id=page_id,
        title=title,
        text="\n\n".join(paragraphs),
        path=str(source.path),
        published=published,
        source=outlet,
        url=page_url,
        fields=record_fields(fields),
        unparsed_date=unparsed,
    )
    return _checked(article, url or "page")


def _extract_page(markup: str, url: str | None) -> dict[str, Any]:
    import trafilatura  # slow to import, and only HTML needs it

    if "<html" not in markup[:4096].lower():
        markup = f"<html>{markup}</html>"  # trafilatura rejects a bare fragment
    try:
        result = trafilatura.bare_extraction(
            markup, url=url, with_metadata=True, include_comments=False
        )
    except Exception as err:  # a parser crash on odd HTML is bad content, not our bug
        where = f"{url}: " if url else ""
        raise _Unusable(
            "unreadable", f"{where}HTML extraction failed: {type(err).__name__}"
        ) from None
    if result is None:
        raise _Unusable("no text", f"{url}: no main text found" if url else "no main text found")
    return result if isinstance(result, dict) else result.as_dict()


# --- RSS and Atom feeds


def _read_feed(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    from search.ingest.feeds import MalformedFeed, is_feed, parse_feed

    data = _read_capped(source, MAX_DOCUMENT_BYTES)
    if not data.strip():
        raise _Unusable("empty")
    if source.path.name.lower().endswith(".xml") and not is_feed(_xml_head(data)):
        raise _Unusable("unsupported type", "XML, but not an RSS or Atom feed")
    try:
        feed = parse_feed(data)
    except MalformedFeed as err:
        raise _Unusable("malformed feed", " ".join(str(err).split())[:200]) from None
    except Exception as err:  # a parser crash on odd XML is bad content, not our bug
        raise _Unusable("malformed feed", f"feedparser failed: {type(err).__name__}") from None
    if not feed.entries:
        raise _Unusable("empty", "a feed with no entries")
    records = _Records(source)
    for position, entry in enumerate(feed.entries, 1):
        records.add(_entry_article, entry, position, feed.title, source)
    return records.result()


def _xml_head(data: bytes) -> str:
    """The start of an XML document as text, enough to find its root element."""
    head = data[:65536]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head.decode(codec, errors="ignore")
    return head.decode("latin-1")  # markup is ASCII in every encoding a feed may use


def _entry_article(entry: Entry, position: int, outlet: str | None, source: SourceFile) -> Article:
    """The article of a feed entry: its id and url its link (or guid), its text the
    entry's content or summary, or its title when it has neither."""
    where = f"entry {position}"
    paragraphs = entry.paragraphs or ([entry.title] if entry.title else [])
    if not paragraphs:
        raise _Unusable("no text", where)
    published, unparsed = read_date(entry.published)
    if published is None and entry.published_utc is not None:
        # feedparser reads dates in forms no standard has; it gives them in UTC.
        published = normalise_date(dt.datetime(*entry.published_utc[:6]))
        unparsed = None if published else unparsed
    guid_url = entry.guid if entry.guid and entry.guid.startswith(("http://", "https://")) else None
    article = Article(
        id=entry.link or entry.guid or f"{source.id_base}#{position}",
        title=entry.title,
        text="\n\n".join(paragraphs),
        path=str(source.path),
        published=published,
        source=outlet,
        url=entry.link or guid_url,
        fields=record_fields(entry.fields),
        unparsed_date=unparsed,
    )
    return _checked(article, where)


# --- WARC


def _read_warc(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    from search.ingest.warc import Page, pages

    records = _Records(source)
    try:
        # warcio finds the gzip members itself: the raw bytes, not _opened's gunzipping.
        with _opened(source.path, compressed=False) as handle:
            for item in pages(handle, MAX_ARTICLE_BYTES):
                if isinstance(item, Page):
                    records.add(_warc_article, item, source)
                else:
                    records.skip(item.reason, item.detail)
    except _Unusable as problem:
        records.skip(problem.reason, problem.detail)
    if not records.articles and not records.skips:
        raise _Unusable("no text", "no HTML pages served with status 200")
    return records.result()


def _warc_article(page: Page, source: SourceFile) -> Article:
    """A page from a WARC: id and url the address it was fetched from, outlet that
    address's host, and its date the page's own, else the day it was crawled (WARC-Date)."""
    try:
        markup = _decode_page(page)
    except _Unusable as problem:
        raise _Unusable(problem.reason, f"{page.url}: {problem.detail}") from None
    return _page_article(markup, source, page.url, page.url, url=page.url, crawled=page.warc_date)


def _decode_page(page: Page) -> str:
    if page.charset:
        try:
            return _normalise_newlines(page.html.decode(page.charset))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown charset: guess, as for a file
    return _decode(page.html)


_READERS: dict[str, _Reader] = {
    ".txt": _read_txt,
    ".md": _read_md,
    ".jsonl": _read_jsonl,
    ".jsonl.gz": _read_jsonl,
    ".json": _read_json,
    ".json.gz": _read_json,
    ".html": _read_html,
    ".htm": _read_html,
    ".rss": _read_feed,
    ".atom": _read_feed,
    ".xml": _read_feed,
    ".warc": _read_warc,
    ".warc.gz": _read_warc,
}
