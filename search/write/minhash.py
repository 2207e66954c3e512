"""Near-duplicate ("wire copy") detection: MinHash signatures, LSH band keys, anchors, groups.

Pure functions, so the index can store a signature, its band keys and its anchors per
article, look candidates up by ``(band, key)`` or by anchor, confirm them with
:func:`is_duplicate` or :func:`same_story` and keep the groups with :func:`components`.
:func:`group` does all of it in one batch and is the reference an incremental version must
agree with: two articles are linked exactly when they share a band key or an anchor and
:func:`is_duplicate` holds, or share an anchor and :func:`same_story` holds. Each depends
only on the two articles, so the order in which articles arrive does not matter.

An article is the set of its ``SHINGLE``-word shingles over the NFKC-normalised,
casefolded ``\\w+`` words of its title followed by its text, with its numbers weighted up
(:func:`features`). Signatures use datasketch's ``affine32`` MinHash with a fixed seed, so
they are comparable across runs and processes as long as these constants stay the same
(:data:`FINGERPRINT` names them for a manifest).

MinHash estimates resemblance (Jaccard), which a copy cut from a longer story, or one
extended with more paragraphs, cannot reach however exact it is: a version a third the
length of the other resembles it at most 0.33. :func:`same_story` catches those by
containment, counted exactly on the two articles' words, and an identical text under
another headline; :func:`anchors` (the article's long sentences and its whole text) bring
such pairs together, as band keys do for resemblance.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash

__all__ = [
    "ANCHOR_WORDS",
    "BANDS",
    "CONTAINED",
    "FINGERPRINT",
    "MIN_WORDS",
    "NUMBER_WEIGHT",
    "NUM_PERM",
    "ROWS",
    "SEED",
    "SHINGLE",
    "THRESHOLD",
    "Words",
    "anchors",
    "band_keys",
    "candidate_pairs",
    "components",
    "features",
    "from_bytes",
    "group",
    "is_duplicate",
    "same_story",
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

CONTAINED = 0.9
"""Share of the smaller article's set (:func:`features`) found in the larger one at or above
which the two are copies, one cut from or extended into the other (:func:`same_story`)."""

ANCHOR_WORDS = 8
"""Words a sentence needs to be an anchor (:func:`anchors`)."""

FINGERPRINT = (
    f"minhash-affine32-crc32-seed{SEED}-nfkc-w{SHINGLE}-n{NUMBER_WEIGHT}-p{NUM_PERM}"
    f"-b{BANDS}x{ROWS}-a{ANCHOR_WORDS}"
)
"""Everything a stored signature, band key or anchor depends on, for an index manifest."""

_WORD = re.compile(r"\w+")
# A sentence ends at . ! or ? (maybe closed by quotes or brackets) before white space and
# then no digit: "16. 86", a figure a passage boundary split where no space was, goes on.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[^\s0-9])")
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
    """The casefolded ``\\w+`` words of an article, title first, after NFKC normalisation
    (so that a copy whose accents are composed differently has the same words).

    >>> words("Oil up", "Crude rose 2.5 pct.")
    ['oil', 'up', 'crude', 'rose', '2', '5', 'pct']
    >>> words("", "Caf\u0065\u0301 \uff26\uff29\uff26\uff21") == words("", "Caf\u00e9 FIFA")
    True
    """
    head = title + "\n" if with_title else ""
    return _WORD.findall(unicodedata.normalize("NFKC", head + text).casefold())


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


def _minhash(items: Iterable[bytes], template: MinHash) -> np.ndarray:
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
    return Words.of(title, text).signature()


@dataclass(frozen=True)
class Words:
    """An article as the checks of copies see it: the set its signature sketches
    (:func:`features`; empty under ``MIN_WORDS`` words, as such an article is never
    judged) and its text's own words, without the title."""

    features: frozenset[bytes]
    body: tuple[str, ...]

    @classmethod
    def of(cls, title: str, text: str) -> Words:
        tokens = words(title, text)
        if len(tokens) < MIN_WORDS:
            return cls(frozenset(), ())
        # The title's words end where its line does: the rest are the text's own.
        return cls(frozenset(features(tokens)), tuple(tokens[len(words(title, "")) :]))

    @property
    def judged(self) -> bool:
        """Whether the article has words enough to be told a copy (``MIN_WORDS``)."""
        return bool(self.features)

    def signature(self) -> np.ndarray | None:
        """Its MinHash signature (None when it is not judged)."""
        return _minhash(self.features, _template(NUM_PERM)) if self.judged else None


def same_story(a: Words, b: Words) -> bool:
    """Whether two articles are copies by their exact words, whatever MinHash estimates:
    the same text of ``MIN_WORDS`` words or more, under any headline, or at least
    ``CONTAINED`` of the smaller one's set in the larger one's (a copy cut short, or
    extended with paragraphs, quotes or a byline).

    >>> story = "Crude oil prices rose on Monday as traders weighed output cuts. " * 3
    >>> more = story + "Analysts said the rally could fade by the end of the week."
    >>> same_story(Words.of("Oil rises", story), Words.of("Oil rises", more))
    True
    >>> same_story(Words.of("Oil rises", story), Words.of("Oil falls", "Crude fell. " * 20))
    False
    """
    if not (a.judged and b.judged):
        return False
    if len(a.body) >= MIN_WORDS and a.body == b.body:
        return True
    smaller = min(len(a.features), len(b.features))
    return len(a.features & b.features) >= CONTAINED * smaller


def _key(kind: bytes, tokens: Iterable[str]) -> int:
    digest = hashlib.blake2b(kind + " ".join(tokens).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def anchors(text: str) -> list[int]:
    """Signed 64-bit keys that copies of this text share: one per sentence of
    ``ANCHOR_WORDS`` words or more, and one for the whole text when it has ``MIN_WORDS``.

    A copy cut from a longer story or extended into one shares most of its sentences with
    it, and an identical text under another headline shares the whole-text key, even where
    their signatures share no band. Sentences are cut on the text with its white space
    collapsed, so that the text re-joined from its passages (the store's copy) gives the
    same keys, but for a table whose long line a passage boundary cut inside a figure
    (2 articles of Reuters TRAIN's 14,667).

    >>> text = "Crude oil prices rose on Monday as traders weighed cuts. Then fell. " * 2
    >>> len(anchors(text)), anchors(text) == anchors(text.replace(" ", "\\n"))
    (2, True)
    """
    flat = " ".join(text.split())
    keys = set()
    for sentence in _SENTENCE_END.split(flat):
        tokens = words("", sentence, with_title=False)
        if len(tokens) >= ANCHOR_WORDS:
            keys.add(_key(b"sentence\0", tokens))
    tokens = words("", flat, with_title=False)
    if len(tokens) >= MIN_WORDS:
        keys.add(_key(b"text\0", tokens))
    return sorted(keys)


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


def candidate_pairs(
    keys: dict[str, list[int]], anchored: dict[str, list[int]] | None = None
) -> set[tuple[str, str]]:
    """Pairs of ids (smaller first) that share the key of at least one band, or (with
    ``anchored``, id to :func:`anchors`) an anchor."""
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for article_id, article_keys in keys.items():
        for band, key in enumerate(article_keys):
            buckets[band, key].append(article_id)
    for article_id, article_anchors in (anchored or {}).items():
        for key in article_anchors:
            buckets[-1, key].append(article_id)
    pairs: set[tuple[str, str]] = set()
    for members in buckets.values():
        pairs.update(combinations(sorted(members), 2))
    return pairs


def group(articles: Iterable[tuple[str, str, str]]) -> list[list[str]]:
    """Duplicate groups (2+ articles) among ``(id, title, text)`` triples.

    Two articles are linked when they share a band key or an anchor and
    :func:`is_duplicate` holds, or share an anchor and :func:`same_story` holds. Articles
    too short for a signature take no part. Groups are as :func:`components` sorts them.
    """
    sigs: dict[str, np.ndarray] = {}
    judged: dict[str, Words] = {}
    anchored: dict[str, list[int]] = {}
    seen: set[str] = set()
    for article_id, title, text in articles:
        if article_id in seen:
            raise ValueError(f"article id {article_id!r} appears twice")
        seen.add(article_id)
        article = Words.of(title, text)
        sig = article.signature()
        if sig is not None:
            sigs[article_id], judged[article_id] = sig, article
            anchored[article_id] = anchors(text)
    resembling = candidate_pairs({i: band_keys(s) for i, s in sigs.items()})
    sharing = candidate_pairs({}, anchored)
    edges = [(a, b) for a, b in resembling | sharing if is_duplicate(sigs[a], sigs[b])]
    edges += [(a, b) for a, b in sharing if same_story(judged[a], judged[b])]
    return [g for g in components(list(sigs), edges) if len(g) > 1]
