"""Query syntax: what a query asks for beyond its words, parsed once for every door.

The grammar (docs/cli.md, "Query syntax") is Lucene's and Media Cloud's where they share it:

* ``"exact phrase"``: the words in this order; ``-word``, ``-"phrase"`` and ``NOT x``: must
  not appear; ``+word``: must appear;
* ``a AND b``, ``a OR b`` (capitals; lower case ``and`` is a word), and parentheses;
  clauses side by side are either/or, as in Lucene with its default operator OR: at least
  one must match unless another is required (``+``, ``AND``), and every ``-`` clause must not;
* ``title:word`` or ``title:"a phrase"``: in the title; ``FIELD:value``, ``FIELD:"a value"``:
  the article's field holds that value, as ``--where FIELD=value``; ``source:`` an outlet
  and ``collection:`` a collection, as ``--source`` and ``--collection``;
* ``word*``: any word that starts so; ``*`` alone: every article.

Plain words stay plain: a word outside any operator, quote or parenthesis is searched as
free text is (by meaning and by its words, ranked), and requires nothing; so are
parentheses that hold plain words alone, and a ``-`` or ``+`` before anything but a letter,
a digit, a quote or a parenthesis (``--``, ``-$``), as pasted text has them. A query of plain
words alone has no constraint at all, and is ranked as it always was. The words that rank a
query with syntax are its plain words and those of what it requires (not of what it
excludes, nor fields' values).

Nothing here reads an index: a field's name is checked against the index later. A query
that breaks the grammar is a ``QueryError`` that says where, in one line.

>>> parsed = parse('Brazil debt -Argentina')
>>> parsed.words, parsed.constraint
('Brazil debt', Clauses(must_not=(Term(words=('Argentina',)),)))
>>> parse('"enough is enough"').constraint
Clauses(should=(Term(words=('enough', 'is', 'enough'), phrase=True),))
>>> parse('oil prices').constraint is None
True
>>> parse('Senator Boren (D-Okla.) said -- today').constraint is None
True
>>> parse('see https://www.reuters.com/markets at 3:30').constraint is None
True
>>> parse('(oil OR gas')
Traceback (most recent call last):
...
search.errors.QueryError: the query breaks at character 1: this '(' is never closed — (oil OR gas
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from search.errors import QueryError

__all__ = [
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "Clauses",
    "Every",
    "Node",
    "Parsed",
    "Term",
    "Value",
    "parse",
    "terms_of",
]

MAX_CLAUSES = 1024  # terms, phrases and values in one query
MAX_DEPTH = 32  # parentheses within parentheses
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb"}
_CLOSING = set(_QUOTES.values()) | {'"'}
_FIELD = re.compile(r"([A-Za-z_@][\w.@-]*):(.+)", re.DOTALL)
_OPERATORS = ("AND", "OR", "NOT")
_SPECIAL = '()"\u201c\u201d\u201e\u00ab\u00bb'


@dataclass(frozen=True)
class Term:
    """Words that must appear in an article's text (``field`` None) or its title
    (``field`` "title"): one word, a ``phrase`` of several in order, or a word's
    ``prefix``."""

    words: tuple[str, ...]
    phrase: bool = False
    prefix: bool = False
    field: str | None = None

    def __repr__(self) -> str:
        return _repr(self)


@dataclass(frozen=True)
class Value:
    """A metadata value the article must hold: ``field`` is a record field, or ``source``
    (an outlet) or ``collection``."""

    field: str
    value: str


@dataclass(frozen=True)
class Every:
    """``*``: every article."""


@dataclass(frozen=True)
class Clauses:
    """Clauses side by side: every ``must``, no ``must_not``, and at least one ``should``
    when there is no ``must`` (Lucene's boolean query)."""

    must: tuple[Node, ...] = ()
    should: tuple[Node, ...] = ()
    must_not: tuple[Node, ...] = ()

    def __repr__(self) -> str:
        return _repr(self)


Node = Union[Term, Value, Every, Clauses]  # noqa: UP007 - a runtime alias


@dataclass(frozen=True)
class Parsed:
    """A query read: ``words``, the text that ranks it; ``constraint``, what an article must
    satisfy to match (None: nothing, plain words alone); ``plain``, whether words outside
    any operator rank it (then, with no ``positive`` constraint, the relevance threshold
    decides which articles match: docs/cli.md "Which articles match")."""

    text: str
    words: str
    constraint: Clauses | None
    plain: bool

    @property
    def thresholded(self) -> bool:
        """Whether relevance decides which articles match: plain words, and no constraint
        that requires something to be present."""
        return self.plain and not self.positive

    @property
    def positive(self) -> bool:
        """Whether the constraint requires something to be present (not only absent)."""
        return self.constraint is not None and _requires(self.constraint)


@dataclass
class _Token:
    kind: str  # "(", ")", "word", "phrase", "and", "or", "not"
    text: str
    at: int  # character position, from 1
    sign: str = ""  # "+" or "-" written before it
    field: str | None = None


def parse(text: str) -> Parsed:
    """``text`` read as a query, or a ``QueryError`` saying where it breaks."""
    tokens = _tokens(text)
    if tokens and all(t.kind == "word" and not t.sign and t.field is None for t in tokens):
        if not any(t.text.endswith("*") for t in tokens):  # '*' alone too
            return Parsed(text, text, None, plain=True)
    reader = _Reader(text, tokens)
    top = reader.top()
    words = _ranking_words(top, reader.where)
    constraint = _simplified(top, reader.plain)
    if constraint is None:  # plain words alone, pasted text's parentheses among them
        return Parsed(text, text, None, plain=True)
    return Parsed(text, " ".join(words), constraint, plain=bool(reader.plain))


def _repr(node: object) -> str:
    """The parts given, not the defaults: for doctests and errors."""
    parts = [f"{name}={value!r}" for name, value in vars(node).items() if value]
    return f"{type(node).__name__}({', '.join(parts)})"


def terms_of(node: Node) -> list[Term]:
    """Every term in a constraint, in order (those under NOT too)."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Clauses):
        return [t for part in (*node.must, *node.should, *node.must_not) for t in terms_of(part)]
    return []


def _requires(node: Node) -> bool:
    if isinstance(node, Clauses):
        if node.must:
            return any(_requires(n) for n in node.must)
        return bool(node.should) and all(_requires(n) for n in node.should)
    return True


def _broken(text: str, at: int, why: str) -> QueryError:
    shown = text if len(text) <= 80 else text[max(0, at - 40) : at + 40]
    shown = " ".join(shown.split())
    return QueryError(f"the query breaks at character {at}: {why} — {shown}")


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        start = i
        sign = ""
        if char in "+-" and i + 1 < n and (text[i + 1].isalnum() or text[i + 1] in '("“„«'):
            sign, i = char, i + 1
            char = text[i]
        if char in "()":
            if sign and char == ")":
                raise _broken(text, start + 1, f"'{sign}' comes before a ')'")
            tokens.append(_Token(char, char, i + 1, sign))
            i += 1
            continue
        if char in _QUOTES:
            inner, i = _quoted(text, i)
            tokens.append(_Token("phrase", inner, start + 1, sign))
            continue
        end = i + 1  # a closing quote that opened nothing (» ”) is a word's character
        while end < n and not text[end].isspace() and text[end] not in _SPECIAL:
            end += 1
        word = text[i:end]
        field_match = _FIELD.fullmatch(word) if end >= n or text[end] != '"' else None
        if end < n and text[end] in _QUOTES and word.endswith(":") and len(word) > 1:
            inner, end = _quoted(text, end)
            tokens.append(_Token("phrase", inner, start + 1, sign, word[:-1]))
            i = end
            continue
        i = end
        if (  # a time (3:30) or an address (https://...) is a word
            field_match
            and not field_match.group(1)[0].isdigit()
            and not field_match.group(2).startswith("//")
        ):
            tokens.append(
                _Token("word", field_match.group(2), start + 1, sign, field_match.group(1))
            )
            continue
        kind = word.lower() if word in _OPERATORS else "word"
        if kind != "word" and sign:
            raise _broken(text, start + 1, f"'{sign}' comes before the operator {word}")
        tokens.append(_Token(kind, word, start + 1, sign))
    return tokens


def _quoted(text: str, at: int) -> tuple[str, int]:
    """The text between the quote at ``at`` and its closing quote, and where it ends."""
    closing = _QUOTES[text[at]]
    end = at + 1
    while end < len(text) and text[end] != closing and not (closing != '"' and text[end] == '"'):
        end += 1
    if end >= len(text):
        raise _broken(text, at + 1, "this quote is never closed")
    return text[at + 1 : end], end + 1


class _Reader:
    """Recursive descent over the tokens:

    sequence := either+ (side by side);  either := both (OR both)*;
    both := unary (AND unary)*;  unary := NOT unary | [+-]primary;
    primary := ( sequence ) | phrase | word
    """

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text, self.tokens, self.at = text, tokens, 0
        self.depth = 0
        self.count = 0
        self.plain: set[int] = set()  # ids of the top level's plain words and groups
        self.bare: set[int] = set()  # ids of plain words and groups at any level
        self.where: dict[int, int] = {}  # a Term's id: where it was written

    def top(self) -> Clauses:
        if not self.tokens:
            raise QueryError("the query is empty — give some words to search for")
        groups = self._sequence(top=True)
        if self.at < len(self.tokens):
            token = self.tokens[self.at]
            raise _broken(self.text, token.at, "this ')' closes nothing")
        return groups

    def _peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _sequence(self, *, top: bool) -> Clauses:
        """Clauses side by side, up to a ')' or the end."""
        parts: dict[str, list[Node]] = {"must": [], "should": [], "must_not": []}
        while (token := self._peek()) is not None and token.kind != ")":
            if token.kind in ("and", "or"):
                raise _broken(self.text, token.at, f"{token.text} has nothing before it")
            occur, node, alone = self._either()
            if alone and occur == "should" and self._is_bare(token, node):
                self.bare.add(id(node))
                if top:
                    self.plain.add(id(node))
            parts[occur].append(node)
        return Clauses(tuple(parts["must"]), tuple(parts["should"]), tuple(parts["must_not"]))

    def _either(self) -> tuple[str, Node, bool]:
        """(occur, node, whether it was one clause with no AND or OR)."""
        occur, node, alone = self._both()
        options = [(occur, node)]
        while (token := self._peek()) is not None and token.kind == "or":
            self._operand_after(token)
            options.append(self._both()[:2])
        if len(options) == 1:
            return occur, node, alone
        return "should", Clauses(should=tuple(_as_clause(o, n) for o, n in options)), False

    def _both(self) -> tuple[str, Node, bool]:
        occur, node = self._unary()
        required = [(occur, node)]
        while (token := self._peek()) is not None and token.kind == "and":
            self._operand_after(token)
            required.append(self._unary())
        if len(required) == 1:
            return occur, node, True
        must = tuple(n for o, n in required if o != "must_not")
        must_not = tuple(n for o, n in required if o == "must_not")
        return "should", Clauses(must=must, must_not=must_not), False

    def _operand_after(self, token: _Token) -> None:
        self.at += 1
        following = self._peek()
        if following is None or following.kind in (")", "and", "or"):
            raise _broken(self.text, token.at, f"{token.text} has nothing after it")

    def _is_bare(self, token: _Token, node: Node) -> bool:
        """A bare word (no sign, field, quotes or '*'), or parentheses that hold bare words
        alone, as pasted text has them ("(D-Cal.)"): neither says more than its words."""
        if token.sign:
            return False
        if token.kind == "(":
            return (
                isinstance(node, Clauses)
                and not node.must
                and not node.must_not
                and all(id(part) in self.bare for part in node.should)
            )
        return token.kind == "word" and token.field is None and not token.text.endswith("*")

    def _unary(self) -> tuple[str, Node]:
        token = self._peek()
        assert token is not None
        if token.kind == "not":
            self._operand_after(token)
            _occur, node = self._unary()
            return "must_not", node
        node = self._primary()
        return {"": "should", "+": "must", "-": "must_not"}[token.sign], node

    def _primary(self) -> Node:
        token = self.tokens[self.at]
        self.at += 1
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _broken(self.text, token.at, f"more than {MAX_DEPTH} parentheses deep")
            inner = self._sequence(top=False)
            if self._peek() is None:
                raise _broken(self.text, token.at, "this '(' is never closed")
            if not (inner.must or inner.should or inner.must_not):
                raise _broken(self.text, token.at, "these parentheses hold nothing")
            self.at += 1
            self.depth -= 1
            return inner
        if token.kind == ")":
            raise _broken(self.text, token.at, "this ')' closes nothing")
        self.count += 1
        if self.count > MAX_CLAUSES:
            raise _broken(self.text, token.at, f"more than {MAX_CLAUSES:,} terms in one query")
        node = self._leaf(token)
        self.where[id(node)] = token.at
        return node

    def _leaf(self, token: _Token) -> Node:
        field = token.field
        if field is not None and field.lower() != "title":
            if not token.text.strip():
                raise _broken(self.text, token.at, f"{field}: has no value")
            return Value(field, token.text)
        scope = "title" if field is not None else None
        if token.kind == "phrase":
            words = tuple(token.text.split())
            if not words:
                raise _broken(self.text, token.at, "these quotes hold no words")
            return Term(words, phrase=len(words) > 1, field=scope)
        if token.text == "*":
            if scope is not None:
                raise _broken(self.text, token.at, "title:* matches nothing in particular")
            return Every()
        stem = token.text[:-1] if token.text.endswith("*") else token.text
        if not stem or "*" in stem:
            raise _broken(self.text, token.at, "'*' may end a word, or stand alone")
        return Term((stem,), prefix=stem != token.text, field=scope)


def _as_clause(occur: str, node: Node) -> Node:
    """One option of an OR: a '-' or NOT option is a clause that only excludes."""
    if occur == "must_not":
        return Clauses(must_not=(node,))
    return node


def _ranking_words(top: Clauses, where: dict[int, int]) -> list[str]:
    """The words that rank the query: plain words and required or wanted terms' words, in
    the order written; none under NOT, none of a field's value."""
    found: list[tuple[int, tuple[str, ...]]] = []

    def visit(node: Node) -> None:
        if isinstance(node, Term):
            found.append((where.get(id(node), 0), node.words))
        elif isinstance(node, Clauses):
            for part in (*node.must, *node.should):
                visit(part)

    visit(top)
    return [word for _, words in sorted(found, key=lambda f: f[0]) for word in words]


def _simplified(top: Clauses, plain: set[int]) -> Clauses | None:
    """The constraint without the top level's plain words (which require nothing); None
    when nothing else is left."""
    should = tuple(n for n in top.should if id(n) not in plain)
    if not top.must and not should and not top.must_not:
        return None
    return Clauses(top.must, should, top.must_not)
