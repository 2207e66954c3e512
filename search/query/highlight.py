"""Where a query's words occur in a passage, for showing them highlighted."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["highlight_spans", "words_matched"]

_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to be worth marking in a passage.
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his in is it its of on or "
    "she that the their they this to was were which who will with".split()
)
_PREFIX_MIN = 4  # query words this long also mark longer words they begin (strike/strikes)


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """(start, end) of each word of ``text`` that matches a word of ``query``, in order.

    >>> highlight_spans("US strikes on Kataib Hezbollah", "kataib strike")
    [(3, 10), (14, 20)]
    """
    terms = _terms(query)
    if not terms:
        return []
    prefixes = tuple(t for t in terms if len(t) >= _PREFIX_MIN)
    spans = []
    for match in _WORD.finditer(text):
        word = _fold(match.group())
        if word in terms or (prefixes and word.startswith(prefixes)):
            spans.append(match.span())
    return spans


def words_matched(text: str, query: str) -> int:
    """How many of the query's words ``text`` holds, each matched as ``highlight_spans``
    marks it (its stop words left out).

    >>> words_matched("Mr Kilroy-Silk said so. Kilroy-Silk left.", "Kilroy-Silk attacked")
    2
    """
    terms = _terms(query)
    if not terms:
        return 0
    words = {_fold(w) for w in _WORD.findall(text)}
    return sum(
        1
        for term in terms
        if term in words or (len(term) >= _PREFIX_MIN and any(w.startswith(term) for w in words))
    )


def _terms(query: str) -> set[str]:
    return {_fold(w) for w in _WORD.findall(query)} - _STOPWORDS


def _fold(word: str) -> str:
    """Case and accents folded away, as the full-text index does (Zürich, zurich)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
