"""Vector segments: every layout against brute force, deletions, merges, damaged files."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from search.errors import IndexCorruptError
from search.storage import segments
from search.storage.segments import (
    FLAT_LIMIT,
    KINDS,
    Layout,
    Segment,
    SegmentStat,
    build_segment,
    merge_contents,
    plan_layout,
    plan_merges,
)
from search.storage.vectors import LegacyVectors

DIMENSION = 32


def unit_vectors(count: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    """Clustered unit vectors, the shape real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIMENSION))
    points = centres[rng.integers(0, clusters, count)] + 0.6 * rng.standard_normal(
        (count, DIMENSION)
    )
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def exact_top(ids: np.ndarray, data: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """The true top k over every vector given."""
    order = np.argsort(-(data @ query), kind="stable")[:k]
    return [int(ids[i]) for i in order]


def written(tmp_path: Path, ids: np.ndarray, data: np.ndarray, layout: Layout) -> Segment:
    info = build_segment(
        tmp_path, "seg-000001.vec", ids, data, compact=layout.compact, layout=layout
    )
    assert (info.rows, info.kind) == (len(ids), layout.kind)
    assert (info.min_id, info.max_id) == (int(ids.min()), int(ids.max()))
    return Segment(
        tmp_path / info.name, dimension=DIMENSION, rows=info.rows, expected_bytes=info.bytes
    )


def test_layout_is_exact_below_the_limit_and_ivf_above() -> None:
    assert plan_layout(1) == Layout("flat")
    assert plan_layout(FLAT_LIMIT - 1) == Layout("flat")
    assert plan_layout(FLAT_LIMIT - 1, compact=True) == Layout("flat-sq8")
    large = plan_layout(FLAT_LIMIT)
    assert large.kind == "ivf" and 0 < large.probes <= large.lists
    million = plan_layout(1_000_000, compact=True)
    assert million.kind == "ivf-sq8" and million.lists > large.lists
    assert million.probes < million.lists


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_finds_what_brute_force_finds(tmp_path: Path, kind: str) -> None:
    data = unit_vectors(3000, seed=3)
    ids = np.arange(3000, dtype=np.int64) * 7 + 5
    layout = Layout(kind, 32, 12) if kind.startswith("ivf") else Layout(kind)
    segment = written(tmp_path, ids, data, layout)
    recall = []
    for q in range(0, 3000, 97):
        found, scores = segment.search(data[q], 10)
        assert found[0] == ids[q]  # the vector finds itself first
        assert scores[0] == pytest.approx(1.0, abs=0.02)
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        recall.append(len(set(found.tolist()) & set(exact_top(ids, data, data[q], 10))) / 10)
    assert np.mean(recall) >= (0.97 if kind == "flat" else 0.85)
    if kind == "flat":
        assert np.mean(recall) == 1.0
    stored, decoded = segment.contents()
    order = np.argsort(stored)
    assert stored[order].tolist() == ids.tolist()
    assert np.abs(decoded[order] - data).max() < (0.01 if layout.compact else 1e-6)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_deleted_rows_are_never_returned(tmp_path: Path, kind: str) -> None:
    data = unit_vectors(2000, seed=5)
    ids = np.arange(2000, dtype=np.int64)
    layout = Layout(kind, 16, 16) if kind == "ivf" else Layout(kind)
    segment = written(tmp_path, ids, data, layout)
    gone = ids[::3]
    mask = segment.deleted_mask(np.sort(gone))
    assert mask is not None and int(mask.sum()) == len(gone)
    kept = np.setdiff1d(ids, gone)
    for q in range(0, 2000, 101):
        found, _ = segment.search(data[q], 10, mask)
        assert not set(found.tolist()) & set(gone.tolist())
        assert found.tolist() == exact_top(kept, data[kept], data[q], 10)  # all lists probed
    assert segment.deleted_mask(np.array([10**9], dtype=np.int64)) is None


def test_merging_keeps_exactly_the_live_rows(tmp_path: Path) -> None:
    data = unit_vectors(900, seed=8)
    ids = np.arange(900, dtype=np.int64)
    parts = []
    for number, first in enumerate(range(0, 900, 300), start=1):
        info = build_segment(
            tmp_path,
            f"seg-{number:06d}.vec",
            ids[first : first + 300],
            data[first : first + 300],
            compact=False,
        )
        segment = Segment(
            tmp_path / info.name, dimension=DIMENSION, rows=300, expected_bytes=info.bytes
        )
        parts.append((segment, segment.deleted_mask(np.arange(0, 900, 2, dtype=np.int64))))
    merged_ids, merged_vectors = merge_contents(parts)
    assert sorted(merged_ids.tolist()) == list(range(1, 900, 2))
    assert np.array_equal(merged_vectors[np.argsort(merged_ids)], data[1::2])


def test_the_merge_policy_merges_a_full_tier_and_rewrites_deleted_segments() -> None:
    small = [SegmentStat(f"s{i}", 100, 100) for i in range(segments.MERGE_FACTOR - 1)]
    assert plan_merges(small) == []
    full = [*small, SegmentStat("last", 50, 50)]
    assert plan_merges(full) == [[s.name for s in full]]
    big = SegmentStat("big", 500_000, 500_000)
    assert plan_merges([big, *small]) == []  # another tier: left alone
    holed = SegmentStat("holed", 500_000, 300_000)
    assert plan_merges([holed]) == [["holed"]]
    assert plan_merges([SegmentStat("dead", 10, 0)]) == [["dead"]]


# Damaged files: each is one clear error, found before anything is allocated from it.


@pytest.fixture
def segment_file(tmp_path: Path) -> tuple[Path, int]:
    data = unit_vectors(500, seed=1)
    info = build_segment(tmp_path, "seg-000001.vec", np.arange(500), data, compact=False)
    return tmp_path / info.name, info.bytes


def _open(path: Path, size: int, rows: int = 500) -> Segment:
    return Segment(path, dimension=DIMENSION, rows=rows, expected_bytes=size)


def test_a_sound_segment_verifies(segment_file: tuple[Path, int]) -> None:
    path, size = segment_file
    _open(path, size).verify()


def test_a_flipped_byte_in_the_body_is_found_by_verify(segment_file: tuple[Path, int]) -> None:
    path, size = segment_file
    with path.open("r+b") as handle:
        handle.seek(size // 2)
        byte = handle.read(1)
        handle.seek(size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    segment = _open(path, size)  # opening checks only the header and sizes: cheap
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        segment.verify()


def test_a_forged_row_count_is_refused_before_reading(segment_file: tuple[Path, int]) -> None:
    path, size = segment_file
    with path.open("r+b") as handle:
        header = bytearray(handle.read(64))
        struct.pack_into("<Q", header, 16, 10**12)  # rows: a trillion
        struct.pack_into("<I", header, 36, __import__("zlib").crc32(bytes(header[:36])))
        handle.seek(0)
        handle.write(header)
    with pytest.raises(IndexCorruptError, match="the index recorded 500"):
        _open(path, size)
    with pytest.raises(IndexCorruptError, match="should be"):
        _open(path, size, rows=10**12)


@pytest.mark.parametrize(
    "damage", ["truncated", "extended", "header", "symlink", "fifo", "device", "directory"]
)
def test_a_damaged_or_replaced_segment_is_one_clear_error(
    segment_file: tuple[Path, int], damage: str, tmp_path: Path
) -> None:
    path, size = segment_file
    if damage == "truncated":
        os.truncate(path, size - 64)
    elif damage == "extended":
        with path.open("ab") as handle:
            handle.write(b"\0" * 64)
    elif damage == "header":
        with path.open("r+b") as handle:
            handle.write(b"XXXX")
    elif damage == "symlink":
        target = tmp_path / "elsewhere.vec"
        path.rename(target)
        path.symlink_to(target)
    elif damage == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif damage == "device":
        path.unlink()
        path.symlink_to("/dev/zero")
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(IndexCorruptError) as caught:
        _open(path, size)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_faiss_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    import faiss

    file = tmp_path / "vectors.1.faiss"
    faiss.write_index(faiss.IndexFlatIP(DIMENSION), str(file))
    with pytest.raises(IndexCorruptError, match="kind newssearch never writes"):
        LegacyVectors.load(
            file, dimension=DIMENSION, expected_bytes=file.stat().st_size, expected_crc32=None
        )
