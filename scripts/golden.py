"""Record, or check, what newssearch answers at every door, byte for byte.

    python scripts/golden.py record tests/golden/answers.json
    python scripts/golden.py check tests/golden/answers.json

It builds three indexes with the real model in a temporary folder (the seed article, a
slice of BBC News and a slice of Reuters-21578 TRAIN, from ``../shared``), then asks them
30 queries through the command line (``--json`` and the printed table), ``show``,
``similar``, ``info``, bad input, the fast path through a running server, the HTTP API and
MCP. Only the outside of the program is touched (``python -m search``, HTTP, MCP over
stdio), so the same script runs before and after any change to the code's layout. What
varies from run to run by design is masked: the temporary folder's path, ``took_ms`` and
``size_bytes``.

``check`` exits 1 and names each answer that differs from the record. A change that alters
answers on purpose records them again, in its own commit that says why (git keeps each
record): the first was made before the code moved into sub-packages (issue "The house");
one after "Archive integrity" (collections, chunking rules 2, copies grouped by
containment); the present one after "Research the archive" (hits carry ``relevance`` and
the printed table shows it in place of the raw score; pages carry ``next_offset``; MCP
lists its new tools). Every ranking was checked the same as before, order and ids.
Answers changed on purpose between two records may be listed, with why,
in ``changed.json`` beside the record; ``check`` expects those instead.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BBC_EVERY = 8  # every 8th BBC article: 279 of 2,225, all five categories
REUTERS_TRAIN = 400  # the first 400 Reuters TRAIN articles with text

# (name, index, CLI arguments after `query`)
QUERIES: list[tuple[str, str, list[str]]] = [
    ("seed-hybrid", "seed", ["Kataib Hezbollah"]),
    ("seed-dense", "seed", ["militia attack on US forces", "--mode", "dense"]),
    ("seed-lexical", "seed", ["Hezbollah", "--mode", "lexical", "-k", "3"]),
    ("seed-article", "seed", ["Iraq", "--by", "article"]),
    ("bbc-hybrid", "bbc", ["mobile phone sales"]),
    ("bbc-dense", "bbc", ["a football club sacks its manager", "--mode", "dense"]),
    ("bbc-lexical", "bbc", ["Kilroy-Silk", "--mode", "lexical"]),
    ("bbc-article", "bbc", ["election campaign tax", "--by", "article", "-k", "5"]),
    ("bbc-where", "bbc", ["budget", "--where", "category=politics"]),
    (
        "bbc-where-article",
        "bbc",
        ["film awards", "--where", "category=entertainment", "--by", "article"],
    ),
    ("bbc-k1", "bbc", ["broadband internet", "-k", "1"]),
    ("bbc-k50", "bbc", ["oil prices", "-k", "50", "--mode", "dense"]),
    ("bbc-all", "bbc", ["Yukos", "--all"]),
    ("bbc-unicode", "bbc", ["£ économie café", "-k", "3"]),
    ("bbc-nomatch-filter", "bbc", ["music", "--where", "category=nothing"]),
    ("reu-hybrid", "reuters", ["company reports quarterly earnings"]),
    ("reu-dense", "reuters", ["central bank raises interest rates", "--mode", "dense"]),
    ("reu-lexical", "reuters", ["cocoa", "--mode", "lexical"]),
    ("reu-since", "reuters", ["oil", "--since", "1987-03-01"]),
    ("reu-until", "reuters", ["grain exports", "--until", "1987-02-28"]),
    ("reu-window", "reuters", ["dollar", "--since", "1987-03-01", "--until", "1987-03-05"]),
    ("reu-topic", "reuters", ["prices", "--where", "topics=crude"]),
    ("reu-topics-two", "reuters", ["trade", "--where", "topics=trade", "--where", "places=japan"]),
    ("reu-source", "reuters", ["shares", "--source", "Reuters"]),
    ("reu-article", "reuters", ["merger acquisition offer", "--by", "article"]),
    ("reu-article-lexical", "reuters", ["dividend", "--by", "article", "--mode", "lexical"]),
    ("reu-article-all", "reuters", ["wheat", "--by", "article", "--all"]),
    ("reu-place-dense", "reuters", ["coffee", "--where", "places=brazil", "--mode", "dense"]),
    ("reu-bad-date", "reuters", ["oil", "--since", "yesterday"]),
    ("reu-empty", "reuters", ["   "]),
]
PRINTED = ["seed-hybrid", "bbc-article", "reu-since", "bbc-nomatch-filter"]  # also as a table
FAST_PATH = ["reu-hybrid", "reu-since", "reu-window", "reu-article", "reu-bad-date"]  # reuters
OTHER_CLI: list[tuple[str, str, list[str]]] = [
    ("info", "reuters", ["info", "--json"]),
    ("bad-mode", "bbc", ["query", "x", "--mode", "fuzzy"]),
    ("bad-k", "bbc", ["query", "x", "-k", "0"]),
    ("show-missing", "bbc", ["show", "no-such-article"]),
    ("similar-missing", "bbc", ["similar", "no-such-article"]),
]
HTTP: list[tuple[str, str]] = [
    ("search", "/api/search?q=oil+prices&k=5"),
    ("search-article", "/api/search?q=merger&by=article&k=5"),
    ("search-filters", "/api/search?q=grain&since=1987-03-01&where=topics%3Dgrain"),
    ("search-lexical", "/api/search?q=cocoa&mode=lexical&k=3&all=true"),
    ("search-empty", "/api/search?q="),
    ("search-bad-k", "/api/search?q=oil&k=5000"),
    ("search-bad-mode", "/api/search?q=oil&mode=fuzzy"),
    ("search-bad-date", "/api/search?q=oil&since=yesterday"),
    ("article", "/api/articles/1"),
    ("similar", "/api/articles/1/similar?k=3"),
    ("article-missing", "/api/articles/nope"),
    ("stats", "/api/stats"),
]
MCP: list[tuple[str, str, dict[str, Any]]] = [
    ("search", "search", {"query": "oil prices", "k": 5}),
    ("search-article", "search", {"query": "merger", "by": "article", "k": 3}),
    (
        "search-filters",
        "search",
        {"query": "grain", "since": "1987-03-01", "where": ["topics=grain"]},
    ),
    ("search-bad", "search", {"query": "oil", "since": "yesterday"}),
    ("search-empty", "search", {"query": ""}),
    ("show", "show_article", {"id": "1"}),
    ("similar", "similar_articles", {"id": "1", "k": 3}),
    ("stats", "index_stats", {}),
]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"record", "check"}:
        print(__doc__, file=sys.stderr)
        return 2
    action, record = argv[0], Path(argv[1])
    if not (SHARED / "data").is_dir():
        print(f"error: {SHARED} is not there: the golden answers need the datasets")
        return 2
    answers = collect()
    if action == "record":
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
        print(f"{len(answers)} answers recorded in {record}")
        return 0
    expected = json.loads(record.read_text())
    changed = record.with_name("changed.json")
    if changed.exists():
        for name, change in json.loads(changed.read_text()).items():
            expected[name] = change["now"]
    differ = [
        name
        for name in sorted(set(expected) | set(answers))
        if expected.get(name) != answers.get(name)
    ]
    for name in differ:
        was, now = expected.get(name), answers.get(name)
        print(f"differs: {name}\n  was: {was!r:.600}\n  now: {now!r:.600}")
    print(f"{len(answers) - len(differ)} of {len(expected)} answers the same")
    return 1 if differ else 0


def collect() -> dict[str, Any]:
    answers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="golden-") as temp:
        work = Path(temp)
        env = _environment(work)
        indexes = _build(work, env)
        mask = _masker(work)
        for name, index, args in QUERIES:
            answers[f"cli/{name}"] = _cli(["query", *args, "--json"], indexes[index], env, mask)
            if name in PRINTED:
                answers[f"cli-printed/{name}"] = _cli(["query", *args], indexes[index], env, mask)
        for name, index, args in OTHER_CLI:
            answers[f"cli/{name}"] = _cli(args, indexes[index], env, mask)
        for index, article in (("bbc", "business/001"), ("reuters", "5")):
            for command in ("show", "similar"):
                for printed in (False, True):
                    args = [command, article] + ([] if printed else ["--json"])
                    key = f"cli/{command}-{index}" + ("-printed" if printed else "")
                    answers[key] = _cli(args, indexes[index], env, mask)
        with _server(indexes["reuters"], env) as base:
            for name in FAST_PATH:
                index, args = next((i, a) for n, i, a in QUERIES if n == name)
                fast = _cli(["query", *args, "--json"], indexes[index], env, mask, fast=True)
                answers[f"fast/{name}"] = fast
            answers["fast/printed"] = _cli(
                ["query", "oil"], indexes["reuters"], env, mask, fast=True
            )
            for name, path in HTTP:
                answers[f"http/{name}"] = _http(base + path, mask)
        answers.update(_mcp(indexes["reuters"], env, mask))
    return answers


def _environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSSEARCH_")}
    run_dir = work / "run"
    run_dir.mkdir(mode=0o700)
    env.update(
        NEWSSEARCH_RUN_DIR=str(run_dir),
        NEWSSEARCH_CACHE=str(work / "cache"),
        COLUMNS="120",
        TERM="dumb",
        NO_COLOR="1",
    )
    env.pop("FORCE_COLOR", None)
    return env


def _build(work: Path, env: dict[str, str]) -> dict[str, Path]:
    corpora = work / "corpora"
    (corpora / "bbc").mkdir(parents=True)
    (corpora / "reuters").mkdir()
    with gzip.open(SHARED / "data/bbc_news/bbc_news.jsonl.gz", "rt") as lines:
        kept = [line for number, line in enumerate(lines) if number % BBC_EVERY == 0]
    (corpora / "bbc/bbc.jsonl").write_text("".join(kept))
    train = []
    with gzip.open(SHARED / "data/reuters21578/reuters21578.jsonl.gz", "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("lewis_split") == "TRAIN" and record.get("text", "").strip():
                train.append(line)
            if len(train) == REUTERS_TRAIN:
                break
    (corpora / "reuters/reuters.jsonl").write_text("".join(train))
    sources = {"seed": SHARED / "seeds", "bbc": corpora / "bbc", "reuters": corpora / "reuters"}
    indexes = {}
    for name, folder in sources.items():
        indexes[name] = work / f"index-{name}"
        _run(["index", str(folder), "--index", str(indexes[name]), "--quiet"], env, check=True)
    return indexes


def _masker(work: Path):  # type: ignore[no-untyped-def]
    # The work folder, and ../shared (CI clones the project somewhere other than /work)
    places = {str(work): "<work>", os.path.realpath(work): "<work>"}
    places |= {str(SHARED): "<shared>", os.path.realpath(SHARED): "<shared>"}
    paths = sorted(places.items(), key=lambda place: len(place[0]), reverse=True)
    # Timings, and the index's size in bytes (tantivy's meta.json varies by a byte or so)
    varying = re.compile(r'"(took_ms|size_bytes)": ?[0-9.e+-]+')

    def mask(text: str) -> str:
        for path, name in paths:
            text = text.replace(path, name)
        return varying.sub(lambda found: f'"{found[1]}": 0', text)

    return mask


def _run(
    args: list[str], env: dict[str, str], *, check: bool = False, fast: bool = False
) -> subprocess.CompletedProcess[str]:
    env = dict(env)
    if not fast:
        env["NEWSSEARCH_NO_SERVER"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "search", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode:
        raise SystemExit(f"{args} failed ({done.returncode}): {done.stderr}")
    return done


def _cli(
    args: list[str],
    index: Path,
    env: dict[str, str],
    mask,
    *,  # type: ignore[no-untyped-def]
    fast: bool = False,
) -> dict[str, Any]:
    done = _run([*args, "--index", str(index)], env, fast=fast)
    return {"code": done.returncode, "stdout": mask(done.stdout), "stderr": mask(done.stderr)}


@contextlib.contextmanager
def _server(index: Path, env: dict[str, str]) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "search", "serve", "--index", str(index), "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def _http(url: str, mask) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return {"status": answer.status, "body": mask(answer.read().decode())}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": mask(error.read().decode())}


def _mcp(index: Path, env: dict[str, str], mask) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    answers: dict[str, Any] = {}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "search", "mcp", "--index", str(index)], env=env
    )

    async def ask() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            answers["mcp/tools"] = mask(
                json.dumps([tool.model_dump(mode="json") for tool in tools.tools], sort_keys=True)
            )
            for name, tool, arguments in MCP:
                result = await session.call_tool(tool, arguments)
                answers[f"mcp/{name}"] = {
                    "error": result.is_error,
                    "text": [mask(getattr(part, "text", "")) for part in result.content],
                    "structured": mask(json.dumps(result.structured_content, sort_keys=True)),
                }

    anyio.run(ask)
    return answers


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
