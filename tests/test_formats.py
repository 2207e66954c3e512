"""Tests for the formats and metadata of search.ingest: dates, outlets and fields,
front matter, RSS and Atom, WARC, saved pages, and bounded reading of bad input."""

from __future__ import annotations

import doctest
import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from test_articles import read, read_one, read_skip
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import search.ingest.formats.feeds
import search.ingest.formats.records
import search.ingest.formats.text
import search.ingest.formats.warc
import search.ingest.paragraphs
from search.ingest import feeds, metadata
from search.ingest.article import Article, Skip, SourceFile
from search.ingest.discover import discover
from search.ingest.metadata import normalise_date, read_date, record_date, record_fields
from search.ingest.read import read_source


def jsonl(*records: object) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


@pytest.mark.parametrize("module", [metadata, feeds, search.ingest.paragraphs])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


# --- dates


@pytest.mark.parametrize(
    ("raw", "published"),
    [
        ("2024-01-25T10:00:00Z", "2024-01-25T10:00:00Z"),
        ("2024-01-25T10:00:00.123+02:00", "2024-01-25T08:00:00Z"),
        ("2024-01-25 23:30:00-05:00", "2024-01-26T04:30:00Z"),
        ("2024-01-25T10:00", "2024-01-25T10:00:00Z"),  # no zone: UTC
        ("2024-01-25", "2024-01-25"),  # a day stays a day
        ("20240125", "2024-01-25"),
        ("Thu, 25 Jan 2024 10:00:00 GMT", "2024-01-25T10:00:00Z"),
        ("Thu, 25 Jan 2024 10:00:00 +0100", "2024-01-25T09:00:00Z"),
        ("25 Jan 2024 10:00 -0000", "2024-01-25T10:00:00Z"),
        ("26-FEB-1987 15:01:01.79", "1987-02-26T15:01:01Z"),
        ("3-MAR-1987  09:15:05.40", "1987-03-03T09:15:05Z"),
        ("27-MAR-1987 00:02:59.13 E F", "1987-03-27T00:02:59Z"),
        ("25 January 2024", "2024-01-25"),
        ("Thu, 25 Jan 2024", "2024-01-25"),
        ("January 25, 2024", "2024-01-25"),
        ("2024/01/25", "2024-01-25"),
    ],
)
def test_dates_are_normalised(raw, published):
    assert read_date(raw) == (published, None)


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2024-02-30", "0999-12-31", "31-MAR-1987 605:12:19.12", "25 Smarch 2024", "2024"],
)
def test_dates_that_cannot_be_read_are_kept_raw(raw):
    assert read_date(raw) == (None, raw)


def test_date_objects_from_yaml():
    import datetime as dt

    assert normalise_date(dt.date(2024, 1, 25)) == "2024-01-25"
    assert normalise_date(dt.datetime(2024, 1, 25, 10, 0)) == "2024-01-25T10:00:00Z"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert normalise_date(dt.datetime(2024, 1, 25, 1, 0, tzinfo=plus2)) == "2024-01-24T23:00:00Z"
    assert (
        normalise_date(dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5))))
        is None
    )


def test_the_first_date_key_present_wins():
    record = {"published_at": "2020-01-01", "pubDate": "Wed, 01 Jan 2020 10:00:00 GMT"}
    assert record_date(record) == ("2020-01-01T10:00:00Z", None)
    assert record_date({"date": " ", "published": "2021-05-06"}) == ("2021-05-06", None)
    assert record_date({"date": None, "published_at": "2021-05-06"}) == ("2021-05-06", None)
    assert record_date({"title": "x"}) == (None, None)


# --- JSON records: metadata


def test_reuters_record(tmp_path):
    record = {
        "id": "1",
        "date": "26-FEB-1987 15:01:01.79",
        "topics": ["cocoa"],
        "places": ["el-salvador", "usa"],
        "has_topics": "YES",
        "lewis_split": "TRAIN",
        "title": "BAHIA COCOA REVIEW",
        "dateline": "SALVADOR, Feb 26 -",
        "text": "Showers continued.",
    }
    article = read_one(tmp_path, "r.jsonl", jsonl(record))
    assert article == Article(
        id="1",
        title="BAHIA COCOA REVIEW",
        text="Showers continued.",
        path=str(tmp_path / "r.jsonl"),
        published="1987-02-26T15:01:01Z",
        fields={
            "topics": ["cocoa"],
            "places": ["el-salvador", "usa"],
            "has_topics": "YES",
            "lewis_split": "TRAIN",
            "dateline": "SALVADOR, Feb 26 -",
        },
    )


def test_outlet_url_and_the_fields_kept(tmp_path):
    record = {
        "_id": "b1",
        "title": "T",
        "body": "Body.",
        "publisher": "BBC News",
        "link": "https://bbc.co.uk/1",
        "pubDate": "2005-03-01",
        "category": "Business",  # as it is: no case change
        "label": 3,
        "score": 0.5,
        "flag": False,
        "tags": [],
        "nested": {"a": 1},
        "matrix": [["a"]],
        "mixed": ["a", 1],
        "long": "x" * 1001,
        "many": ["x"] * 101,
        "bad name!": "x",
        "huge": 2**70,
        "nan": float("nan"),
        "date": None,
    }
    article = read_one(tmp_path, "b.jsonl", jsonl(record))
    assert (article.id, article.source, article.url) == ("b1", "BBC News", "https://bbc.co.uk/1")
    assert article.published == "2005-03-01"
    assert article.fields == {
        "category": "Business",
        "label": 3,
        "score": 0.5,
        "flag": False,
        "tags": [],
    }


def test_url_wins_over_link_and_outlet_keys_in_order():
    record = {"url": "https://a/", "link": "https://b/", "site_name": "S", "source": "R"}
    assert metadata.record_url(record) == "https://a/"
    assert metadata.record_outlet(record) == "R"
    assert metadata.record_outlet({"source": 3, "site_name": "S"}) == "S"
    assert record_fields(record) == {}


def test_fields_are_capped_in_number():
    record = {f"f{n}": n for n in range(100)}
    assert list(record_fields(record)) == [f"f{n}" for n in range(metadata.MAX_FIELDS)]


def test_an_unreadable_date_keeps_the_article(tmp_path):
    article = read_one(tmp_path, "a.jsonl", jsonl({"text": "x", "date": "the other day"}))
    assert (article.published, article.unparsed_date) == (None, "the other day")


# --- bad input in JSON: counted skips, the rest read


def test_a_number_over_python_int_limit_skips_its_line_only(tmp_path):
    big = "1" * 5000
    content = jsonl({"id": "a", "text": "A."}) + f'{{"id": "b", "n": {big}, "text": "B."}}\n'
    content += jsonl({"id": "c", "text": "C."})
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert [a.id for a in articles] == ["a", "c"]
    assert [s.reason for s in skips] == ["malformed JSON line"]
    assert skips[0].detail.startswith("line 2: Exceeds the limit (4300 digits)")


def test_a_number_over_python_int_limit_in_json(tmp_path):
    skip = read_skip(tmp_path, "a.json", '[{"text": "x", "n": ' + "9" * 5000 + "}]")
    assert skip.reason == "malformed JSON line"


@pytest.mark.parametrize(
    "record",
    [
        '{"id": "s", "title": "bad \\ud800 title", "text": "x"}',
        '{"id": "s", "text": "x", "extra": {"deep": ["\\udfff"]}}',  # even where it is dropped
        '{"id": "s", "text": "x", "\\udc80key": 1}',
    ],
)
def test_a_lone_surrogate_skips_the_record(tmp_path, record):
    content = record + "\n" + jsonl({"id": "ok", "text": "Fine \ud83d\ude00."})
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert [(a.id, a.text) for a in articles] == [("ok", "Fine \U0001f600.")]
    assert [(s.reason, s.detail.split(":")[0]) for s in skips] == [("invalid record", "line 1")]


def test_a_lone_surrogate_in_a_json_list(tmp_path):
    content = '[{"text": "ok"}, {"text": "\\ud800"}, {"text": "\\\\ud800 is only text"}]'
    articles, skips = read(tmp_path, "a.json", content)
    assert [a.text for a in articles] == ["ok", "\\ud800 is only text"]
    assert [(s.reason, s.detail.split(":")[0]) for s in skips] == [("invalid record", "record 2")]


def test_a_line_over_the_article_limit_is_skipped_and_the_next_read(tmp_path, monkeypatch):
    monkeypatch.setattr(search.ingest.formats.records, "MAX_ARTICLE_BYTES", 100)
    content = jsonl({"id": "a", "text": "x" * 200}, {"id": "b", "text": "y" * 60})
    articles, skips = read(tmp_path, "a.jsonl.gz", gzip.compress(content.encode()))
    assert [a.id for a in articles] == ["b"]
    assert [(s.reason, s.detail) for s in skips] == [("too large", "line 1: more than 100 bytes")]


@pytest.mark.parametrize(
    ("name", "reader", "limit"),
    [
        ("a.txt", search.ingest.formats.text, "MAX_ARTICLE_BYTES"),
        ("a.md", search.ingest.formats.text, "MAX_ARTICLE_BYTES"),
        ("a.json", search.ingest.formats.records, "MAX_DOCUMENT_BYTES"),
    ],
)
def test_whole_documents_over_their_limit_are_too_large(tmp_path, monkeypatch, name, reader, limit):
    monkeypatch.setattr(reader, limit, 100)

    def content(size: int) -> str:
        if name.endswith(".json"):
            return json.dumps({"title": "T", "text": "x" * size})
        return "T\n" + "x" * size

    skip = read_skip(tmp_path, name, content(200))
    assert (skip.reason, skip.detail) == ("too large", "more than 100 bytes")
    assert read_one(tmp_path, "small" + name[1:], content(50)).text == "x" * 50


def test_json_gz_limit_counts_decompressed_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(search.ingest.formats.records, "MAX_DOCUMENT_BYTES", 1000)
    content = gzip.compress(json.dumps({"text": " " * 5000 + "x"}).encode())
    assert len(content) < 1000
    skip = read_skip(tmp_path, "a.json.gz", content)
    assert (skip.reason, skip.detail) == ("too large", "more than 1,000 bytes decompressed")


def test_jsonl_lines_not_in_utf8_are_decoded_one_by_one(tmp_path):
    content = jsonl({"id": "u", "text": "Déjà vu in UTF-8."}).encode() + jsonl(
        {"id": "w", "text": "Café £5 — naïve, in Windows-1252."}
    ).encode("cp1252")
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert skips == []
    assert [a.text for a in articles] == ["Déjà vu in UTF-8.", "Café £5 — naïve, in Windows-1252."]


def test_jsonl_utf8_bom_before_a_blank_first_line(tmp_path):
    content = b"\xef\xbb\xbf\n" + jsonl({"id": "a", "text": "A."}).encode()
    assert read_one(tmp_path, "a.jsonl", content).id == "a"


def test_jsonl_in_utf16_is_read_whole(tmp_path):
    content = jsonl({"id": "a", "text": "Ünïcode."}, {"id": "b", "text": "Two."}).encode("utf-16")
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert skips == []
    assert [(a.id, a.text) for a in articles] == [("a", "Ünïcode."), ("b", "Two.")]


# --- a gzip bomb: bounded memory, measured in a clean process

_MEASURE = """
import json, resource, sys
from pathlib import Path
from search.ingest.article import SourceFile
from search.ingest.read import read_source

path = Path(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
articles, skips = read_source(SourceFile(path, path.name))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "ids": [a.id for a in articles],
    "skips": [[s.reason, s.detail] for s in skips],
    "growth_mib": (after - before) / 1024,
}))
"""


def gzip_bomb(path: Path, head: bytes, tail: bytes, gib: int = 1) -> None:
    """``head``, then ``gib`` GiB of zeros, then ``tail``, gzipped to about 1 MB: gzip
    members of 1 MiB of zeros each, repeated (one compression, so it is written at once)."""
    zeros = gzip.compress(b"0" * (1 << 20), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(head))
        for _ in range(gib * 1024):
            out.write(zeros)
        out.write(gzip.compress(tail))


def measure(path: Path) -> dict:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.process
def test_a_jsonl_gzip_bomb_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    head = jsonl({"id": "before", "text": "First."}).encode() + b'{"id": "bomb", "text": "'
    gzip_bomb(path, head, b'"}\n' + jsonl({"id": "after", "text": "Still read."}).encode())
    assert path.stat().st_size < 3_000_000
    result = measure(path)
    assert result["ids"] == ["before", "after"]
    assert result["skips"] == [["too large", f"line 2: more than {64 * 1024 * 1024:,} bytes"]]
    assert result["growth_mib"] < 200  # the line read up to its 64 MiB limit; it unpacks to 1 GiB


@pytest.mark.process
def test_a_json_gzip_bomb_stops_at_the_document_limit(tmp_path):
    path = tmp_path / "bomb.json.gz"
    gzip_bomb(path, b'[{"text": "', b'"}]')
    result = measure(path)
    assert result["ids"] == []
    assert result["skips"][0][0] == "too large"
    assert result["growth_mib"] < 160  # 64 MiB read, then refused; the file unpacks to 1 GiB


# --- front matter

FRONT = """---
title: Storm hits coast
date: 2024-01-25 10:00:00+02:00
source: Example News
url: https://example.org/storm
tags: [weather, coast]
draft: false
author:
  name: nested objects are dropped
---
# Storm hits coast

A powerful storm reached the coast.

Thousands lost power.
"""


def test_markdown_front_matter(tmp_path):
    article = read_one(tmp_path, "storm.md", FRONT)
    assert article == Article(
        id="storm.md",
        title="Storm hits coast",
        text="A powerful storm reached the coast.\n\nThousands lost power.",
        path=str(tmp_path / "storm.md"),
        published="2024-01-25T08:00:00Z",
        source="Example News",
        url="https://example.org/storm",
        fields={"tags": ["weather", "coast"], "draft": False},
    )


def test_front_matter_without_a_title_leaves_the_first_line_the_title(tmp_path):
    md = read_one(tmp_path, "a.md", "---\ndate: 2024-01-25\n---\n## Heading\n\nBody.\n")
    assert (md.title, md.text, md.published) == ("Heading", "Body.", "2024-01-25")
    txt = read_one(tmp_path, "a.txt", "---\npublisher: Wire\n---\n\nTitle line\nBody.\n")
    assert (txt.title, txt.text, txt.source) == ("Title line", "Body.", "Wire")


def test_txt_front_matter_title_keeps_the_whole_body(tmp_path):
    article = read_one(tmp_path, "a.txt", "---\ntitle: T\n...\nFirst line.\nSecond line.\n")
    assert (article.title, article.text) == ("T", "First line.\n\nSecond line.")


def test_front_matter_dates_that_are_no_date_are_kept_raw(tmp_path):
    article = read_one(tmp_path, "a.md", "---\ntitle: T\ndate: 2024-02-30\n---\nBody.\n")
    assert (article.published, article.unparsed_date) == (None, "2024-02-30")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("---\ntitle: [unclosed\n---\nBody.\n", "while parsing a flow"),
        ("---\n- a list\n---\nBody.\n", "YAML list, not a mapping"),
        ("---\ntitle: T\nBody without a closing line.\n", "no closing '---' line"),
        ('---\ntitle: "\\ud800"\n---\nBody.\n', "a string holds a lone surrogate"),
    ],
)
def test_bad_front_matter_is_a_counted_skip(tmp_path, content, detail):
    skip = read_skip(tmp_path, "a.md", content)
    assert skip.reason == "malformed front matter"
    assert skip.detail.startswith(detail)


def test_a_file_without_front_matter_is_unchanged(tmp_path):
    article = read_one(tmp_path, "a.md", "# Title\n\nText.\n\n---\n\nMore.\n")
    assert (article.title, article.text, article.fields) == ("Title", "Text.\n\n---\n\nMore.", {})


# --- RSS and Atom

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>Example News</title><link>https://example.org/</link>
<item>
  <title>Storm &amp; rain</title>
  <link>https://example.org/storm</link>
  <guid>https://example.org/storm</guid>
  <pubDate>Thu, 25 Jan 2024 10:00:00 +0100</pubDate>
  <category>Weather</category>
  <description><![CDATA[<p>A storm hit the <b>coast</b>.</p><p>Power was cut.</p>]]></description>
</item>
<item>
  <title>Headline only</title>
  <guid isPermaLink="false">urn:example:2</guid>
  <pubDate>sometime soon</pubDate>
</item>
<item><description>No title, no link, still text.</description></item>
<item><link>https://example.org/empty</link></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Times</title>
  <id>urn:atom-times</id>
  <updated>2024-01-25T12:00:00Z</updated>
  <entry>
    <title type="html">Markets &lt;em&gt;rally&lt;/em&gt;</title>
    <link href="https://atom.example/markets"/>
    <id>urn:uuid:1</id>
    <updated>2024-01-25T12:00:00+01:00</updated>
    <summary>Short summary.</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
      <p>Shares rose on Thursday.</p><ul><li>Oil fell.</li><li>Gold held.</li></ul>
    </div></content>
  </entry>
</feed>
"""


def test_rss_entries_are_articles(tmp_path):
    articles, skips = read(tmp_path, "news.rss", RSS)
    path = str(tmp_path / "news.rss")
    assert articles == [
        Article(
            id="https://example.org/storm",
            title="Storm & rain",
            text="A storm hit the coast.\n\nPower was cut.",
            path=path,
            published="2024-01-25T09:00:00Z",
            source="Example News",
            url="https://example.org/storm",
            fields={"tags": ["Weather"]},
        ),
        Article(
            id="urn:example:2",  # a guid that is no address is not the url
            title="Headline only",
            text="Headline only",
            path=path,
            source="Example News",
            unparsed_date="sometime soon",
        ),
        Article(
            id="news.rss#3",
            title="",
            text="No title, no link, still text.",
            path=path,
            source="Example News",
        ),
    ]
    assert skips == [Skip(path, "no text", "entry 4")]


def test_atom_prefers_content_and_keeps_its_paragraphs(tmp_path):
    article = read_one(tmp_path, "feed.atom", ATOM)
    assert (article.id, article.url) == (
        "https://atom.example/markets",
        "https://atom.example/markets",
    )
    assert (article.title, article.source) == ("Markets rally", "Atom Times")
    assert article.text == "Shares rose on Thursday.\n\nOil fell.\n\nGold held."
    assert article.published == "2024-01-25T11:00:00Z"


def test_an_xml_file_is_read_when_it_is_a_feed(tmp_path):
    assert read_one(tmp_path, "feed.xml", ATOM).source == "Atom Times"
    sitemap = '<?xml version="1.0"?><urlset><url><loc>https://x/</loc></url></urlset>'
    skip = read_skip(tmp_path, "sitemap.xml", sitemap)
    assert (skip.reason, skip.detail) == ("unsupported type", "XML, but not an RSS or Atom feed")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.rss", "<rss><channel><title>x</title><item><title>a</ti"),
        ("a.rss", '<rss version="2.0"><channel><title>x</ti'),
        ("a.rss", "this is no feed"),
        ("a.atom", "<html><body><p>a web page</p></body></html>"),
    ],
)
def test_a_malformed_feed_is_a_counted_skip(tmp_path, name, content):
    assert read_skip(tmp_path, name, content).reason == "malformed feed"


def test_a_feed_that_crashes_feedparser_is_a_counted_skip(tmp_path):
    # A character reference to half a surrogate pair: feedparser raises UnicodeEncodeError.
    content = '<rss version="2.0"><channel><item><title>a &#xD800; b</title></item></channel></rss>'
    skip = read_skip(tmp_path, "a.rss", content)
    assert (skip.reason, skip.detail) == ("malformed feed", "feedparser failed: UnicodeEncodeError")


def test_a_feed_without_entries_is_empty(tmp_path):
    content = '<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    assert read_skip(tmp_path, "a.rss", content).reason == "empty"


def test_feed_over_the_document_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(search.ingest.formats.feeds, "MAX_DOCUMENT_BYTES", 100)
    assert read_skip(tmp_path, "a.rss", RSS).reason == "too large"


def test_html_paragraphs_leaves_scripts_and_keeps_blocks():
    markup = "Intro<script>bad()</script><div>One<br/>Two</div><!-- c -->tail<style>x{}</style>"
    assert feeds.html_paragraphs(markup) == ["Intro", "One", "Two", "tail"]
    assert feeds.html_paragraphs("   ") == []


# --- WARC

PAGE = """<!DOCTYPE html><html><head><title>{title}</title>{meta}</head><body>
<article><h1>{title}</h1>
<p>{text} The storm reached the coast on Thursday, bringing heavy rain and winds.</p>
<p>Officials said thousands of homes were left without power overnight.</p>
</article></body></html>"""


def page(title: str, text: str = "", meta: str = "") -> bytes:
    return PAGE.format(title=title, text=text, meta=meta).encode("utf-8")


def write_warc(path: Path, records: list[tuple], compress: bool) -> None:
    """Records as (type, url, status, content type, body, WARC-Date)."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=compress)
        for rec_type, url, status, content_type, body, date in records:
            if rec_type == "request":
                headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True)
            else:
                headers = StatusAndHeaders(status, [("Content-Type", content_type)], "HTTP/1.1")
            record = writer.create_warc_record(
                url,
                rec_type,
                payload=io.BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)


CRAWL = "2024-02-01T08:00:00Z"
DATED = '<meta property="article:published_time" content="2024-01-25T10:00:00Z">'
WARC_RECORDS = [
    ("request", "https://www.example.org/storm", "", "", b"", CRAWL),
    ("response", "https://www.example.org/storm", "200 OK", "text/html; charset=utf-8",
     page("Storm hits coast", meta=DATED), CRAWL),
    ("response", "https://example.org/logo.png", "200 OK", "image/png", b"\x89PNG", CRAWL),
    ("response", "https://example.org/gone", "404 Not Found", "text/html", page("Gone"), CRAWL),
    ("response", "https://news.example.com/wind", "200 OK", "text/html; charset=windows-1252",
     page("Wind", text="Café naïve.").decode().encode("cp1252"), CRAWL),
]  # fmt: skip


@pytest.mark.parametrize(("name", "compress"), [("crawl.warc", False), ("crawl.warc.gz", True)])
def test_warc_html_responses_are_articles(tmp_path, name, compress):
    write_warc(tmp_path / name, WARC_RECORDS, compress)
    articles, skips = read_source(SourceFile(tmp_path / name, name))
    assert skips == []  # the request, the image and the 404 are passed over silently
    storm, wind = articles
    assert (storm.id, storm.url, storm.source) == (
        "https://www.example.org/storm",
        "https://www.example.org/storm",
        "example.org",
    )
    assert (storm.title, storm.published) == ("Storm hits coast", "2024-01-25")  # the page's
    assert storm.text.startswith("The storm reached the coast")
    assert (wind.source, wind.published) == ("news.example.com", "2024-02-01T08:00:00Z")  # crawl
    assert wind.text.startswith("Café naïve.")
    assert storm.path == str(tmp_path / name)


def test_a_warc_page_over_the_limit_is_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(search.ingest.formats.warc, "MAX_ARTICLE_BYTES", 2000)
    big = page("Big", text="word " * 1000)
    records = [
        WARC_RECORDS[1],
        ("response", "https://x.org/big", "200 OK", "text/html", big, CRAWL),
    ]
    write_warc(tmp_path / "a.warc.gz", records, compress=True)
    articles, skips = read_source(SourceFile(tmp_path / "a.warc.gz", "a.warc.gz"))
    assert [a.id for a in articles] == ["https://www.example.org/storm"]
    assert [s.reason for s in skips] == ["too large"]
    assert skips[0].detail.startswith("https://x.org/big: ")


@pytest.mark.parametrize(("name", "compress"), [("a.warc", False), ("a.warc.gz", True)])
def test_a_broken_warc_keeps_the_records_before_the_break(tmp_path, name, compress):
    path = tmp_path / name
    write_warc(path, WARC_RECORDS[:2] + WARC_RECORDS[4:], compress)
    data = path.read_bytes()
    third = _third_record(data, compress)
    path.write_bytes(data[: third + 200])  # the second page cut short in its headers
    articles, skips = read_source(SourceFile(path, name))
    assert [a.id for a in articles] == ["https://www.example.org/storm"]
    assert [s.reason for s in skips] == ["malformed WARC record"]


def _third_record(data: bytes, compress: bool) -> int:
    """Where the third record (the second page) starts."""
    if not compress:
        return data.index(b"WARC/1.0", data.index(b"WARC/1.0", 1) + 1)
    start = 0
    for _ in range(2):  # one gzip member a record
        unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        unzip.decompress(data[start:])
        start = len(data) - len(unzip.unused_data)
    return start


@pytest.mark.parametrize(("name", "compress"), [("a.warc", False), ("a.warc.gz", True)])
def test_a_warc_cut_inside_a_page_keeps_the_pages_before(tmp_path, name, compress):
    path = tmp_path / name
    write_warc(path, WARC_RECORDS[:2] + WARC_RECORDS[4:], compress)
    data = path.read_bytes()
    path.write_bytes(data[:-300])  # the last page's body cut short
    articles, skips = read_source(SourceFile(path, name))
    assert [a.id for a in articles] == ["https://www.example.org/storm"]
    assert [s.reason for s in skips] == ["malformed WARC record"]


def test_a_file_that_is_no_warc(tmp_path):
    skip = read_skip(tmp_path, "a.warc", "just some text\n")
    assert skip.reason == "malformed WARC record"


def test_a_warc_without_pages_says_so(tmp_path):
    write_warc(tmp_path / "a.warc", WARC_RECORDS[2:4], compress=False)
    skip = read_skip(tmp_path, "a.warc", (tmp_path / "a.warc").read_bytes())
    assert skip.reason == "no text"


# --- HTML metadata and saved pages


def test_html_site_name_canonical_url_and_author(tmp_path):
    meta = (
        '<meta property="og:site_name" content="Example News">'
        '<meta name="author" content="Jane Doe">'
        '<link rel="canonical" href="https://www.example.org/storm">' + DATED
    )
    article = read_one(tmp_path, "storm.html", page("Storm hits coast", meta=meta))
    assert (article.source, article.url) == ("Example News", "https://www.example.org/storm")
    assert article.published == "2024-01-25"
    assert article.fields == {"author": "Jane Doe"}


def test_a_saved_page_indexes_only_the_page(tmp_path):
    (tmp_path / "news/page_files").mkdir(parents=True)
    (tmp_path / "news/page.html").write_bytes(page("Storm hits coast"))
    (tmp_path / "news/page_files/ad.html").write_bytes(page("Buy now"))
    (tmp_path / "news/notes_files").mkdir()  # no notes.html beside it: an ordinary folder
    (tmp_path / "news/notes_files/n.txt").write_text("Note\nBody.")
    found = discover([tmp_path / "news"])
    files, skips = found.files, found.skips
    assert [f.id_base for f in files] == ["news/notes_files/n.txt", "news/page.html"]
    assert skips == [
        Skip(str(tmp_path / "news/page_files"), "saved page assets", "the files of page.html")
    ]
