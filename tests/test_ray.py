"""``--engine ray`` on a real local Ray cluster with the real model: the build equals a
local build, incrementally too, and a killed worker or driver loses nothing."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import need_shared

from search import Index
from search.index import index_files
from search.write import faults

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'newssearch[ray]'")

COMMAND = Path(sys.executable).with_name("newssearch")


@pytest.fixture(scope="module")
def bbc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 BBC articles in two files of 60 (the second for the incremental case)."""
    source = need_shared("data", "bbc_news", "bbc_news.jsonl.gz")
    folder = tmp_path_factory.mktemp("bbc")
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        records = list(itertools.islice(lines, 120))
    (folder / "a.jsonl").write_text("".join(records[:60]), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(records[60:]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local_build(bbc: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("local") / "index"
    index_files(path, [bbc])
    return path


@pytest.fixture(scope="module")
def cluster():
    from search.scale.ray_build import RayEngine

    with RayEngine(workers=2) as engine:
        yield engine


def contents(path: Path) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
    """(article id in its collection, passage start) -> (passage text, vector), read
    through the public API."""
    with Index.open(path) as ix:
        searcher = ix.searcher

        def read(store, snapshot):
            ids = store.passage_ids()
            rows = store.passages(ids)
            from search.query.searcher import passage_vectors

            vectors = passage_vectors(snapshot, np.asarray(ids, dtype=np.int64))
            return {(rows[i].local_id, rows[i].start): (rows[i].text, vectors[i]) for i in ids}

        return searcher.read(read)


def assert_same_index(built: Path, reference: Path, queries: list[str]) -> None:
    ours, theirs = contents(built), contents(reference)
    assert ours.keys() == theirs.keys()
    assert all(ours[key][0] == theirs[key][0] for key in ours)
    cosines = [float(ours[key][1] @ theirs[key][1]) for key in ours]
    assert min(cosines) >= 0.9999, min(cosines)
    with Index.open(built) as a, Index.open(reference) as b:
        for text in queries:
            for mode in ("hybrid", "dense"):
                got = [(h.article_id, h.start) for h in a.search(text, k=10, mode=mode)]
                expected = [(h.article_id, h.start) for h in b.search(text, k=10, mode=mode)]
                assert got == expected, (text, mode)


def titles(bbc: Path, count: int = 50) -> list[str]:
    lines = (bbc / "a.jsonl").read_text().splitlines() + (bbc / "b.jsonl").read_text().splitlines()
    return [json.loads(line)["title"] for line in lines][:count]


@pytest.mark.process
def test_a_ray_build_equals_a_local_build(bbc, local_build, cluster, tmp_path) -> None:
    report = index_files(tmp_path / "index", [bbc], engine=cluster)
    assert report.added == 120 and report.commits >= 1
    assert_same_index(tmp_path / "index", local_build, titles(bbc))


@pytest.mark.process
def test_only_new_articles_go_to_the_cluster(bbc, local_build, cluster, tmp_path) -> None:
    half = tmp_path / "half"
    half.mkdir()
    (half / "a.jsonl").write_text((bbc / "a.jsonl").read_text())
    first = index_files(tmp_path / "index", [half], engine=cluster)
    assert first.added == 60
    (half / "b.jsonl").write_text((bbc / "b.jsonl").read_text())
    second = index_files(tmp_path / "index", [half], engine=cluster)
    assert (second.added, second.unchanged) == (60, 60)
    in_b = {json.loads(line)["id"] for line in (bbc / "b.jsonl").read_text().splitlines()}
    reference = contents(local_build)
    assert second.passages_embedded == sum(1 for key in reference if key[0] in in_b)
    ours = contents(tmp_path / "index")
    assert ours.keys() == reference.keys()
    assert min(float(ours[k][1] @ reference[k][1]) for k in ours) >= 0.9999


@pytest.mark.process
def test_a_killed_worker_is_restarted_and_nothing_is_lost(
    bbc, local_build, cluster, tmp_path, monkeypatch
) -> None:
    import search.scale.ray_build
    import search.write.writer

    monkeypatch.setattr(search.write.writer, "EMBED_BATCH", 64)  # many calls, so one is cut
    monkeypatch.setattr(search.scale.ray_build, "EMBED_ROWS", 16)
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            embedder = cluster.last_embedder
            if embedder is not None and embedder.actors:
                pid = ray.get(embedder.actors[0].pid.remote())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    index_files(tmp_path / "index", [bbc], engine=cluster)
    killer.join()
    assert killed, "no embedding actor was seen to kill"
    assert_same_index(tmp_path / "index", local_build, titles(bbc, 10))


@pytest.mark.process
def test_a_killed_driver_leaves_its_last_commit_and_the_next_run_finishes(
    bbc, local_build, tmp_path
) -> None:
    index = tmp_path / "index"
    run = [str(COMMAND), "index", str(bbc), "-i", str(index), "--engine", "ray", "-q"]
    env = {**os.environ, "RAY_ADDRESS": ""}
    # The driver commits what the workers embedded: it kills itself inside its first commit,
    # the lexical index committed and the store not (search/write/faults.py).
    faulty = {**env, faults.VARIABLE: "mid-commit:1"}
    driver = subprocess.Popen(run, env=faulty, start_new_session=True, stderr=subprocess.PIPE)
    try:
        _, stderr = driver.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # what is left of the cluster it started
    assert driver.returncode == -signal.SIGKILL, (driver.returncode, stderr.decode()[-2000:])
    with Index.open(index) as ix:  # the last complete commit: the index it created, empty
        assert ix.stats().articles == 0 and ix.search(titles(bbc, 1)[0]) == []
        report = ix.check()  # but for the lexical index, a commit ahead: the next run
        assert report.ok and len(report.repairs) == 1, report  # puts it right
    done = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_index(index, local_build, titles(bbc, 10))


def test_without_ray_the_engine_says_how_to_get_it(without_ray, cli) -> None:
    result = cli("index", "anything", "--engine", "ray")
    assert result.exit_code == 2
    assert "pip install 'newssearch[ray]'" in result.stderr
