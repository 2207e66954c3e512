"""Vector segments: immutable files of passage vectors, written once and memory-mapped.

A commit writes its new vectors as one new segment; removals are recorded as deletions in
the store and masked at query time; a merge (``plan_merges``) folds segments into a larger
one and leaves the deleted rows out. No file is ever rewritten, so a commit costs what it
adds, and a query maps the files and touches only the pages it reads.

A segment file (little-endian)::

    header   64 bytes: magic, kind, dimension, rows, lists, probes, body CRC-32, header CRC-32
    ids      int64[rows]                    passage ids (in list order for IVF)
    vectors  float32[rows, d] | uint8[rows, d]
    ranges   float32[2, d]                  compact only: each dimension's minimum and step
    lists    float32[lists, d], int64[lists + 1]   IVF only: centroids, row offsets

Each section starts on a 64-byte boundary, so the file's size follows from its header;
opening checks that size, the header's checksum and the list offsets (cheap), and
``Segment.verify`` checks the body's checksum (reads it all: ``newssearch check``).

Layouts: a segment under ``FLAT_LIMIT`` rows is scanned whole (exact); a larger one is an
inverted file (IVF) of about sqrt(rows) lists, of which a query scans the nearest
``probes``. ``compact`` stores 8-bit codes of each dimension's range.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from search.errors import IndexCorruptError
from search.storage import folder as storage
from search.storage.ids import places

__all__ = [
    "FLAT_LIMIT",
    "KINDS",
    "Layout",
    "MemorySegment",
    "Segment",
    "SegmentRow",
    "SegmentStat",
    "build_segment",
    "plan_layout",
    "plan_merges",
]

FLAT_LIMIT = 20_000  # an exact scan of 20k rows takes about 1 ms here
KINDS = ("flat", "flat-sq8", "ivf", "ivf-sq8")
MAGIC = b"NSVSEG02"
_HEADER = struct.Struct("<8sIIQIII")  # magic, kind, dimension, rows, lists, probes, body crc
_HEADER_BYTES = 64
_ALIGN = 64
_MIN_PROBES = 64
_PROBE_FRACTION = 16
_POINTS_PER_LIST = 64  # k-means training sample per list
_MIN_POINTS_PER_LIST = 39
_SCAN_ROWS = 65_536  # compact rows decoded at a time
# Merge policy (tiered, as Lucene's): segments are put in tiers by their live rows, a tenfold
# range each; a tier that holds MERGE_FACTOR segments is merged into one; a segment that has
# lost DELETED_SHARE of its rows to deletions is rewritten without them.
MERGE_FACTOR = 10
TIER_FLOOR = 2_000
DELETED_SHARE = 0.3


@dataclass(frozen=True)
class Layout:
    """A segment's type: ``kind`` (see ``KINDS``), and for IVF its lists and lists probed."""

    kind: str
    lists: int = 0
    probes: int = 0

    @property
    def compact(self) -> bool:
        return self.kind.endswith("-sq8")

    @property
    def ivf(self) -> bool:
        return self.kind.startswith("ivf")


def plan_layout(rows: int, *, compact: bool = False) -> Layout:
    """The layout of a segment of ``rows`` vectors: exact below ``FLAT_LIMIT``, IVF above."""
    suffix = "-sq8" if compact else ""
    if rows < FLAT_LIMIT:
        return Layout("flat" + suffix)
    lists = 1 << max(6, min(16, round(math.log2(math.sqrt(rows)))))
    lists = max(1, min(lists, rows // _MIN_POINTS_PER_LIST))  # k-means needs the points
    probes = min(lists, max(_MIN_PROBES, lists // _PROBE_FRACTION))
    return Layout("ivf" + suffix, lists, probes)


def _sections(kind: str, dimension: int, rows: int, lists: int) -> tuple[dict[str, int], int]:
    """Offsets of each section, and the file's total size."""
    sizes = [("ids", 8 * rows)]
    compact = kind.endswith("-sq8")
    sizes.append(("vectors", rows * dimension * (1 if compact else 4)))
    if compact:
        sizes.append(("ranges", 2 * dimension * 4))
    if kind.startswith("ivf"):
        sizes += [("centroids", lists * dimension * 4), ("offsets", 8 * (lists + 1))]
    offsets, position = {}, _HEADER_BYTES
    for name, size in sizes:
        offsets[name] = position
        position += _padded(size)
    return offsets, position


def _padded(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


# ---------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class SegmentRow:
    """A segment file as the store records it; ``generation`` is the commit that made it."""

    name: str
    kind: str
    rows: int
    bytes: int
    crc32: int
    min_id: int
    max_id: int
    generation: int = 0

    def deleted_within(self, deleted: np.ndarray) -> np.ndarray:
        """The ``deleted`` passage ids that fall in this segment's id range."""
        return deleted[(deleted >= self.min_id) & (deleted <= self.max_id)]


def build_segment(
    folder: Path,
    name: str,
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    compact: bool,
    layout: Layout | None = None,
) -> SegmentRow:
    """Write ``ids`` and their unit ``vectors`` as a new segment file ``folder/name``."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(ids) != len(vectors) or len(ids) == 0:
        raise ValueError("a segment needs one vector per id, and at least one")
    rows, dimension = vectors.shape
    layout = layout or plan_layout(rows, compact=compact)
    parts: list[np.ndarray] = []
    centroids = offsets = None
    if layout.ivf:
        from search.storage.vectors import train_centroids

        centroids = train_centroids(vectors, layout.lists, _POINTS_PER_LIST * layout.lists)
        lists = _assign(vectors, centroids)
        order = np.lexsort((ids, lists))
        counts = np.bincount(lists, minlength=layout.lists)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    else:
        order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], vectors[order]
    parts.append(ids)
    if layout.compact:
        low, high = vectors.min(axis=0), vectors.max(axis=0)
        step = np.maximum(high - low, 1e-12) / 255.0
        codes = np.rint((vectors - low) / step).clip(0, 255).astype(np.uint8)
        parts += [codes, np.stack([low, step]).astype(np.float32)]
    else:
        parts.append(vectors)
    if centroids is not None and offsets is not None:
        parts += [np.ascontiguousarray(centroids, dtype=np.float32), offsets]
    body_crc = 0
    for part in parts:
        body_crc = zlib.crc32(_padding(part), zlib.crc32(_bytes(part), body_crc))
    header = _HEADER.pack(
        MAGIC, KINDS.index(layout.kind), dimension, rows, layout.lists, layout.probes, body_crc
    )
    header += struct.pack("<I", zlib.crc32(header))
    header = header.ljust(_HEADER_BYTES, b"\0")

    def write(handle: BinaryIO) -> None:
        handle.write(header)
        for part in parts:
            handle.write(_bytes(part))
            handle.write(_padding(part))

    size = storage.write_atomic(folder, name, write)
    return SegmentRow(name, layout.kind, rows, size, body_crc, int(ids.min()), int(ids.max()))


def _bytes(part: np.ndarray) -> memoryview:
    """The array's memory as bytes, without a copy."""
    return np.ascontiguousarray(part).reshape(-1).view(np.uint8).data


def _padding(part: np.ndarray) -> bytes:
    return b"\0" * (_padded(part.nbytes) - part.nbytes)


def _assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (largest inner product) of each vector."""
    out = np.empty(len(vectors), dtype=np.int64)
    for first in range(0, len(vectors), _SCAN_ROWS):
        block = vectors[first : first + _SCAN_ROWS]
        out[first : first + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return out


# ---------------------------------------------------------------------------
# Reading


class Segment:
    """One segment file, memory-mapped read-only. Safe to search from many threads."""

    def __init__(self, path: Path, *, dimension: int, rows: int, expected_bytes: int) -> None:
        self.path = path
        self._map = storage.map_file(path, expected_bytes)
        try:
            self._open(dimension, rows, expected_bytes)
        except BaseException:
            self._map.close()
            raise

    @classmethod
    def open(cls, folder: Path, row: SegmentRow, dimension: int) -> Segment:
        """The segment a store's ``row`` names in ``folder``, checked against that record."""
        path = storage.segment_path(folder, row.name)
        return cls(path, dimension=dimension, rows=row.rows, expected_bytes=row.bytes)

    def _open(self, dimension: int, rows: int, size: int) -> None:
        if size < _HEADER_BYTES:
            raise self._corrupt("is too short to be a segment")
        head = self._map[:_HEADER_BYTES]
        magic, kind, d, n, lists, probes, crc = _HEADER.unpack_from(head)
        (header_crc,) = struct.unpack_from("<I", head, _HEADER.size)
        if magic != MAGIC or header_crc != zlib.crc32(head[: _HEADER.size]):
            raise self._corrupt("has a damaged header")
        if kind >= len(KINDS) or d != dimension or n != rows:
            raise self._corrupt(
                f"holds {n:,} {d}-dimensional vectors, the index recorded {rows:,} of {dimension}"
            )
        self.kind = KINDS[kind]
        ivf = self.kind.startswith("ivf")
        if (ivf and not 0 < probes <= lists <= rows) or (not ivf and lists + probes):
            raise self._corrupt("has an impossible list count")
        offsets, total = _sections(self.kind, d, n, lists)
        if total != size:
            raise self._corrupt(f"should be {total:,} bytes for its header, not {size:,}")
        self.dimension, self.rows, self.lists, self.probes, self.crc32 = d, n, lists, probes, crc
        self.ids = self._view(offsets["ids"], np.int64, (n,))
        compact = self.kind.endswith("-sq8")
        self.vectors = self._view(offsets["vectors"], np.uint8 if compact else np.float32, (n, d))
        self._low = self._step = None
        if compact:
            ranges = self._view(offsets["ranges"], np.float32, (2, d))
            self._low, self._step = ranges[0], ranges[1]
        self.centroids = self.offsets = None
        if ivf:
            self.centroids = self._view(offsets["centroids"], np.float32, (lists, d))
            self.offsets = self._view(offsets["offsets"], np.int64, (lists + 1,))
            if self.offsets[0] != 0 or self.offsets[-1] != n or np.any(np.diff(self.offsets) < 0):
                raise self._corrupt("has damaged list offsets")

    def _view(self, offset: int, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(shape)

    def _corrupt(self, what: str) -> IndexCorruptError:
        return IndexCorruptError(f"{self.path} {what} — rebuild the index")

    @property
    def layout(self) -> Layout:
        return Layout(self.kind, self.lists, self.probes)

    @property
    def whole_rows(self) -> int:
        """The rows of the segment on disk (of which a ``MemorySegment`` holds some)."""
        return self.rows

    def close(self) -> None:
        # Views of the map may outlive this object in a result; the map closes with them.
        self._map = None  # type: ignore[assignment]

    def verify(self) -> None:
        """Check the body against its checksum (reads the whole file)."""
        body = memoryview(self._map)[_HEADER_BYTES:]
        crc = 0
        for first in range(0, len(body), 1 << 24):
            crc = zlib.crc32(body[first : first + (1 << 24)], crc)
        body.release()
        if crc != self.crc32:
            raise self._corrupt("does not match its checksum: it was altered")

    def search(
        self, query: np.ndarray, k: int, deleted: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` rows nearest ``query``, best first; rows where
        ``deleted`` is true are left out."""
        if self.offsets is None or self.centroids is None:
            rows = None
            scores = self._scores(self.vectors, query)
        else:
            # Each probed list is a contiguous run of rows: score it in place, no copy.
            probe = np.sort(_top(self.centroids @ query, self.probes))
            starts, ends = self.offsets[probe], self.offsets[probe + 1]
            rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
            scores = np.concatenate(
                [self._scores(self.vectors[a:b], query) for a, b in zip(starts, ends, strict=True)]
            )
        if deleted is not None:
            scores[deleted if rows is None else deleted[rows]] = -np.inf
        ids = self.ids if rows is None else self.ids[rows]
        best = _top(scores, k, ids)
        best = best[np.isfinite(scores[best])]
        return ids[best], scores[best]

    def search_rows(
        self, query: np.ndarray, k: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` rows nearest ``query`` among ``rows`` (positions),
        scored exactly: a filter's few rows, which an IVF probe could miss."""
        scores = np.empty(len(rows), dtype=np.float32)
        for first in range(0, len(rows), _SCAN_ROWS):
            chunk = rows[first : first + _SCAN_ROWS]
            scores[first : first + len(chunk)] = self._scores(self.vectors[chunk], query)
        ids = self.ids[rows]
        best = _top(scores, k, ids)
        return ids[best], scores[best]

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Every row's score against ``query``, exactly (an inverted file's too: no probe
        is skipped), in row order."""
        out = np.empty(self.rows, dtype=np.float32)
        for first in range(0, self.rows, _SCAN_ROWS):
            block = self.vectors[first : first + _SCAN_ROWS]
            out[first : first + len(block)] = self._scores(block, query)
        return out

    def _scores(self, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
        if self._low is None or self._step is None:
            return np.asarray(vectors @ query, dtype=np.float32)
        # x = low + code * step, so x . q = low . q + code . (step * q)
        weights = (self._step * query).astype(np.float32)
        base = float(self._low @ query)
        out = np.empty(len(vectors), dtype=np.float32)
        for first in range(0, len(vectors), _SCAN_ROWS):
            block = vectors[first : first + _SCAN_ROWS].astype(np.float32)
            out[first : first + len(block)] = block @ weights + base
        return out

    @property
    def id_span(self) -> tuple[int, int]:
        """The smallest and largest passage id the segment holds (kept: it never changes)."""
        span = self.__dict__.get("_span")
        if span is None:
            ids = self.ids
            span = (int(ids.min()), int(ids.max())) if len(ids) else (1, 0)
            self.__dict__["_span"] = span
        return span

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The rows (positions, ascending) that hold these passage ids, of those it holds:
        by binary search over its ids in order (sorted once, on first use)."""
        order = self.__dict__.get("_order")
        if order is None:
            ascending = bool(len(self.ids) < 2 or (np.diff(self.ids) > 0).all())
            order = None if ascending else np.argsort(self.ids, kind="stable")
            self.__dict__["_order"] = order = (order, self.ids if ascending else self.ids[order])
        by_id, sorted_ids = order
        at = places(ids, sorted_ids)
        at = at[at >= 0]
        rows = at if by_id is None else by_id[at]
        return np.sort(rows)

    def contents(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of the rows where ``keep`` is true, or of the rows it
        lists (positions); all by default."""
        rows = (
            slice(None) if keep is None else (keep if keep.dtype != bool else np.flatnonzero(keep))
        )
        ids = np.array(self.ids[rows])
        vectors = np.asarray(self.vectors[rows])
        if self._low is not None and self._step is not None:
            vectors = vectors.astype(np.float32) * self._step + self._low
        return ids, np.array(vectors, dtype=np.float32)

    def deleted_mask(self, deleted_ids: np.ndarray) -> np.ndarray | None:
        """Which rows hold one of the (sorted) ``deleted_ids``; None when none does."""
        if len(deleted_ids) == 0:
            return None
        mask = np.isin(self.ids, deleted_ids, assume_unique=True)
        return mask if mask.any() else None


class MemorySegment(Segment):
    """Some rows of a segment copied into memory (a shard's share of them), stored and
    searched as the segment stores and searches them: the same codes, and for an inverted
    file the same lists and probes, each list holding only the copied rows."""

    def __init__(  # noqa: D107
        self,
        kind: str,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        ranges: tuple[np.ndarray, np.ndarray] | None = None,
        lists: tuple[np.ndarray, np.ndarray, int] | None = None,
        whole_rows: int | None = None,
    ) -> None:
        self.path = Path("<memory>")
        self._map = None  # type: ignore[assignment]
        self.kind, self.crc32 = kind, 0
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.vectors = np.ascontiguousarray(vectors)
        self.rows, self.dimension = self.vectors.shape
        self._low, self._step = (None, None) if ranges is None else ranges
        self.centroids = self.offsets = None
        self.lists = self.probes = 0
        self._whole_rows = self.rows if whole_rows is None else whole_rows
        if lists is not None:
            self.centroids, self.offsets, self.probes = lists
            self.lists = len(self.centroids)

    @classmethod
    def copy_of(cls, segment: Segment, rows: np.ndarray) -> MemorySegment:
        """These rows (positions, ascending) of a segment, copied as it stores them."""
        ranges = lists = None
        if segment._low is not None and segment._step is not None:
            ranges = (np.array(segment._low), np.array(segment._step))
        if segment.offsets is not None and segment.centroids is not None:
            # Rows sit in list order: the copied rows of list i are those before its end.
            offsets = np.searchsorted(rows, segment.offsets).astype(np.int64)
            lists = (np.array(segment.centroids), offsets, segment.probes)
        ids, vectors = np.array(segment.ids[rows]), np.array(segment.vectors[rows])
        return cls(
            segment.kind, ids, vectors, ranges=ranges, lists=lists, whole_rows=segment.whole_rows
        )

    @property
    def whole_rows(self) -> int:
        return self._whole_rows

    def verify(self) -> None:
        return None  # nothing on disk: checked where it was copied from

    @property
    def nbytes(self) -> int:
        extra = 0 if self.centroids is None else self.centroids.nbytes
        return int(self.ids.nbytes + self.vectors.nbytes + extra)


def _top(scores: np.ndarray, k: int, keys: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` largest scores, largest first; ties by ``keys`` (passage
    ids; default: position), at the cut too, so that a shard holding some of these rows
    keeps the same tied ones as the whole segment."""
    if keys is None:
        keys = np.arange(len(scores))
    if k >= len(scores):
        return np.lexsort((keys, -scores))
    part = np.argpartition(-scores, k - 1)[:k]
    cut = scores[part].min()
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)
    if len(tied) > k - len(above):
        tied = tied[np.argsort(keys[tied], kind="stable")[: k - len(above)]]
    chosen = np.concatenate([above, tied])
    return chosen[np.lexsort((keys[chosen], -scores[chosen]))]


# ---------------------------------------------------------------------------
# Merging


@dataclass(frozen=True)
class SegmentStat:
    """A segment as the merge policy sees it."""

    name: str
    rows: int
    live: int


def plan_merges(segments: Sequence[SegmentStat]) -> list[list[str]]:
    """Which segments to merge, each group into one new segment (tiered policy above).

    A group of one is a segment rewritten without its deleted rows; a segment with no live
    rows is dropped (merged into nothing)."""
    merges: list[list[str]] = []
    tiers: dict[int, list[SegmentStat]] = {}
    for segment in segments:
        if segment.live == 0:
            merges.append([segment.name])
            continue
        tier = int(math.log10(max(segment.live, TIER_FLOOR) / TIER_FLOOR))
        tiers.setdefault(tier, []).append(segment)
    for members in tiers.values():
        if len(members) >= MERGE_FACTOR:
            merges.append([s.name for s in members])
        else:
            merges += [
                [s.name] for s in members if s.rows - s.live > DELETED_SHARE * max(s.rows, 1)
            ]
    return merges


def merge_contents(
    segments: Iterable[tuple[Segment, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray]:
    """The live (ids, vectors) of several segments, each given with its deleted mask."""
    ids, vectors = [], []
    for segment, deleted in segments:
        part_ids, part_vectors = segment.contents(None if deleted is None else ~deleted)
        ids.append(part_ids)
        vectors.append(part_vectors)
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
    return np.concatenate(ids), np.concatenate(vectors)
