"""A file's bytes, and their text.

``_opened`` and ``_read_capped`` read a file, gunzipped when its name ends in ``.gz``,
read errors becoming ``_Unusable``; ``_decode`` turns bytes into text with "\\n" line
endings: a BOM's encoding, else UTF-8, else the likeliest encoding (Windows-1252 first).
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from search.ingest.article import SourceFile, _strerror, _Unusable


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
