"""Reading ``.html`` and ``.htm`` files: the main text, title, date and site name of a page,
extracted by trafilatura. A WARC's pages (``formats.warc``) are read the same way."""

from __future__ import annotations

from typing import Any

from search.ingest.article import (
    MAX_ARTICLE_BYTES,
    Article,
    Skip,
    SourceFile,
    _checked,
    _Unusable,
)
from search.ingest.decode import _read_text
from search.ingest.feeds import html_text
from search.ingest.metadata import read_date, record_fields, url_host
from search.ingest.paragraphs import split_paragraphs

_TREE_DEPTH = 256  # libxml2 (lxml) builds no deeper tree, unless told to (XML_PARSE_HUGE)


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
    page = {} if result is None else result if isinstance(result, dict) else result.as_dict()
    if not (page.get("text") or "").strip():
        page = _too_deep_page(markup, url) or page
    if not page:
        raise _Unusable("no text", f"{url}: no main text found" if url else "no main text found")
    return page


def _too_deep_page(markup: str, url: str | None) -> dict[str, Any] | None:
    """A page that nests its elements deeper than libxml2 builds a tree (256 levels):
    trafilatura sees none of the text below that depth, and finds no main text. Its text
    is then all of the page's (``html_text`` reads at any depth), with trafilatura's
    reading of its title, date and outlet. None for a page that is not that deep."""
    import trafilatura

    text = html_text(markup)
    if text.depth < _TREE_DEPTH or not text.paragraphs:
        return None
    metadata = trafilatura.extract_metadata(markup, default_url=url)
    page: dict[str, Any] = metadata.as_dict() if metadata is not None else {}
    page["text"] = "\n\n".join(text.paragraphs)
    return page
