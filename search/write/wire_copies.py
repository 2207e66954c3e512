"""Duplicate groups, kept in the store as articles come and go.

Wire services send the same story to many papers, and an archive holds every copy. Each
article's MinHash signature, its LSH band keys and its anchors are stored (``minhash``
makes them). A new article is compared with the articles that share a band key or an
anchor: a pair is linked when ``minhash.is_duplicate`` holds (resemblance, estimated from
the two signatures), or, for articles that share an anchor, when ``minhash.same_story``
does (the same text, or one cut from or extended into the other, counted on the words of
both; the other's text is read back from its passages). A duplicate group is a connected
component of links, named by its smallest article id (``articles.dup_group``). Removing an
article drops its links and splits its group again where it held it together. Searches
show one copy per group (``searcher.collapse``).
"""

from __future__ import annotations

from collections.abc import Iterable

from search.ingest.chunking import paragraph_text
from search.storage.database import Store
from search.write import minhash as duplicates

__all__ = ["add", "add_stored", "regroup", "removing"]


def _judged_text(title: str, text: str) -> str:
    # A title-only record's text is its title: its title is signed once, as such records are.
    return "" if text.strip() == title.strip() else text


def _stored(store: Store, article_id: str) -> tuple[str, str] | None:
    """An article's (title, text) as the store holds it: its text re-joined from its
    passages, which differs from the text it was read from only in white space."""
    row = store.article(article_id)
    if row is None:
        return None
    passages = store.article_passages(article_id)
    text = "\n\n".join(paragraph_text([(p.paragraph, p.text) for p in passages]))
    return row.title, text


def add(store: Store, article_id: str, title: str, text: str) -> None:
    """Sign a newly stored article and join it to the group of each article it copies."""
    text = _judged_text(title, text)
    article = duplicates.Words.of(title, text)
    signature = article.signature()
    if signature is None:
        return  # too short to tell a copy from a coincidence
    keys = duplicates.band_keys(signature)
    anchors = duplicates.anchors(text)
    sharing = set(store.anchor_matches(anchors)) - {article_id}
    candidates = (set(store.band_matches(keys)) - {article_id}) | sharing
    store.add_signature(article_id, duplicates.to_bytes(signature), keys)
    store.add_anchors(article_id, anchors)
    linked = []
    for other, data in sorted(store.signatures(candidates).items()):
        if duplicates.is_duplicate(signature, duplicates.from_bytes(data)):
            linked.append(other)
        elif other in sharing and (found := _stored(store, other)) is not None:
            # A shared anchor warrants the word-for-word check (a read of its text).
            if duplicates.same_story(article, duplicates.Words.of(*found)):
                linked.append(other)
    if not linked:
        return
    store.link_duplicates((article_id, other) for other in linked)
    groups = store.dup_groups(linked)
    members = {article_id, *linked}
    members.update(
        m for ms in store.group_members(g for g in groups.values() if g).values() for m in ms
    )
    store.set_group(members, min(members))


def add_stored(store: Store, article_id: str) -> None:
    """``add`` for an article already in the store, from its text as its passages hold it."""
    found = _stored(store, article_id)
    if found is not None:
        add(store, article_id, *found)


def removing(store: Store, ids: Iterable[str]) -> set[str]:
    """The groups these articles are in: call before deleting them, ``regroup`` after."""
    return {group for group in store.dup_groups(ids).values() if group}


def regroup(store: Store, groups: Iterable[str]) -> None:
    """Work out again, from the links left, the groups that lost members."""
    for members in store.group_members(groups).values():
        links = [(a, b) for a, b in store.duplicate_links(members) if b in members]
        for component in duplicates.components(sorted(members), links):
            store.set_group(component, component[0] if len(component) > 1 else None)
