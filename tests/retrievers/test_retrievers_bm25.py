"""bm25: the same scores and the same order as rank_bm25 0.2.2 BM25Okapi (the official ranking)."""

from __future__ import annotations

import math
import random
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from retrievers import bm25
from retrievers.bm25 import bm25_rank, bm25_scores, rank_stream


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def implementation(request, monkeypatch):
    """Every test runs on the C extension and on the numpy fallback; both must be rank_bm25 to the bit."""
    if request.param == "numpy":
        monkeypatch.setattr(bm25, "_compiled", None)
    elif bm25._compiled is None:
        pytest.skip("the C extension retrievers._bm25_c is not built (no C compiler at install)")
    return request.param


def official(query: str, docs: list[str]) -> tuple[np.ndarray, list[int]]:
    bm25 = BM25Okapi([d.split() for d in docs])
    scores = bm25.get_scores(query.split())
    return scores, list(np.argsort(scores)[::-1])


def assert_same(batch):
    for (query, docs), scores, order in zip(batch, bm25_scores(batch), bm25_rank(batch)):
        ref_scores, ref_order = official(query, docs)
        assert scores.tobytes() == ref_scores.tobytes(), (query, docs, scores, ref_scores)
        assert order.tolist() == ref_order, (query, docs)


def test_hand_worked_scores_with_negative_idf_floor():
    docs = ["x y", "x z z", "w"]
    # N=3, avgdl=2; idf(x)=ln(1.5)-ln(2.5)<0 is floored to 0.25 * mean idf over x, y, z, w.
    idf_pos = math.log(2.5) - math.log(1.5)
    eps = 0.25 * ((math.log(1.5) - math.log(2.5)) + 3 * idf_pos) / 4
    k_doc0 = 1.5 * (1 - 0.75 + 0.75 * 2 / 2)
    k_doc1 = 1.5 * (1 - 0.75 + 0.75 * 3 / 2)
    expected = [eps * (1 * 2.5 / (1 + k_doc0)),
                idf_pos * (2 * 2.5 / (2 + k_doc1)) + eps * (1 * 2.5 / (1 + k_doc1)),
                0.0]
    scores = bm25_scores([("z x", docs)])[0]
    assert scores.tolist() == pytest.approx(expected, rel=1e-15)
    assert bm25_rank([("z x", docs)])[0].tolist() == [1, 0, 2]
    assert_same([("z x", docs)])


def test_ties_follow_numpy_argsort_reversed():
    # All scores equal: argsort(zeros) is [0, 1, 2, 3], reversed -> the last item first.
    docs = ["a b", "a b", "a b", "a b"]
    assert bm25_rank([("zzz", docs)])[0].tolist() == [3, 2, 1, 0]
    assert_same([("zzz", docs), ("a", docs), ("b b a", docs)])


def test_repeated_query_words_count_each_time():
    docs = ["cat dog", "dog dog bird", "fish"]
    once, twice = bm25_scores([("dog", docs), ("dog dog", docs)])
    assert np.all(twice[:2] > once[:2])
    assert_same([("dog", docs), ("dog dog", docs), ("dog bird dog", docs)])


def test_whitespace_is_str_split_including_unicode_and_edges():
    docs = ["  lead\ttab\nnew  ", "\u3000ideo\u00a0nbsp\x1cfs ", "", " ", "x\u2028y\x85z", "dup  dup"]
    assert_same([("lead ideo nbsp y dup fs", docs), ("", docs)])


def test_lone_surrogates_from_json_escapes_are_words_like_any_other():
    import json

    docs = json.loads('["a \\ud800b c", "\\ud800b a \\udfff", "c c"]')
    assert_same([("\ud800b c", docs), ("\udfff a", docs)])


def test_whitespace_tables_are_exactly_the_code_points_str_split_splits_on():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert "".join(spaces) == bm25.ASCII_SPACE + bm25.UNICODE_SPACE
    assert all(f"a{c}b".split() == ["a", "b"] for c in spaces)


def test_tokens_agree_with_str_split_on_every_code_point():
    # Each text holds one code point as a word byte, a separator or both; the token counts and
    # the identity of the tokens (equal codes <=> equal strings) must match str.split().
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and (c < 0x3100 or c % 97 == 0)]
    cps += [0xD800, 0xDFFF] + [c for c in range(0x110000) if chr(c).isspace()]
    texts = [f" a{chr(c)}b{chr(c)}{chr(c)}c " for c in cps]
    code0, code1, per_text = bm25._tokenize(texts)
    expected = [t.split() for t in texts]
    assert per_text.tolist() == [len(e) for e in expected]
    words = [w for e in expected for w in e]
    ids: dict[tuple[int, int], str] = {}
    for w, c in zip(words, zip(code0.tolist(), code1.tolist())):
        assert ids.setdefault(c, w) == w, (c, w, ids[c])
    assert len(ids) == len(set(words))


def test_tokens_of_every_length_and_with_nul_bytes_are_told_apart_exactly():
    base = "abcdefghijklmnopqrstuvwxyz0123456789" * 3
    words = [base[:n] for n in range(1, 100)] + [base[:n] + "\0" for n in range(0, 40)]
    words += ["\0\0", "\x01\x02", "é" * 9, "é" * 8, "\U0001f600" * 5]
    code0, code1, per_text = bm25._tokenize(words + [" ".join(words)])
    assert per_text.tolist() == [1] * len(words) + [len(words)]
    codes = list(zip(code0.tolist(), code1.tolist()))
    assert len(set(codes[:len(words)])) == len(set(words)) == len(words)
    assert codes[:len(words)] == codes[len(words):]
    docs = [" ".join(words[i::3]) for i in range(3)] + [" ".join(words[::-1][:50])]
    assert_same([(" ".join(words[::7]), docs), (base[:20] + " " + base[:20] + "\0", docs)])


def test_hash_collisions_are_resolved_exactly(monkeypatch):
    # With 2 hash bits almost every pair of words collides; codes keep them apart, and query words
    # step through the colliding words of their profile.
    monkeypatch.setattr(bm25, "HASH_BITS", 2)
    rnd = random.Random(11)
    words = [f"w{i}" for i in range(40)] + ["a-rather-long-token-over-15-bytes", "mediumtoken12"]
    batch = []
    for _ in range(12):
        docs = [" ".join(rnd.choices(words, k=rnd.randint(1, 12))) for _ in range(rnd.randint(1, 12))]
        batch.append((" ".join(rnd.choices(words, k=rnd.randint(1, 10))), docs))
    assert_same(batch)


def test_profile_without_any_word_scores_zero_where_the_library_divides_by_zero():
    with pytest.raises(ZeroDivisionError):
        BM25Okapi([[], []])
    assert bm25_scores([("a", ["", "  "])])[0].tolist() == [0.0, 0.0]
    assert bm25_rank([("a", ["", "  "])])[0].tolist() == [1, 0]


def test_batches_mixing_profiles_give_each_its_own_statistics():
    rnd = random.Random(7)
    words = [f"w{i}" for i in range(12)]
    batch = []
    for _ in range(30):
        docs = [" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 9))) for _ in range(rnd.randint(1, 9))]
        batch.append((" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6))), docs))
    assert_same(batch)


def test_two_hundred_short_profiles_identical_order_not_just_close_scores():
    rnd = random.Random(2024)
    vocab = [f"t{i}" for i in range(60)]
    weights = [1 / (i + 1) for i in range(60)]
    batch = []
    for _ in range(200):
        docs = [" ".join(rnd.choices(vocab, weights, k=rnd.randint(3, 25))) for _ in range(rnd.randint(2, 30))]
        batch.append((" ".join(rnd.choices(vocab, weights, k=rnd.randint(1, 30))), docs))
    assert_same(batch)


def test_worker_processes_give_the_same_rankings():
    rnd = random.Random(3)
    words = ["a", "b", "c", "d", "e"]
    batches = [[(" ".join(rnd.choices(words, k=4)),
                 [" ".join(rnd.choices(words, k=rnd.randint(1, 6))) for _ in range(rnd.randint(1, 7))])
                for _ in range(5)] for _ in range(4)]
    serial = list(rank_stream(batches, workers=1))
    parallel = list(rank_stream(batches, workers=2))           # a list: forked workers inherit it
    sent = list(rank_stream(iter(batches), workers=2))         # an iterator: batches are sent
    assert serial == parallel == sent
    assert not bm25._INHERITED
    assert serial[0][0] == official(*batches[0][0])[1]


WORD = st.sampled_from(["a", "b", "c", "a.", "B", "ü", "dd"])
SPACE = st.sampled_from([" ", "  ", "\t", "\n", " \u3000"])


@st.composite
def texts(draw, max_words=8):
    words = draw(st.lists(WORD, max_size=max_words))
    seps = draw(st.lists(SPACE, min_size=len(words) + 1, max_size=len(words) + 1))
    return "".join(s + w for s, w in zip(seps, words)) + seps[-1]


@st.composite
def profiles(draw):
    docs = draw(st.lists(texts(), min_size=1, max_size=10))
    if not any(d.split() for d in docs):       # the library cannot build an index without words
        docs.append("a")
    return draw(texts(max_words=6)), docs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(profiles(), min_size=1, max_size=4))
def test_random_small_profiles_with_ties_and_repeats_match_bm25okapi(batch):
    assert_same(batch)


# Words mixing ASCII, accents, CJK, emoji, a lone surrogate, control bytes and 8-20 byte words;
# separators mixing ASCII and non-ASCII whitespace, so both tokenizer paths run.
ODD_WORD = st.sampled_from(["a", "é", "ü.", "日本", "\U0001f600", "\ud800x", "x\x00", "\x1b[0m", "e\u0301",
                            "longerword", "longerwords-and-more", "\u2013", "“q”", "a\u200bb"])
ODD_SPACE = st.sampled_from([" ", "\n", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2002", "\u200a",
                             "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", " \t\u3000 "])


@st.composite
def odd_texts(draw, max_words=8):
    words = draw(st.lists(ODD_WORD | st.text(min_size=1, max_size=20).filter(lambda t: t.split() == [t]),
                          max_size=max_words))
    seps = draw(st.lists(ODD_SPACE, min_size=len(words) + 1, max_size=len(words) + 1))
    return "".join(s + w for s, w in zip(seps, words)) + seps[-1]


@st.composite
def odd_profiles(draw):
    docs = draw(st.lists(odd_texts(), min_size=1, max_size=8))
    if not any(d.split() for d in docs):
        docs.append("a")
    if draw(st.booleans()):                     # an all-ASCII profile in the same batch
        docs = [" ".join(d.encode("ascii", "replace").decode().split()) or "a" for d in docs]
    return draw(odd_texts(max_words=6)), docs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(odd_profiles(), min_size=1, max_size=4))
def test_random_non_ascii_profiles_with_unusual_whitespace_match_bm25okapi(batch):
    assert_same(batch)


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "bench_rank_profiles.py"
    spec = importlib.util.spec_from_file_location("bench_rank_profiles", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("shape", ["lamp4", "small-vocab", "long-docs", "text"])
def test_every_benchmark_shape_matches_bm25okapi(shape, tmp_path):
    import json

    bench = _bench()
    data = tmp_path / "q.json"
    bench.make_questions(data, 6, seed=5, corpus_words=30_000, shape=shape)
    questions = json.loads(data.read_text())
    batch = [(q["input"].split("article:", 1)[1].strip(), [f"{x['title']} {x['text']}" for x in q["profile"]])
             for q in questions]
    if shape == "text":
        assert any(not d.isascii() for _, docs in batch for d in docs)
    assert_same(batch)


def test_empty_duplicate_and_single_documents_and_queries_without_a_match():
    docs = ["b a", "", "b a", "c", "", "a a a b"]
    assert_same([("a b", docs), ("zz yy", docs), ("a", ["a b"]), ("q", ["a b"]), ("a", ["", "a"]),
                 ("é ü", ["é", "ü é", "", "é"]), ("日本 語", ["日本", "語 日本 日本"])])


def test_the_same_word_stored_with_one_two_or_four_bytes_per_character_is_one_word():
    # "é" alone is stored one byte per character, next to "日" two, next to an emoji four.
    docs = ["é x", "é 日", "é \U0001f600", "y é"]
    assert_same([("é", docs), ("é \U0001f600 日", docs)])


def test_a_document_that_is_not_a_string_is_named():
    with pytest.raises((TypeError, AttributeError)):
        bm25_scores([("a", ["a", 3])])
