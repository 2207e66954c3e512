"""A sentence-transformers model run in PyTorch: ``SentenceTransformerEmbedder``.

Bulk embedding batches texts by token length under a token budget, one batch per core,
in bf16 where the CPU does it natively (``NEWSSEARCH_PRECISION`` overrides); a single
query runs the ONNX export (``search.embedding.onnx_model``) when there is one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.embedding.model_files import (
    _default_prompt,
    _dimension,
    _load_tokenizer,
    _offline,
    _read_json,
    _resolve,
    model_fingerprint,
)
from search.embedding.onnx_model import _OnnxModel, export_onnx, onnx_path
from search.errors import ModelError

__all__ = ["DEFAULT_PRECISION", "SentenceTransformerEmbedder", "bf16_supported"]


# A forward pass holds up to this many tokens (rows x the longest row). On 2 cores, batches
# of like token length under this budget ran 4% faster than 32 rows each, and 10% faster
# than sentence-transformers' batching (sorted by characters, so padded ~18% more).
_TOKEN_BUDGET = 4096
_MAX_ROWS = 256
_FP32_ATTENTION = "newssearch_sdpa_fp32"
DEFAULT_PRECISION = "auto"  # bf16 where the CPU does it natively (SciFact: docs/QUALITY.md)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use so that opening is cheap.

    Bulk embedding runs the model in PyTorch. A single query runs the same model exported
    to ONNX, when that export exists in the cache: onnxruntime and tokenizers start in a
    fraction of the time torch takes to import, and give the same vectors.
    """

    def __init__(self, model: str | Path | None = None, *, precision: str | None = None) -> None:
        self.name, self.path = _resolve(model)
        self.precision = _precision(precision)
        self.fingerprint = model_fingerprint(self.path)
        config = _read_json(self.path / "sentence_bert_config.json")
        self.window = int(
            config.get("max_seq_length")
            or _read_json(self.path / "config.json").get("max_position_embeddings", 512)
        )
        self.dimension = _dimension(self.path)
        self._lowercase = bool(config.get("do_lower_case"))
        self._prompt = _default_prompt(self.path)
        self._tokenizer: Any = None
        self._window_tok: Any = None
        self._model: Any = None
        self._onnx: Any = None

    @property
    def max_tokens(self) -> int:
        # The window counts the model's special tokens ([CLS], [SEP]) too.
        return self.window - self._counting_tokenizer().num_special_tokens_to_add(False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoding = self._counting_tokenizer().encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoding.offsets]

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        import torch

        distinct, rows_of, batches, encodings = self._batched(texts)
        out = np.empty((len(distinct), self.dimension), dtype=np.float32)

        def run(rows: list[int]) -> np.ndarray:
            return self._forward([encodings[i] for i in rows])

        self._load()
        # One batch per core, each on one thread, rather than each batch over every core:
        # 4-8% faster on 2 cores (less waiting on each other inside small operations).
        threads = torch.get_num_threads()
        workers = max(1, min(threads, len(batches)))
        torch.set_num_threads(1 if workers > 1 else threads)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="newssearch-embed") as pool:
                for rows, vectors in zip(batches, pool.map(run, batches), strict=True):
                    out[rows] = vectors
                    if progress is not None:
                        progress(len(rows))
        finally:
            torch.set_num_threads(threads)
        if progress is not None and len(texts) > len(distinct):
            progress(len(texts) - len(distinct))
        return out[rows_of]

    def batches(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, list[list[int]]]:
        """How ``embed`` splits texts: the distinct texts (a text met twice, a wire story
        filed under two names, is embedded once), each text's row among them, and batches
        of rows, longest first, of one token length (nearly: a batch pads only to its own
        longest), as many rows as fit a token budget. A cluster's workers embed the same
        batches, so that they compute the same vectors as this process would."""
        distinct, rows_of, batches, _ = self._batched(texts)
        return distinct, rows_of, batches

    def _batched(
        self, texts: Sequence[str]
    ) -> tuple[list[str], np.ndarray, list[list[int]], list[Any]]:
        """``batches``, and the distinct texts' encodings, which ``embed`` runs."""
        slots: dict[str, int] = {}
        rows_of = np.fromiter((slots.setdefault(t, len(slots)) for t in texts), np.int64)
        distinct = list(slots)
        encodings = self._window_tokenizer().encode_batch(self._prepared(distinct))
        lengths = [len(encoding.ids) for encoding in encodings]
        order = sorted(range(len(distinct)), key=lambda i: -lengths[i])
        batches = []
        while order:
            batches.append(order[: _batch_rows(lengths[order[0]])])
            del order[: len(batches[-1])]
        return distinct, rows_of, batches, encodings

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One forward pass over ``texts``, padded to the longest, normalised in fp32
        whatever the model's precision."""
        return self._forward(self._window_tokenizer().encode_batch(self._prepared(list(texts))))

    def _forward(self, encodings: Sequence[Any]) -> np.ndarray:
        import torch

        model = self._load()
        width = max(len(encoding.ids) for encoding in encodings)
        with torch.inference_mode():
            vectors = model.forward(_features(encodings, width))["sentence_embedding"].float()
            return torch.nn.functional.normalize(vectors, dim=-1).numpy()

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector, through ONNX when the export is there (no torch import)."""
        # The export, when there is one, serves every query, so a query is embedded the
        # same way in an indexing process (model loaded, maybe in bf16) as in a fresh one.
        if self._onnx is None:
            self._onnx = _OnnxModel.open(onnx_path(self.fingerprint), self._window_tokenizer)
        if self._onnx:
            return self._onnx.embed(self._prepared([text])[0])
        return self.embed([text])[0]

    def _prepared(self, texts: Sequence[str]) -> list[str]:
        """Texts as sentence-transformers' ``encode`` hands them to the tokenizer: after the
        model's default prompt, if it has one, and lowercased where its config says so."""
        texts = [self._prompt + text for text in texts] if self._prompt else list(texts)
        return [text.lower() for text in texts] if self._lowercase else texts

    def _window_tokenizer(self) -> Any:
        """The tokenizer as the model sees text: special tokens added, cut to the window."""
        if self._window_tok is None:
            self._window_tok = _load_tokenizer(self.path)
            self._window_tok.no_padding()
            self._window_tok.enable_truncation(self.window)
        return self._window_tok

    def _counting_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.path)
            # tokenizer.json may carry the training-time truncation and padding (128
            # tokens for MiniLM): counting must see every token, and no padding.
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
        return self._tokenizer

    def _load(self) -> Any:
        if self._model is None:
            _offline()
            try:
                self._model = _load_sentence_transformer(self.path, self.precision)
            except Exception as error:  # any failure to load is the model's problem
                raise ModelError(f"cannot load model {self.name}: {error}") from error
            dimension = self._model.get_embedding_dimension()
            if dimension != self.dimension:
                raise ModelError(
                    f"model {self.name} gives {dimension}-dimensional vectors, "
                    f"its config says {self.dimension}"
                )
            # Torch is loaded now anyway: export the model for fast queries, once.
            if export_onnx(self.path, onnx_path(self.fingerprint)) and not self._onnx:
                self._onnx = None  # look for the export again at the next query
        return self._model


def _load_sentence_transformer(path: Path, precision: str) -> Any:
    from sentence_transformers import SentenceTransformer

    if precision == "fp32":
        return SentenceTransformer(str(path), device="cpu")
    import torch

    # bf16 for the matrix products; attention stays in fp32, where PyTorch's CPU kernel runs
    # short passages faster than in bf16 (12% of the whole encode, measured here).
    try:
        model = SentenceTransformer(
            str(path), device="cpu", model_kwargs={"attn_implementation": _fp32_attention()}
        )
    except (ValueError, ImportError):  # an architecture without pluggable attention
        model = SentenceTransformer(str(path), device="cpu")
    return model.to(torch.bfloat16)


def _fp32_attention() -> str:
    """Register an attention function that computes in fp32 whatever its inputs' precision."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def attention(
        module: Any, query: Any, key: Any, value: Any, mask: Any, **kwargs: Any
    ) -> tuple[Any, Any]:
        if mask is not None and mask.is_floating_point():
            mask = mask.float()
        output, weights = sdpa_attention_forward(
            module, query.float(), key.float(), value.float(), mask, **kwargs
        )
        return output.to(query.dtype), weights

    AttentionInterface.register(_FP32_ATTENTION, attention)
    AttentionMaskInterface.register(_FP32_ATTENTION, sdpa_mask)
    return _FP32_ATTENTION


def _batch_rows(longest: int) -> int:
    return max(1, min(_MAX_ROWS, _TOKEN_BUDGET // max(longest, 1)))


def _features(encodings: Sequence[Any], width: int) -> dict[str, Any]:
    """The model's input tensors for a batch of tokenized texts, padded to ``width``."""
    import torch

    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
    }


def bf16_supported() -> bool:
    """Whether this CPU does bf16 matrix work natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split()))
    except OSError:
        pass
    return False


def _precision(requested: str | None) -> str:
    """fp32 or bf16: as asked (or $NEWSSEARCH_PRECISION), else bf16 where the CPU has it."""
    requested = requested or os.environ.get("NEWSSEARCH_PRECISION") or DEFAULT_PRECISION
    if requested not in ("auto", "fp32", "bf16"):
        raise ModelError(f"unknown precision {requested!r} — use auto, fp32 or bf16")
    if requested == "auto":
        return "bf16" if bf16_supported() else "fp32"
    return requested
