"""METEOR as the official LongLaMP scorer computes it (HF evaluate's meteor = NLTK's meteor_score over
word_tokenize, WordNet 3.0 synonyms, Porter stems), offline; and the long-generation family's scores
over all pairs and over the official scorer's kept (non-empty) pairs.

Each expected value is worked by hand from the formula
    score = (1 - 0.5 * (chunks / m) ** 3) * P * R / (0.9 * P + 0.1 * R),  P = m / |hyp|, R = m / |ref|
and is also what NLTK's own meteor_score gives on the same tokens with the same WordNet.
"""

from __future__ import annotations

import os

import pytest

from eval.meteor import meteor, sentence_splitter, word_tokenize, wordnet
from eval.metrics import METRICS, STATISTICS, family_metrics


def hand(m: int, hyp: int, ref: int, chunks: int) -> float:
    p, r = m / hyp, m / ref
    return (1 - 0.5 * (chunks / m) ** 3) * p * r / (0.9 * p + 0.1 * r)


def nltk_meteor(pred: str, gold: str) -> float:
    from nltk.translate.meteor_score import meteor_score

    return meteor_score([word_tokenize(gold)], word_tokenize(pred), wordnet=wordnet())


CASES = [
    # evaluate's own documented example (its docstring prints 0.6944); NLTK gives 25/36 on it.
    ("It is a guide to action which ensures that the military always obeys the commands of the party",
     "It is a guide to action that ensures that the military will forever heed Party commands", 25 / 36),
    # exact "a"; stem "cats"~"cat" (Porter); WordNet synonym "film"~"flick"; 3 of 4 each side,
    # chunks [a film] [cats] against the reference order: 2.
    ("a film about cats", "cat in a flick", hand(3, 4, 4, 2)),
    # NLTK looks synonyms up on the *stemmed* leftovers: "large" is "larg" by then, so "big" does not
    # match it (an implementation matching synonyms on the words would give hand(3, 3, 3, 1)).
    ("a big house", "a large house", hand(2, 3, 3, 2)),
    # identical one-word-pair: the fragmentation penalty still applies (1 chunk of 2 matches).
    ("hello world", "hello world", hand(2, 2, 2, 1)),
    # lower-cased before matching
    ("HELLO World", "hello world", hand(2, 2, 2, 1)),
    # nothing aligned, and empty sides: NLTK's ZeroDivisionError branch returns 0
    ("green tea", "black coffee", 0.0),
    ("", "a reference", 0.0),
    ("a prediction", "", 0.0),
    ("", "", 0.0),
]


@pytest.mark.parametrize("pred,gold,expected", CASES)
def test_meteor_matches_the_hand_worked_value_and_nltk(pred, gold, expected):
    assert meteor(pred, gold) == pytest.approx(expected, abs=1e-15)
    assert meteor(pred, gold) == nltk_meteor(pred.strip(), gold.strip())


def test_the_documented_evaluate_example_rounds_to_its_printed_value():
    pred, gold, _ = CASES[0]
    assert round(meteor(pred, gold), 4) == 0.6944


def test_both_sides_are_stripped_as_the_official_postprocess_does():
    assert meteor("  a film about cats \n", "\tcat in a flick ") == meteor("a film about cats", "cat in a flick")


def test_wordnet_is_the_3_0_database_read_offline():
    wn = wordnet()
    assert wn.get_version() == "3.0"
    assert [s.name() for s in wn.synsets("dog")][:2] == ["dog.n.01", "frump.n.01"]
    assert len(wn.synsets("dog")) == 8                      # 7 noun senses + 1 verb sense in WordNet 3.0
    assert "flick" in {lemma.name() for s in wn.synsets("film") for lemma in s.lemmas()}


def test_word_tokenize_splits_sentences_first_as_nltk_does():
    # The Treebank tokenizer separates a period only at the end of its input: without Punkt's
    # sentence split "came." would stay one token.
    assert word_tokenize("I came. I saw.") == ["I", "came", ".", "I", "saw", "."]
    assert word_tokenize("Mr. Smith arrived at 5 p.m. today.") == ["Mr.", "Smith", "arrived", "at", "5",
                                                                   "p.m.", "today", "."]


def test_word_tokenize_equals_nltks_reading_the_same_punkt_tab_folder(tmp_path):
    import nltk
    from nltk.tokenize.punkt import save_punkt_params

    target = tmp_path / "tokenizers" / "punkt_tab" / "english"
    target.mkdir(parents=True)
    nltk.data.path.append(str(tmp_path))
    try:
        save_punkt_params(sentence_splitter()._params, str(target))
        assert sorted(os.listdir(target)) == ["abbrev_types.txt", "collocations.tab", "ortho_context.tab",
                                              "sent_starters.txt"]
        text = ('Dr. Jones arrived at 5 p.m. on Jan. 3. He said: "It works." Then he left... '
                "Mr. Smith stayed. U.S. officials agreed.")
        assert word_tokenize(text) == nltk.word_tokenize(text)
    finally:
        nltk.data.path.remove(str(tmp_path))


# --------------------------------------------------------------------------- the long-generation family

def test_long_generation_reports_all_pairs_and_the_official_kept_pairs():
    preds = ["a film about cats", "", "hello world", "   "]
    golds = ["cat in a flick", "a gold text", "hello world", "some gold"]
    scores = family_metrics("long-generation", preds, golds)
    m = [hand(3, 4, 4, 2), 0.0, hand(2, 2, 2, 1), 0.0]
    # all four pairs count (an empty answer scores 0) ...
    assert scores["meteor"] == pytest.approx(sum(m) / 4)
    # ... the official scorer keeps pairs whose raw strings are both non-empty: "" is dropped, "   "
    # (truthy) is kept and scores 0 after stripping.
    assert scores["meteor-nonempty"] == pytest.approx(sum(m) / 3)
    assert scores["rouge-1"] == pytest.approx((0.25 + 0 + 1 + 0) / 4)   # only "a" shared (no stemmer)
    assert scores["rouge-1-nonempty"] == pytest.approx(scores["rouge-1"] * 4 / 3)
    assert scores["rouge-LSum-nonempty"] == pytest.approx(scores["rouge-LSum"] * 4 / 3)


def test_nothing_kept_scores_zero_rather_than_dividing_by_zero():
    scores = family_metrics("long-generation", ["", ""], ["x", ""])
    assert scores["meteor"] == 0.0 and scores["meteor-nonempty"] == 0.0


def test_rouge_1_and_l_read_the_same_columns_in_both_generation_families():
    preds, golds = ["the cat sat on the mat"], ["the cat lay on a mat"]
    short, long = family_metrics("generation", preds, golds), family_metrics("long-generation", preds, golds)
    assert short["rouge-1"] == long["rouge-1"] and short["rouge-L"] == long["rouge-L"]
    assert {"generation", "long-generation"} <= set(METRICS["rouge-1"].families)
    assert STATISTICS["long-generation"].per_sample[:3] == ("rouge-1", "rouge-L", "meteor")


def test_bleu_is_sacrebleus_corpus_bleu_as_evaluate_calls_it_over_all_and_over_kept_pairs():
    import sacrebleu

    preds = ["the cat sat on the mat", "", "a quick brown fox jumps", "hello"]
    golds = ["the cat is on the mat", "some gold here", "the quick brown fox jumped over", "hello there friend"]
    scores = family_metrics("long-generation", preds, golds)

    def official(p, g):   # HF evaluate's sacrebleu: references transposed, exp smoothing, 13a, case kept
        return sacrebleu.corpus_bleu(p, [g], smooth_method="exp", smooth_value=None, force=False, lowercase=False,
                                     tokenize=None, use_effective_order=False).score

    assert scores["bleu"] == pytest.approx(official(preds, golds), abs=1e-12)
    kept = [(p, g) for p, g in zip(preds, golds) if p and g]
    assert scores["bleu-nonempty"] == pytest.approx(official(*map(list, zip(*kept))), abs=1e-12)
    assert scores["bleu-nonempty"] > scores["bleu"]          # the dropped pair no longer shortens the corpus


def test_bleu_of_one_pair_by_hand():
    # 1-4-gram matches 5/6, 3/5, 1/4, 0/3 -> the zero smoothed to 1/(2*3); equal lengths: BP = 1
    expected = 100 * (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    assert family_metrics("long-generation", ["the cat sat on the mat"], ["the cat is on the mat"])["bleu"] == \
        pytest.approx(expected, abs=1e-12)


def test_a_longlamp_task_reports_its_metrics_then_the_official_extras_and_compares():
    from eval.compare import compare_predictions
    from eval.metrics import score_task
    from lamp.core.tasks import TASKS

    task = next(t for t in TASKS.values() if t.family == "long-generation")
    golds = {"a": "the cat is on the mat", "b": "some gold here", "c": "the quick brown fox jumped over"}
    preds = {"a": "the cat sat on the mat", "b": "", "c": "a quick brown fox jumps"}
    scores = score_task(task, golds, preds)
    assert list(scores)[:3] == list(task.metrics)
    assert {"bleu", "bleu-nonempty", "meteor-nonempty", "rouge-2", "rouge-LSum"} <= set(scores)
    other = dict(preds, b="some gold")
    c = compare_predictions(golds, preds, other, task.name, 200, 0)
    assert c.to_dict()                                         # bootstrap and randomization over every metric


def test_rouge_2_and_rouge_lsum_by_hand():
    # bigrams (the cat)(cat sat) against (the cat)(cat ran): P = R = 1/2
    assert family_metrics("long-generation", ["the cat sat"], ["the cat ran"])["rouge-2"] == pytest.approx(0.5)
    # sentences are lines: the LCS over the whole text finds 2 of 4 tokens in order, the summary-level
    # union LCS matches each gold line with its twin line: 4 of 4
    scores = family_metrics("long-generation", ["c d\na b"], ["a b\nc d"])
    assert scores["rouge-L"] == pytest.approx(0.5) and scores["rouge-LSum"] == pytest.approx(1.0)
