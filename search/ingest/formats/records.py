"""Reading JSON Lines and JSON files: each object a record, each record an article.

``.jsonl`` and ``.jsonl.gz`` are streamed line by line (BEIR ``corpus.jsonl`` works as
is), a line over ``MAX_ARTICLE_BYTES`` skipped without being held; ``.json`` and
``.json.gz`` hold a list of objects, one object, or ``{"articles": [...]}``, read whole
under ``MAX_DOCUMENT_BYTES``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, Protocol, cast

from search.ingest.article import (
    _SURROGATE_PROBLEM,
    MAX_ARTICLE_BYTES,
    MAX_DOCUMENT_BYTES,
    Article,
    Skip,
    SourceFile,
    _Records,
    _Unusable,
)
from search.ingest.decode import (
    _BOMS,
    _SNIFF_BYTES,
    _compressed,
    _decode_guessing,
    _opened,
    _read_text,
)
from search.ingest.metadata import (
    BODY_KEYS,
    ID_KEYS,
    has_lone_surrogate,
    record_date,
    record_fields,
    record_outlet,
    record_url,
)
from search.ingest.paragraphs import _body

# Only a \u escape in the raw JSON can make a lone surrogate: decoded UTF-8 never holds one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SKIP_BLOCK = 1 << 20  # how much of an over-long line is read (and dropped) at a time
_BLANK_LINES = re.compile(r"\s*\n")  # whole lines of str.isspace() characters, at once
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
            _read_jsonl_lines(cast(_Peekable, handle), records)
    except _Unusable as problem:  # a truncated gzip: keep the lines before it
        records.skip(problem.reason, problem.detail)
    if not records.articles and not records.skips:
        raise _Unusable("empty", "only whitespace")
    return records.result()


def _read_jsonl_lines(handle: _Peekable, records: _Records) -> None:
    decoder = _LineDecoder()
    limit = MAX_ARTICLE_BYTES
    for number, line in _binary_lines(handle, limit):
        if number == 1 and line is not None:
            line = line.removeprefix(codecs.BOM_UTF8)
        if line is None:
            records.skip("too large", f"line {number}: more than {limit:,} bytes")
        elif line and not line.isspace():  # a BOM, then nothing or a blank line
            try:
                text = decoder.decode(line)
            except _Unusable as problem:
                records.skip(problem.reason, f"line {number}: {problem.detail}")
                continue
            _add_json_line(records, text, number)


def _binary_lines(handle: _Peekable, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(1-based number, line) for each line split at b"\\n" that holds more than
    whitespace; the line is None when it is longer than ``limit`` bytes, and then it is
    read past, never held. Runs of blank lines are read past a block at a time."""
    number = 0
    while True:
        number += _skip_blank(handle)
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := handle.readline(_SKIP_BLOCK)) and not rest.endswith(b"\n"):
            pass
        yield number, None


class _Peekable(Protocol):
    """A binary file that can show what comes next without reading it (a buffered file,
    a ``GzipFile``)."""

    def peek(self, size: int, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


def _skip_blank(handle: _Peekable) -> int:
    """Read past whitespace a block at a time, not a line at a time (64 MB of newlines
    are 64 million lines); the number of newlines passed. Stops at the first byte that is
    not whitespace, so the next line is read whole."""
    newlines = 0
    while ahead := handle.peek(_SKIP_BLOCK):
        end = len(ahead) - len(ahead.lstrip())  # bytes.lstrip: ASCII whitespace
        newlines += ahead.count(b"\n", 0, end)
        handle.read(end)
        if end < len(ahead):
            break
    return newlines


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
    """Yield (1-based number, line) for each line that holds more than whitespace, split
    on "\\n" only, without copying the whole text; runs of blank lines are passed at once.

    ``str.splitlines`` would also split on characters such as U+2028, which
    JSON allows unescaped inside strings.
    """
    start, number = 0, 1
    while start < len(text):
        blank = _BLANK_LINES.match(text, start)
        if blank:  # whole blank lines, each ending in "\n"
            number += text.count("\n", start, blank.end())
            start = blank.end()
            continue
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        line = text[start:end]
        if not line.isspace():  # the last line, without its "\n"
            yield number, line
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
