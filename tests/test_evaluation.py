"""`newssearch eval`: BEIR loading, passage-to-document aggregation, and metrics from
ir-measures on a toy dataset whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from typer.testing import CliRunner

from search import Index, InputError
from search.cli.commands import app
from search.evaluation import document_ranking, evaluate, load_beir, measure

CORPUS = [
    {"_id": "d1", "title": "Volcano", "text": "The volcano erupted and ash covered the town."},
    {"_id": "d2", "title": "Cocoa", "text": "Cocoa harvests fell after the long drought."},
    {"_id": "d3", "title": "Football", "text": "The striker scored twice in the final."},
    {"_id": "d4", "title": "Markets", "text": "Shares fell as oil prices rose sharply."},
]
QUERIES = {"q1": "volcano ash eruption", "q2": "cocoa drought harvest", "q3": "striker final"}
QRELS = {"q1": "d1", "q2": "d2", "q3": "d3"}


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items())
        + json.dumps({"_id": "q9", "text": "not judged in this split"})
        + "\n"
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\r\n" + "".join(f"{q}\t{d}\t1\r\n" for q, d in QRELS.items())
    )
    return folder


def test_document_scores_as_its_best_passage() -> None:
    passages = [("b", 0.9), ("a", 0.8), ("b", 0.95), ("c", 0.8), ("a", 0.1)]
    assert document_ranking(passages) == [("b", 0.95), ("a", 0.8), ("c", 0.8)]
    assert document_ranking([]) == []


def test_load_beir_keeps_only_judged_queries(beir: Path) -> None:
    data = load_beir(beir, "test")
    assert data.name == "toy" and data.corpus == beir / "corpus.jsonl"
    assert data.queries == QUERIES
    assert data.qrels == {q: {d: 1} for q, d in QRELS.items()}


def test_load_beir_errors(beir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no qrels/dev.tsv"):
        load_beir(beir, "dev")
    with pytest.raises(InputError, match="no corpus.jsonl"):
        load_beir(tmp_path, "test")
    (beir / "qrels" / "test.tsv").write_text("q1\td1\n")
    with pytest.raises(InputError, match="line 1: expected query-id, corpus-id, score"):
        load_beir(beir, "test")


def test_measure_against_hand_computed_values(beir: Path) -> None:
    data = load_beir(beir, "test")
    # q1: relevant at rank 1; q2: relevant at rank 2; q3: nothing relevant retrieved.
    rankings = {
        "q1": [("d1", 3.0), ("d2", 2.0)],
        "q2": [("d4", 3.0), ("d2", 2.0)],
        "q3": [("d4", 1.0)],
    }
    values = measure(data, rankings)
    assert values["MRR@10"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert values["R@100"] == pytest.approx(2 / 3)
    # nDCG with one relevant document: 1 / log2(rank + 1).
    assert values["nDCG@10"] == pytest.approx((1 + 1 / 1.584962500721156 + 0) / 3)


def test_a_query_without_results_counts_as_zero(beir: Path) -> None:
    values = measure(load_beir(beir, "test"), {"q1": [("d1", 1.0)]})
    assert values["MRR@10"] == pytest.approx(1 / 3)


def test_evaluate_on_an_index(beir: Path, tmp_path: Path) -> None:
    data = load_beir(beir, "test")
    with Index.create(tmp_path / "ix", model=FakeEmbedder()) as ix:
        ix.add([data.corpus])
        results = evaluate(ix, data)
    assert set(results) == {"hybrid", "dense", "lexical"}
    assert results["lexical"]["MRR@10"] == pytest.approx(1.0)
    assert results["hybrid"]["nDCG@10"] == pytest.approx(1.0)


def test_cli_eval_json(beir: Path, fake_models: dict, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(beir), "--json", "--mode", "lexical"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dataset"], report["split"], report["queries"]) == ("toy", "test", 3)
    assert set(report["results"]) == {"lexical"}
    assert report["results"]["lexical"] == {"nDCG@10": 1.0, "R@100": 1.0, "MRR@10": 1.0}
    assert report["seconds"] >= 0


def test_cli_eval_keeps_the_index_when_asked(beir: Path, fake_models: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["eval", str(beir), "--index", str(tmp_path / "kept")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "toy (test, 3 queries" in first.stdout
    assert "hybrid" in first.stdout and "nDCG@10" in first.stdout
    assert (tmp_path / "kept" / "manifest.json").is_file()
    assert runner.invoke(app, args).exit_code == 0  # reused, nothing to embed


def test_cli_eval_bad_folder(tmp_path: Path, fake_models: dict) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "BEIR layout expected" in result.stderr
