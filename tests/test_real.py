"""The real packaged model on real text: the user's seed article and a slice of BBC News.

Marked slow: they load the sentence-transformers model (seconds) and run the CLI as a
separate process, exactly as a user would.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_shared

import search
from search.embedding import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow

DEFINITION = "Kataib Hezbollah, or Brigades of the Party of God"


def newssearch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "search", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    seeds = need_shared("seeds")
    index = tmp_path_factory.mktemp("seeds") / "index"
    result = newssearch("index", seeds, "--index", index)
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 updated, 0 removed, 0 unchanged" in result.stdout
    return index


@pytest.mark.process
def test_cli_puts_the_defining_paragraph_first(seeds_index: Path) -> None:
    result = newssearch("query", "Kataib Hezbollah", "--index", seeds_index)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. ")
    assert lines[0].endswith("Iraq condemns 'irresponsible' US air strikes on Iran-backed groups")
    assert lines[2].strip().startswith(DEFINITION)


@pytest.mark.process
def test_json_puts_the_defining_paragraph_first(seeds_index: Path) -> None:
    result = newssearch("query", "Kataib Hezbollah", "--json", "--index", seeds_index)
    first = json.loads(result.stdout.splitlines()[0])
    assert first["rank"] == 1 and first["text"].startswith(DEFINITION)
    assert first["article_id"] == "seeds/000_815593e774ae9b48.txt"


@pytest.mark.process
def test_import_search_puts_the_defining_paragraph_first(seeds_index: Path) -> None:
    code = (
        f"import search; ix = search.Index.open({str(seeds_index)!r}); "
        "print(ix.search('Kataib Hezbollah', k=3)[0].text)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.startswith(DEFINITION), result.stderr


@pytest.mark.process
@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_finds_it(seeds_index: Path, mode: str) -> None:
    with search.Index.open(seeds_index) as ix:
        hits = ix.search("Kataib Hezbollah", k=3, mode=mode)
    assert any(h.text.startswith(DEFINITION) for h in hits)


@pytest.mark.process
def test_a_second_run_embeds_nothing(seeds_index: Path) -> None:
    result = newssearch("index", need_shared("seeds"), "--index", seeds_index)
    assert "0 added, 0 updated, 0 removed, 1 unchanged; 0 passages embedded" in result.stdout


@pytest.mark.process
def test_user_errors_are_one_line_without_traceback(tmp_path: Path, seeds_index: Path) -> None:
    (tmp_path / "empty").mkdir()
    cases = [
        (("query", "x", "--index", tmp_path / "none"), 4),
        (("index", tmp_path / "missing", "--index", tmp_path / "ix"), 2),
        (("index", tmp_path / "empty", "--index", tmp_path / "ix"), 2),
        (("query", "x", "--index", seeds_index, "--model", tmp_path), 8),
    ]
    for args, code in cases:
        result = newssearch(*args)
        assert result.returncode == code, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def _bbc_slice(count: int) -> list[dict]:
    path = need_shared("data", "bbc_news", "bbc_news.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return rows[:: len(rows) // count][:count]


def test_bbc_headlines_find_their_articles(tmp_path: Path) -> None:
    """Known-item search: bodies indexed without titles, queried by their headline."""
    articles = _bbc_slice(120)
    corpus = tmp_path / "bbc.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": a["id"], "title": "", "text": a["text"]}) + "\n" for a in articles
        )
    )
    with search.Index.create(tmp_path / "ix") as ix:
        report = ix.update([corpus])
        assert report.added == len(articles) and not report.skipped
        found = {mode: 0 for mode in search.MODES}
        for article in articles:
            for mode in search.MODES:
                hits = ix.search(article["title"], k=10, mode=mode)
                found[mode] += article["id"] in {h.article_id for h in hits}
    share = {mode: n / len(articles) for mode, n in found.items()}
    assert share["hybrid"] >= 0.8, share
    assert share["hybrid"] >= max(share["dense"], share["lexical"]) - 0.05, share


QUERY_PATH_PROBE = """
import sys, search
ix = search.Index.open(sys.argv[1])
hits = ix.search("Kataib Hezbollah", k=3)
print(hits[0].text[:49])
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""


@pytest.mark.process
def test_the_query_path_imports_no_torch(seeds_index: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", QUERY_PATH_PROBE, str(seeds_index)], capture_output=True, text=True
    )
    assert result.stdout.splitlines() == [DEFINITION, "[]"], result.stderr


@pytest.mark.process
def test_onnx_and_sentence_transformers_give_the_same_vectors_and_ranking(
    seeds_index: Path,
) -> None:
    texts = [
        line
        for line in next(need_shared("seeds").glob("*.txt")).read_text().split("\n")
        if line.strip()
    ]
    queries = ["Kataib Hezbollah", "Who condemned the strikes?", "drone attack on a US base"]
    with search.Index.open(seeds_index) as ix:
        embedder = ix.embedder
        fast = np.stack([embedder.embed_query(q) for q in queries + texts])
        assert embedder._onnx, "the ONNX export should exist after indexing"
        # sentence-transformers' own encode, at the precision of the export (fp32).
        reference = sentence_transformers_encode(queries + texts)
        assert np.min(np.sum(fast * reference, axis=1)) > 0.9999
        passages = reference[len(queries) :]
        for row in range(len(queries)):
            assert (
                np.argsort(-(passages @ fast[row]))[:10].tolist()
                == np.argsort(-(passages @ reference[row]))[:10].tolist()
            )


def sentence_transformers_encode(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(SentenceTransformerEmbedder().path), device="cpu")
    return model.encode(texts, batch_size=32, normalize_embeddings=True)


@pytest.mark.slow
def test_bulk_embedding_matches_sentence_transformers_at_either_precision() -> None:
    """Our batching (by token length, repeats once) gives sentence-transformers' vectors."""
    records = gzip.open(need_shared("data", "bbc_news", "bbc_news.jsonl.gz"), "rt")
    articles = [json.loads(line) for _, line in zip(range(40), records, strict=False)]
    texts = [f"{a['title']}\n{p}" for a in articles for p in a["text"].split("\n\n")][:300]
    texts += texts[:20]  # repeats come back identical
    reference = sentence_transformers_encode(texts)
    for precision, least in (("fp32", 0.9999), ("bf16", 0.99)):
        reported: list[int] = []
        vectors = SentenceTransformerEmbedder(precision=precision).embed(
            texts, progress=reported.append
        )
        assert sum(reported) == len(texts)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(vectors * reference, axis=1)) > least, precision
        assert np.array_equal(vectors[-20:], vectors[:20])
        for query in reference[
            :5
        ]:  # each text's nearest neighbours, as sentence-transformers has them
            ours = np.argsort(-(vectors @ query))[:5]
            theirs = np.argsort(-(reference @ query))[:5]
            assert len(set(ours) & set(theirs)) >= 4, precision


@pytest.mark.slow
def test_a_models_default_prompt_is_applied_as_sentence_transformers_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("NEWSSEARCH_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "prompted"
    shutil.copytree(SentenceTransformerEmbedder().path, model)
    settings = model / "config_sentence_transformers.json"
    config = json.loads(settings.read_text())
    config.update(prompts={"passage": "News passage: "}, default_prompt_name="passage")
    settings.write_text(json.dumps(config))
    texts = ["Kataib Hezbollah is an IRAQI militia.", "Cocoa ARRIVALS in Bahia rose."]
    reference = SentenceTransformer(str(model), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    embedder = SentenceTransformerEmbedder(model, precision="fp32")
    assert np.min(np.sum(embedder.embed(texts) * reference, axis=1)) > 0.9999
    queries = np.stack([embedder.embed_query(t) for t in texts])  # the ONNX export
    assert embedder._onnx
    assert np.min(np.sum(queries * reference, axis=1)) > 0.9999
