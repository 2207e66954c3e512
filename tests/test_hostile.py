"""Hostile files that used to hang or take unbounded memory: each now ends in bounded time
and memory with its articles, or one counted line saying why not (issue 19, items 8-10).

WARC: a sparse file (a hole of zeros), a gzipped header line that unpacks to hundreds of MB,
a chunked page that does, blank lines between records, and what warcio used to print on
stderr. Front matter: YAML aliases that expand exponentially or contain themselves. Blank
lines: a gzipped JSON Lines file of newlines, a text file of them. HTML nested deeper than
lxml builds a tree.

The slow cases run in a child process, with a timeout the old code passed by far (minutes
against seconds) and an address-space limit; memory is the child's peak growth while
reading. Their timings, before and after, are printed by ``scripts/bench_hostile.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from test_articles import read, read_one, read_skip
from test_formats import WARC_RECORDS, page, write_warc
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from search.ingest.feeds import html_paragraphs
from search.ingest.paragraphs import split_paragraphs

MIB = 1 << 20

_CHILD = """
import json, resource, sys
from pathlib import Path

limit = 2 << 30  # a runaway read fails here rather than take the machine's memory
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import trafilatura, yaml, warcio.archiveiterator  # loaded before measuring
import search.ingest.warc
from search.ingest.article import SourceFile
from search.ingest.read import read_source

def peak_mib():  # this process's own peak (ru_maxrss would count its parent's size too)
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024

path = Path(sys.argv[1])
before = peak_mib()
articles, skips = read_source(SourceFile(path, path.name))
print(json.dumps({
    "articles": [[a.id, a.title, a.text] for a in articles],
    "skips": [[s.reason, s.detail] for s in skips],
    "growth_mib": peak_mib() - before,
}))
"""


def read_in_child(path: Path, timeout: float = 60) -> dict:
    """Read ``path`` in a fresh process: its articles (id, title, text), its skips, the
    peak memory growth while reading, and what it wrote to stderr."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {**json.loads(done.stdout), "stderr": done.stderr}


def gzip_stream(path: Path, head: bytes, filler: bytes, mib: int, tail: bytes) -> None:
    """``head``, ``mib`` MiB of ``filler`` repeated, then ``tail``, as one gzip member."""
    block = filler * (MIB // len(filler))
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as out:
        out.write(pack.compress(head))
        for _ in range(mib):
            out.write(pack.compress(block))
        out.write(pack.compress(tail) + pack.flush())


# --- WARC (item 8)

STORM = "https://www.example.org/storm"  # the page of WARC_RECORDS[1]


def warc_bytes(records: list[tuple], compress: bool = False) -> bytes:
    """Response records as (url, body as stored, HTTP headers)."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=compress)
    for url, body, headers in records:
        http = StatusAndHeaders("200 OK", headers, "HTTP/1.1")
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": "2024-02-01T08:00:00Z"},
            length=len(body),
        )
        writer.write_record(record)
    return buffer.getvalue()


HTML = [("Content-Type", "text/html")]


def story(number: int) -> tuple[str, bytes, list[tuple[str, str]]]:
    return (f"https://example.org/{number}", page(f"Story {number}"), HTML)


@pytest.mark.process
@pytest.mark.parametrize("before_the_hole", [False, True], ids=["only a hole", "a page, a hole"])
def test_a_sparse_warc_is_one_line_in_bounded_time_and_memory(tmp_path, before_the_hole):
    path = tmp_path / "sparse.warc"
    if before_the_hole:
        write_warc(path, WARC_RECORDS[1:2], compress=False)
    else:
        path.touch()
    with path.open("r+b") as out:
        out.truncate(64 * MIB)  # a hole of zeros: no line ends in it
    result = read_in_child(path)  # warcio joined the line's pieces one by one: minutes
    number = 2 if before_the_hole else 1
    assert [a[0] for a in result["articles"]] == ([STORM] if before_the_hole else [])
    assert result["skips"] == [
        ["malformed WARC record", f"record {number}: header or blank lines over 1,048,576 bytes"]
    ]
    assert result["growth_mib"] < 64, result["growth_mib"]
    assert result["stderr"] == ""


@pytest.mark.process
def test_a_gzipped_header_line_that_unpacks_to_256_mb_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.warc.gz"
    head = b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://example.org/"
    gzip_stream(path, head, b"a", 256, b"\r\nContent-Length: 0\r\n\r\n\r\n")
    assert path.stat().st_size < 400_000
    result = read_in_child(path)  # warcio held the line, then decoded it: over 800 MB
    assert result["articles"] == []
    assert result["skips"] == [
        ["malformed WARC record", "record 1: header or blank lines over 1,048,576 bytes"]
    ]
    assert result["growth_mib"] < 100, result["growth_mib"]


@pytest.mark.process
def test_a_chunked_gzipped_page_is_decompressed_in_bounded_memory(tmp_path):
    packed = tmp_path / "page.gz"
    gzip_stream(packed, b"<html><body><p>", b"news ", 512, b"</p></body></html>")
    body = packed.read_bytes()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    headers = [*HTML, ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]
    path = tmp_path / "bomb.warc"
    path.write_bytes(warc_bytes([("https://example.org/bomb", chunked, headers), story(2)]))
    result = read_in_child(path)  # warcio decompressed the chunk whole: 512 MB and more
    assert [a[0] for a in result["articles"]] == ["https://example.org/2"]
    limit = f"{64 * MIB:,}"
    assert result["skips"] == [
        ["too large", f"https://example.org/bomb: more than {limit} bytes decompressed"]
    ]
    assert result["growth_mib"] < 300, result["growth_mib"]  # the page read to its limit


@pytest.mark.process
def test_blank_lines_between_warc_records_are_read_past_at_once(tmp_path):
    path = tmp_path / "blanks.warc.gz"
    first = warc_bytes([story(1)])
    gzip_stream(path, first, b"\r\n", 256, b"")  # the first record, then 256 MB of blank lines
    with path.open("ab") as out:
        out.write(warc_bytes([story(2)], compress=True))
    result = read_in_child(path)  # warcio read them a line at a time: minutes
    assert [a[0] for a in result["articles"]] == ["https://example.org/1", "https://example.org/2"]
    assert result["skips"] == []


def test_a_wrong_content_length_is_counted_not_printed(tmp_path, capfd):
    data = warc_bytes([story(1), story(2), ("https://example.org/a b", page("Spaced"), HTML)])
    start = data.index(b"Content-Length: ") + len(b"Content-Length: ")
    end = data.index(b"\r\n", start)
    length = int(data[start:end])  # the first record's: 20 bytes short of its page
    articles, skips = read(
        tmp_path, "a.warc", data[:start] + str(length - 20).encode() + data[end:]
    )
    # warcio printed a warning quoting the line, and logged the URL it mended.
    assert capfd.readouterr().err == ""
    assert [a.id for a in articles] == [
        "https://example.org/1",
        "https://example.org/2",
        "https://example.org/a%20b",
    ]
    assert [(s.reason, s.detail) for s in skips] == [
        (
            "malformed WARC record",
            "record 1: 22 bytes after it where a blank line belongs (a wrong length?)",
        )
    ]


def _text_page(seed: int) -> bytes:
    """A page of 40,000 random words: its gzip member spans several 16 KB blocks."""
    rng = random.Random(seed)
    words = " ".join(
        f"{rng.choice(['storm', 'coast', 'rain'])}{rng.randrange(10**5)}" for _ in range(40_000)
    )
    return f"<html><head><title>Long</title></head><body><p>{words}</p></body></html>".encode()


def test_broken_gzip_data_is_one_line_not_printed(tmp_path, capfd):
    # A record's gzip member broken partway: the file's framing is lost with it.
    data = bytearray(warc_bytes([("https://example.org/long", _text_page(1), HTML)], True))
    data[40_000:40_100] = b"\xff" * 100
    data += warc_bytes([story(2)], compress=True)
    articles, skips = read(tmp_path, "a.warc.gz", bytes(data))
    assert articles == []
    assert [(s.reason, s.detail) for s in skips] == [
        ("malformed WARC record", "record 1: broken gzip data")
    ]
    # A page's Content-Encoding broken partway: only that page is lost.
    body = bytearray(gzip.compress(_text_page(2)))
    body[40_000:40_100] = b"\xff" * 100
    headers = [*HTML, ("Content-Encoding", "gzip")]
    records = [("https://example.org/long", bytes(body), headers), story(2)]
    articles, skips = read(tmp_path, "b.warc", warc_bytes(records))
    assert [a.id for a in articles] == ["https://example.org/2"]
    assert [(s.reason, s.detail) for s in skips] == [
        ("unreadable", "https://example.org/long: broken gzip data")
    ]
    assert capfd.readouterr().err == ""  # warcio printed "Error -3 while decompressing data"


def test_a_warc_error_does_not_quote_the_file(tmp_path):
    skip = read_skip(tmp_path, "a.warc", "root:x:0:0:root:/root:/bin/bash\n")
    assert (skip.reason, skip.detail) == (
        "malformed WARC record",
        "record 1: ArchiveLoadFailed: Unknown archive format",
    )


# --- YAML front matter (item 9)


def anchor_bomb(levels: int) -> str:
    """Front matter of ``levels`` lines, each a list of nine aliases of the line before:
    9 ** levels values once expanded, in under 600 bytes."""
    lines = [
        "---",
        "title: Laughs",
        'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join([*lines, "---", "The body.", ""])


@pytest.mark.process
@pytest.mark.parametrize(
    ("front", "skip"),
    [
        (
            anchor_bomb(10),  # 9 levels took 105 s; 10 ran past 600 s
            ["too large", "front matter: its aliases expand it past 65,536 values"],
        ),
        (
            "---\ntitle: Self\nloop: &loop [x, *loop]\n---\nThe body.\n",  # looped forever
            ["malformed front matter", "an alias refers to its own anchor"],
        ),
    ],
    ids=["9 to the 10th values", "a list holding itself"],
)
def test_yaml_aliases_cannot_expand_front_matter_without_bound(tmp_path, front, skip):
    path = tmp_path / "laughs.md"
    path.write_text(front)
    assert path.stat().st_size < 600
    result = read_in_child(path, timeout=30)
    assert result["articles"] == []
    assert result["skips"] == [skip]


def test_yaml_aliases_within_the_bound_still_work(tmp_path):
    front = (
        "---\ntitle: Anchors\nauthor: &me Jane Doe\neditor: *me\n"
        "base: &base {section: news}\npage: {<<: *base, n: 2}\ntags: &t [a, b]\nalso: *t\n"
        "---\nThe body.\n"
    )
    article = read_one(tmp_path, "a.md", front)
    assert article.fields == {
        "author": "Jane Doe",
        "editor": "Jane Doe",
        "tags": ["a", "b"],
        "also": ["a", "b"],
    }


# --- blank lines (item 10)


@pytest.mark.process
def test_a_gzipped_jsonl_of_256_mb_of_newlines_is_read_at_once(tmp_path):
    path = tmp_path / "blank.jsonl.gz"
    first = b'{"id": "first", "text": "Before the blank lines."}\n'
    last = b'  {"text": "After them, without an id."}\n\n \n'
    gzip_stream(path, first, b"\n", 256, last)
    assert path.stat().st_size < 400_000
    result = read_in_child(path)  # a line at a time: 0.5 us each, 256 million of them
    line = 256 * MIB + 2  # the line numbers count every blank line passed over
    assert [a[0] for a in result["articles"]] == ["first", f"blank.jsonl.gz#{line}"]
    assert result["skips"] == []


@pytest.mark.process
def test_a_text_file_of_blank_lines_is_split_in_bounded_memory(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_bytes(b"Title\nFirst paragraph.\n" + b"\n" * (48 * MIB) + b"Last paragraph.\n")
    result = read_in_child(path)  # a list of 48 million lines, twice: 800 MB
    assert result["articles"] == [["blank.txt", "Title", "First paragraph.\n\nLast paragraph."]]
    assert result["growth_mib"] < 250, result["growth_mib"]


def split_paragraphs_line_by_line(text: str) -> list[str]:
    """The reference: blank lines (only whitespace) separate paragraphs when there are
    any, else each line is one; lines are stripped and joined by a space."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    filled = [number for number, line in enumerate(lines) if line]
    if not filled:
        return []
    lines = lines[filled[0] : filled[-1] + 1]
    if len(filled) == len(lines):
        return [line.strip() for line in lines]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return paragraphs


def test_split_paragraphs_matches_the_line_by_line_reference():
    rng = random.Random(19)
    alphabet = ["a", "b", " ", "\t", "\n", "\n", "\n", "\r", "\u2028", "\xa0", "\x0c", "\x1c", "é"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        assert split_paragraphs(text) == split_paragraphs_line_by_line(text), repr(text)


def test_utf16_jsonl_numbers_lines_across_blank_runs(tmp_path):
    content = '{"id": "a", "text": "One."}\n\n  \n\u2028\n{"text": "Two."}\n \n'.encode("utf-16")
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert skips == []
    assert [(a.id, a.text) for a in articles] == [("a", "One."), ("a.jsonl#5", "Two.")]


# --- deeply nested HTML (item 10)


def nested(depth: int, inner: str) -> str:
    return "<div>" * depth + inner + "</div>" * depth


@pytest.mark.parametrize("depth", [300, 100_000])
def test_html_nested_deeper_than_lxml_builds_keeps_its_text(tmp_path, depth):
    body = "<p>The council approved the budget for schools on Tuesday.</p><p>Second.</p>"
    head = '<title>Deep</title><meta property="article:published_time" content="2024-01-25">'
    markup = f"<html><head>{head}</head><body>{nested(depth, body)}</body></html>"
    article = read_one(tmp_path, "deep.html", markup)  # was skipped: "no main text found"
    assert (article.title, article.published) == ("Deep", "2024-01-25")
    assert article.text == "The council approved the budget for schools on Tuesday.\n\nSecond."


def test_only_a_page_deeper_than_lxml_builds_is_read_without_trafilatura():
    from search.ingest.formats.html import _too_deep_page

    # Shallower, trafilatura saw the whole page: its "no main text" stands.
    assert _too_deep_page(f"<html><body>{nested(250, '<p>Menu</p>')}</body></html>", None) is None
    deep = _too_deep_page(f"<html><body>{nested(260, '<p>Menu</p>')}</body></html>", None)
    assert deep is not None and deep["text"] == "Menu"


def test_a_feed_entrys_html_keeps_its_text_at_any_depth():
    assert html_paragraphs(nested(1000, "<p>Deep.</p>") + "<p>After.</p>") == ["Deep.", "After."]
