"""``serve --engine ray --shards N`` on a real local Ray cluster with the real model: the
sharded server answers as a single index does, a time window skips shards, and a killed
shard replica never yields a partial answer presented as whole."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import need_shared, one_line_error

from search import Index
from search.errors import ShardUnavailableError
from search.index import index_files

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'newssearch[ray]'")
pytest.importorskip("ray.serve", reason="needs the ray extra: pip install 'newssearch[ray]'")
ir_measures = pytest.importorskip("ir_measures")

COMMAND = Path(sys.executable).with_name("newssearch")
ARTICLES = 900  # Reuters TRAIN articles: dated, February to March 1987
UNDATED = 40  # BBC articles: no dates


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    reuters = need_shared("data", "reuters21578", "reuters21578.jsonl.gz")
    bbc = need_shared("data", "bbc_news", "bbc_news.jsonl.gz")
    folder = tmp_path_factory.mktemp("archive")
    with gzip.open(reuters, "rt", encoding="utf-8") as lines:
        train = (r for r in map(json.loads, lines) if r["lewis_split"] == "TRAIN")
        records = list(itertools.islice(train, ARTICLES))
    with gzip.open(bbc, "rt", encoding="utf-8") as lines:
        undated = list(itertools.islice(lines, UNDATED))
    (folder / "reuters.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "bbc.jsonl").write_text("".join(undated))
    index = tmp_path_factory.mktemp("index") / "index"
    index_files(index, [folder])
    return index, records


def queries(records: list[dict]) -> list[str]:
    """50 queries: the titles of every 18th article, as a reader would type them."""
    titled = [r["title"].lower() for r in records if r.get("title")]
    return titled[::18][:50]


def recall_at_10(single: dict[str, list[str]], sharded: dict[str, list[str]]) -> float:
    """The sharded ranking's recall@10 of the single index's top 10, by ir-measures."""
    qrels = [ir_measures.Qrel(q, doc, 1) for q, docs in single.items() for doc in docs]
    run = [
        ir_measures.ScoredDoc(q, doc, float(len(docs) - rank))
        for q, docs in sharded.items()
        for rank, doc in enumerate(docs)
    ]
    return ir_measures.calc_aggregate([ir_measures.R @ 10], qrels, run)[ir_measures.R @ 10]


@pytest.mark.process
def test_the_serve_command_answers_as_the_single_index(archive) -> None:
    import httpx

    index, records = archive
    process = subprocess.Popen(
        [COMMAND, "serve", "--engine", "ray", "--shards", "2", "--port", "0", "--index", index],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NEWSSEARCH_NO_SERVER": "1"},
    )
    try:
        assert process.stderr is not None
        said = []
        while not said or " at http://" not in said[-1]:
            line = process.stderr.readline()
            assert line, "the server stopped:\n" + "".join(said)
            said.append(line)
        assert said[0].startswith("shard 1 of 2: … to 1987-") and said[1].startswith("shard 2")
        base = said[-1].split(" at ", 1)[1].split("/ ", 1)[0]
        with Index.open(index) as single, httpx.Client(base_url=base, timeout=60) as http:
            syntax = ['"oil prices" -opec', "+wheat (export OR harvest)"]  # constraints
            for text in queries(records)[:10] + syntax:
                for options in [{}, {"mode": "dense"}, {"by": "article"}]:
                    answer = http.get("/api/search", params={"q": text, **options})
                    assert answer.status_code == 200, answer.text
                    expected = [dataclasses.asdict(h) for h in single.search(text, **options)]
                    got = answer.json()["hits"]
                    assert [h["passage_id"] for h in got] == [h["passage_id"] for h in expected]
                    assert got[0]["text"] == expected[0]["text"]
            windowed = http.get("/api/search", params={"q": "oil", "until": "1987-02-28"})
            assert all(h["published"] < "1987-03" for h in windowed.json()["hits"])
            bad = http.get("/api/search", params={"q": "oil", "where": "nope=1"})
            assert bad.status_code == 400 and "unknown field" in bad.json()["error"]
            health = http.get("/api/health").json()
            assert health["articles"] == ARTICLES + UNDATED
            assert [s["shard"] for s in health["shards"]] == [1, 2]
            assert sum(s["vectors"] for s in health["shards"]) == single.stats().vectors
            assert http.get("/").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster(archive):
    """The archive served on a local cluster of 8 CPU slots started here, which the server
    joins as one of others' (so it deletes only its own application when it closes)."""
    from search.scale.ray_serve import ShardedCluster

    index, _ = archive
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        with ShardedCluster.start(index, 2) as started:
            yield started
        from ray import serve

        assert started.name not in serve.status().applications
    finally:
        ray.shutdown()


@pytest.mark.process
def test_sharded_recall_at_10_against_the_single_index(archive, cluster) -> None:
    index, records = archive
    client = cluster.client()
    single_runs: dict[str, list[str]] = {}
    sharded_runs: dict[str, list[str]] = {}
    with Index.open(index) as single:
        for number, text in enumerate(queries(records)):
            for mode in ("hybrid", "dense", "lexical"):
                key = f"{number}-{mode}"
                single_runs[key] = [str(h.passage_id) for h in single.search(text, mode=mode)]
                sharded_runs[key] = [str(h.passage_id) for h in client.search(text, mode=mode)]
    assert len(single_runs) == 150
    assert recall_at_10(single_runs, sharded_runs) >= 0.99


def shard_info(cluster: Any) -> list[dict]:
    return cluster.client().shards()


@pytest.mark.process
def test_a_time_window_reaches_only_the_shards_it_meets(archive, cluster) -> None:
    client = cluster.client()
    first = cluster.scopes[0]
    assert first.last_day is not None
    before = [s["asked"] for s in shard_info(cluster)]
    hits = client.search("oil prices", until=dt.date.fromordinal(first.last_day).isoformat())
    after = [s["asked"] for s in shard_info(cluster)]
    assert hits and after[0] > before[0] and after[1] == before[1]
    client.search("oil prices")
    assert all(a > b for a, b in zip([s["asked"] for s in shard_info(cluster)], after, strict=True))


@pytest.mark.process
def test_a_killed_shard_replica_is_restarted_and_never_answers_partially(archive, cluster) -> None:
    index, records = archive
    client = cluster.client()
    text = queries(records)[3]
    with Index.open(index) as single:
        expected = [h.passage_id for h in single.search(text)]
    assert [h.passage_id for h in client.search(text)] == expected
    names = [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "shard-2" in a["name"] and "REPLICA" in a["name"].upper()
    ]
    assert len(names) == 1, names
    ray.kill(ray.get_actor(names[0], namespace="serve"), no_restart=True)
    refused = answered = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            got = [h.passage_id for h in client.search(text)]
        except ShardUnavailableError as error:
            assert "shard 2 of 2" in str(error)
            refused += 1
            time.sleep(0.2)
            continue
        assert got == expected  # whole, or not at all
        answered += 1
        if answered >= 3:
            break
    assert answered >= 3, f"no answer within 120 s of the kill ({refused} refused)"


def test_without_ray_serve_the_engine_says_how_to_get_it(without_ray, cli, tmp_path) -> None:
    result = cli("serve", "--engine", "ray", "--port", "0", "-i", tmp_path / "none")
    assert result.exit_code == 2
    assert one_line_error(result, 2).endswith("pip install 'newssearch[ray]'")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--shards", "0"], "--shards must be from 1 to 256, not 0"),
        (["--replicas", "0"], "--replicas must be at least 1"),
        ([], "no index at"),
    ],
)
def test_bad_sharded_serve_options_are_one_line_errors(cli, tmp_path, args, said) -> None:
    from search import Index

    if args:
        Index.create(tmp_path / "ix").close()
    before = ray.is_initialized()
    result = cli("serve", "--engine", "ray", "--port", "0", "-i", tmp_path / "ix", *args)
    assert said in one_line_error(result, result.exit_code)
    assert ray.is_initialized() == before  # said before any cluster was started


@pytest.mark.process
def test_an_index_built_anew_under_a_sharded_server_is_answered_anew(
    cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second application on the same cluster (so closing it deletes only itself): its
    index removed and built again from other articles while it serves."""
    from search.scale.ray_serve import ShardedCluster

    source = need_shared("data", "bbc_news", "bbc_news.jsonl.gz")
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 600)]
    sport = [r for r in records if r["category"] == "sport"][:20]
    business = [r for r in records if r["category"] == "business"][:20]
    folder = tmp_path_factory.mktemp("anew")
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sport))
    index = tmp_path_factory.mktemp("anew-index") / "index"
    index_files(index, [folder / "a.jsonl"])
    with ShardedCluster.start(index, 2) as second:
        assert second.name != cluster.name
        client = second.client()
        assert all(h.article_id.startswith("sport/") for h in client.search("match"))
        shutil.rmtree(index)
        (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in business))
        index_files(index, [folder / "b.jsonl"])
        hits = client.search("match", k=20)
        assert hits and all(h.article_id.startswith("business/") for h in hits)
    assert [h.passage_id for h in cluster.client().search("oil")]  # the first app still serves


@pytest.mark.process
def test_replicas_that_find_no_room_are_one_error_and_leave_nothing(
    archive, cluster, monkeypatch
) -> None:
    from ray import serve

    import search.scale.ray_serve
    from search.errors import InputError

    index, _ = archive
    monkeypatch.setattr(search.scale.ray_serve, "DEPLOY_SECONDS", 15.0)
    before = set(serve.status().applications)
    with pytest.raises(InputError, match=r"did not start the shards within 15 s .* 9 replicas"):
        search.scale.ray_serve.ShardedCluster.start(index, 2, replicas=3)  # 9 CPUs; 5 are free
    assert set(serve.status().applications) == before
    assert [h.passage_id for h in cluster.client().search("oil")]
