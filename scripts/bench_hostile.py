"""Hostile files, before and after: how long reading each takes, its peak memory, and what
comes of it (issue 19, items 8-10).

    python scripts/bench_hostile.py --before ../main [--timeout 300] [--only warc]

Each case is generated into a temporary folder, then read by ``read_source`` in a fresh
process for each tree: ``--before`` (a checkout of the old code, optional) and this one.
A process that passes ``--timeout`` seconds is stopped and shown as "> N s". Printed per
case: seconds to read, the process's peak resident memory (the interpreter and its
libraries are about 70 MB of it), and the outcome (articles, and skips by reason).

The cases: a sparse WARC (one page, then a hole of zeros: 16, 32, 64 MB and 2 GB); a
510 KB ``.warc.gz`` whose header line unpacks to 512 MB; a chunked gzipped page that
unpacks to 512 MB; two WARC records with 64 MB of blank lines between them; Markdown
front matter with 9 and 10 levels of YAML aliases (9 ** levels values); a ``.jsonl.gz``
of 64 MB and of 1 GB of newlines; a ``.txt`` of 60 MB of blank lines; an HTML page
nested 100,000 ``<div>``s deep. The tests (tests/test_hostile.py) check the outcomes;
the times are here.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time
from pathlib import Path
from search.ingest.article import SourceFile
from search.ingest.read import read_source

path = Path(sys.argv[1])
started = time.perf_counter()
articles, skips = read_source(SourceFile(path, path.name))
seconds = time.perf_counter() - started
reasons = {}
for skip in skips:
    reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
# This process's own peak: ru_maxrss would count its parent's size at the fork too.
status = Path("/proc/self/status").read_text()
print(json.dumps({
    "seconds": seconds,
    "peak_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024,
    "articles": len(articles),
    "skips": reasons,
}))
"""

PAGE = (
    b"<html><head><title>Storm hits coast</title></head><body><article>"
    b"<h1>Storm hits coast</h1><p>The storm reached the coast on Thursday, bringing heavy"
    b" rain and winds.</p><p>Officials said thousands of homes were left without power.</p>"
    b"</article></body></html>"
)


def warc(records: list[tuple[str, bytes, list[tuple[str, str]]]], compress: bool = False) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=compress)
    for url, body, headers in records:
        http = StatusAndHeaders("200 OK", headers, "HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, length=len(body)
            )
        )
    return buffer.getvalue()


HTML = [("Content-Type", "text/html")]


def gzip_stream(path: Path, head: bytes, filler: bytes, mib: int, tail: bytes) -> None:
    block = filler * (MIB // len(filler))
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as out:
        out.write(pack.compress(head))
        for _ in range(mib):
            out.write(pack.compress(block))
        out.write(pack.compress(tail) + pack.flush())


def sparse_warc(mib: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"sparse{mib}.warc"
        path.write_bytes(warc([("https://example.org/storm", PAGE, HTML)]))
        with path.open("r+b") as out:
            out.truncate(mib * MIB)
        return path

    return make


def header_bomb(folder: Path) -> Path:
    path = folder / "header.warc.gz"
    head = b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://example.org/"
    gzip_stream(path, head, b"a", 512, b"\r\nContent-Length: 0\r\n\r\n\r\n")
    return path


def chunked_bomb(folder: Path) -> Path:
    packed = folder / "page.gz"
    gzip_stream(packed, b"<html><body><p>", b"news ", 512, b"</p></body></html>")
    body = packed.read_bytes()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    headers = [*HTML, ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]
    path = folder / "chunked.warc"
    path.write_bytes(warc([("https://example.org/bomb", chunked, headers)]))
    return path


def warc_blank_lines(folder: Path) -> Path:
    path = folder / "blanks.warc"
    one, two = (warc([(f"https://example.org/{n}", PAGE, HTML)]) for n in (1, 2))
    path.write_bytes(one + b"\r\n" * (32 * MIB) + two)
    return path


def anchor_bomb(levels: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        lines = ["---", "title: Laughs", "a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
        for level in range(1, levels):
            lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
        path = folder / f"laughs{levels}.md"
        path.write_text("\n".join([*lines, "---", "The body.", ""]))
        return path

    return make


def jsonl_newlines(mib: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"newlines{mib}.jsonl.gz"
        first = b'{"id": "first", "text": "Before the blank lines."}\n'
        gzip_stream(path, first, b"\n", mib, b'{"id": "last", "text": "After them."}\n')
        return path

    return make


def text_newlines(folder: Path) -> Path:
    path = folder / "newlines.txt"
    path.write_bytes(b"Title\nFirst paragraph.\n" + b"\n" * (60 * MIB) + b"Last paragraph.\n")
    return path


def nested_html(folder: Path) -> Path:
    depth, text = 100_000, "<p>The council approved the budget for schools on Tuesday.</p>"
    path = folder / "nested.html"
    body = "<div>" * depth + text + "</div>" * depth
    path.write_text(f"<html><head><title>Deep</title></head><body>{body}</body></html>")
    return path


CASES: list[tuple[str, Callable[[Path], Path]]] = [
    ("warc: sparse 16 MB (a page, then zeros)", sparse_warc(16)),
    ("warc: sparse 32 MB", sparse_warc(32)),
    ("warc: sparse 64 MB", sparse_warc(64)),
    ("warc: sparse 2 GB", sparse_warc(2048)),
    ("warc.gz: header line unpacking to 512 MB", header_bomb),
    ("warc: chunked gzip page unpacking to 512 MB", chunked_bomb),
    ("warc: 64 MB of blank lines between records", warc_blank_lines),
    ("md: YAML aliases, 9 levels", anchor_bomb(9)),
    ("md: YAML aliases, 10 levels", anchor_bomb(10)),
    ("jsonl.gz: 64 MB of newlines", jsonl_newlines(64)),
    ("jsonl.gz: 1 GB of newlines", jsonl_newlines(1024)),
    ("txt: 60 MB of blank lines", text_newlines),
    ("html: 100,000 nested divs", nested_html),
]


def run(tree: Path, path: Path, timeout: float) -> str:
    environment = dict(os.environ, PYTHONPATH=str(tree))
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tree,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s, stopped"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1][:60]
        return f"failed after {time.perf_counter() - started:.1f} s: {last}"
    result = json.loads(done.stdout)
    skips = ", ".join(f"{n} {reason}" for reason, n in result["skips"].items())
    outcome = f"{result['articles']} article(s)" + (f"; skipped {skips}" if skips else "")
    stderr = f"; {len(done.stderr):,} bytes on stderr" if done.stderr else ""
    return f"{result['seconds']:.2f} s, {result['peak_mb']:,.0f} MB: {outcome}{stderr}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the old code")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per read")
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    args = parser.parse_args()
    trees = [("before", args.before.resolve())] if args.before else []
    trees.append(("after", ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch:
        for name, make in CASES:
            if args.only not in name:
                continue
            path = make(Path(scratch))
            print(f"{name} ({path.stat().st_size:,} bytes)", flush=True)
            for label, tree in trees:
                print(f"  {label:<6} {run(tree, path, args.timeout)}", flush=True)
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
