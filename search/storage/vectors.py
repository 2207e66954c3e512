"""FAISS: k-means for the lists of IVF segments, and the one vector file of format 1.

The only module that imports faiss. Vectors are unit length, so inner product is cosine
similarity. Format 1 kept every vector in one FAISS file (``vectors.<N>.faiss``) that each
commit rewrote; ``LegacyVectors`` reads such a file so that a version-1 index answers
queries before its first writing command upgrades it to segments.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import IndexCorruptError
from search.storage import folder as storage

__all__ = ["LegacyVectors", "load_legacy", "train_centroids"]


def train_centroids(vectors: np.ndarray, lists: int, sample: int) -> np.ndarray:
    """``lists`` unit centroids of ``vectors`` by spherical k-means (10 rounds) on a sample."""
    import faiss

    if len(vectors) > sample:
        rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
        vectors = vectors[np.sort(rows)]
    kmeans = faiss.Kmeans(
        vectors.shape[1], lists, niter=10, spherical=True, seed=1234, verbose=False
    )
    kmeans.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return np.asarray(kmeans.centroids, dtype=np.float32)


def load_legacy(folder: Path, meta: dict[str, str], dimension: int) -> LegacyVectors:
    """The vector file a format-1 store names in ``meta``, checked: its name must be one of
    ours (never a path out of the folder) and its recorded size and checksum numbers."""
    name = meta.get("vectors_file", "")
    if not storage.is_ours(name) or not name.startswith("vectors."):
        raise IndexCorruptError(
            f"{folder}: the store names no valid vector file — rebuild the index"
        )
    try:
        size = int(meta["vectors_bytes"])
        crc = int(meta["vectors_crc32"]) if "vectors_crc32" in meta else None
    except (KeyError, ValueError):
        raise IndexCorruptError(
            f"{folder}: the store's vector record is damaged — rebuild the index"
        ) from None
    return LegacyVectors.load(
        folder / name, dimension=dimension, expected_bytes=size, expected_crc32=crc
    )


class LegacyVectors:
    """The vector file of a format-1 index, read whole and searched as one segment."""

    def __init__(self, index: Any, dimension: int) -> None:
        self._index = index
        self.dimension = dimension

    @classmethod
    def load(
        cls, path: Path, *, dimension: int, expected_bytes: int, expected_crc32: int | None
    ) -> LegacyVectors:
        """Read a format-1 vector file, checking its size and checksum before FAISS parses
        it (a damaged length field could otherwise make FAISS allocate any amount)."""
        import faiss

        descriptor = storage.open_regular(path)
        with os.fdopen(descriptor, "rb") as handle:
            size = os.fstat(descriptor).st_size
            if size != expected_bytes:
                raise IndexCorruptError(
                    f"{path} is {size} bytes, the index recorded {expected_bytes}: "
                    "it was cut short or overwritten — rebuild the index"
                )
            data = handle.read(size)
        if expected_crc32 is not None and zlib.crc32(data) != expected_crc32:
            raise IndexCorruptError(
                f"{path} does not match its recorded checksum: it was altered — rebuild the index"
            )
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as error:
            raise IndexCorruptError(
                f"{path} is not a readable FAISS file — rebuild the index"
            ) from error
        if index.d != dimension:
            raise IndexCorruptError(
                f"{path} holds {index.d}-dimensional vectors, the index expects {dimension}"
                " — rebuild the index"
            )
        if not isinstance(index, faiss.IndexIVF | faiss.IndexIDMap2):
            raise IndexCorruptError(f"{path} holds an index of a kind newssearch never writes")
        return cls(index, dimension)

    @property
    def rows(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        import faiss

        index = self._index
        ivf = isinstance(index, faiss.IndexIVF)
        inner = faiss.downcast_index(index if ivf else index.index)
        sq = isinstance(inner, faiss.IndexScalarQuantizer | faiss.IndexIVFScalarQuantizer)
        return ("ivf" if ivf else "flat") + ("-sq8" if sq else "")

    def search(
        self, query: np.ndarray, k: int, deleted: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` nearest vectors, best first (format 1 has no deletions)."""
        if self.rows == 0 or k < 1:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        scores, ids = self._index.search(query, min(k, self.rows))
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) held; compact vectors come back decoded."""
        import faiss

        index = self._index
        if isinstance(index, faiss.IndexIVF):
            lists = index.invlists
            assert lists is not None
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                for i in range(index.nlist)
                if lists.list_size(i)
            ]
            ids = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
            vectors = index.reconstruct_batch(ids) if len(ids) else None
        else:
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            vectors = index.index.reconstruct_n(0, index.ntotal) if len(ids) else None
        if vectors is None:
            vectors = np.empty((0, self.dimension), dtype=np.float32)
        return ids, np.asarray(vectors, dtype=np.float32)
