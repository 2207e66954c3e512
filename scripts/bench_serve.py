"""The server under load, measured side by side in one run, on the BBC News index.

    python scripts/bench_serve.py [--data DIR] [--seconds 60] [--rounds 7]

1. One client, one warm hybrid query after another over HTTP: p50 and p95.
2. 16 and then 64 concurrent clients (keep-alive connections, each sending its next query as
   soon as the last is answered) for ``--seconds`` each: queries/s, p50, p99, errors.
3. 16 clients again while a writer process adds an article every 5 s through the same
   index; every added article must then be found.
4. ``newssearch query``, ``show`` and ``similar`` through the running server: whole-process
   wall time against the plain recipe's cold query and against each command without a
   server, in alternation, and whether the output is the same as without a server.
5. The server's resident memory.

Queries are BBC headlines, each sent once per pass (no cache can help). The load generator
runs in this process on the same two cores as the server, so the figures are what one
machine gives with both. Ends with each target of the serving issue and whether it was met.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import PLAIN_INDEX, PLAIN_QUERY  # noqa: E402

CACHE = Path.home() / ".cache" / "newssearch" / "bench_serve"
CLI_QUERY = "Time Warner quarterly profits"

WRITER = """
import json, sys, time
from pathlib import Path
from search import Index
index, folder, every, count = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
folder.mkdir(parents=True, exist_ok=True)
def article(n):
    path = folder / f"live-{n}.txt"
    path.write_text(f"Live wire {n}\\n\\nThe harbour master reported quokka{n} sightings near "
                    f"pier {n} this morning, and the ferry timetable changed.\\n")
    return path
with Index.open(index) as ix:
    ix.add(article(0))  # loads the model before the clock starts
    print("ready", flush=True)
    for n in range(1, count + 1):
        started = time.perf_counter()
        ix.add(article(n))
        print(json.dumps({"added": n, "seconds": time.perf_counter() - started}), flush=True)
        time.sleep(max(0.0, every - (time.perf_counter() - started)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    bbc = args.data / "bbc_news/bbc_news.jsonl.gz"
    built, plain_file = cached_indexes(bbc)
    queries = headlines(bbc)
    targets: list[tuple[str, str, bool]] = []
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="newssearch-bench-serve-") as scratch:
        index = Path(scratch) / "index"
        shutil.copytree(built, index)
        run_dir = Path(scratch) / "run"
        env = {**os.environ, "NEWSSEARCH_RUN_DIR": str(run_dir)}
        server, url = start_server(index, env)
        try:
            targets += one_client(url, queries)
            targets += many_clients(url, queries, args.seconds)
            targets += with_a_writer(url, queries, index, Path(scratch) / "live", args.seconds)
            targets += cli_through_server(index, plain_file, env, args.rounds)
            rss, peak = memory(server.pid)
            print(f"server memory: resident {rss / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB")
            memory_line = f"{rss / 1e6:.0f} MB (peak {peak / 1e6:.0f} MB)"
            targets.append(("server's resident memory, BBC index open", memory_line, True))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("\nTARGETS")
    for name, value, met in targets:
        print(f"  {'met    ' if met else 'NOT MET'}  {name}: {value}")


def cached_indexes(bbc: Path) -> tuple[Path, Path]:
    """Our BBC index and the plain recipe's FAISS file, built once and kept in the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    index, plain = CACHE / "bbc-index", CACHE / "bbc-plain.faiss"
    if not (index / "manifest.json").exists():
        print("building the BBC index (once)...", flush=True)
        shutil.rmtree(index, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "search", "index", str(bbc), "-i", str(index), "-q"],
            check=True,
        )
    if not plain.exists():
        print("building the plain recipe's FAISS file (once)...", flush=True)
        command = [sys.executable, "-c", PLAIN_INDEX, str(bbc), str(plain)]
        subprocess.run(command, check=True, capture_output=True)
    return index, plain


def headlines(bbc: Path) -> list[str]:
    """The headlines that are plain words: 2 of 2,096 use the query syntax ("CD:UK" names
    a field the index lacks, a 400; a quoted word is a phrase), and are left out."""
    from search.query.syntax import parse

    with gzip.open(bbc, "rt", encoding="utf-8") as handle:
        titles = sorted({json.loads(line)["title"] for line in handle})
    plain = [title for title in titles if parse(title).constraint is None]
    if len(plain) < len(titles):
        print(f"{len(titles) - len(plain)} headlines use the query syntax: left out")
    random.Random(11).shuffle(plain)
    return plain


def start_server(index: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "search", "serve", "-i", str(index), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stderr is not None
    line = server.stderr.readline()
    if " at http://" not in line:
        raise SystemExit(f"the server did not start: {line}{server.stderr.read()}")
    url = line.split(" at ", 1)[1].split("/ ", 1)[0]
    print(f"server: {url} (pid {server.pid})", flush=True)
    return server, url


# ---------------------------------------------------------------------------
# Clients


class Client:
    """One keep-alive HTTP/1.1 connection sending GETs one after another."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):  # counted as an error, the connection reset
            raise OSError(f"not an HTTP response: {head[:300]!r}")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def search_target(text: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": text, "k": 10})


async def load(url: str, queries: list[str], clients: int, seconds: float) -> dict:
    """``clients`` connections, each sending its next query when the last is answered."""
    latencies: list[float] = []
    errors: list[str] = []
    next_query = iter(range(1 << 30))
    deadline = time.perf_counter() + seconds

    async def one(client: Client) -> None:
        while time.perf_counter() < deadline:
            text = queries[next(next_query) % len(queries)]
            started = time.perf_counter()
            try:
                status, body = await client.get(search_target(text))
            except (OSError, asyncio.IncompleteReadError) as error:
                errors.append(repr(error))
                client.writer = None
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200 or not body.startswith(b'{"hits":'):
                errors.append(f"{status} {body[:200]!r}")
        await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(Client(url)) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "count": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": errors,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * q / 100))]


async def sequential(url: str, queries: list[str]) -> list[float]:
    """Each query's time, sorted: one connection, one query after another (the last 20
    sent first, to warm)."""
    client = Client(url)
    for text in queries[-20:]:
        await client.get(search_target(text))
    times = []
    for text in queries:
        started = time.perf_counter()
        status, _ = await client.get(search_target(text))
        times.append(time.perf_counter() - started)
        assert status == 200
    await client.close()
    return sorted(times)


def one_client(url: str, queries: list[str]) -> list[tuple[str, str, bool]]:
    times = asyncio.run(sequential(url, queries[:300]))
    p50, p95 = percentile(times, 50) * 1000, percentile(times, 95) * 1000
    print(f"one client, {len(times)} hybrid queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    return [("warm hybrid query over HTTP, one client: p50 <= 20 ms", f"{p50:.1f} ms", p50 <= 20)]


def many_clients(url: str, queries: list[str], seconds: float) -> list[tuple[str, str, bool]]:
    results = []
    for clients, p99_limit, rate_limit in [(16, 0.25, 100.0), (64, 1.0, 0.0)]:
        found = asyncio.run(load(url, queries, clients, seconds))
        report(f"{clients} clients", found)
        errors = len(found["errors"])
        if rate_limit:
            results.append(
                (
                    f"{clients} clients for {seconds:.0f} s: >= {rate_limit:.0f} queries/s",
                    f"{found['per_second']:.0f}/s",
                    found["per_second"] >= rate_limit,
                )
            )
        results.append(
            (
                f"{clients} clients: p99 <= {p99_limit * 1000:.0f} ms, no errors",
                f"p99 {found['p99'] * 1000:.0f} ms, {errors} errors",
                found["p99"] <= p99_limit and errors == 0,
            )
        )
    return results


def with_a_writer(
    url: str, queries: list[str], index: Path, folder: Path, seconds: float
) -> list[tuple[str, str, bool]]:
    count = max(1, int(seconds // 5))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(index), str(folder), "5", str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    if writer.stdout.readline().strip() != "ready":
        raise SystemExit("the writer did not start")
    found = asyncio.run(load(url, queries, 16, seconds))
    added = [json.loads(line) for line in writer.stdout]
    writer.wait(timeout=60)
    report(f"16 clients, writer adding every 5 s ({len(added)} added)", found)
    missing = [n for n in range(count + 1) if not findable(url, f"quokka{n}")]
    print(f"articles the writer added, not found afterwards: {missing or 'none'}")
    errors = len(found["errors"])
    return [
        (
            "16 clients while a writer adds an article every 5 s: no errors, every one found",
            f"{errors} errors, {len(added)} added, {len(missing)} missing, "
            f"{found['per_second']:.0f}/s, p99 {found['p99'] * 1000:.0f} ms",
            errors == 0 and not missing and len(added) == count,
        )
    ]


def findable(url: str, word: str) -> bool:
    async def ask() -> bool:
        client = Client(url)
        status, body = await client.get(
            "/api/search?" + urllib.parse.urlencode({"q": word, "mode": "lexical", "k": 1})
        )
        await client.close()
        return status == 200 and word in json.loads(body)["hits"][0]["text"]

    try:
        return asyncio.run(ask())
    except (IndexError, OSError):
        return False


def report(name: str, found: dict) -> None:
    print(
        f"{name}: {found['count']} queries, {found['per_second']:.1f}/s, "
        f"p50 {found['p50'] * 1000:.1f} ms, p99 {found['p99'] * 1000:.1f} ms, "
        f"{len(found['errors'])} errors {found['errors'][:3]}",
        flush=True,
    )


# ---------------------------------------------------------------------------
# The CLI through the server


def cli_through_server(
    index: Path, plain_file: Path, env: dict[str, str], rounds: int
) -> list[tuple[str, str, bool]]:
    """Each command whole-process through the server and without it, in alternation with
    the plain recipe's cold query; the medians side by side."""
    command = str(Path(sys.executable).with_name("newssearch"))
    article = an_article(command, index, env)
    commands = {
        "query": [command, "query", CLI_QUERY, "-i", str(index)],
        "show": [command, "show", article, "-i", str(index)],
        "similar": [command, "similar", article, "-i", str(index)],
    }
    alone_env = {**env, "NEWSSEARCH_NO_SERVER": "1"}
    served: dict[str, list[float]] = {name: [] for name in commands}
    alone: dict[str, list[float]] = {name: [] for name in commands}
    same = dict.fromkeys(commands, True)
    plain = []
    for _ in range(rounds):
        plain.append(timed([sys.executable, "-c", PLAIN_QUERY, str(plain_file), CLI_QUERY], env)[0])
        for name, argv in commands.items():
            seconds, through = timed(argv, env)
            served[name].append(seconds)
            seconds, direct = timed(argv, alone_env)
            alone[name].append(seconds)
            same[name] = same[name] and through == direct
    s = {name: statistics.median(times) for name, times in served.items()}
    a = {name: statistics.median(times) for name, times in alone.items()}
    p = statistics.median(plain)
    print(f"whole process, median of {rounds} (article {article}; the plain recipe {p:.3f} s):")
    print(f"  {'command':<12}{'through the server':>20}{'without it':>12}{'ratio':>8}  same output")
    for name in commands:
        ratio = s[name] / a[name]
        print(f"  {name:<12}{s[name]:>18.3f} s{a[name]:>10.3f} s{ratio:>7.2f}x  {same[name]}")
    return [
        (
            "`newssearch query` through a running server <= 0.15 s per process",
            f"{s['query']:.3f} s ({s['query'] / p:.3f}x the plain recipe's {p:.2f} s; "
            f"{s['query'] / a['query']:.2f}x without a server, {a['query']:.3f} s)",
            s["query"] <= 0.15,
        ),
        *(
            (
                f"`newssearch {name}` through a running server <= 0.15 s per process",
                f"{s[name]:.3f} s ({s[name] / a[name]:.2f}x without a server, {a[name]:.3f} s)",
                s[name] <= 0.15,
            )
            for name in ("show", "similar")
        ),
        ("the same output with and without a server", str(same), all(same.values())),
    ]


def an_article(command: str, index: Path, env: dict[str, str]) -> str:
    """The id of the article that best answers the CLI's query."""
    found = subprocess.run(
        [command, "query", CLI_QUERY, "-i", str(index), "-k", "1", "--json"],
        capture_output=True,
        env=env,
        check=True,
    )
    return json.loads(found.stdout)["article_id"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout


def memory(pid: int) -> tuple[int, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


if __name__ == "__main__":
    main()
