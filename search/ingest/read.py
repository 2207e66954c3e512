"""Reading one file into ``Article``s: ``read_source``, which picks a reader by file name.

``discover`` (``search.ingest.discover``) finds the article files under the paths a user
gives; ``read_source`` reads one of them. Formats, chosen by file name, each read by a
module of ``search.ingest.formats``:

- ``.txt``, ``.md`` (``text``): one article; the first non-empty line is the title (for
  ``.md``, without its ``#``s). YAML front matter between a first line ``---`` and the next
  ``---`` line gives the title, date, outlet, url and other fields.
- ``.jsonl``, ``.jsonl.gz`` (``records``): one JSON object per line (BEIR ``corpus.jsonl``
  works as is), streamed line by line.
- ``.json``, ``.json.gz`` (``records``): a list of objects, one object, or
  ``{"articles": [...]}``.
- ``.html``, ``.htm`` (``html``): main text, title, date and site name extracted by
  trafilatura. ``discover`` leaves out ``page_files/``, the folder a browser's "Save page
  as" writes next to ``page.html``.
- ``.rss``, ``.atom``, and ``.xml`` when it is a feed (``feeds``): each entry an article.
- ``.warc``, ``.warc.gz`` (``warc``): each HTML page a crawler saved with status 200,
  streamed.

A record's metadata is normalised by ``metadata``: ``published`` in ISO 8601 (UTC),
``source`` the outlet, ``fields`` its other scalar and list-of-strings fields.
A record with a title and no text is an article whose text is its title.

Memory is bounded: a JSON Lines line, a WARC page or a one-article file over
``MAX_ARTICLE_BYTES`` (64 MiB), or a ``.json`` file or feed over ``MAX_DOCUMENT_BYTES``
(64 MiB), decompressed, is skipped as "too large" without being held whole. (JSON Lines
in UTF-16 or UTF-32, which cannot be split into lines as bytes, is read whole under
``MAX_DOCUMENT_BYTES``.) A WARC record's header lines over ``MAX_HEADER_BYTES`` (1 MiB,
``search.ingest.warc``) end the file's reading, and front matter whose YAML aliases
expand it past 65,536 values is "too large". Time is linear at worst: runs of blank lines
are read past at once.

A file or record that cannot be used becomes a ``Skip`` with one of these reasons:
"unsupported type", "symlink loop", "saved page assets", "malformed ignore file", "empty",
"binary", "undecodable", "unreadable", "too large", "malformed JSON line",
"malformed front matter", "malformed feed", "malformed WARC record", "invalid record",
"no text". What ``discover`` leaves out by rule (hidden files, patterns, a dataset's notes,
links out of the folders given) is no skip: it is counted apart.
Bad content never raises, and a problem partway through a file keeps what was read before it.
"""

from __future__ import annotations

from collections.abc import Callable

from search.ingest.article import Article, Skip, SourceFile, _Unusable
from search.ingest.discover import file_format
from search.ingest.formats.feeds import _read_feed
from search.ingest.formats.html import _read_html
from search.ingest.formats.records import _read_json, _read_jsonl
from search.ingest.formats.text import _read_md, _read_txt
from search.ingest.formats.warc import _read_warc

__all__ = ["read_source"]


_Reader = Callable[[SourceFile], tuple[list[Article], list[Skip]]]


def read_source(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    """Read one file into articles; problems become Skips, never exceptions."""
    suffix = file_format(source.path.name)
    if suffix is None:
        return [], [Skip(str(source.path), "unsupported type")]
    try:
        return _READERS[suffix](source)
    except _Unusable as problem:
        return [], [Skip(str(source.path), problem.reason, problem.detail)]


_READERS: dict[str, _Reader] = {
    ".txt": _read_txt,
    ".md": _read_md,
    ".jsonl": _read_jsonl,
    ".jsonl.gz": _read_jsonl,
    ".json": _read_json,
    ".json.gz": _read_json,
    ".html": _read_html,
    ".htm": _read_html,
    ".rss": _read_feed,
    ".atom": _read_feed,
    ".xml": _read_feed,
    ".warc": _read_warc,
    ".warc.gz": _read_warc,
}
