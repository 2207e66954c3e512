"""The one fake embedder of the tests, the test helper processes and the fixture scripts.

It imports only numpy and the standard library, never ``search``, so a script can use it
under any version of the package (scripts/make_v1_fixture.py runs it under old code). Its
name, dimension and hashing make the fingerprint "fake-hash-64" that tests/fixtures' indexes
were built with: change the hashing and those fixtures must be rebuilt.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["FakeEmbedder"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Hashes words into a small vector: deterministic, instant, and good enough that a
    passage sharing words with a query is near it."""

    def __init__(self, name: str = "fake-hash", dimension: int = 64, max_tokens: int = 40):
        self.name = name
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.fingerprint = f"{name}-{dimension}"
        self.embedded: list[str] = []  # every text embedded, in order

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        self.embedded += texts
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress is not None:
            progress(len(texts))
        return out
