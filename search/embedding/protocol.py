"""What the index needs from an embedding model: the ``Embedder`` protocol, and
``load_embedder``, which gives one for a model name or path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from search.embedding.sentence_transformer import SentenceTransformerEmbedder

__all__ = ["Embedder", "load_embedder"]


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dimension: int
    fingerprint: str

    @property
    def max_tokens(self) -> int:
        """Tokens of text that fit the model's window."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span of each token of ``text``, special tokens left out."""
        ...

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; ``progress(n)`` after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, as ``embed([text])[0]`` would give it."""
        ...


def load_embedder(model: str | Path | None = None) -> Embedder:
    """The embedder for a model name or local path; ``None`` is the packaged default."""
    return SentenceTransformerEmbedder(model)
