"""Web archives (WARC, plain or gzipped per record), streamed with warcio into HTML pages.

Only ``response`` records of an HTML page served with status 200 are pages; other records
(requests, metadata, images, redirects) are passed over. ``articles`` turns each ``Page``
into an ``Article``.

warcio reads a line however long it is (joining its pieces one by one: quadratic time),
keeps every header line of a record, decompresses a chunked page's chunk whole, and writes
what it finds wrong to stderr. Its readers are used here with bounds: a record's header
and blank lines at most ``MAX_HEADER_BYTES`` in all, read in linear time; a run of blank
lines read past at once; a page decompressed a block at a time up to its limit; and what
warcio would print is a ``Problem``. This module is imported only to read a WARC: it
imports warcio.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader, DecompressingBufferedReader
from warcio.limitreader import LimitReader

__all__ = ["MAX_HEADER_BYTES", "Page", "Problem", "pages"]

MAX_HEADER_BYTES = 1 << 20
"""The most a record's header lines (its WARC and HTTP headers) and the blank lines before
it may take: far more than any crawler writes (servers stop at tens of KB)."""

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_ENCODINGS = ("gzip", "deflate")  # zlib's: each 16 KB block unpacks to at most 16 MB
_READ_BLOCK = 1 << 16
_BLANK = re.compile(rb"\s*")  # ASCII whitespace, as warcio's bytes.rstrip() sees it

# warcio logs the WARC-Target-URI it mends (spaces in it); nothing is wrong with the page.
logging.getLogger("warcio").addHandler(logging.NullHandler())
logging.getLogger("warcio").propagate = False


@dataclass(frozen=True)
class Page:
    """An HTML page found in a WARC: its bytes, and the charset its headers declared."""

    url: str
    warc_date: str | None
    html: bytes
    charset: str | None


@dataclass(frozen=True)
class Problem:
    """A record that could not be used; ``reason`` is a ``Skip`` reason."""

    reason: str
    detail: str


def pages(stream: IO[bytes], limit: int) -> Iterator[Page | Problem]:
    """The HTML pages in a WARC stream, in order, one record in memory at a time.

    A page over ``limit`` bytes (as stored or as decompressed) is a "too large" problem.
    A record that warcio cannot parse, or whose headers pass ``MAX_HEADER_BYTES``, is a
    "malformed WARC record" problem and ends the walk: a WARC has no markers to find the
    next record by.
    """
    archive = _Archive(stream)
    records = iter(archive)
    number = 0
    while True:
        number += 1
        archive.reader.lines_left = MAX_HEADER_BYTES
        try:
            record = next(records)
            found = _page(record, limit) if _is_html_response(record) else None
        except StopIteration:
            yield from _stray(archive, number)
            # warcio ends quietly at a record cut short in its headers: what it read of the
            # file then stops before the file's end.
            if archive.offset < stream.seek(0, io.SEEK_END):
                yield Problem("malformed WARC record", f"record {number}: cut short")
            return
        except Exception as err:  # warcio raises many kinds on bad input
            yield from _stray(archive, number)
            yield Problem("malformed WARC record", f"record {number}: {_describe(err)}")
            return
        yield from _stray(archive, number)
        if found is not None:
            yield found


def _stray(archive: _Archive, number: int) -> Iterator[Problem]:
    """The line found after the record before ``number``, where a blank line belongs."""
    for size in archive.stray:
        where = f"record {number - 1}"
        detail = f"{where}: {size:,} bytes after it where a blank line belongs (a wrong length?)"
        yield Problem("malformed WARC record", detail)
    archive.stray.clear()


class _Refused(Exception):
    """What warcio's readers would have printed, or read without bound."""


class _BrokenPage(_Refused):
    """A page's Content-Encoding that cannot be decoded: that page is lost, not the file."""


class _Quiet:
    """A warcio reader whose gzip or deflate data, broken partway, raises ``refusal``
    rather than printing the error and reading on as if the data had ended there."""

    refusal: type[_Refused] = _Refused
    decompressor: Any
    decomp_type: str | None
    num_block_read: int

    def _decompress(self, data: bytes) -> bytes:
        if self.decompressor is None or not data or self.num_block_read == 0:
            # Unreadable from its first block, warcio reads the data as not compressed.
            return super()._decompress(data)  # type: ignore[misc]
        try:
            return self.decompressor.decompress(data)
        except Exception:  # zlib.error, or brotli's
            raise self.refusal(f"broken {self.decomp_type} data") from None


class _Reader(_Quiet, DecompressingBufferedReader):
    """warcio's reader of a WARC's bytes (gunzipping each record's gzip member), with its
    lines bounded: at most ``lines_left`` more bytes of them, reset by each read of data,
    and read in time linear in their length."""

    lines_left = MAX_HEADER_BYTES

    def read(self, length: int | None = None) -> bytes:
        self.lines_left = MAX_HEADER_BYTES  # a record's data: the lines so far were headers
        return super().read(length)

    def readline(self, length: int | None = None) -> bytes:
        most = self.lines_left + 1 if length is None else min(length, self.lines_left + 1)
        pieces: list[bytes] = []
        while most > 0:
            self._fillbuff()
            if self.empty():
                break
            piece = self.buff.readline(most)
            pieces.append(piece)
            most -= len(piece)
            if piece.endswith(b"\n"):
                break
        line = b"".join(pieces)
        self.lines_left -= len(line)
        if self.lines_left < 0:
            raise _Refused(f"header or blank lines over {MAX_HEADER_BYTES:,} bytes")
        return line

    def skip_blank(self) -> int:
        """Read past whitespace a buffer at a time; how many bytes it was."""
        skipped = 0
        while True:
            self._fillbuff()
            if self.empty():
                return skipped
            start = self.buff.tell()
            with self.buff.getbuffer() as held:
                end = _BLANK.match(held, start).end()  # type: ignore[union-attr]  # "" matches
            self.buff.seek(end)
            skipped += end - start
            if end < self.buff_size:
                return skipped


class _Archive(ArchiveIterator):
    """warcio's ``ArchiveIterator`` on a ``_Reader``, reading the blank lines after each
    record at once. When a line that is not blank follows a record (its Content-Length
    is wrong), warcio prints a warning that quotes it, and reads on from the line after:
    here its length goes to ``stray`` instead."""

    reader: _Reader

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)
        self.reader = _Reader(self.fh)  # nothing is read before the first record is asked for
        self.stray: list[int] = []

    def _consume_blanklines(self) -> tuple[bytes | None, int]:
        skipped = self.reader.skip_blank()
        line = self.reader.readline()
        if line and not skipped:  # as warcio does, the line is passed over
            self.stray.append(len(line))
            skipped = len(line) + self.reader.skip_blank()
            line = self.reader.readline()
        return line or None, skipped


def _is_html_response(record: Any) -> bool:
    if record.rec_type != "response" or record.http_headers is None:
        return False
    if record.http_headers.get_statuscode() != "200":
        return False
    content_type = (record.http_headers.get_header("Content-Type") or "").lower()
    return content_type.split(";")[0].strip() in _HTML_TYPES


def _page(record: Any, limit: int) -> Page | Problem:
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    stored = record.payload_length if record.payload_length >= 0 else record.length
    if stored is not None and stored > limit:
        return Problem("too large", f"{url}: {stored:,} bytes, more than {limit:,}")
    try:
        payload = _read_at_most(_content(record, limit), limit + 1)
    except _BrokenPage as problem:
        return Problem("unreadable", f"{url}: {problem}")
    if len(payload) > limit:  # Content-Encoding can make a small record large
        return Problem("too large", f"{url}: more than {limit:,} bytes decompressed")
    if _cut_short(record.raw_stream):
        return Problem("malformed WARC record", f"{url}: cut short")
    return Page(
        url=url,
        warc_date=record.rec_headers.get_header("WARC-Date"),
        html=payload,
        charset=_charset(record.http_headers.get_header("Content-Type") or ""),
    )


class _Decoder(_Quiet, BufferedReader):
    """warcio's reader of a page's Content-Encoding, quiet."""

    refusal = _BrokenPage


def _content(record: Any, limit: int) -> Any:
    """The page's bytes as served, a stream: warcio's ``content_stream``, but a chunked
    page is decompressed a 16 KB block at a time (warcio decompresses a chunk whole), and
    a record without a length is read to ``limit`` at most."""
    stream = LimitReader(record.raw_stream, limit + 1)
    headers = record.http_headers
    if (headers.get_header("Transfer-Encoding") or "").strip().lower() == "chunked":
        stream = ChunkedDataReader(stream)
    encoding = (headers.get_header("Content-Encoding") or "").strip().lower()
    return _Decoder(stream, decomp_type=encoding) if encoding in _ENCODINGS else stream


def _read_at_most(stream: Any, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(min(left, _READ_BLOCK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _cut_short(raw: Any) -> bool:
    """Whether the file ended before the record's Content-Length did."""
    return getattr(raw, "limit", 0) > 0 and not raw.read(1)


def _charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    return None


def _describe(err: Exception) -> str:
    if isinstance(err, _Refused):
        return str(err)
    # warcio's messages may quote the line it could not read: the file's content, which a
    # message never echoes.
    message = " ".join(str(err).split()).partition(", first line:")[0]
    if "non-chunked gzip" in message:
        message = "gzipped whole, not a gzip member per record (`warcio recompress` mends it)"
    return f"{type(err).__name__}: {message[:200]}" if message else type(err).__name__
