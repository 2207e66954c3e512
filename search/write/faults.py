"""Named points in the writer where a test can kill the process, instead of guessing a delay.

The writer calls ``reached("mid-commit")`` and the like at the moments a crash matters. When
the environment variable ``NEWSSEARCH_FAULT`` names that point, the process kills itself on
the spot with SIGKILL, as ``kill -9`` would: no ``finally``, no ``atexit``, no flush. A test
sets the variable in a child process's environment and checks the index that child leaves.

``NEWSSEARCH_FAULT=POINT`` kills the first time POINT is reached; ``POINT:N`` the N-th time
(counted from the start of the process), so a test can pick one commit of many. Unset, or
naming another point, ``reached`` does nothing.

The points, in the order a commit reaches them (``search/write/writer.py``):

``after-segment-written``
    a commit's or a merge's new segment file is in place, named by no commit yet;
``mid-commit``, ``mid-merge``
    the lexical index has committed, the store's transaction has not;
``before-manifest``
    the store has committed; ``manifest.json`` still names the previous generation;
``before-sweep``
    the manifest is written; files no commit names (merged segments) are not yet deleted.

>>> reached("nowhere-in-particular")  # not named by NEWSSEARCH_FAULT: nothing happens
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "VARIABLE", "reached"]

VARIABLE = "NEWSSEARCH_FAULT"
POINTS = ("after-segment-written", "mid-commit", "mid-merge", "before-manifest", "before-sweep")

_counts: dict[str, int] = {}


def reached(point: str) -> None:
    """Kill this process with SIGKILL if ``NEWSSEARCH_FAULT`` names ``point`` (and, with
    ``POINT:N``, this is the N-th time it is reached)."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)
