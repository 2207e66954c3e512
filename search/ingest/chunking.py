"""Paragraphs into passages.

An article's text holds paragraphs separated by blank lines. Each paragraph becomes one
passage; a paragraph longer than the model's window is split at sentence boundaries (and a
sentence longer than the window at word boundaries) so that no text is silently truncated.
Every passage is an exact slice of the article text: ``text[start:end] == passage.text``.

A paragraph that carries no content of its own is joined to a neighbour, so that it is never
a passage that outranks content (measured: docs/QUALITY.md). The joined passage is still an
exact slice of the text, its paragraphs separated as they are there. Which paragraphs, and
how, are the index's chunking rules (``CHUNKING``, kept in its settings, so that an index
never mixes two):

1. A thin paragraph (a dateline, byline, kicker, a ``Published`` line, the ``REUTER``
   signature: fewer than ``THIN_WORDS`` words, or a short line of such a kind) is joined to
   the paragraph after it (the last one to the one before).
2. As 1, and: a list item (``- A freeze on petrol duty``, ``2) ...``) joins the paragraph
   that leads into it, with the items after it; a short line that is no sentence (a table
   row ``Shr 1.20 vs 1.10``, ``Pay April 30``, a date, a heading) joins the lines like it
   around it and then the paragraph after them; a sentence of fewer than ``CONTENT_WORDS``
   content words ("Police want to hear from anyone who has any information."), the last
   piece of a long paragraph too, joins the paragraph after it; a run of such paragraphs
   never stands as a passage while a neighbour has room for it.

Token counts come from the embedder's tokenizer as character spans, one per token, so a
slice's length in tokens is counted without tokenising it again.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "CHUNKING",
    "THIN_WORDS",
    "Passage",
    "Span",
    "TokenSpans",
    "chunk_text",
    "is_minor",
    "is_thin",
    "paragraph_text",
]

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]
"""Maps a text to the (start, end) character span of each of its tokens."""

CHUNKING = 2
"""The chunking rules a new index gets (see the module's docstring); 1 for an index made
before they were kept, whose articles are still cut by the rules that cut the others."""

THIN_WORDS = 5  # a paragraph of fewer words is joined to a neighbour
_THIN_LINE_WORDS = 12  # up to this many words, a line of the kinds below is joined too
_BOILERPLATE = re.compile(
    r"(by|published|updated|posted|last updated|first published|reporting by|editing by"
    r"|writing by|additional reporting|compiled by|photo|image|file photo|copyright|©"
    r"|\(reporting|\(editing|source:)\b",
    re.IGNORECASE,
)
CONTENT_WORDS = 5  # by rules 2, a paragraph of fewer content words is joined to a neighbour
# Words that name no one and nothing: what is left are a paragraph's content words. Reporting
# verbs are among them, as "said" tells nothing of a story.
_FUNCTION_WORDS = frozenset(
    """a about above across after again against all also although always am among an and
    another any anyone anything are around as at be because been before being below between
    both but by can could did do does doing down during each either even ever every everyone
    everything few for from further had has have having he her here hers him his how however
    i if in into is it its itself just least less may me might more most much must my neither
    never no nobody none nor not nothing now of off often on once one only or other others our
    out over own per perhaps quite rather same say said says shall she should since so some
    someone something still such than that the their theirs them then there these they this
    those though through thus to told too under until up upon us very was we were what when
    where whether which while who whom whose why will with within without would yet you your
    """.split()
)
_TABLE_MARKS = frozenset({"v", "v.", "vs", "vs.", "versus"})  # "Shr 1.20 vs 1.10", "Leeds v Hull"
# A list item: a bullet, or a number or letter closed by "." or ")", then white space.
_LIST_ITEM = re.compile(
    r"(?:[-*+\u2022\u00b7\u25aa\u25cf\u2023\u25e6\u2013\u2014]|\(?(?:\d{1,3}|[a-z])[.)])\s"
)
# A sentence's end: a mark, maybe closed by quotes or brackets, at the end of the text.
_ENDS_SENTENCE = re.compile(r"""[.!?\u2026]["'\u201d\u2019)\]]*$""")
_PUNCTUATION = "\"'()[]{}.,;:!?\u2018\u2019\u201c\u201d\u2026-\u2013\u2014"
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


def chunk_text(
    text: str, *, max_tokens: int, token_spans: TokenSpans, rules: int = CHUNKING
) -> list[Span]:
    """Split ``text`` into passage spans of at most ``max_tokens`` tokens each, by the
    chunking rules numbered ``rules`` (the module's docstring).

    >>> words = lambda t: [(m.start(), m.end()) for m in re.finditer(r"\\S+", t)]
    >>> [(s.paragraph, s.part) for s in chunk_text("A b. C d.\\n\\nE", max_tokens=2,
    ...                                                token_spans=words)]
    [(1, 1), (1, 2), (2, 1)]
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if rules not in (1, 2):
        raise ValueError(f"unknown chunking rules {rules}")
    result: list[Span] = []
    for number, (start, end) in enumerate(paragraph_spans(text), start=1):
        pieces = _split_paragraph(text, start, end, max_tokens, token_spans)
        result.extend(Span(number, part, s, e) for part, (s, e) in enumerate(pieces, start=1))
    if rules == 1:
        return _join_thin(text, result, max_tokens, token_spans)
    return _join_minor(text, result, max_tokens, token_spans)


def is_thin(text: str) -> bool:
    """Whether a paragraph carries no content of its own: too few words, or a short
    byline, dateline in capitals, ``Published ...`` line and the like.

    >>> [is_thin(t) for t in ("REUTER", "By Jane Smith, Political Editor",
    ...                       "Published 2024-07-18", "The ministry raised rates by half a point.")]
    [True, True, True, False]
    """
    words = text.split()
    if len(words) < THIN_WORDS:
        return True
    if len(words) > _THIN_LINE_WORDS:
        return False
    letters = [c for c in text if c.isalpha()]
    shouting = bool(letters) and all(c.isupper() for c in letters)
    return shouting or _BOILERPLATE.match(text.lstrip("-—– ")) is not None


def is_minor(text: str) -> bool:
    """Whether a paragraph is joined to a neighbour by chunking rules 2: thin, a list item,
    a short line that is no sentence (a table row, a date, a heading) or a sentence of fewer
    than ``CONTENT_WORDS`` content words.

    >>> [is_minor(t) for t in ("- A freeze on petrol duty", "Net 12.3 mln vs 11.2 mln.",
    ...     "Pay April 30", "Police want to hear from anyone who has any information.",
    ...     "The ministry raised rates by half a point.")]
    [True, True, True, True, False]
    """
    return (
        is_thin(text)
        or _is_list_item(text)
        or _is_fragment(text)
        or _is_table_row(text)
        or _content_words(text) < CONTENT_WORDS
    )


def _is_list_item(text: str) -> bool:
    return _LIST_ITEM.match(text) is not None


def _is_fragment(text: str) -> bool:
    """A short line that does not end as a sentence does: a table row, a date, a heading."""
    return len(text.split()) <= _THIN_LINE_WORDS and _ENDS_SENTENCE.search(text) is None


def _is_table_row(text: str) -> bool:
    """A short line that sets one thing against another: a result, a fixture."""
    words = text.lower().split()
    return len(words) <= _THIN_LINE_WORDS and not _TABLE_MARKS.isdisjoint(words)


def _content_words(text: str) -> int:
    words = (w.strip(_PUNCTUATION).lower() for w in text.split())
    return sum(1 for w in words if w and w not in _FUNCTION_WORDS)


def _join_minor(
    text: str, spans: list[Span], max_tokens: int, token_spans: TokenSpans
) -> list[Span]:
    """Rules 2: each list item joins the passage before it (its lead-in, or the items
    before it); other minor passages gather into a run that joins the passage after it, or
    else the one before; all where the two fit the window together."""

    def fits(start: int, end: int) -> bool:
        return len(token_spans(text[start:end])) <= max_tokens

    joined: list[Span] = []

    def settle(run: Span) -> None:
        """A run that the passage after it has no room for: to the one before, or alone."""
        if joined and fits(joined[-1].start, run.end):
            joined[-1] = _merged(joined[-1], run)
        else:
            joined.append(run)

    run: Span | None = None  # minor passages waiting for the content after them
    for span in spans:
        piece = text[span.start : span.end]
        if not is_minor(piece):
            if run is not None and fits(run.start, span.end):
                span = _merged(run, span)
            elif run is not None:
                settle(run)
            run = None
            joined.append(span)
        elif run is None and joined and _is_list_item(piece) and fits(joined[-1].start, span.end):
            joined[-1] = _merged(joined[-1], span)
        elif run is not None and fits(run.start, span.end):
            run = _merged(run, span)
        else:
            if run is not None:
                settle(run)
            run = span
    if run is not None:
        settle(run)
    return joined


def _merged(first: Span, last: Span) -> Span:
    return Span(first.paragraph, first.part, first.start, last.end)


def _join_thin(
    text: str, spans: list[Span], max_tokens: int, token_spans: TokenSpans
) -> list[Span]:
    """Rules 1: join each thin passage to the next (the last to the one before) where the
    two fit the window together."""

    def fits(start: int, end: int) -> bool:
        return len(token_spans(text[start:end])) <= max_tokens

    joined: list[Span] = []
    pending: Span | None = None
    for span in spans:
        if pending is not None:
            if fits(pending.start, span.end):
                span = _merged(pending, span)
            else:
                joined.append(pending)
            pending = None
        if is_thin(text[span.start : span.end]):
            pending = span
        else:
            joined.append(span)
    if pending is not None:
        last = joined[-1] if joined else None
        if last is not None and fits(last.start, pending.end):
            joined[-1] = _merged(last, pending)
        else:
            joined.append(pending)
    return joined


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


def paragraph_text(passages: Sequence[tuple[int, str]]) -> list[str]:
    """An article's paragraphs, from its passages as (first paragraph number, text) in text
    order: a passage may hold several paragraphs (joined thin ones), a paragraph several
    passages (split long ones).

    >>> paragraph_text([(1, "Rome, May 2\\n\\nRates rose."), (3, "Bonds fell."), (3, "Then rose.")])
    ['Rome, May 2', 'Rates rose.', 'Bonds fell. Then rose.']
    """
    paragraphs: list[str] = []
    last = 0
    for first, text in passages:
        pieces = text.split("\n\n")
        if paragraphs and first <= last:
            paragraphs[-1] = f"{paragraphs[-1]} {pieces[0]}"
            pieces = pieces[1:]
        paragraphs += pieces
        last = max(last, first + text.count("\n\n"))
    return paragraphs
