"""Paragraphs into passages.

An article's text holds paragraphs separated by blank lines. Each paragraph becomes one
passage; a paragraph longer than the model's window is split at sentence boundaries (and a
sentence longer than the window at word boundaries) so that no text is silently truncated.
Every passage is an exact slice of the article text: ``text[start:end] == passage.text``.

Token counts come from the embedder's tokenizer as character spans, one per token, so a
slice's length in tokens is counted without tokenising it again.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Passage", "Span", "TokenSpans", "chunk_text"]

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]
"""Maps a text to the (start, end) character span of each of its tokens."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends after . ! ? or an ellipsis, maybe closed by quotes or brackets,
# followed by white space. Matching only from the start of a run of marks, without
# backtracking, keeps a long run ("....") linear rather than quadratic.
_SENTENCE_END = re.compile(r"""(?<![.!?\u2026])[.!?\u2026]++["'\u201d\u2019)\]]*+(?=\s)""")


@dataclass(frozen=True)
class Span:
    """Where one passage lies in its article's text."""

    paragraph: int  # 1-based paragraph number
    part: int  # 1-based piece of the paragraph; 1 when the paragraph is whole
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A passage of an article, as indexed and returned."""

    article_id: str
    paragraph: int
    part: int
    start: int
    end: int
    text: str


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each paragraph of ``text``, stripped of surrounding space."""
    spans = []
    position = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    return [stripped for s, e in spans if (stripped := _strip(text, s, e))[0] < stripped[1]]


def chunk_text(text: str, *, max_tokens: int, token_spans: TokenSpans) -> list[Span]:
    """Split ``text`` into passage spans of at most ``max_tokens`` tokens each.

    >>> words = lambda t: [(m.start(), m.end()) for m in re.finditer(r"\\S+", t)]
    >>> [(s.paragraph, s.part) for s in chunk_text("A b. C d.\\n\\nE", max_tokens=2,
    ...                                                token_spans=words)]
    [(1, 1), (1, 2), (2, 1)]
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    result: list[Span] = []
    for number, (start, end) in enumerate(paragraph_spans(text), start=1):
        pieces = _split_paragraph(text, start, end, max_tokens, token_spans)
        result.extend(Span(number, part, s, e) for part, (s, e) in enumerate(pieces, start=1))
    return result


def _split_paragraph(
    text: str, start: int, end: int, max_tokens: int, token_spans: TokenSpans
) -> list[tuple[int, int]]:
    tokens = [(start + s, start + e) for s, e in token_spans(text[start:end])]
    if len(tokens) <= max_tokens:
        return [(start, end)]
    counter = _TokenCounter(tokens)
    units: list[tuple[int, int]] = []
    for s, e in _sentence_spans(text, start, end):
        if counter.count(s, e) <= max_tokens:
            units.append((s, e))
        else:
            units.extend(_split_sentence(text, s, e, max_tokens, counter))
    # Greedily pack consecutive sentences into passages that fit the window.
    pieces = [units[0]]
    for s, e in units[1:]:
        if counter.count(pieces[-1][0], e) <= max_tokens:
            pieces[-1] = (pieces[-1][0], e)
        else:
            pieces.append((s, e))
    return pieces


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append(_strip(text, position, match.end()))
        position = match.end()
    spans.append(_strip(text, position, end))
    return [(s, e) for s, e in spans if s < e]


def _split_sentence(
    text: str, start: int, end: int, max_tokens: int, counter: _TokenCounter
) -> list[tuple[int, int]]:
    """Cut a sentence that is over the window at the last white space that fits."""
    pieces = []
    while start < end:
        first = counter.first_token_at(start)
        last = min(first + max_tokens, counter.total) - 1
        limit = counter.token_end(last)
        if counter.count(start, end) <= max_tokens or limit >= end:
            pieces.append((start, end))
            break
        # Prefer a cut at white space inside the window; a single over-long "word"
        # is cut at a token boundary instead.
        cut = max(text.rfind(" ", start, limit + 1), text.rfind("\n", start, limit + 1))
        if cut <= start:
            cut = limit
        pieces.append(_strip(text, start, cut))
        start = _strip(text, cut, end)[0]
    return [(s, e) for s, e in pieces if s < e]


class _TokenCounter:
    """Counts the tokens that lie wholly inside a character range, by bisection."""

    def __init__(self, tokens: list[tuple[int, int]]) -> None:
        self._starts = [s for s, _ in tokens]
        self._ends = [e for _, e in tokens]
        self.total = len(tokens)

    def count(self, start: int, end: int) -> int:
        return bisect.bisect_right(self._ends, end) - bisect.bisect_left(self._starts, start)

    def first_token_at(self, position: int) -> int:
        return bisect.bisect_left(self._starts, position)

    def token_end(self, index: int) -> int:
        return self._ends[index]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
