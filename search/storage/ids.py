"""Sets of passage ids as sorted arrays: which of some ids a set holds, by binary search.

``np.isin`` sorts both arrays together on every call: to test the few hundred ids of a
ranking against the tens of thousands a query excludes, that sort is most of the cost
(3-5 ms at 66,000 ids, against microseconds here)."""

from __future__ import annotations

import numpy as np

__all__ = ["among"]


def among(ids: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Whether each of ``ids`` is in ``held`` (sorted ascending), as a mask over ``ids``.

    >>> among(np.array([5, 1, 9, 4]), np.array([1, 4, 7])).tolist()
    [False, True, False, True]
    """
    ids = np.asarray(ids)
    if not len(held) or not len(ids):
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(held, ids), len(held) - 1)
    return held[at] == ids
