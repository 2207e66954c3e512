"""Near-duplicate ("wire copy") detection: MinHash signatures, LSH band keys, groups.

Pure functions, so the index can store a signature and its band keys per article, look
candidates up by ``(band, key)``, confirm them with :func:`is_duplicate` and keep the
groups with :func:`components`. :func:`group` does all of it in one batch and is the
reference an incremental version must agree with: two articles are linked exactly when
they share at least one band key *and* :func:`is_duplicate` holds, which depends only on
the two signatures, so the order in which articles arrive does not matter.

An article is the set of its ``SHINGLE``-word shingles over the casefolded ``\\w+``
words of its title followed by its text, with its numbers weighted up (:func:`features`).
Signatures use datasketch's ``affine32`` MinHash with a fixed seed, so they are comparable
across runs and processes as long as these constants stay the same (:data:`FINGERPRINT`
names them for a manifest).
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash

__all__ = [
    "BANDS",
    "FINGERPRINT",
    "MIN_WORDS",
    "NUMBER_WEIGHT",
    "NUM_PERM",
    "ROWS",
    "SEED",
    "SHINGLE",
    "THRESHOLD",
    "band_keys",
    "candidate_pairs",
    "components",
    "features",
    "from_bytes",
    "group",
    "is_duplicate",
    "shingles",
    "signature",
    "similarity",
    "to_bytes",
    "words",
]

SHINGLE = 3
"""Words per shingle."""

NUMBER_WEIGHT = 4
"""Extra set elements per distinct number in an article (see :func:`features`)."""

MIN_WORDS = 20
"""Articles with fewer words (title and text together) get no signature."""

NUM_PERM = 128
"""MinHash permutations: values in a signature."""

BANDS = 32
"""LSH bands; two articles are candidates when they agree on every row of some band."""

ROWS = 4
"""Signature values per band."""

THRESHOLD = 0.5
"""Estimated Jaccard at or above which two articles are duplicates."""

SEED = 1
"""Seed of the MinHash permutations; changing it changes every signature."""

FINGERPRINT = (
    f"minhash-affine32-crc32-seed{SEED}-w{SHINGLE}-n{NUMBER_WEIGHT}-p{NUM_PERM}-b{BANDS}x{ROWS}"
)
"""Everything a stored signature or band key depends on, for an index manifest."""

_WORD = re.compile(r"\w+")
_DTYPE = np.dtype("<u4")


@functools.cache
def _template(num_perm: int) -> MinHash:
    # CRC-32 is a C function, twice as fast here as datasketch's default SHA-1 wrapper;
    # datasketch's MurmurHash3 pre-mix spreads it before the permutations. On 400 Reuters
    # articles against random subsets, the estimate's bias was -0.000 (SHA-1: +0.002)
    # and its spread 0.038 (SHA-1: 0.037).
    # datasketch is imported here, when a signature is first made: it imports scipy, which
    # took 0.6 s of every command's start when imported with the module.
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=SEED, scheme="affine32", hashfunc=zlib.crc32)


def words(title: str, text: str, *, with_title: bool = True) -> list[str]:
    """The casefolded ``\\w+`` words of an article, title first.

    >>> words("Oil up", "Crude rose 2.5 pct.")
    ['oil', 'up', 'crude', 'rose', '2', '5', 'pct']
    """
    head = title + "\n" if with_title else ""
    return _WORD.findall((head + text).casefold())


def shingles(tokens: list[str], size: int = SHINGLE) -> set[bytes]:
    """The distinct runs of ``size`` consecutive words, UTF-8 encoded.

    >>> sorted(shingles(["a", "b", "c", "a", "b"], 2))
    [b'a b', b'b c', b'c a']
    """
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def features(
    tokens: list[str], size: int = SHINGLE, number_weight: int = NUMBER_WEIGHT
) -> set[bytes]:
    """The set a signature sketches: shingles, plus ``number_weight`` tagged copies of each
    distinct token with a digit in it.

    Recurring templated reports (rates, dividends, weekly figures) repeat their words and
    differ only in their numbers; copies of one story share its numbers. The extra weight
    separates the two.

    >>> sorted(features(["rose", "2", "pct"], 2, number_weight=2))
    [b'#2#0', b'#2#1', b'2 pct', b'rose 2']
    """
    items = shingles(tokens, size)
    # (A letter is never a digit: most words are settled by the one fast ``isalpha``.)
    for token in {t for t in tokens if not t.isalpha() and any(c.isdigit() for c in t)}:
        items.update(f"#{token}#{i}".encode() for i in range(number_weight))
    return items


def _minhash(items: set[bytes], template: MinHash) -> np.ndarray:
    sketch = template.copy()
    sketch.update_batch(items)
    return sketch.hashvalues.astype(_DTYPE, copy=False)


def signature(title: str, text: str) -> np.ndarray | None:
    """The MinHash signature of an article, or None when it has under ``MIN_WORDS`` words.

    >>> sig = signature("Oil rises", "Crude oil prices rose on Monday " * 4)
    >>> sig.shape, sig.dtype.name
    ((128,), 'uint32')
    >>> signature("Brief", "Too short to judge.") is None
    True
    """
    tokens = words(title, text)
    if len(tokens) < MIN_WORDS:
        return None
    return _minhash(features(tokens), _template(NUM_PERM))


def to_bytes(sig: np.ndarray) -> bytes:
    """A signature as little-endian uint32 bytes, for a BLOB column."""
    return np.asarray(sig, dtype=_DTYPE).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    """The signature :func:`to_bytes` wrote; a wrong length is a ValueError."""
    if len(data) != NUM_PERM * _DTYPE.itemsize:
        raise ValueError(f"a signature is {NUM_PERM * _DTYPE.itemsize} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=_DTYPE).copy()


def _keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    values = np.asarray(sig, dtype=_DTYPE)
    if values.shape != (bands * rows,):
        raise ValueError(f"a signature has {bands * rows} values, got shape {values.shape}")
    keys = []
    for band in range(bands):
        chunk = band.to_bytes(2, "little") + values[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def band_keys(sig: np.ndarray) -> list[int]:
    """``BANDS`` signed 64-bit keys, one per band, the band number folded in.

    Key ``i`` hashes band ``i``'s ``ROWS`` values together with ``i``, so equal keys
    in different bands do not happen by construction; keeping ``(band, key)`` is
    still the natural index.

    >>> keys = band_keys(signature("Oil rises", "Crude oil prices rose on Monday " * 4))
    >>> len(keys), all(-(2**63) <= k < 2**63 for k in keys)
    (32, True)
    """
    return _keys(sig, BANDS, ROWS)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of positions where two signatures agree."""
    if a.shape != b.shape:
        raise ValueError(f"signatures differ in shape: {a.shape} and {b.shape}")
    return float(np.count_nonzero(a == b)) / a.size


def is_duplicate(a: np.ndarray, b: np.ndarray, threshold: float = THRESHOLD) -> bool:
    """Whether two signatures estimate a Jaccard similarity of at least ``threshold``."""
    return similarity(a, b) >= threshold


def components(ids: list[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of an undirected graph, singletons included.

    Each group is sorted; groups are sorted by their first id. An edge naming an id
    that is not in ``ids`` is a ValueError.

    >>> components(["d", "c", "b", "a"], [("a", "c"), ("d", "c")])
    [['a', 'c', 'd'], ['b']]
    """
    parent = {node: node for node in ids}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps the trees shallow
            node = parent[node]
        return node

    for a, b in edges:
        if a not in parent or b not in parent:
            raise ValueError(f"edge ({a!r}, {b!r}) names an id that is not in ids")
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for node in parent:
        groups[root(node)].append(node)
    return sorted(sorted(members) for members in groups.values())


def candidate_pairs(keys: dict[str, list[int]]) -> set[tuple[str, str]]:
    """Pairs of ids (smaller first) that share the key of at least one band."""
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for article_id, article_keys in keys.items():
        for band, key in enumerate(article_keys):
            buckets[band, key].append(article_id)
    pairs: set[tuple[str, str]] = set()
    for members in buckets.values():
        pairs.update(combinations(sorted(members), 2))
    return pairs


def group(articles: Iterable[tuple[str, str, str]]) -> list[list[str]]:
    """Duplicate groups (2+ articles) among ``(id, title, text)`` triples.

    Articles too short for a signature take no part. Groups are as :func:`components`
    sorts them.
    """
    sigs: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for article_id, title, text in articles:
        if article_id in seen:
            raise ValueError(f"article id {article_id!r} appears twice")
        seen.add(article_id)
        sig = signature(title, text)
        if sig is not None:
            sigs[article_id] = sig
    pairs = candidate_pairs({i: band_keys(s) for i, s in sigs.items()})
    edges = [(a, b) for a, b in pairs if is_duplicate(sigs[a], sigs[b])]
    return [g for g in components(list(sigs), edges) if len(g) > 1]
