"""Reciprocal rank fusion against hand-computed rankings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.query.fusion import RRF_K, reciprocal_rank_fusion, score_fusion


def ranking(*ids: int) -> list[tuple[int, float]]:
    """A ranking of ``ids``, best first; the scores are there only to be ignored."""
    return [(item, 100.0 - rank) for rank, item in enumerate(ids)]


def test_fused_scores_are_sums_of_reciprocal_ranks() -> None:
    lexical = ranking(10, 20, 30)
    semantic = ranking(30, 40, 10)
    fused = reciprocal_rank_fusion([lexical, semantic])
    assert RRF_K == 60
    # Both pairs tie exactly; within each, the id at rank 1 (then 2) of the first list leads.
    assert fused == [
        (10, 1 / (60 + 1) + 1 / (60 + 3)),
        (30, 1 / (60 + 3) + 1 / (60 + 1)),
        (20, 1 / (60 + 2)),
        (40, 1 / (60 + 2)),
    ]


def test_input_scores_are_ignored() -> None:
    fused = reciprocal_rank_fusion([[(1, 0.001), (2, 999.0)]])
    assert fused == [(1, 1 / 61), (2, 1 / 62)]


def test_k_changes_the_damping() -> None:
    fused = reciprocal_rank_fusion([ranking(7, 3), ranking(3)], k=1)
    assert fused == [(3, 1 / (1 + 2) + 1 / (1 + 1)), (7, 1 / (1 + 1))]


def test_weights_scale_each_list() -> None:
    fused = reciprocal_rank_fusion([ranking(1, 2), ranking(2, 1)], weights=[3.0, 1.0])
    assert fused == [(1, 3 / (60 + 1) + 1 / (60 + 2)), (2, 3 / (60 + 2) + 1 / (60 + 1))]
    # Equal weights would have tied them; the heavier list decides.
    assert [item for item, _ in fused] == [1, 2]


def test_zero_weight_list_adds_ids_but_no_score() -> None:
    fused = reciprocal_rank_fusion([ranking(1), ranking(2)], weights=[1.0, 0.0])
    assert fused == [(1, 1 / 61), (2, 0.0)]


def test_id_in_only_one_list_scores_from_that_list_alone() -> None:
    fused = dict(reciprocal_rank_fusion([ranking(1, 2, 3), ranking(3, 1)]))
    assert fused[2] == pytest.approx(1 / (60 + 2))
    assert fused[3] == pytest.approx(1 / (60 + 3) + 1 / (60 + 1))


def test_ties_go_to_the_better_rank_before_the_earlier_list() -> None:
    # 5 is at rank 2 of list 0 and 9 at rank 1 of list 1; the weights make both 1.0.
    fused = reciprocal_rank_fusion([ranking(4, 5), ranking(9)], weights=[62.0, 61.0])
    assert fused == [(4, 62 / 61), (9, 1.0), (5, 1.0)]


def test_ties_at_the_same_rank_go_to_the_earlier_list() -> None:
    fused = reciprocal_rank_fusion([ranking(1, 2), ranking(3, 4), ranking(5)])
    assert [item for item, _ in fused] == [1, 3, 5, 2, 4]


@pytest.mark.parametrize("rankings", [[], [[]], [[], []]])
def test_empty_input_gives_empty_ranking(rankings) -> None:
    assert reciprocal_rank_fusion(rankings) == []


def test_one_empty_list_leaves_the_other_as_it_was() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[], ranking(3, 1, 2)])] == [3, 1, 2]


@pytest.mark.parametrize("weights", [[], [1.0], [1.0, 1.0, 1.0]])
def test_one_weight_per_ranking_is_required(weights) -> None:
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([ranking(1), ranking(2)], weights=weights)


# Properties.

_RANKINGS = st.lists(
    st.lists(st.integers(min_value=0, max_value=30), unique=True, max_size=15).map(
        lambda ids: ranking(*ids)
    ),
    max_size=5,
)


def _ids(rankings: list[list[tuple[int, float]]]) -> set[int]:
    return {item for r in rankings for item, _ in r}


@settings(max_examples=200, deadline=None)
@given(rankings=_RANKINGS, data=st.data())
def test_equal_weights_make_list_order_irrelevant(rankings, data) -> None:
    shuffled = data.draw(st.permutations(rankings))
    fused = reciprocal_rank_fusion(rankings)
    refused = reciprocal_rank_fusion(shuffled)
    # Scores agree id by id (up to the order of float additions); only ties may reorder.
    assert dict(refused) == pytest.approx(dict(fused))
    assert sorted(s for _, s in refused) == pytest.approx(sorted(s for _, s in fused))


@settings(max_examples=200, deadline=None)
@given(rankings=_RANKINGS)
def test_result_is_sorted_best_first_with_each_id_once(rankings) -> None:
    fused = reciprocal_rank_fusion(rankings)
    ids = [item for item, _ in fused]
    assert len(ids) == len(set(ids))
    assert set(ids) == _ids(rankings)
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)


@settings(max_examples=200, deadline=None)
@given(rankings=_RANKINGS)
def test_fusion_is_deterministic(rankings) -> None:
    copy = [list(r) for r in rankings]
    assert reciprocal_rank_fusion(rankings) == reciprocal_rank_fusion(copy)


@settings(max_examples=200, deadline=None)
@given(rankings=_RANKINGS)
def test_scores_match_the_definition(rankings) -> None:
    expected: dict[int, float] = {}
    for r in rankings:
        for rank, (item, _) in enumerate(r, start=1):
            expected[item] = expected.get(item, 0.0) + 1 / (RRF_K + rank)
    assert dict(reciprocal_rank_fusion(rankings)) == pytest.approx(expected)


# Score fusion (normalised scores, weighted).


def test_minmax_fusion_by_hand() -> None:
    dense = [(1, 0.9), (2, 0.6), (3, 0.3)]  # normalised: 1.0, 0.5, 0.0
    lexical = [(3, 12.0), (4, 4.0)]  # normalised: 1.0, 0.0
    fused = dict(score_fusion([dense, lexical], weights=[0.6, 0.4]))
    assert fused[1] == pytest.approx(0.6 * 1.0 + 0.4 * 0.0)
    assert fused[2] == pytest.approx(0.6 * 0.5)
    assert fused[3] == pytest.approx(0.6 * 0.0 + 0.4 * 1.0)
    assert fused[4] == pytest.approx(0.0)
    assert [i for i, _ in score_fusion([dense, lexical], weights=[0.6, 0.4])] == [1, 3, 2, 4]


def test_zscore_fusion_by_hand() -> None:
    dense = [(1, 3.0), (2, 1.0)]  # mean 2, deviation 1: +1, -1
    lexical = [(2, 10.0), (3, 4.0), (4, 1.0)]  # mean 5, deviation sqrt(14): 5/3.742, ...
    deviation = (((10 - 5) ** 2 + (4 - 5) ** 2 + (1 - 5) ** 2) / 3) ** 0.5
    fused = dict(score_fusion([dense, lexical], weights=[0.5, 0.5], normalization="zscore"))
    assert fused[1] == pytest.approx(0.5 * 1.0 + 0.5 * (1 - 5) / deviation)  # absent: lowest
    assert fused[2] == pytest.approx(0.5 * -1.0 + 0.5 * (10 - 5) / deviation)
    assert fused[4] == pytest.approx(0.5 * -1.0 + 0.5 * (1 - 5) / deviation)


def test_score_fusion_edge_cases() -> None:
    assert score_fusion([[], []]) == []
    assert score_fusion([[(7, 2.0)], []]) == [(7, 0.5)]  # one score: top of its list
    with pytest.raises(ValueError):
        score_fusion([[(1, 1.0)]], weights=[0.5, 0.5])
    with pytest.raises(ValueError):
        score_fusion([[(1, 1.0)]], normalization="softmax")


def _reference_score_fusion(rankings, weights, normalization):
    """Score fusion written out plainly, one id at a time: the vectorised one must agree."""
    from search.query.fusion import _normalise

    first_seen: dict[int, tuple[int, int]] = {}
    for which, ranking in enumerate(rankings):
        for rank, (item, _score) in enumerate(ranking, start=1):
            first_seen.setdefault(item, (rank, which))
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        normalised, floor = _normalise([s for _, s in ranking], normalization)
        present = dict(zip((i for i, _ in ranking), normalised, strict=True))
        for item in first_seen:
            scores[item] = scores.get(item, 0.0) + weight * present.get(item, floor)
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))


@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 40), st.sampled_from([0.0, 0.5, 1.0, 2.0, 0.25, 0.3])),
            max_size=25,
            unique_by=lambda pair: pair[0],
        ),
        max_size=3,
    ),
    st.sampled_from(["minmax", "zscore"]),
    st.data(),
)
def test_score_fusion_equals_the_plain_reference(rankings, normalization, data) -> None:
    rankings = [sorted(r, key=lambda pair: -pair[1]) for r in rankings]
    weights = [data.draw(st.floats(0, 1)) for _ in rankings]
    expected = _reference_score_fusion(rankings, weights, normalization)
    assert score_fusion(rankings, weights=weights, normalization=normalization) == expected
