"""Web archives (WARC, plain or gzipped per record), streamed with warcio into HTML pages.

Only ``response`` records of an HTML page served with status 200 are pages; other records
(requests, metadata, images, redirects) are passed over. ``articles`` turns each ``Page``
into an ``Article``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Page", "Problem", "pages"]

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_READ_BLOCK = 1 << 16


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
    A record that warcio cannot parse is a "malformed WARC record" problem and ends the
    walk: a WARC has no markers to find the next record by.
    """
    from warcio.archiveiterator import ArchiveIterator  # only WARCs need it

    archive = ArchiveIterator(stream)
    records = iter(archive)
    number = 0
    while True:
        number += 1
        try:
            record = next(records)
            found = _page(record, limit) if _is_html_response(record) else None
        except StopIteration:
            # warcio ends quietly at a record cut short in its headers: what it read of the
            # file then stops before the file's end.
            if archive.offset < stream.seek(0, io.SEEK_END):
                yield Problem("malformed WARC record", f"record {number}: cut short")
            return
        except Exception as err:  # warcio raises many kinds on bad input
            yield Problem("malformed WARC record", f"record {number}: {_describe(err)}")
            return
        if found is not None:
            yield found


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
    payload = _read_at_most(record.content_stream(), limit + 1)
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
    message = " ".join(str(err).split())[:200]
    return f"{type(err).__name__}: {message}" if message else type(err).__name__
