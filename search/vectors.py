"""FAISS storage of passage vectors, keyed by passage id.

The only module that imports faiss. Vectors are unit length, so inner product is cosine
similarity. Files are written to a temporary name, flushed to disk, then renamed into
place, so a reader never sees half a file.

The index type follows the number of vectors (``plan_layout``): an exact scan below
``EXACT_LIMIT``, an inverted file (IVF) above it, where one query scans only the lists
nearest to it. ``compact`` stores each vector as 8-bit scalars (384 bytes instead of
1,536 for MiniLM). Every layout takes additions and removals by id; the layout is
re-planned after each change and rebuilt, from the stored vectors, when the size has
moved far enough from the one it was planned for.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexCorruptError

__all__ = ["EXACT_LIMIT", "KINDS", "Layout", "VectorIndex", "plan_layout"]

# Measured by scripts/bench.py on this project's 2-core machine (README: Scale): an exact
# scan takes about 15 ms a query at 100k vectors and 140 ms at 1M, so it is kept only
# while it stays under half the 15 ms aim. IVF with the lists and probes below answered in
# 0.7 ms (40k real news passages, recall@10 0.989) to 5 ms (1M, recall@10 0.98).
EXACT_LIMIT = 50_000
KINDS = ("flat", "flat-sq8", "ivf", "ivf-sq8")
_POINTS_PER_LIST = 64  # k-means training sample per IVF list
_MIN_POINTS_PER_LIST = 39  # fewer, and FAISS warns that the clustering is poor
_SQ_SAMPLE = 65_536  # vectors that an exact compact index learns its value ranges from
_PROBE_FRACTION = 16  # a query scans 1/16 of the lists, and at least _MIN_PROBES
_MIN_PROBES = 64
_REPLAN_FACTOR = 4  # rebuild once the size is 4x, or a quarter, of what it was trained on


@dataclass(frozen=True)
class Layout:
    """An index type: ``kind`` (see ``KINDS``), and for IVF its lists and lists probed."""

    kind: str
    lists: int = 0
    probes: int = 0

    @property
    def compact(self) -> bool:
        return self.kind.endswith("-sq8")

    @property
    def trained(self) -> bool:
        return self.kind != "flat"


def plan_layout(count: int, *, compact: bool = False) -> Layout:
    """The layout for ``count`` vectors: exact below ``EXACT_LIMIT``, IVF from there."""
    suffix = "-sq8" if compact else ""
    if count < EXACT_LIMIT:
        return Layout("flat" + suffix)
    # About sqrt(n) lists, a power of two: 256 at 50k, 1,024 at 1M.
    lists = 1 << max(8, min(16, round(math.log2(math.sqrt(count)))))
    lists = max(1, min(lists, count // _MIN_POINTS_PER_LIST))  # k-means needs the points
    probes = min(lists, max(_MIN_PROBES, lists // _PROBE_FRACTION))
    return Layout("ivf" + suffix, lists, probes)


class VectorIndex:
    """Vectors with int64 ids, searched by inner product, in one of ``KINDS``."""

    def __init__(self, dimension: int, index: Any, *, trained_on: int = 0) -> None:
        self.dimension = dimension
        self._index = index
        self.trained_on = trained_on  # how many vectors the layout was trained and planned for

    @classmethod
    def empty(cls, dimension: int, *, compact: bool = False) -> VectorIndex:
        return cls(dimension, _build(dimension, plan_layout(0, compact=compact)))

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def layout(self) -> Layout:
        index = self._index
        if _is_ivf(index):
            kind = "ivf-sq8" if _is_sq(index) else "ivf"
            return Layout(kind, int(index.nlist), int(index.nprobe))
        return Layout("flat-sq8" if _is_sq(index.index) else "flat")

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        dimension: int,
        expected_bytes: int | None = None,
        expected_crc32: int | None = None,
        trained_on: int = 0,
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
        if not (_is_ivf(index) or isinstance(index, faiss.IndexIDMap2)):
            raise IndexCorruptError(f"{path} holds an index of a kind newssearch never writes")
        return cls(dimension, index, trained_on=trained_on)

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
        if not self._index.is_trained:
            # A compact exact index learns its value ranges from its first vectors.
            self._index.train(_sample(vectors, _SQ_SAMPLE))
            self.trained_on = len(vectors)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        if len(ids) == 0:
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if _is_ivf(self._index):  # the IVF id table removes by array only
            selector = faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))
            return int(self._index.remove_ids(selector))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the ``k`` nearest vectors, best first."""
        if self.count == 0 or k < 1:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        scores, ids = self._index.search(query, min(k, self.count))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) held, as arrays; compact vectors come back decoded."""
        import faiss

        index = self._index
        if _is_ivf(index):
            lists = index.invlists
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
        return ids, vectors

    def replanned(self, *, compact: bool) -> VectorIndex:
        """This index, or a rebuild of it in the layout its size now calls for."""
        now, wanted = self.layout, plan_layout(self.count, compact=compact)
        if now.kind == wanted.kind:
            if not now.trained or self.trained_on == 0:
                return self
            grown = max(self.count, 1) / self.trained_on
            if 1 / _REPLAN_FACTOR < grown < _REPLAN_FACTOR:
                return self
        elif now.kind.startswith("ivf") and wanted.kind.startswith("flat"):
            # Hysteresis: an IVF index shrinks back to exact only well under the limit.
            if self.count >= EXACT_LIMIT // 2 and now.compact == compact:
                return self
        return self.rebuilt(wanted)

    def rebuilt(self, layout: Layout) -> VectorIndex:
        """A new index in ``layout`` holding the same ids and vectors."""
        ids, vectors = self.contents()
        index = _build(self.dimension, layout)
        if layout.trained and len(ids):
            size = _POINTS_PER_LIST * layout.lists if layout.lists else _SQ_SAMPLE
            index.train(_sample(vectors, size))
        rebuilt = VectorIndex(self.dimension, index, trained_on=len(ids))
        rebuilt.add(ids, vectors)
        return rebuilt


def _build(dimension: int, layout: Layout) -> Any:
    import faiss

    inner = faiss.METRIC_INNER_PRODUCT
    eight_bit = faiss.ScalarQuantizer.QT_8bit
    if layout.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if layout.kind == "flat-sq8":
        flat = faiss.IndexScalarQuantizer(dimension, eight_bit, inner)
        _widen(flat.sq)
        return faiss.IndexIDMap2(flat)
    quantizer = faiss.IndexFlatIP(dimension)
    index: Any
    if layout.kind == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dimension, layout.lists, inner)
    elif layout.kind == "ivf-sq8":
        index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, layout.lists, eight_bit, inner)
    else:
        raise ValueError(f"unknown vector index kind {layout.kind!r}")
    if layout.kind == "ivf-sq8":
        _widen(index.sq)
    index.nprobe = layout.probes
    index.cp.niter = 10
    # An id table, so that vectors can be removed and read back by passage id.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    return index


def _widen(quantizer: Any) -> None:
    """Learn each dimension's range with a 20% margin on both sides, so that vectors added
    after training rarely fall outside it (they would be clipped)."""
    import faiss

    quantizer.rangestat = faiss.ScalarQuantizer.RS_minmax
    quantizer.rangestat_arg = 0.2


def _sample(vectors: np.ndarray, size: int) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    rows = np.random.default_rng(0).choice(len(vectors), size, replace=False)
    return vectors[np.sort(rows)]


def _is_ivf(index: Any) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIVF)


def _is_sq(index: Any) -> bool:
    import faiss

    return isinstance(
        faiss.downcast_index(index), faiss.IndexScalarQuantizer | faiss.IndexIVFScalarQuantizer
    )


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
