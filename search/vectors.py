"""FAISS storage of passage vectors, keyed by passage id.

The only module that imports faiss. Vectors are unit length, so inner product is cosine
similarity. Files are written to a temporary name, flushed to disk, then renamed into
place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexCorruptError

__all__ = ["VectorIndex"]


class VectorIndex:
    """An exact inner-product index over vectors with int64 ids."""

    def __init__(self, dimension: int, index: Any = None) -> None:
        import faiss

        self.dimension = dimension
        self._index = (
            index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        )

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        dimension: int,
        expected_bytes: int | None = None,
        expected_crc32: int | None = None,
    ) -> VectorIndex:
        """Read a vector file, checking it is whole, unaltered and of the right dimension.

        The file is read once, so a writer replacing it meanwhile cannot mix two versions;
        ``FileNotFoundError`` means it was replaced before we opened it.
        """
        import faiss

        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as error:
            raise IndexCorruptError(
                f"cannot read {path}: {error.strerror} — rebuild the index"
            ) from error
        if expected_bytes is not None and len(data) != expected_bytes:
            raise IndexCorruptError(
                f"{path} is {len(data)} bytes, the index recorded {expected_bytes}: "
                "it was cut short or overwritten — rebuild the index"
            )
        # Checked before FAISS reads it: a damaged length field could make FAISS try to
        # allocate any amount of memory.
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
        return cls(dimension, index)

    def save(self, path: Path) -> tuple[int, int]:
        """Write atomically to ``path``; returns the file's size and CRC-32."""
        import faiss

        data = faiss.serialize_index(self._index).tobytes()
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
        return len(data), zlib.crc32(data)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dimension):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dimension})")
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the ``k`` nearest vectors, best first."""
        if self.count == 0 or k < 1:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        scores, ids = self._index.search(query, min(k, self.count))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self._index.id_map)


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
