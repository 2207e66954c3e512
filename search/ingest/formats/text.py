"""Reading ``.txt`` and ``.md`` files: one article each, with YAML front matter.

The first non-empty line is the title (for ``.md``, without its ``#``s or setext
underline). YAML front matter between a first line ``---`` and the next ``---`` line gives
the title, date, outlet, url and other fields.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from search.ingest.article import (
    _SURROGATE_PROBLEM,
    MAX_ARTICLE_BYTES,
    Article,
    Skip,
    SourceFile,
    _checked,
    _Unusable,
)
from search.ingest.decode import _read_text
from search.ingest.metadata import (
    has_lone_surrogate,
    record_date,
    record_fields,
    record_outlet,
    record_url,
)
from search.ingest.paragraphs import _body

_MD_CLOSING_HASHES = re.compile(r"\s+#+\s*$")
_MD_SETEXT_UNDERLINE = re.compile(r"\s*(=+|-+)\s*")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_MAX_FRONT_MATTER_CHARS = 64 * 1024  # PyYAML is slow: a bound on the time it may take
# Aliases let a few lines name an exponential number of values ("billion laughs"), which
# walking the front matter would then visit one by one; without aliases, 64K characters
# cannot hold as many values as this.
_MAX_FRONT_MATTER_VALUES = _MAX_FRONT_MATTER_CHARS


def _read_txt(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    meta, rest = _front_matter(_read_text(source, MAX_ARTICLE_BYTES))
    title = _meta_title(meta)
    if not title:
        first, _, rest = rest.lstrip().partition("\n")
        title = first.strip()
    return [_text_article(title, rest, meta, source)], []


def _read_md(source: SourceFile) -> tuple[list[Article], list[Skip]]:
    meta, rest = _front_matter(_read_text(source, MAX_ARTICLE_BYTES))
    heading, after = _md_heading(rest)
    title = _meta_title(meta)
    if not title:
        title, rest = heading, after
    elif heading == title:
        rest = after  # the title, repeated as the first heading
    return [_text_article(title, rest, meta, source)], []


def _md_heading(text: str) -> tuple[str, str]:
    """The first line as a title without its ``#``s or setext underline, and the rest."""
    heading, _, rest = text.lstrip().partition("\n")
    title = _MD_CLOSING_HASHES.sub("", heading.strip().lstrip("#")).strip()
    underline, _, after = rest.partition("\n")
    if _MD_SETEXT_UNDERLINE.fullmatch(underline):
        rest = after
    return title, rest


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a text file and the text after it; ``{}`` and the whole
    text when the first line is not ``---``."""
    first, _, rest = text.lstrip().partition("\n")
    if first.rstrip() != "---":
        return {}, text
    end = _FRONT_MATTER_END.search(rest)
    if end is None:
        raise _Unusable("malformed front matter", "no closing '---' line")
    if end.start() > _MAX_FRONT_MATTER_CHARS:
        raise _Unusable("too large", f"front matter over {_MAX_FRONT_MATTER_CHARS:,} characters")
    meta = _load_yaml(rest[: end.start()])
    if meta is None:
        meta = {}  # "---" then "---": front matter with nothing in it
    if not isinstance(meta, dict):
        raise _Unusable("malformed front matter", f"YAML {type(meta).__name__}, not a mapping")
    if has_lone_surrogate(meta):
        raise _Unusable("malformed front matter", _SURROGATE_PROBLEM)
    return meta, rest[end.end() :]


def _load_yaml(block: str) -> Any:
    import yaml  # only front matter needs it

    try:
        return yaml.load(block, Loader=_yaml_loader())  # a SafeLoader: builds no objects
    except (yaml.YAMLError, RecursionError) as err:
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise _Unusable("malformed front matter", detail) from None


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's SafeLoader, but an impossible date (``2024-02-30``) stays a string, to
    become the article's ``unparsed_date`` rather than cost it, and aliases may not expand
    the document past ``_MAX_FRONT_MATTER_VALUES`` values."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_document(self, node: yaml.Node) -> Any:
            _check_expansion(node)
            return super().construct_document(node)

    def timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
        try:
            return loader.construct_yaml_timestamp(node)
        except ValueError:
            return loader.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return Loader


def _check_expansion(root: Any) -> None:
    """Refuse YAML whose aliases expand it past ``_MAX_FRONT_MATTER_VALUES`` values, or
    make it contain itself. Each node is counted once (its size remembered), so this takes
    time in the size of the YAML, not of its expansion."""
    limit = _MAX_FRONT_MATTER_VALUES
    sizes: dict[int, int] = {}  # by id(node): the values it holds, aliases expanded
    started: set[int] = set()  # nodes whose children are being counted: the path from root
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        key = id(node)
        if children_counted:
            sizes[key] = 1 + sum(sizes[id(child)] for child in _yaml_children(node))
            started.discard(key)
            if sizes[key] > limit:
                detail = f"front matter: its aliases expand it past {limit:,} values"
                raise _Unusable("too large", detail)
        elif key in started:  # met again below itself
            raise _Unusable("malformed front matter", "an alias refers to its own anchor")
        elif key not in sizes:
            started.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _yaml_children(node))


def _yaml_children(node: Any) -> list[Any]:
    if node.id == "mapping":  # (key, value) pairs
        return [part for pair in node.value for part in pair]
    if node.id == "sequence":
        return list(node.value)
    return []  # a scalar


def _meta_title(meta: dict[str, Any]) -> str:
    value = meta.get("title")
    # YAML reads "title: 1984" as a number; it is still the title.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return " ".join(str(value).split())
    return ""


def _text_article(title: str, rest: str, meta: dict[str, Any], source: SourceFile) -> Article:
    body = _body(rest, "nothing after the title")
    published, unparsed = record_date(meta)
    article = Article(
        id=source.id_base,
        title=title,
        text=body,
        path=str(source.path),
        published=published,
        source=record_outlet(meta),
        url=record_url(meta),
        fields=record_fields(meta),
        unparsed_date=unparsed,
    )
    return _checked(article, "front matter")
