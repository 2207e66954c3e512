"""The packaged model's embedder, as far as it goes without loading torch: its tokenizer,
window, dimension and fingerprint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search import DEFAULT_MODEL, ModelError, load_embedder
from search.embedding import model_fingerprint


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def test_default_model_is_the_packaged_minilm(embedder) -> None:
    assert embedder.name == DEFAULT_MODEL
    assert embedder.dimension == 384
    assert embedder.max_tokens == 254  # a 256-token window less [CLS] and [SEP]


def test_token_spans_neither_truncate_nor_pad(embedder) -> None:
    text = "word " * 1000
    spans = embedder.token_spans(text)
    assert len(spans) == 1000
    assert all(text[s:e] == "word" for s, e in spans)
    assert embedder.token_spans("hi there") == [(0, 2), (3, 8)]


def test_fingerprint_is_stable_and_tells_models_apart(embedder, tmp_path: Path) -> None:
    assert load_embedder("all-MiniLM-L6-v2").fingerprint == embedder.fingerprint
    copy = tmp_path / "model"
    shutil.copytree(embedder.path, copy)
    assert model_fingerprint(copy) == embedder.fingerprint
    weights = copy / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-4] + b"\0\0\0\0")  # other weights at the very end
    assert model_fingerprint(copy) != embedder.fingerprint
    weights.write_bytes(original)
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"hidden_act"', '"hidden_act" ', 1))
    assert model_fingerprint(copy) != embedder.fingerprint


@pytest.mark.parametrize("name", ["/no/such/model", "./nope", "surely-not-a-cached-model-xyz"])
def test_unknown_models_are_model_errors(name: str) -> None:
    with pytest.raises(ModelError, match="no model folder|not available offline"):
        load_embedder(name)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a sentence-transformers model folder"):
        load_embedder(tmp_path)


def test_precision_is_chosen_from_the_cpu_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from search.embedding import sentence_transformer as embedding

    monkeypatch.setattr(embedding, "bf16_supported", lambda: False)
    assert embedding._precision("auto") == "fp32"
    monkeypatch.setattr(embedding, "bf16_supported", lambda: True)
    assert embedding._precision("auto") == "bf16"
    assert embedding._precision("fp32") == "fp32"
    monkeypatch.setenv("NEWSSEARCH_PRECISION", "fp32")
    assert embedding._precision(None) == "fp32"
    with pytest.raises(ModelError, match="unknown precision"):
        embedding._precision("fp8")
