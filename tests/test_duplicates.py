"""Near-duplicate detection: signatures, band keys, components and the batch grouping."""

from __future__ import annotations

import gzip
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from search.write import minhash as dup

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
AG_NEWS = DATA / "ag_news" / "ag_news_test.jsonl.gz"
needs_data = pytest.mark.skipif(
    not AG_NEWS.exists(), reason=f"AG News not found at {AG_NEWS} (the shared data folder)"
)

STORY = (
    "The Bank of England said it provided the money market with late assistance of around "
    "550 mln stg. This takes the Bank's total help today to some 1.12 billion stg and "
    "compares with its estimated deficit of around 1.10 billion. Dealers said the market "
    "had expected further help after the morning rounds failed to clear the shortage, and "
    "rates in the interbank market eased in late trading as funds became available.\n\n"
    "Sterling was little changed against the dollar and the mark, while gilts ended the "
    "session slightly firmer on hopes of an early cut in base lending rates, traders said."
)
SAME_TOPIC = (
    "The Bank of England forecast a shortage of around 400 mln stg in the money market "
    "today. Bills maturing in official hands and the take-up of treasury bills will drain "
    "some 700 mln stg, while exchequer transactions will add around 250 mln. Bankers' "
    "balances below target will take out a further 50 mln stg, the Bank said, adding that "
    "it would review the position later in the day.\n\n"
    "Money market sources said rates were steady in early dealings."
)
UNRELATED = (
    "Arsenal keeper Jens Lehmann was left red-faced in Athens as two costly mistakes ensured "
    "that a Champions League victory slipped through his side's fingers again, with the "
    "Greek champions scoring twice in the second half to draw level after the visitors had "
    "dominated the opening hour of the match."
)


def _sig(title: str, text: str) -> np.ndarray:
    sig = dup.signature(title, text)
    assert sig is not None
    return sig


def test_exact_copy_is_a_duplicate() -> None:
    a = _sig("U.K. money market given late help", STORY)
    assert dup.is_duplicate(a, _sig("U.K. money market given late help", STORY))
    assert dup.similarity(a, a) == 1.0


def test_lightly_edited_copy_is_a_duplicate() -> None:
    edited = STORY.replace("550 mln", "560 mln").replace("little changed", "steady")
    edited = edited.rsplit("\n\n", 1)[0]  # the last paragraph dropped
    a = _sig("U.K. money market given late help", STORY)
    b = _sig("CORRECTED - Bank of England gives late help", edited)
    assert dup.is_duplicate(a, b)


def test_unrelated_and_same_topic_stories_are_not_duplicates() -> None:
    a = _sig("U.K. money market given late help", STORY)
    assert not dup.is_duplicate(a, _sig("U.K. money market shortage forecast", SAME_TOPIC))
    assert not dup.is_duplicate(a, _sig("Wenger spares Lehmann", UNRELATED))


@pytest.mark.parametrize("text", ["", "Qtly div 11 cts vs 11 cts prior", "word " * 10])
def test_too_short_text_has_no_signature(text: str) -> None:
    assert dup.signature("", text) is None


@pytest.mark.process
def test_signature_is_the_same_in_another_process() -> None:
    import subprocess
    import sys

    code = "from search.write import minhash as d; import sys; "
    code += "sys.stdout.write(d.to_bytes(d.signature('t', sys.stdin.read())).hex())"
    run = subprocess.run(
        [sys.executable, "-c", code], input=STORY, capture_output=True, text=True, check=True
    )
    assert bytes.fromhex(run.stdout) == dup.to_bytes(_sig("t", STORY))


def test_bytes_round_trip() -> None:
    sig = _sig("title", STORY)
    data = dup.to_bytes(sig)
    assert len(data) == 4 * dup.NUM_PERM
    back = dup.from_bytes(data)
    assert back.dtype == sig.dtype and np.array_equal(back, sig)
    with pytest.raises(ValueError):
        dup.from_bytes(data[:-1])


def test_band_keys_are_signed_64_bit_and_equal_for_equal_signatures() -> None:
    sig = _sig("title", STORY)
    keys = dup.band_keys(sig)
    assert len(keys) == dup.BANDS == dup.NUM_PERM // dup.ROWS
    assert all(isinstance(k, int) and -(2**63) <= k < 2**63 for k in keys)
    assert dup.band_keys(dup.from_bytes(dup.to_bytes(sig))) == keys
    assert len(set(keys)) == dup.BANDS  # the band number is folded in
    other = dup.band_keys(_sig("t", UNRELATED))
    assert not set(keys) & set(other)


def _random_graph(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    ids = [f"n{i:02d}" for i in range(rng.randint(1, 30))]
    rng.shuffle(ids)
    edges = [(rng.choice(ids), rng.choice(ids)) for _ in range(rng.randint(0, 25))]
    return ids, edges


def _brute_components(ids: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Reachability by repeated relaxation: nothing in common with union-find."""
    reach = {i: {i} for i in ids}
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            if reach[a] != reach[b]:
                merged = reach[a] | reach[b]
                for node in merged:
                    reach[node] = merged
                changed = True
    return sorted(sorted(group) for group in {frozenset(g) for g in reach.values()})


def test_components_match_brute_force_on_random_graphs() -> None:
    rng = random.Random(7)
    for _ in range(300):
        ids, edges = _random_graph(rng)
        assert dup.components(ids, edges) == _brute_components(ids, edges)


def test_components_reject_an_unknown_id() -> None:
    with pytest.raises(ValueError):
        dup.components(["a"], [("a", "b")])


def _ag_news(n: int) -> list[tuple[str, str, str]]:
    with gzip.open(AG_NEWS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in itertools.islice(f, n)]
    return [(r["id"], r["title"], r["text"]) for r in rows]


def _edited_copies(articles: list[tuple[str, str, str]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(original, copy) signatures: a new headline, a few words changed, a sentence added."""
    rng = random.Random(11)
    pairs = []
    for _id, title, text in articles:
        tokens = text.split()
        for i in rng.sample(range(len(tokens)), 2):
            tokens[i] = rng.choice(["said", "the", "new", "on"])
        copy = " ".join(tokens) + " The company declined to comment."
        a, b = dup.signature(title, text), dup.signature("UPDATE 1-" + title, copy)
        if a is not None and b is not None:
            pairs.append((a, b))
    return pairs


@needs_data
def test_near_duplicates_share_a_band() -> None:
    pairs = _edited_copies(_ag_news(400))
    sharing = sum(bool(set(dup.band_keys(a)) & set(dup.band_keys(b))) for a, b in pairs)
    duplicates = [(a, b) for a, b in pairs if dup.is_duplicate(a, b)]
    found = sum(bool(set(dup.band_keys(a)) & set(dup.band_keys(b))) for a, b in duplicates)
    assert len(pairs) > 300
    assert found >= 0.98 * len(duplicates)
    assert sharing >= 0.9 * len(pairs)


@needs_data
def test_group_matches_all_pairs_brute_force() -> None:
    articles = _ag_news(300)
    copies = [(f"{i}#copy", "UPDATE 1-" + t, x + " Reuters") for i, t, x in articles[:40:3]]
    articles += copies
    sigs = {i: s for i, t, x in articles if (s := dup.signature(t, x)) is not None}
    edges = [
        (a, b) for a, b in itertools.combinations(sigs, 2) if dup.is_duplicate(sigs[a], sigs[b])
    ]
    expected = [g for g in dup.components(list(sigs), edges) if len(g) > 1]
    assert len(expected) >= len(copies)
    assert dup.group(articles) == expected


def test_group_rejects_a_repeated_id() -> None:
    with pytest.raises(ValueError):
        dup.group([("a", "t", STORY), ("a", "t", STORY)])


# Copies that MinHash's resemblance cannot see: cut short, extended, re-headlined (issue 19)

LONG_STORY = "\n\n".join(
    [
        STORY,
        "The Bank later said the shortage had been larger than first forecast because of "
        "heavy tax payments to the exchequer, which drained funds from the banking system.",
        "Analysts in the City said the figures gave no new signal on interest rates, and "
        "that the market would look to next week's trade data for a clearer direction.",
        "Three-month interbank sterling was quoted at 10-5/8 to 10-1/2 pct, unchanged on the "
        "day, while overnight funds traded between eight and eleven pct.",
        "A spokesman for the Treasury declined to comment on the market's expectations, "
        "saying only that policy was kept under constant review by the government.",
    ]
)


def _words(title: str, text: str) -> dup.Words:
    return dup.Words.of(title, text)


def test_a_copy_cut_to_a_third_is_the_same_story_though_it_resembles_little() -> None:
    title = "U.K. money market given late help"
    short = STORY.split("\n\n")[0]
    assert dup.similarity(_sig(title, short), _sig(title, LONG_STORY)) < dup.THRESHOLD
    assert dup.same_story(_words(title, short), _words(title, LONG_STORY))
    assert set(dup.anchors(short)) & set(dup.anchors(LONG_STORY))  # so it is compared
    assert dup.group([("long", title, LONG_STORY), ("short", title, short)]) == [["long", "short"]]


def test_the_same_text_under_another_headline_or_with_a_byline_is_the_same_story() -> None:
    title = "U.K. money market given late help"
    original = _words(title, STORY)
    assert dup.same_story(original, _words("Sterling steady as Bank steps in", STORY))
    assert dup.same_story(original, _words(title, "By Jane Smith, Staff Reporter\n\n" + STORY))
    # The whole-text anchor brings a re-headlined copy to the check; white space aside.
    assert dup.anchors(STORY) == dup.anchors(" ".join(STORY.split()))


def test_same_topic_or_template_stories_are_not_the_same_story() -> None:
    story = _words("U.K. money market given late help", STORY)
    assert not dup.same_story(story, _words("U.K. money market shortage forecast", SAME_TOPIC))
    assert not dup.same_story(story, _words("Wenger spares Lehmann", UNRELATED))
    # A short text is never judged alone, however equal: the same dividend of two companies.
    dividend = "Qtly div 11 cts vs 11 cts prior Pay April 15 Record March 31"
    assert not dup.same_story(
        _words("ACME <ACM> SETS PAYOUT", dividend), _words("ZETA <ZT> SETS PAYOUT", dividend)
    )


def test_no_hand_labelled_pair_of_different_stories_is_the_same_story() -> None:
    """The real pairs read and labelled for scripts/dup_quality.py: templated reports of
    other days or companies, follow-ups, shared boilerplate. None is a copy by its words."""
    from conftest import need_shared

    records: dict[str, tuple[str, str]] = {}
    for name, parts in {
        "reuters": ("reuters21578", "reuters21578.jsonl.gz"),
        "ag": ("ag_news", "ag_news_test.jsonl.gz"),
        "bbc": ("bbc_news", "bbc_news.jsonl.gz"),
    }.items():
        with gzip.open(need_shared("data", *parts), "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                records[f"{name}:{row['id']}"] = (row["title"], row["text"])
    labels = Path(__file__).resolve().parents[1] / "scripts" / "data" / "dup_pairs.tsv"
    rows = [r.split("\t") for r in labels.read_text(encoding="utf-8").splitlines()]
    different = [(a, b) for a, b, label, _ in rows[4:] if label == "0"]
    assert len(different) == 39
    judged = [
        dup.same_story(dup.Words.of(*records[a]), dup.Words.of(*records[b])) for a, b in different
    ]
    assert not any(judged)
