"""Body text as paragraphs: an article's ``text`` is its paragraphs, one blank line apart."""

from __future__ import annotations

from search.ingest.article import _Unusable
from search.ingest.decode import _normalise_newlines

__all__ = ["split_paragraphs"]


def split_paragraphs(text: str) -> list[str]:
    """Split body text into paragraphs, each stripped and on one line.

    Paragraphs are separated by blank lines when the text has any; otherwise
    every non-empty line is a paragraph.

    >>> split_paragraphs("One\\nline.\\n\\nTwo.")
    ['One line.', 'Two.']
    >>> split_paragraphs("One.\\nTwo.")
    ['One.', 'Two.']
    """
    lines = [line.rstrip() for line in _normalise_newlines(text).split("\n")]
    filled = [number for number, line in enumerate(lines) if line]
    if not filled:
        return []
    # Blank lines before the first or after the last paragraph separate nothing.
    lines = lines[filled[0] : filled[-1] + 1]
    if len(filled) == len(lines):
        return [line.strip() for line in lines]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return paragraphs


def _body(text: str, where: str, title: str = "") -> str:
    """The text as paragraphs; a record with a title and no text is its title alone."""
    body = "\n\n".join(split_paragraphs(text)) or title
    if not body:
        raise _Unusable("no text", where)
    return body
