"""Body text as paragraphs: an article's ``text`` is its paragraphs, one blank line apart."""

from __future__ import annotations

import re

from search.ingest.article import _Unusable
from search.ingest.decode import _normalise_newlines

__all__ = ["split_paragraphs"]

# A line break, then one or more lines of nothing but str.isspace() characters: the greedy
# \s* runs to the last line break of the blank run.
_BLANK_LINES = re.compile(r"\n\s*\n")


def split_paragraphs(text: str) -> list[str]:
    """Split body text into paragraphs, each stripped and on one line.

    Paragraphs are separated by blank lines when the text has any; otherwise
    every non-empty line is a paragraph.

    >>> split_paragraphs("One\\nline.\\n\\nTwo.")
    ['One line.', 'Two.']
    >>> split_paragraphs("One.\\nTwo.")
    ['One.', 'Two.']
    """
    # Regular expressions and str methods, not a loop over lines: a file can hold
    # 64 million blank lines.
    text = _normalise_newlines(text).strip()
    if not text:
        return []
    blocks = _BLANK_LINES.split(text)
    if len(blocks) == 1:
        return [line.strip() for line in text.split("\n")]
    return [" ".join(line.strip() for line in block.split("\n")) for block in blocks]


def _body(text: str, where: str, title: str = "") -> str:
    """The text as paragraphs; a record with a title and no text is its title alone."""
    body = "\n\n".join(split_paragraphs(text)) or title
    if not body:
        raise _Unusable("no text", where)
    return body
