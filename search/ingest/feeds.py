"""RSS 2.0 and Atom feeds, read with feedparser into plain entries.

``articles`` turns each ``Entry`` into an ``Article``; this module knows feedparser's
shapes and how an entry's HTML becomes paragraphs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Entry",
    "Feed",
    "HtmlText",
    "MalformedFeed",
    "html_paragraphs",
    "html_text",
    "is_feed",
    "parse_feed",
]


@dataclass(frozen=True)
class Entry:
    """One feed item, its text already paragraphs."""

    link: str | None
    guid: str | None
    title: str
    paragraphs: list[str]
    published: str | None  # as the feed wrote it
    published_utc: time.struct_time | None  # feedparser's reading of it, for odd formats
    fields: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Feed:
    title: str | None
    entries: list[Entry]


class MalformedFeed(Exception):
    """The document is not a feed that can be read."""


_ROOTS = {"rss", "feed", "rdf"}
_XML_NOISE = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", re.DOTALL | re.IGNORECASE)
_FIRST_TAG = re.compile(r"<([A-Za-z_][\w.:-]*)")


def is_feed(head: str) -> bool:
    """Whether a document starting with ``head`` is an RSS, RDF or Atom feed: its root
    element is ``<rss>``, ``<rdf:RDF>`` or ``<feed>`` (with any namespace prefix).

    >>> is_feed('<?xml version="1.0"?>\\n<!-- hi --><rss version="2.0">')
    True
    >>> is_feed('<?xml version="1.0"?><urlset xmlns="...">')
    False
    """
    match = _FIRST_TAG.search(_XML_NOISE.sub("", head[:65536]))
    return match is not None and match[1].rpartition(":")[2].lower() in _ROOTS


def parse_feed(data: bytes) -> Feed:
    """Parse a feed document. Raises ``MalformedFeed`` when it has no entries and
    feedparser found it broken or not a feed at all."""
    import feedparser  # only feeds need it

    parsed = feedparser.parse(data)  # bytes: feedparser never fetches anything
    entries = [_entry(entry) for entry in parsed.entries]
    # A broken feed can still yield entries worth reading; one that yields only empty
    # entries (cut off inside the first) is broken.
    usable = any(entry.title or entry.paragraphs or entry.link for entry in entries)
    if (parsed.get("bozo") and not usable) or not (entries or parsed.get("version")):
        problem = parsed.get("bozo_exception")
        raise MalformedFeed(str(problem) if problem else "not an RSS or Atom feed")
    title = _clean(parsed.feed.get("title"))
    return Feed(title or None, entries)


def _entry(entry: Any) -> Entry:
    title = _clean(entry.get("title"))
    if entry.get("title_detail", {}).get("type") in _HTML_TYPES:
        title = " ".join(html_paragraphs(title))
    return Entry(
        link=_clean(entry.get("link")) or None,
        guid=_clean(entry.get("id")) or None,
        title=title,
        paragraphs=_entry_paragraphs(entry),
        published=_clean(_plain(entry, "published") or _plain(entry, "updated")) or None,
        published_utc=_plain(entry, "published_parsed") or _plain(entry, "updated_parsed"),
        fields=_entry_fields(entry),
    )


_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _entry_paragraphs(entry: Any) -> list[str]:
    """The entry's full content when it has one, else its summary."""
    candidates = [*entry.get("content", []), entry.get("summary_detail")]
    for detail in candidates:
        if not detail or not isinstance(detail.get("value"), str):
            continue
        value = detail["value"]
        if detail.get("type") in _HTML_TYPES:
            paragraphs = html_paragraphs(value)
        else:
            paragraphs = [" ".join(line.split()) for line in value.split("\n\n")]
        paragraphs = [p for p in paragraphs if p]
        if paragraphs:
            return paragraphs
    return []


def _entry_fields(entry: Any) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {}
    author = _clean(entry.get("author"))
    if author:
        fields["author"] = author
    tags = [_clean(tag.get("term")) for tag in entry.get("tags", [])]
    if any(tags):
        fields["tags"] = [tag for tag in tags if tag]
    return fields


def _plain(entry: Any, key: str) -> Any:
    # dict.get, not feedparser's: that answers a missing "updated" with "published",
    # and warns that it will stop doing so.
    return dict.get(entry, key)


def _clean(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


# ---------------------------------------------------------------------------
# HTML to paragraphs

_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5"
    " h6 header hr li main nav ol p pre section table td th tr ul".split()
)
_UNSEEN = frozenset("script style noscript template iframe object head title".split())
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FULL_DOCUMENT = re.compile(r"\s*<(?:html|!doctype)", re.IGNORECASE)


def html_paragraphs(markup: str) -> list[str]:
    """The text of an HTML fragment as paragraphs: block elements (``p``, ``div``, ``li``,
    ``br``, headings...) end one; whitespace inside a paragraph is collapsed.

    >>> html_paragraphs("<p>One <b>bold</b>\\nline.</p><p>Two.<br>Three.</p>")
    ['One bold line.', 'Two.', 'Three.']
    >>> html_paragraphs("plain &amp; simple")
    ['plain & simple']
    """
    return html_text(markup).paragraphs


@dataclass(frozen=True)
class HtmlText:
    """The text of an HTML document as paragraphs, and how deep its elements nest."""

    paragraphs: list[str]
    depth: int


def html_text(markup: str) -> HtmlText:
    """The text of an HTML document or fragment as ``html_paragraphs`` gives it, at any
    depth of nesting, and that depth.

    >>> html_text("<div><div><p>Deep.</p></div></div>")
    HtmlText(paragraphs=['Deep.'], depth=5)
    """
    from lxml import etree

    markup = _CONTROL.sub("", markup)  # lxml refuses what XML cannot hold
    if not markup.strip():
        return HtmlText([], 0)
    # The parser's events, not a tree: libxml2 builds no tree deeper than 256 elements
    # (the text below is lost), but its events go as deep as the page does.
    if not _FULL_DOCUMENT.match(markup):
        markup = f"<html><body>{markup}</body></html>"  # as lxml.html reads a fragment
    target = _TextTarget()
    try:
        etree.fromstring(markup, etree.HTMLParser(target=target))
    except (etree.LxmlError, ValueError):
        return HtmlText([], 0)
    return HtmlText(target.paragraphs, target.deepest)


class _TextTarget:
    """An lxml parser target that gathers paragraphs as the parser reads the elements."""

    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self.current: list[str] = []
        self.depth = self.deepest = 0
        self.unseen_at = 0  # the depth of the unseen element (a script) being read, if any

    def start(self, tag: object, attrib: object) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        name = tag.lower() if isinstance(tag, str) else ""
        if self.unseen_at:
            return
        if name in _BLOCKS:
            self.flush()
        if name in _UNSEEN:
            self.unseen_at = self.depth

    def end(self, tag: object) -> None:
        self.depth -= 1
        if self.unseen_at:
            if self.depth < self.unseen_at:
                self.unseen_at = 0
            return
        if isinstance(tag, str) and tag.lower() in _BLOCKS:
            self.flush()

    def data(self, text: str) -> None:
        if not self.unseen_at:
            self.current.append(text)

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.paragraphs.append(text)
        self.current.clear()
