"""Dates as news records give them, normalised to ISO 8601 in UTC.

Pure functions: ingest normalises each article's date with them, and storage the dates that
indexes of older formats kept as given.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

__all__ = ["normalise_date"]


def normalise_date(value: object) -> str | None:
    """A date as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC) or ``YYYY-MM-DD`` when only the day is
    known; None when it cannot be read or its year is outside 1000-9999.

    Reads ISO 8601 (a time without a zone is taken as UTC), RFC 2822, Reuters'
    ``26-FEB-1987 15:01:01.79``, a few spelled-out forms, and ``date``/``datetime`` objects
    (what YAML front matter gives).

    >>> normalise_date("2024-01-25T10:00:00+02:00")
    '2024-01-25T08:00:00Z'
    >>> normalise_date("2024-01-25")
    '2024-01-25'
    >>> normalise_date("27-MAR-1987 00:02:59.13RM")
    '1987-03-27T00:02:59Z'
    >>> normalise_date("25 January 2024")
    '2024-01-25'
    >>> normalise_date("0099-01-01") is None
    True
    """
    if isinstance(value, dt.datetime):
        return _format_datetime(value)
    if isinstance(value, dt.date):
        return _format_day(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 100:
        return None
    for parse in (_parse_iso, _parse_rfc2822, _parse_reuters, _parse_spelled):
        parsed = parse(text)
        if parsed is not None:
            return parsed
    return None


def _format_datetime(moment: dt.datetime) -> str | None:
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(dt.UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 has no UTC year
            return None
    if not 1000 <= moment.year <= 9999:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_day(day: dt.date) -> str | None:
    return day.isoformat() if 1000 <= day.year <= 9999 else None


def _parse_iso(text: str) -> str | None:
    try:
        # No time part: a day, not midnight UTC.
        if not re.search(r"[T ]\d|:", text):
            return _format_day(dt.date.fromisoformat(text))
        return _format_datetime(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


def _parse_rfc2822(text: str) -> str | None:
    if not re.search(r"\d{1,2}:\d{2}", text):  # email.utils fills in a missing time
        return None
    try:
        return _format_datetime(email.utils.parsedate_to_datetime(text))
    except (ValueError, TypeError, IndexError):
        return None


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        1,
    )
    for name in names
}
# Some Reuters-21578 dates end in the wire's category letters: "27-MAR-1987 00:02:59.13 E F".
_REUTERS = re.compile(
    r"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?(?: ?[A-Z]{1,2})*"
)


def _parse_reuters(text: str) -> str | None:
    match = _REUTERS.fullmatch(text)
    if match is None or match[2].lower() not in _MONTHS:
        return None
    day, _, year, hour, minute, second = match.groups()
    try:
        moment = dt.datetime(
            int(year), _MONTHS[match[2].lower()], int(day), int(hour), int(minute), int(second)
        )
    except ValueError:
        return None
    return _format_datetime(moment)


_DAY_MONTH_YEAR = re.compile(r"(?:[A-Za-z]+,? )?(\d{1,2}) ([A-Za-z]+)\.? (\d{4})")
_MONTH_DAY_YEAR = re.compile(r"(?:[A-Za-z]+,? )?([A-Za-z]+)\.? (\d{1,2}),? (\d{4})")
_SLASHED = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")


def _parse_spelled(text: str) -> str | None:
    """``25 January 2024``, ``Jan. 25, 2024``, ``2024/01/25``: days without a time."""
    if match := _DAY_MONTH_YEAR.fullmatch(text):
        day, month, year = match[1], match[2], match[3]
    elif match := _MONTH_DAY_YEAR.fullmatch(text):
        month, day, year = match[1], match[2], match[3]
    elif match := _SLASHED.fullmatch(text):
        return _day(match[1], match[2], match[3])
    else:
        return None
    number = _MONTHS.get(month.lower())
    return _day(year, str(number), day) if number else None


def _day(year: str, month: str, day: str) -> str | None:
    try:
        return _format_day(dt.date(int(year), int(month), int(day)))
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Outlet, URL and other fields
