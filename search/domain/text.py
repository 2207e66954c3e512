"""Text as a user gives it: whether it can be stored and sent, and how a message shows it.

Python hands over a command-line argument or a file name that is not UTF-8 with each bad
byte as a lone surrogate (``$'\\xff'`` arrives as ``"\\udcff"``), and JSON can spell one
(``"\\ud800"``). SQLite, tantivy, JSON and URLs refuse such a string deep inside, so every
door checks what it is given with ``is_text`` first, and says so with ``not_text`` (a
value) or ``shown`` (a path).

>>> is_text("Zürich"), is_text("caf\\udce9")
(True, False)
>>> shown("caf\\udce9/\\ud800")
'caf\\\\xe9/\\\\ud800'
"""

from __future__ import annotations

import os

__all__ = ["is_text", "not_text", "shown"]

_ESCAPED_BYTES = range(0xDC80, 0xDD00)  # Python's stand-ins for bytes that were not UTF-8


def is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text, encodable as UTF-8: no lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_text(name: str) -> str:
    """The message for a ``name`` given a value that is not text."""
    return f"{name} is not valid text (invalid UTF-8, or a lone surrogate) — retype it"


def shown(value: str | os.PathLike[str]) -> str:
    """``value`` as a message can print it: a byte that was not UTF-8 as ``\\xe9`` (as the
    user typed it in a shell), any other lone surrogate as ``\\ud800``."""
    text = os.fspath(value)
    return "".join(_escape(c) if "\ud800" <= c <= "\udfff" else c for c in text)


def _escape(surrogate: str) -> str:
    code = ord(surrogate)
    return f"\\x{code - 0xDC00:02x}" if code in _ESCAPED_BYTES else f"\\u{code:04x}"
