"""The official LaMP metrics, pinned by hand-worked values and every edge case (reference §5.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score

from eval.metrics import (IdMismatchError, classification_metrics, generation_metrics, golds_outside_labels,
                          per_sample_scores, rating_metrics, sample_stats, score_task, task_stats, worst_rating)
from lamp.core.errors import LampDataError
from lamp.core.tasks import MOVIE_TAGS, NEWS_CATEGORIES, get_task

L1 = ("[1]", "[2]")


# --------------------------------------------------------------------------- classification

def test_classification_hand_worked_accuracy_and_macro_f1():
    # indices: preds [0, 1, 1, -1], golds [0, 1, 0, 1]
    m = classification_metrics(["[1]", " [2]\n", "[2]", "1"], ["[1]", "[2]", "[1]", "[2]"], L1)
    assert m["accuracy"] == 0.5
    # [1]: tp 1, fn 1 -> 2/3;  [2]: tp 1, fp 1, fn 1 (the "1" is a miss of the gold class) -> 1/2
    assert m["f1"] == pytest.approx((2 / 3 + 1 / 2) / 2, abs=1e-15)


def test_wrong_case_is_not_a_match_and_absent_labels_count_f1_zero():
    m = classification_metrics(["Sci-Fi", "comedy"], ["sci-fi", "comedy"], MOVIE_TAGS)
    assert m["accuracy"] == 0.5
    assert m["f1"] == pytest.approx(1 / 15, abs=1e-15)     # only "comedy" scores, 14 labels count 0


def test_one_sample_right_still_averages_the_absent_label():
    m = classification_metrics(["[2]"], ["[2]"], L1)
    assert m == {"accuracy": 1.0, "f1": 0.5}


def test_all_wrong_gives_zero():
    assert classification_metrics(["[2]", "[1]"], ["[1]", "[2]"], L1) == {"accuracy": 0.0, "f1": 0.0}


def test_label_outside_list_and_empty_prediction_count_against_gold_class():
    m = classification_metrics(["[3]", "", "[1]"], ["[1]", "[2]", "[1]"], L1)
    assert m["accuracy"] == pytest.approx(1 / 3)
    # [1]: tp 1, fn 1 -> 2/3; [2]: fn 1 -> 0
    assert m["f1"] == pytest.approx(1 / 3)


def test_prediction_with_explanation_is_not_extracted():
    assert classification_metrics(["[1] because of the title"], ["[1]"], L1)["accuracy"] == 0.0


def test_gold_outside_labels_matches_any_unknown_prediction_official_quirk():
    golds = {"a": "not a label", "b": "[1]"}
    m = score_task("LaMP-1", golds, {"a": "also unknown", "b": "[1]"})
    assert m["accuracy"] == 1.0          # -1 == -1, as the official scorer counts it
    assert m["f1"] == 0.5
    assert golds_outside_labels("LaMP-1", golds) == ["a"]


def test_lamp2_old_uses_the_news_category_list():
    task = get_task("LaMP-2-old")
    assert task.labels == NEWS_CATEGORIES
    m = score_task(task, {"1": "sports", "2": "crime"}, {"1": "sports", "2": "women"})
    assert m["accuracy"] == 0.5
    assert m["f1"] == pytest.approx(1 / 15)


def test_classification_matches_sklearn_on_random_data():
    rng = np.random.default_rng(7)
    labels = list(MOVIE_TAGS)
    pool = labels + ["Sci-Fi", "unknown", "", " comedy "]
    golds = [labels[i] for i in rng.integers(0, len(labels), 300)]
    preds = [pool[i] for i in rng.integers(0, len(pool), 300)]
    m = classification_metrics(preds, golds, labels)

    def index(x: str) -> int:
        return labels.index(x.strip()) if x.strip() in labels else -1

    p, g = [index(x) for x in preds], [index(x) for x in golds]
    assert m["accuracy"] == pytest.approx(accuracy_score(g, p), abs=1e-12)
    assert m["f1"] == pytest.approx(f1_score(g, p, labels=list(range(15)), average="macro", zero_division=0),
                                    abs=1e-12)


# --------------------------------------------------------------------------- rating

def test_rating_hand_worked_with_unparseable_predictions():
    golds = ["4", "3", "1", "5", "2"]
    preds = ["4.0", "abc", "nan", "", " 2 "]
    # errors: 0; "abc" on 3 -> 5.0 (tie goes to 5) -> 2; "nan" on 1 -> 5.0 -> 4; "" on 5 -> 1.0 -> 4; 0
    m = rating_metrics(preds, golds)
    assert m["MAE"] == 2.0
    assert m["RMSE"] == pytest.approx(math.sqrt(36 / 5), abs=1e-15)


@pytest.mark.parametrize("gold, worst", [(1, 5.0), (2, 5.0), (3, 5.0), (4, 1.0), (5, 1.0), (2.5, 5.0), (3.5, 1.0)])
def test_worst_case_is_the_far_end_of_the_scale(gold, worst):
    assert worst_rating(gold) == worst


def test_out_of_range_kept_and_infinity_takes_worst_case():
    assert rating_metrics(["7"], ["5"]) == {"MAE": 2.0, "RMSE": 2.0}      # [QUIRK] kept as is
    assert rating_metrics(["inf"], ["5"]) == {"MAE": 4.0, "RMSE": 4.0}    # official crashes in sklearn
    assert rating_metrics(["1e0", "4.5"], ["1", "4"]) == {"MAE": 0.25, "RMSE": math.sqrt(0.125)}


def test_unparseable_gold_rating_names_the_record():
    with pytest.raises(LampDataError, match="'q2'.*output"):
        score_task("LaMP-3", {"q1": "3", "q2": "three"}, {"q1": "3", "q2": "3"})


# --------------------------------------------------------------------------- generation

def test_rouge_hand_worked():
    # gold tokens the cat sat on the mat (6), pred the cat sat (3): overlap 3 -> P 1, R 1/2, F 2/3
    m = generation_metrics(["the cat sat"], ["The cat sat on the mat"])
    assert m["rouge-1"] == pytest.approx(2 / 3, abs=1e-15)
    assert m["rouge-L"] == pytest.approx(2 / 3, abs=1e-15)


def test_rouge_l_depends_on_order_rouge_1_does_not():
    m = generation_metrics(["d c b a"], ["a b c d"])
    assert m["rouge-1"] == 1.0
    assert m["rouge-L"] == 0.25


def test_rouge_is_the_plain_mean_over_samples():
    m = generation_metrics(["the cat sat", "exact title", ""], ["The cat sat on the mat", "Exact  title!", "x"])
    assert m["rouge-1"] == pytest.approx((2 / 3 + 1 + 0) / 3, abs=1e-15)


def test_non_ascii_text_is_dropped_by_the_tokenizer():
    # Chinese has no [a-z0-9] token: identical text scores 0; accents split words ("héllo" -> "h llo")
    assert generation_metrics(["中文标题"], ["中文标题"]) == {"rouge-1": 0.0, "rouge-L": 0.0}
    assert generation_metrics(["hello world"], ["héllo wörld"])["rouge-1"] == 0.0
    assert generation_metrics(["h llo"], ["héllo"])["rouge-1"] == 1.0


def test_empty_prediction_scores_zero():
    assert generation_metrics(["", "   "], ["a title", "another"]) == {"rouge-1": 0.0, "rouge-L": 0.0}


def test_generation_matches_rouge_score_directly():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    golds = ["Running faster than ever", "A study of cats and dogs", "Élan vital"]
    preds = ["runs faster", "a study of dogs and cats", "elan"]
    want1 = np.mean([scorer.score(g, p)["rouge1"].fmeasure for g, p in zip(golds, preds)])
    wantl = np.mean([scorer.score(g, p)["rougeL"].fmeasure for g, p in zip(golds, preds)])
    m = generation_metrics(preds, golds)
    assert m["rouge-1"] == pytest.approx(want1, abs=1e-12)
    assert m["rouge-L"] == pytest.approx(wantl, abs=1e-12)
    assert generation_metrics(["runs"], ["running"])["rouge-1"] == 0.0          # no stemmer


# --------------------------------------------------------------------------- id-keyed API

def test_score_task_keys_and_order_independence():
    golds = {"1": "[1]", "2": "[2]"}
    assert score_task("LaMP_1", golds, {"2": "[2]", "1": "[1]"}) == {"accuracy": 1.0, "f1": 1.0}
    assert list(score_task("LaMP-3", {"1": "3"}, {"1": "3"})) == ["MAE", "RMSE"]
    assert list(score_task("LaMP-7", {"1": "a"}, {"1": "a"})) == ["rouge-1", "rouge-L"]


def test_mismatched_ids_report_counts_and_first_ids():
    golds = {str(i): "3" for i in range(10)}
    preds = {str(i): "3" for i in range(3, 10)} | {"x": "3", "y": "3"}
    with pytest.raises(IdMismatchError) as info:
        score_task("LaMP-3", golds, preds)
    msg = str(info.value)
    assert "3 of 10 gold ids have no prediction (first: '0', '1', '2')" in msg
    assert "2 predicted ids are not in the golds (first: 'x', 'y')" in msg
    assert msg.startswith("LaMP_3")


def test_per_sample_scores_and_subsets_recompute_corpus_metrics():
    golds = {"a": "1", "b": "5", "c": "3"}
    preds = {"a": "2", "b": "abc", "c": "3"}
    scores = per_sample_scores("LaMP-3", golds, preds)
    assert scores["abs_error"].tolist() == [1.0, 4.0, 0.0]
    assert scores["squared_error"].tolist() == [1.0, 16.0, 0.0]
    stats = task_stats("LaMP-3", golds, preds)
    assert stats.metrics([0, 1]) == {"MAE": 2.5, "RMSE": math.sqrt(8.5)}
    assert per_sample_scores("LaMP-1", {"a": "[1]"}, {"a": "[1]"}) == {"correct": pytest.approx(np.array([1.0]))}


def test_subset_macro_f1_equals_scoring_the_subset_alone():
    rng = np.random.default_rng(3)
    golds = [L1[i] for i in rng.integers(0, 2, 50)]
    preds = [L1[i] for i in rng.integers(0, 2, 50)]
    stats = sample_stats("LaMP-1", preds, golds)
    rows = np.flatnonzero(rng.random(50) < 0.4)
    assert stats.metrics(rows) == pytest.approx(classification_metrics([preds[i] for i in rows],
                                                                       [golds[i] for i in rows], L1))
