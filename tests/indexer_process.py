"""A real indexing process for tests to kill: indexes folders with the fake embedder.

    python tests/indexer_process.py index INDEX FOLDER [--batch N] [--sleep S] [--merge-factor M]
    python tests/indexer_process.py optimize INDEX
    python tests/indexer_process.py lock INDEX

``index`` prints ``ready`` once imported, ``embedded N`` after each batch of N passages is
embedded (a commit follows), then the run's ``UpdateReport`` as one JSON line, with
``embedded``: how many passages the fake embedder was asked for. ``--batch`` makes every
batch a commit, so one run commits many times. ``--merge-factor`` makes the
merge policy fold every M small segments, so merges run all through the run. ``optimize``
merges every segment into one and prints ``{"merged": N}``. ``lock`` takes the index's write
lock, prints ``locked`` and waits to be killed.

To kill it at a named point, set ``NEWSSEARCH_FAULT`` (search/write/faults.py) in its
environment: the writer's points, and ``embedding``, this helper's own, reached each time a
batch is about to be embedded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import FakeEmbedder  # noqa: E402

import search.storage.folder  # noqa: E402
import search.storage.segments  # noqa: E402
import search.write.writer  # noqa: E402
from search import Index, SearchError  # noqa: E402
from search.write import faults  # noqa: E402


class ReportingEmbedder(FakeEmbedder):
    """The fake, slowed down a little, telling the parent each time a batch is done."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        faults.reached("embedding")
        time.sleep(self.pause)
        vectors = super().embed(texts, progress=progress)
        print(f"embedded {len(texts)}", flush=True)
        return vectors


def index(path: Path, folder: Path, batch: int, pause: float) -> int:
    search.write.writer.EMBED_BATCH = batch
    search.write.writer.COMMIT_PASSAGES = batch
    embedder = ReportingEmbedder(pause)
    print("ready", flush=True)
    try:
        with Index.open_or_create(path, model=embedder) as ix:
            report = ix.update([folder])
    except SearchError as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}), flush=True)
        return error.exit_code
    fields = dataclasses.asdict(report)
    del fields["skipped"]
    fields["skip_counts"] = report.skip_counts()
    fields["embedded"] = len(embedder.embedded)
    print(json.dumps(fields), flush=True)
    return 0


def optimize(path: Path) -> int:
    print("ready", flush=True)
    with Index.open(path, model=FakeEmbedder()) as ix:
        merged = ix.optimize()
    print(json.dumps({"merged": merged}), flush=True)
    return 0


def lock(path: Path) -> int:
    with search.storage.folder.lock(path):
        print("locked", flush=True)
        time.sleep(600)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["index", "optimize", "lock"])
    parser.add_argument("index")
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--batch", type=int, default=search.write.writer.EMBED_BATCH)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--merge-factor", type=int, default=0)
    args = parser.parse_args(argv)
    if args.merge_factor:
        search.storage.segments.MERGE_FACTOR = args.merge_factor
    if args.action == "lock":
        return lock(Path(args.index))
    if args.action == "optimize":
        return optimize(Path(args.index))
    return index(Path(args.index), Path(args.folder), args.batch, args.sleep)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
