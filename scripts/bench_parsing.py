"""Parsing at size: chunking a huge paragraph and reading a big JSON Lines file stay linear.

    python scripts/bench_parsing.py [--rounds 5] [--mb 50]

The tests check that the output is right on these inputs (tests/test_chunking.py,
tests/test_articles.py); how long it takes is measured here, where the machine's noise can
be seen for what it is. Each case runs at size N and 2N, and beside a plain baseline doing
the least the same input needs (tokenizing the paragraph; ``json.loads`` of every line),
alternately, round after round, so that both see the same machine. Printed per case: the
medians, the ratio of 2N to N (about 2 for linear work, 4 for quadratic) and the ratio to
the baseline at 2N. A run ends saying whether every case looked linear (exit status 1 if not).

The cases, each named at its 2N size, are the inputs of the tests that used to time
themselves: test_chunking's megabyte paragraphs (words; one word cut into pieces) and its
run of 30,000 sentence marks, and test_articles' 50 MB JSON Lines file.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from search.ingest.article import SourceFile
from search.ingest.chunking import chunk_text
from search.ingest.read import read_source

WINDOW = 254  # tokens: the packaged model's window less its two special tokens
LINEAR = 3.0  # a 2N / N ratio above this is not linear work
_WORDS = re.compile(r"\w+|[^\w\s]")
_WORD_PIECES = re.compile(r"\w{1,4}|[^\w\s]")


def words(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORDS.finditer(text)]


def word_pieces(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD_PIECES.finditer(text)]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


class Case:
    """One input at two sizes, with its baseline; ``make(scale)`` returns (ours, plain)."""

    def __init__(
        self, name: str, make: Callable[[int], tuple[Callable[[], object], Callable[[], object]]]
    ) -> None:
        self.name = name
        self.runs = {scale: make(scale) for scale in (1, 2)}
        self.times: dict[tuple[int, str], list[float]] = {
            (scale, which): [] for scale in (1, 2) for which in ("ours", "plain")
        }

    def round(self) -> None:
        for scale, (ours, plain) in self.runs.items():
            self.times[scale, "ours"].append(timed(ours))
            self.times[scale, "plain"].append(timed(plain))

    def median(self, scale: int, which: str) -> float:
        return statistics.median(self.times[scale, which])

    def report(self) -> bool:
        one, two = self.median(1, "ours"), self.median(2, "ours")
        growth = two / one
        plain = self.median(2, "plain")
        linear = growth < LINEAR
        print(
            f"{self.name:<44} N {one * 1000:8.1f} ms   2N {two * 1000:8.1f} ms   "
            f"2N/N {growth:4.2f}   vs plain {two / plain:5.2f}x   "
            f"{'linear' if linear else 'NOT LINEAR'}"
        )
        return linear


def chunk_case(text_of: Callable[[int], str], tokenizer: Callable[[str], list[tuple[int, int]]]):
    def make(scale: int) -> tuple[Callable[[], object], Callable[[], object]]:
        text = text_of(scale)

        def ours() -> None:
            spans = chunk_text(text, max_tokens=WINDOW, token_spans=tokenizer)
            assert spans and spans[-1].end == len(text)

        return ours, lambda: tokenizer(text)

    return make


def jsonl_case(folder: Path, megabytes: int):
    record = {"title": "Headline", "text": "Words in a sentence. " * 30 + "\n\n" + "More. " * 40}
    line = json.dumps(record) + "\n"

    def make(scale: int) -> tuple[Callable[[], object], Callable[[], object]]:
        count = megabytes * 1_000_000 * scale // 2 // len(line)
        path = folder / f"big{scale}.jsonl"
        path.write_text(line * count)

        def ours() -> None:
            articles, skips = read_source(SourceFile(path, path.name))
            assert len(articles) == count and not skips

        def plain() -> None:
            with path.open(encoding="utf-8") as lines:
                for text in lines:
                    json.loads(text)

        return ours, plain

    return make


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=50, help="the JSON Lines file at 2N, in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newssearch-bench-parsing-") as tmp:
        print("preparing the inputs ...", flush=True)
        cases = [
            Case(
                "chunk 1 MB of words",
                chunk_case(lambda n: ("lorem ipsum dolor sit amet " * 20_000 * n).strip(), words),
            ),
            Case("chunk a 1 MB word", chunk_case(lambda n: "x" * 500_000 * n, word_pieces)),
            Case(
                "chunk 30,000 dots in a row",
                chunk_case(lambda n: "Wait" + "." * 15_000 * n + "x", words),
            ),
            Case(f"read {args.mb} MB of JSON Lines", jsonl_case(Path(tmp), args.mb)),
        ]
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds} ...", flush=True)
            for case in cases:
                case.round()
        print()
        linear = [case.report() for case in cases]
    print()
    print("every case linear" if all(linear) else "SOME CASE GREW FASTER THAN LINEAR")
    return 0 if all(linear) else 1


if __name__ == "__main__":
    sys.exit(main())
