"""Combining ranked lists from several retrievers into one ranking.

Pure functions over ``(id, score)`` lists, best first, so they are tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RRF_K", "reciprocal_rank_fusion"]

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
