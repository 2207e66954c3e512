"""Duplicate groups, kept in the store as articles come and go.

Wire services send the same story to many papers, and an archive holds every copy. Each
article's MinHash signature and its LSH band keys are stored (``duplicates`` makes them);
a new article is compared with the articles that share a band key, and each pair whose
estimated Jaccard reaches ``duplicates.THRESHOLD`` is stored as a link. A duplicate group is
a connected component of links, named by its smallest article id (``articles.dup_group``).
Removing an article drops its links and splits its group again where it held it together.
Searches show one copy per group (``searcher.collapse``).
"""

from __future__ import annotations

from collections.abc import Iterable

from search.storage.database import Store
from search.write import minhash as duplicates

__all__ = ["add", "regroup", "removing"]


def add(store: Store, article_id: str, title: str, text: str) -> None:
    """Sign a newly stored article and join it to the group of each article it copies."""
    # A title-only record's text is its title: sign the title once, as such records are.
    signature = duplicates.signature(title, "" if text.strip() == title.strip() else text)
    if signature is None:
        return  # too short to tell a copy from a coincidence
    keys = duplicates.band_keys(signature)
    candidates = [c for c in store.band_matches(keys) if c != article_id]
    store.add_signature(article_id, duplicates.to_bytes(signature), keys)
    if not candidates:
        return
    known = store.signatures(candidates)
    linked = [
        other
        for other, data in known.items()
        if duplicates.is_duplicate(signature, duplicates.from_bytes(data))
    ]
    if not linked:
        return
    store.link_duplicates((article_id, other) for other in linked)
    groups = store.dup_groups(linked)
    members = {article_id, *linked}
    members.update(
        m for ms in store.group_members(g for g in groups.values() if g).values() for m in ms
    )
    store.set_group(members, min(members))


def removing(store: Store, ids: Iterable[str]) -> set[str]:
    """The groups these articles are in: call before deleting them, ``regroup`` after."""
    return {group for group in store.dup_groups(ids).values() if group}


def regroup(store: Store, groups: Iterable[str]) -> None:
    """Work out again, from the links left, the groups that lost members."""
    for members in store.group_members(groups).values():
        links = [(a, b) for a, b in store.duplicate_links(members) if b in members]
        for component in duplicates.components(sorted(members), links):
            store.set_group(component, component[0] if len(component) > 1 else None)
