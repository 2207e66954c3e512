"""Reading files into ``Article``s.

``discover`` finds the article files under the paths a user gives; ``read_source``
reads one of them. Formats, chosen by file name:

- ``.txt``, ``.md``: one article; the first non-empty line is the title.
- ``.jsonl``, ``.jsonl.gz``: one JSON object per line (BEIR ``corpus.jsonl`` works as is).
- ``.json``, ``.json.gz``: a list of objects, one object, or ``{"articles": [...]}``.
- ``.html``, ``.htm``: main text, title and date extracted by trafilatura.

A file or record that cannot be used becomes a ``Skip`` with one of these reasons:
"unsupported type", "symlink loop", "empty", "binary", "undecodable", "unreadable",
"malformed JSON line", "invalid record", "no text". Bad content never raises.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = [
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
)


FieldValue = str | int | float | bool | list[str]
"""A kept record field: a scalar, or a list of strings (Reuters' ``topics``)."""


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
    unsupported type. Files met on the way that cannot be used become ``Skip``s.
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
        for entry in entries:
            if not entry.name.startswith("."):
                child_label = f"{label}/{entry.name}" if label else entry.name
                self._entry(entry, path / entry.name, child_label, inside)

    def _entry(
        self, entry: os.DirEntry[str], path: Path, label: str, ancestors: frozenset[str]
    ) -> None:
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError as err:  # a link that points back at itself, and the like
            reason = "symlink loop" if err.errno == errno.ELOOP else "unreadable"
            self.skips.append(Skip(str(path), reason, _strerror(err)))
            return
        if is_dir:
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


_Reader = Callable[[str, SourceFile], tuple[list[Article], list[Skip]]]


def read_source(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    """Read one file into articles; problems become Skips, never exceptions."""
    suffix = _suffix(source.path.name)
    if suffix is None:
        return [], [Skip(str(source.path), "unsupported type")]
    try:
        data = _read_bytes(source.path, compressed=suffix.endswith(".gz"))
        text = _decode(data)
        del data  # a large file should not be held twice
        return _READERS[suffix](text, source)
    except _Unusable as problem:
        return [], [Skip(str(source.path), problem.reason, problem.detail)]


def _read_bytes(path: Path, compressed: bool) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _Unusable("unreadable", _strerror(err)) from None
    if not compressed:
        return data
    try:
        return gzip.decompress(data)
    except gzip.BadGzipFile:
        raise _Unusable("unreadable", "not a valid gzip file") from None
    except EOFError:
        raise _Unusable("unreadable", "truncated gzip file") from None
    except zlib.error as err:
        raise _Unusable("unreadable", f"corrupt gzip data ({err})") from None


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
    # Guessing from the start is much faster on a large file; check on the whole.
    for sample in (data[:_GUESS_BYTES], data) if len(data) > _GUESS_BYTES else (data,):
        encoding = _guess_encoding(sample)
        if encoding is None:
            continue
        try:
            return data.decode(encoding)
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


def _body(text: str, where: str) -> str:
    body = "\n\n".join(split_paragraphs(text))
    if not body:
        raise _Unusable("no text", where)
    return body


# --- plain text and Markdown

_MD_CLOSING_HASHES = re.compile(r"\s+#+\s*$")
_MD_SETEXT_UNDERLINE = re.compile(r"\s*(=+|-+)\s*")


def _read_txt(text: str, source: SourceFile) -> tuple[list[Article], list[Skip]]:
    title, _, rest = text.lstrip().partition("\n")
    return [_text_article(title.strip(), rest, source)], []


def _read_md(text: str, source: SourceFile) -> tuple[list[Article], list[Skip]]:
    heading, _, rest = text.lstrip().partition("\n")
    title = _MD_CLOSING_HASHES.sub("", heading.strip().lstrip("#")).strip()
    underline, _, after = rest.partition("\n")
    if _MD_SETEXT_UNDERLINE.fullmatch(underline):
        rest = after
    return [_text_article(title, rest, source)], []


def _text_article(title: str, rest: str, source: SourceFile) -> Article:
    body = _body(rest, "nothing after the title")
    return Article(id=source.id_base, title=title, text=body, source=str(source.path))


# --- JSON Lines and JSON

_BODY_FIELDS = ("text", "body", "content")
_ID_FIELDS = ("id", "_id")


def _read_jsonl(text: str, source: SourceFile) -> tuple[list[Article], list[Skip]]:
    articles: list[Article] = []
    skips: list[Skip] = []
    for number, line in _numbered_lines(text):
        if not line or line.isspace():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            detail = f"{where}: {err.msg} (column {err.colno})"
            skips.append(Skip(str(source.path), "malformed JSON line", detail))
            continue
        except RecursionError:
            skips.append(Skip(str(source.path), "malformed JSON line", f"{where}: nested too deep"))
            continue
        _add_record(record, where, f"{source.id_base}#{number}", source, articles, skips)
    return articles, skips


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


def _read_json(text: str, source: SourceFile) -> tuple[list[Article], list[Skip]]:
    path = str(source.path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        detail = f"line {err.lineno} col {err.colno}: {err.msg}"
        return [], [Skip(path, "malformed JSON line", detail)]
    except RecursionError:
        return [], [Skip(path, "malformed JSON line", "nested too deep")]
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        records = data["articles"]
    elif isinstance(data, dict):
        records = [data]
    elif isinstance(data, list):
        records = data
    else:
        detail = f"expected an object or a list of objects, got {_json_type(data)}"
        return [], [Skip(path, "invalid record", detail)]
    if not records:
        return [], [Skip(path, "empty", "no records")]
    articles: list[Article] = []
    skips: list[Skip] = []
    for position, record in enumerate(records, 1):
        where = f"record {position}"
        _add_record(record, where, f"{source.id_base}#{position}", source, articles, skips)
    return articles, skips


def _add_record(
    record: Any,
    where: str,
    fallback_id: str,
    source: SourceFile,
    articles: list[Article],
    skips: list[Skip],
) -> None:
    try:
        articles.append(_record_article(record, where, fallback_id, source))
    except _Unusable as problem:
        skips.append(Skip(str(source.path), problem.reason, problem.detail))


def _record_article(record: Any, where: str, fallback_id: str, source: SourceFile) -> Article:
    if not isinstance(record, dict):
        raise _Unusable("invalid record", f"{where}: expected an object, got {_json_type(record)}")
    given_id = _record_id(record, where)
    title = _string_field(record, ("title",), where) or ""
    text = _string_field(record, _BODY_FIELDS, where) or ""
    body = _body(text, f"{where} (id {given_id})" if given_id else where)
    return Article(
        id=given_id or fallback_id,
        title=" ".join(title.split()),
        text=body,
        source=str(source.path),
        date=_optional_string(record, "date"),
        url=_optional_string(record, "url"),
    )


def _record_id(record: dict[str, Any], where: str) -> str | None:
    for name in _ID_FIELDS:
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


def _optional_string(record: dict[str, Any], name: str) -> str | None:
    # Metadata of the wrong type is dropped rather than costing the article.
    value = record.get(name)
    return value if isinstance(value, str) and value.strip() else None


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


def _read_html(text: str, source: SourceFile) -> tuple[list[Article], list[Skip]]:
    import trafilatura  # slow to import, and only HTML needs it

    if "<html" not in text[:4096].lower():
        text = f"<html>{text}</html>"  # trafilatura rejects a bare fragment
    try:
        result = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False)
    except Exception as err:  # a parser crash on odd HTML is bad content, not our bug
        detail = f"HTML extraction failed: {type(err).__name__}"
        return [], [Skip(str(source.path), "unreadable", detail)]
    if result is None:
        return [], [Skip(str(source.path), "no text", "no main text found")]
    fields = result if isinstance(result, dict) else result.as_dict()
    title = " ".join((fields.get("title") or "").split()) or source.path.stem
    paragraphs = split_paragraphs(fields.get("text") or "")
    if paragraphs and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # the headline, repeated at the top of the body
    if not paragraphs:
        return [], [Skip(str(source.path), "no text", "no main text found")]
    article = Article(
        id=source.id_base,
        title=title,
        text="\n\n".join(paragraphs),
        source=str(source.path),
        date=fields.get("date") or None,
        url=fields.get("url") or None,
    )
    return [article], []


_READERS: dict[str, _Reader] = {
    ".txt": _read_txt,
    ".md": _read_md,
    ".jsonl": _read_jsonl,
    ".jsonl.gz": _read_jsonl,
    ".json": _read_json,
    ".json.gz": _read_json,
    ".html": _read_html,
    ".htm": _read_html,
}
