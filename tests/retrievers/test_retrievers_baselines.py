"""recency, random, none and rrf on hand-worked profiles, plus the registry lookup."""

from __future__ import annotations

import pytest

from lamp.core.errors import LampDataError, LampError
from lamp.core.records import ProfileItem
from retrievers import get_retriever
from retrievers.base import Query
from retrievers.baselines import question_seed
from retrievers.fusion import rrf_order


def q(qid: str, dates: list[str | None], text: str = "", docs: list[str] | None = None) -> Query:
    items = [ProfileItem(id=f"{qid}-{i}", date=d, text=(docs[i] if docs else f"doc {i}")) for i, d in enumerate(dates)]
    return Query(qid, text, items, docs or [f"doc {i}" for i in range(len(dates))])


def test_recency_newest_first_and_equal_dates_later_item_first():
    query = q("1", ["2020-01-05", "2021-3-1", "2020-01-05", "2019", "2021-03-01"])
    # ascending stable: 3 (2019), 0, 2 (2020-1-5), 1, 4 (2021-3-1); reversed:
    assert get_retriever("recency").rank_batch([query]) == [[4, 1, 2, 0, 3]]


def test_recency_compares_date_parts_as_numbers_not_strings():
    query = q("1", ["2020-9-1", "2020-10-1"])
    assert get_retriever("recency").rank_batch([query]) == [[1, 0]]


@pytest.mark.parametrize("bad", [None, "", "March 2020"])
def test_recency_names_the_item_with_a_missing_or_bad_date(bad):
    with pytest.raises(LampDataError) as err:
        get_retriever("recency").rank_batch([q("7", ["2020-01-01", bad])])
    assert err.value.record_id == "7-1" and err.value.field == "date" and "'7'" in str(err.value)


def test_random_is_a_full_permutation_fixed_by_question_id_and_seed():
    r0, r0b, r1 = get_retriever("random", seed=0), get_retriever("random", seed=0), get_retriever("random", seed=1)
    queries = [q(str(i), ["2020"] * 12) for i in range(5)]
    a, b, c = r0.rank_batch(queries), r0b.rank_batch(queries), r1.rank_batch(queries)
    assert a == b and a != c
    assert all(sorted(order) == list(range(12)) for order in a)
    assert len({tuple(o) for o in a}) == 5          # different questions, different orders
    assert question_seed("5", 0) == question_seed("5", 0) != question_seed("5", 1)


def test_none_keeps_file_order_and_is_flagged_profile_blind():
    r = get_retriever("none")
    assert r.profile_blind and r.rank_batch([q("1", ["2020"] * 3)]) == [[0, 1, 2]]
    assert not get_retriever("bm25").profile_blind


def test_rrf_hand_worked_scores():
    # item 0: 1/61 + 1/63; item 1: 1/62 + 1/61; item 2: 1/63 + 1/62 -> 1, 0, 2
    assert rrf_order([[0, 1, 2], [1, 2, 0]], 3, k=60) == [1, 0, 2]
    # equal fused scores keep profile order
    assert rrf_order([[0, 1], [1, 0]], 2) == [0, 1]


def test_rrf_fuses_registered_retrievers():
    query = q("1", ["2019", "2021", "2020"], text="apple", docs=["apple apple", "pear", "plum"])
    fused = get_retriever("rrf", members="bm25,recency", workers=1).rank_batch([query])
    bm25 = get_retriever("bm25", workers=1).rank_batch([query])[0]
    rec = get_retriever("recency").rank_batch([query])[0]
    assert fused == [rrf_order([bm25, rec], 3)]


def test_unknown_ranker_suggests_the_closest_name():
    with pytest.raises(LampError, match="Did you mean 'bm25'"):
        get_retriever("bm52")
    with pytest.raises(LampError, match="cannot fuse itself"):
        get_retriever("rrf", members="rrf")
