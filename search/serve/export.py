"""A query's matching articles as CSV or JSON lines, written as they come: what
``newssearch export`` writes and ``GET /api/export`` sends.

Each row is one ``Match``, its fields in order (``COLUMNS``); CSV is quoted as RFC 4180 has
it (the csv module), an empty cell for no value; a JSON line is the ``Match`` as an object.
An archive's text is anyone's: a CSV cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return, which a spreadsheet would run as a formula, begins with an apostrophe
(``cell``: OWASP's advice on CSV injection); JSON lines keep the text as stored.
Rows are handed on in pieces of ``ROWS_A_PIECE`` (the first at once, so a slow match set
shows its first row early), and nothing is kept: memory stays flat whatever the set's size.

>>> from search.query.contract import Match
>>> found = [Match("a1", "wire", "1987-03-01", "Reuters", 'OPEC, again', None, "Output.", 7, 0.5)]
>>> for line in "".join(export_text(found, "csv")).splitlines():
...     print(line)
article_id,collection,published,source,title,url,passage,passage_id,relevance
a1,wire,1987-03-01,Reuters,"OPEC, again",,Output.,7,0.5
>>> cell("=SUM(A1:A9)"), cell("-3 pct"), cell(-0.5), cell(None)
("'=SUM(A1:A9)", "'-3 pct", -0.5, '')
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Iterator

from search.query.contract import Match

__all__ = ["COLUMNS", "FORMATS", "MEDIA_TYPES", "ROWS_A_PIECE", "cell", "export_text"]

FORMATS = ("csv", "jsonl")
COLUMNS = tuple(field.name for field in dataclasses.fields(Match))
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
ROWS_A_PIECE = 500
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """``value`` as a CSV cell: empty for None; text a spreadsheet would run as a formula
    behind an apostrophe, so that it shows as the text it is."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_text(matches: Iterable[Match], form: str) -> Iterator[str]:
    """``matches`` as text in ``form`` (``FORMATS``), a piece at a time. No piece is made
    before the first match is read (or the set is found empty), so an error in the query
    comes before any output."""
    buffer = io.StringIO()
    write = _csv_writer(buffer) if form == "csv" else _json_writer(buffer)
    rows = 0
    for match in matches:
        write(match)
        rows += 1
        if rows == 1 or rows % ROWS_A_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()  # the last rows; for an empty set, a CSV header alone


def _csv_writer(buffer: io.StringIO) -> Callable[[Match], None]:
    writer = csv.writer(buffer)  # RFC 4180: "\r\n" after each row, quotes where needed
    writer.writerow(COLUMNS)

    def write(match: Match) -> None:
        writer.writerow([cell(value) for value in _values(match)])

    return write


def _json_writer(buffer: io.StringIO) -> Callable[[Match], None]:
    def write(match: Match) -> None:
        row = {name: getattr(match, name) for name in COLUMNS}
        buffer.write(json.dumps(row, ensure_ascii=False) + "\n")

    return write


def _values(match: Match) -> tuple[object, ...]:
    return tuple(getattr(match, name) for name in COLUMNS)
