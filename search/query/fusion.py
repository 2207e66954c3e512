"""Combining ranked lists from several retrievers into one ranking.

Pure functions over ``(id, score)`` lists, best first, so they are tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["RRF_K", "reciprocal_rank_fusion", "score_fusion"]

RRF_K = 60
"""The constant of Cormack et al. (2009): it damps the weight of the very first ranks."""

Ranking = Sequence[tuple[int, float]]


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Fuse rankings: each id scores the sum over rankings of ``weight / (k + rank)``.

    Ranks start at 1. Ties keep the order in which ids were first seen, scanning the
    rankings rank by rank, so the result does not depend on dict ordering.

    >>> reciprocal_rank_fusion([[(7, 0.9), (3, 0.5)], [(3, 12.0)]], k=1)
    [(3, 0.8333333333333333), (7, 0.5)]
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    first_seen: dict[int, tuple[int, int]] = {}
    for which, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        for rank, (item, _score) in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            first_seen.setdefault(item, (rank, which))
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))


def score_fusion(
    rankings: Sequence[Ranking],
    *,
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
) -> list[tuple[int, float]]:
    """Fuse rankings by a weighted sum of each ranking's normalised scores.

    ``minmax`` maps each ranking's scores to [0, 1] (an id missing from a ranking counts
    as that ranking's worst, 0); ``zscore`` centres and scales them (a missing id counts
    as the ranking's lowest score). Ties keep first-seen order, as in RRF.

    >>> score_fusion([[(1, 10.0), (2, 0.0)], [(2, 0.9), (3, 0.1)]], weights=[0.5, 0.5])
    [(1, 0.5), (2, 0.5), (3, 0.0)]
    """
    if weights is None:
        weights = [1.0 / len(rankings)] * len(rankings) if rankings else []
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    if normalization not in ("minmax", "zscore"):
        raise ValueError(f"unknown normalization {normalization!r}")
    if not rankings or not any(rankings):
        return []
    # Vectorised (a query fuses hundreds of ids; this ran in Python while holding the GIL),
    # with each id's sum formed in the same order as one addition per ranking would.
    ids = [np.fromiter((item for item, _ in r), dtype=np.int64, count=len(r)) for r in rankings]
    every = np.concatenate(ids)
    ranks = np.concatenate([np.arange(1, len(r) + 1) for r in rankings])
    which = np.concatenate([np.full(len(r), n) for n, r in enumerate(rankings)])
    # First seen: where an id first appears, reading the rankings one after another.
    seen = np.lexsort((ranks, which))
    unique, first = np.unique(every[seen], return_index=True)
    first_rank, first_which = ranks[seen][first], which[seen][first]
    scores = np.zeros(len(unique))
    for ranking, items, weight in zip(rankings, ids, weights, strict=True):
        normalised, floor = _normalise([s for _, s in ranking], normalization)
        column = np.full(len(unique), floor)
        column[np.searchsorted(unique, items)] = normalised
        scores = scores + weight * column
    order = np.lexsort((first_which, first_rank, -scores))
    return list(zip(unique[order].tolist(), scores[order].tolist(), strict=True))


def _normalise(values: list[float], method: str) -> tuple[list[float], float]:
    """The normalised values, and the value an absent item gets."""
    if not values:
        return [], 0.0
    low, high = min(values), max(values)
    if method == "minmax":
        span = high - low
        return [(v - low) / span if span > 0 else 1.0 for v in values], 0.0
    mean = sum(values) / len(values)
    deviation = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
    return [(v - mean) / deviation for v in values], (low - mean) / deviation
