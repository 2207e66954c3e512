"""Screenshots of the search page for the docs: results with their coverage chart and
facets, and an article opened from them.

    .venv/bin/python scripts/page_screenshot.py [--articles 1200] [--query '"interest rates"']
                                                [--every day] [--sort newest]
                                                [--work DIR] [--out docs]

Indexes ``--articles`` Reuters-21578 TRAIN articles that have a body (never the TEST
split), taken evenly across the split's six weeks so that the chart has a story to tell,
with the default model; serves them with ``newssearch serve``, and drives Debian's Chromium
(``/usr/bin/chromium``) through Playwright to write ``docs/page-search.png`` (the results
one per article, sorted by ``--sort``, the chart per ``--every``) and
``docs/page-article.png`` at 1280x900. With ``--work DIR`` the index is kept there, and a
second run only checks it is up to date (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import ViewportSize, expect, sync_playwright

from search import Index

ROOT = Path(__file__).resolve().parents[1]
REUTERS = ROOT.parent / "shared" / "data" / "reuters21578" / "reuters21578.jsonl.gz"
CHROMIUM = Path("/usr/bin/chromium")
NEWSSEARCH = Path(sys.executable).with_name("newssearch")
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def reuters_train(limit: int) -> list[dict[str, object]]:
    """``limit`` TRAIN records with a body, evenly spread over the split (every n-th), as
    newssearch reads JSON lines."""
    train: list[dict[str, object]] = []
    with gzip.open(REUTERS, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["lewis_split"] != "TRAIN" or not record["text"].strip():
                continue
            train.append(
                {
                    "id": f"reuters-{record['id']}",
                    "title": record["title"].strip(),
                    "text": record["text"],
                    "date": record["date"],
                    "source": "Reuters",
                    "topics": record["topics"],
                    "places": record["places"],
                }
            )
    return train[:: max(1, len(train) // limit)][:limit]


def build_index(work: Path, limit: int) -> Path:
    data = work / "news"
    data.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(record) + "\n" for record in reuters_train(limit))
    corpus = data / "reuters-train.jsonl"
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != lines:
        corpus.write_text(lines, encoding="utf-8")
    started = time.perf_counter()
    with Index.open_or_create(work / "index") as index:
        report = index.update([data])
    print(
        f"indexed {limit} articles: {report.added} added, {report.unchanged} unchanged "
        f"({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
    )
    return work / "index"


@contextlib.contextmanager
def serving(index: Path, work: Path) -> Iterator[str]:
    """``newssearch serve`` on a free port; yields its base URL, stops it after."""
    process = subprocess.Popen(
        [str(NEWSSEARCH), "serve", "-i", str(index), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NEWSSEARCH_RUN_DIR": str(work / "run")},
    )
    try:
        assert process.stderr is not None
        # The server loads the model, then says where it listens (or why it cannot).
        line = process.stderr.readline()
        if " at http://" not in line:
            raise SystemExit(f"the server did not start: {line}{process.stderr.read()}")
        yield line.split(" at ", 1)[1].split("/ ", 1)[0]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shoot(url: str, query: str, every: str, sort: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(base_url=url, viewport=VIEWPORT)
            page.set_default_timeout(30_000)
            page.goto("/")
            page.check("#by")  # one result per article: a page of different stories
            page.fill("#q", query)
            page.press("#q", "Enter")
            shown = re.compile(r" for “.*” in \d+ ms$")
            expect(page.locator("#status")).to_have_text(shown)
            page.select_option("#every", every)
            page.select_option("#sort", sort)
            expect(page.locator("#status")).to_have_text(shown)
            expect(page.locator("#chart svg a.bar").first).to_be_visible()
            expect(page.locator("#chart")).not_to_have_attribute("aria-busy", "true")
            page.evaluate("document.activeElement.blur()")
            print(f"chart: {page.locator('#coverage-summary').inner_text()}", file=sys.stderr)
            page.screenshot(path=out / "page-search.png")
            print(f"wrote {out / 'page-search.png'}: {page.url}", file=sys.stderr)

            page.locator("#results > li h2 a").first.click()
            expect(page.locator(".para.hit")).to_have_count(1)
            expect(page.locator("#similar-list a").first).to_be_visible()
            page.screenshot(path=out / "page-article.png")
            print(f"wrote {out / 'page-article.png'}: {page.url}", file=sys.stderr)
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1200)
    parser.add_argument("--query", default='"interest rates"')
    parser.add_argument("--every", choices=("day", "week", "month"), default="day")
    parser.add_argument("--sort", choices=("relevance", "newest", "oldest"), default="newest")
    parser.add_argument("--work", type=Path, help="keep the index here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    for needed in (REUTERS, CHROMIUM, NEWSSEARCH):
        if not needed.exists():
            print(f"error: needs {needed}, which is absent", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        index = build_index(work, args.articles)
        url = stack.enter_context(serving(index, work))
        shoot(url, args.query, args.every, args.sort, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
