"""Reading ``.warc`` and ``.warc.gz`` files: each HTML page a crawler saved with status
200 an article, streamed. ``search.ingest.warc`` finds the pages; ``formats.html`` reads
each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search.ingest.article import MAX_ARTICLE_BYTES, Article, Skip, SourceFile, _Records, _Unusable
from search.ingest.decode import _decode, _normalise_newlines, _opened
from search.ingest.formats.html import _page_article

if TYPE_CHECKING:
    from search.ingest.warc import Page


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
