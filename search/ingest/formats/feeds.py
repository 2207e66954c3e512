"""Reading RSS and Atom feeds (``.rss``, ``.atom``, and ``.xml`` when it is a feed): each
entry an article. ``search.ingest.feeds`` parses the feed; this turns its entries into
articles."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from search.ingest.article import (
    MAX_DOCUMENT_BYTES,
    Article,
    Skip,
    SourceFile,
    _checked,
    _Records,
    _Unusable,
)
from search.ingest.decode import _BOMS, _read_capped
from search.ingest.metadata import normalise_date, read_date, record_fields

if TYPE_CHECKING:
    from search.ingest.feeds import Entry


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
