"""Which words of a passage a query marks."""

from __future__ import annotations

import pytest

from search.query.highlight import highlight_spans


def marked(text: str, query: str) -> list[str]:
    return [text[s:e] for s, e in highlight_spans(text, query)]


def test_spans_are_exact_offsets_in_text_order() -> None:
    text = "US strikes on Kataib Hezbollah"
    assert highlight_spans(text, "hezbollah kataib") == [(14, 20), (21, 30)]


def test_matching_ignores_case() -> None:
    assert marked("PENTAGON said the Pentagon", "pentagon") == ["PENTAGON", "Pentagon"]
    assert marked("pentagon", "PENTAGON") == ["pentagon"]


def test_query_words_of_four_letters_or_more_also_match_as_prefixes() -> None:
    text = "A strike, then strikes; the striker struck."
    assert marked(text, "strike") == ["strike", "strikes", "striker"]
    assert marked(text, "stri") == ["strike", "strikes", "striker"]


def test_short_query_words_match_whole_words_only() -> None:
    text = "The war warned a warship; war."
    assert marked(text, "war") == ["war", "war"]


def test_prefix_match_does_not_work_backwards() -> None:
    assert marked("strike", "strikes") == []


def test_only_whole_words_of_text_start_a_match() -> None:
    # "base" begins "basement" but is not inside "database".
    assert marked("database basement base", "base") == ["basement", "base"]


def test_stopwords_in_the_query_mark_nothing() -> None:
    text = "The strike on the base and the depot"
    assert marked(text, "the strike and the base") == ["strike", "base"]


@pytest.mark.parametrize("query", ["", "   ", "the and of", "?!", "\U0001f642"])
def test_query_without_content_words_marks_nothing(query) -> None:
    assert highlight_spans("the strike and the base", query) == []


@pytest.mark.parametrize(
    "query",
    ['"kataib"', "kataib*", "kataib AND", "NEAR(kataib", "title:kataib", "(kataib)", "kataib'; --"],
)
def test_fts_syntax_in_the_query_is_harmless(query) -> None:
    assert marked("Kataib Hezbollah at the border", query) == ["Kataib"]


def test_fts_operators_are_only_words() -> None:
    assert marked("Near the border, or not", "NEAR OR NOT") == ["Near", "not"]


def test_arabic_words_are_marked() -> None:
    text = "ضربات على كتائب حزب الله"
    assert marked(text, "كتائب") == ["كتائب"]
    assert marked(text, "حزب") == ["حزب"]


def test_cyrillic_words_are_marked_ignoring_case() -> None:
    text = "Удары по базам в Ираке"
    assert marked(text, "удары базам") == ["Удары", "базам"]
    # Four letters or more: a prefix of the inflected form.
    assert marked(text, "ИРАК") == ["Ираке"]


def test_accented_latin_words_are_marked() -> None:
    assert marked("Zürich and ZÜRICH", "zürich") == ["Zürich", "ZÜRICH"]


def test_accents_and_case_fold_as_the_full_text_index_does() -> None:
    text = "Talks in Zürich on the STRASSE plan"
    assert [text[s:e] for s, e in highlight_spans(text, "zurich straße")] == ["Zürich", "STRASSE"]
