"""The vector index: layouts chosen by size, and every layout correct under add and remove."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search import vectors
from search.errors import IndexCorruptError
from search.vectors import EXACT_LIMIT, KINDS, Layout, VectorIndex, plan_layout

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
    order = np.argsort(-(data @ query), kind="stable")[:k]
    return [int(ids[i]) for i in order]


def test_layout_is_exact_below_the_limit_and_ivf_above() -> None:
    assert plan_layout(0) == Layout("flat")
    assert plan_layout(EXACT_LIMIT - 1) == Layout("flat")
    assert plan_layout(EXACT_LIMIT - 1, compact=True) == Layout("flat-sq8")
    large = plan_layout(EXACT_LIMIT)
    assert large.kind == "ivf" and large.lists >= 256 and 0 < large.probes < large.lists
    million = plan_layout(1_000_000, compact=True)
    assert million.kind == "ivf-sq8" and million.lists > large.lists


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make the IVF threshold small enough to cross in a test."""
    monkeypatch.setattr(vectors, "EXACT_LIMIT", 400)
    monkeypatch.setattr(vectors, "_MIN_PROBES", 4)
    real = vectors.plan_layout

    def plan(count: int, *, compact: bool = False) -> Layout:
        layout = real(count, compact=compact)
        return Layout(layout.kind, 16, 8) if layout.lists else layout

    monkeypatch.setattr(vectors, "plan_layout", plan)
    return 400


@pytest.mark.parametrize("compact", [False, True])
def test_index_grows_into_ivf_and_stays_correct_under_add_and_remove(
    small_limit: int, compact: bool, tmp_path: Path
) -> None:
    data = unit_vectors(1000)
    ids = np.arange(10_000, 11_000, dtype=np.int64)
    index = VectorIndex.empty(DIMENSION, compact=compact)
    assert index.layout.kind == ("flat-sq8" if compact else "flat")
    # Added in commits, re-planned after each as the index does.
    for first in range(0, 1000, 250):
        index.add(ids[first : first + 250], data[first : first + 250])
        index = index.replanned(compact=compact)
    assert index.layout.kind == ("ivf-sq8" if compact else "ivf")
    assert index.count == 1000 and index.trained_on >= small_limit
    stored, decoded = index.contents()
    assert sorted(stored.tolist()) == ids.tolist()
    order = np.argsort(stored)
    assert np.abs(decoded[order] - data).max() < (0.05 if compact else 1e-6)

    # Remove a third; removed ids never come back, the rest are still found.
    gone = ids[::3]
    assert index.remove(gone) == len(gone)
    assert index.count == 1000 - len(gone)
    kept = np.setdiff1d(ids, gone)
    kept_data = data[kept - 10_000]
    recall = []
    for q in range(0, 1000, 37):
        found = [i for i, _ in index.search(data[q], 10)]
        assert not set(found) & set(gone.tolist())
        truth = exact_top(kept, kept_data, data[q], 10)
        recall.append(len(set(found) & set(truth)) / 10)
    assert np.mean(recall) >= 0.9

    # The layout survives a save and load, probes included.
    size, _ = index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", dimension=DIMENSION, expected_bytes=size)
    assert loaded.layout == index.layout and loaded.count == index.count
    assert loaded.search(data[1], 5) == index.search(data[1], 5)


def test_shrinking_far_below_the_limit_goes_back_to_exact(small_limit: int) -> None:
    data = unit_vectors(600)
    ids = np.arange(600, dtype=np.int64)
    index = VectorIndex.empty(DIMENSION)
    index.add(ids, data)
    index = index.replanned(compact=False)
    assert index.layout.kind == "ivf"
    index.remove(ids[:250])  # 350 left: under the limit, but not under half of it
    assert index.replanned(compact=False).layout.kind == "ivf"
    index.remove(ids[250:450])  # 150 left
    index = index.replanned(compact=False)
    assert index.layout.kind == "flat" and index.count == 150
    assert [i for i, _ in index.search(data[500], 1)] == [500]


def test_every_kind_searches_exactly_or_nearly(small_limit: int) -> None:
    data = unit_vectors(800, seed=3)
    ids = np.arange(800, dtype=np.int64) * 7
    base = VectorIndex.empty(DIMENSION)
    base.add(ids, data)
    for kind in KINDS:
        index = base.rebuilt(Layout(kind, 16, 16) if kind.startswith("ivf") else Layout(kind))
        assert index.layout.kind == kind
        hits = index.search(data[5], 3)
        assert hits[0][0] == 35  # every probe is scanned here: the vector finds itself
        assert hits[0][1] == pytest.approx(1.0, abs=0.02)


def test_a_file_of_another_index_kind_is_refused(tmp_path: Path) -> None:
    import faiss

    file = tmp_path / "other.faiss"
    faiss.write_index(faiss.IndexFlatIP(DIMENSION), str(file))
    with pytest.raises(IndexCorruptError, match="kind newssearch never writes"):
        VectorIndex.load(file, dimension=DIMENSION)
