"""``lamp compare`` / compare_predictions: paired bootstrap CI and approximate-randomization p-values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.compare import compare_predictions
from eval.metrics import classification_metrics, sample_stats
from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampError
from lamp.core.tasks import MOVIE_TAGS


def _classification_sets(n: int, acc_a: float, acc_b: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    golds = {str(i): MOVIE_TAGS[rng.integers(15)] for i in range(n)}
    a = {i: g if rng.random() < acc_a else MOVIE_TAGS[rng.integers(15)] for i, g in golds.items()}
    b = {i: g if rng.random() < acc_b else MOVIE_TAGS[rng.integers(15)] for i, g in golds.items()}
    return golds, a, b


def test_identical_predictions_have_zero_difference_and_p_one():
    golds, a, _ = _classification_sets(200, 0.5, 0.5)
    c = compare_predictions(golds, a, a, "LaMP-2", n_resamples=500, seed=0)
    for m in c.metrics.values():
        assert m.diff == 0 and m.ci_low == 0 and m.ci_high == 0 and m.p_value == 1.0


def test_clear_improvement_is_significant_and_ci_excludes_zero():
    golds, a, b = _classification_sets(600, 0.3, 0.8)
    c = compare_predictions(golds, a, b, "LaMP-2", n_resamples=1000, seed=0)
    acc, f1 = c.metrics["accuracy"], c.metrics["f1"]
    assert acc.diff > 0.3 and acc.ci_low > 0 and acc.p_value == pytest.approx(1 / 1001)
    assert f1.ci_low > 0 and f1.significant() and f1.b_is_better


def test_observed_values_are_the_official_metrics_and_ci_contains_the_difference():
    golds = {str(i): str(1 + i % 5) for i in range(100)}
    a = {i: "3" for i in golds}
    b = {i: g if int(i) % 3 else "abc" for i, g in golds.items()}
    c = compare_predictions(golds, a, b, "LaMP-3", n_resamples=800, seed=5)
    rmse = c.metrics["RMSE"]
    errs_b = np.array([abs((1.0 if abs(1 - float(g)) > abs(5 - float(g)) else 5.0) - float(g))
                       if int(i) % 3 == 0 else 0.0 for i, g in golds.items()])
    assert rmse.b == pytest.approx(math.sqrt(np.mean(errs_b ** 2)))
    assert rmse.ci_low <= rmse.diff <= rmse.ci_high
    assert not rmse.higher_is_better


def test_seeded_results_repeat_and_differ_with_another_seed():
    golds, a, b = _classification_sets(150, 0.5, 0.6)
    one = compare_predictions(golds, a, b, "LaMP-2", n_resamples=300, seed=3).to_dict()
    two = compare_predictions(golds, a, b, "LaMP-2", n_resamples=300, seed=3).to_dict()
    other = compare_predictions(golds, a, b, "LaMP-2", n_resamples=300, seed=4).to_dict()
    assert one == two
    assert one["metrics"]["f1"]["ci_low"] != other["metrics"]["f1"]["ci_low"]


def test_a_resample_as_row_weights_equals_scoring_the_resampled_list():
    # the bootstrap recomputes corpus metrics (macro-F1, RMSE) from weighted sums of per-sample stats
    golds = ["[1]", "[2]", "[2]", "[1]"]
    preds = ["[1]", "[1]", "[2]", "x"]
    stats = sample_stats("LaMP-1", preds, golds)
    picks = [1, 1, 2, 3]                      # a resample with replacement
    weights = np.bincount(picks, minlength=4).astype(float)
    got = stats.finalize(weights @ stats.matrix, 4)
    want = classification_metrics([preds[i] for i in picks], [golds[i] for i in picks], ("[1]", "[2]"))
    assert float(got["f1"]) == pytest.approx(want["f1"]) and float(got["accuracy"]) == want["accuracy"]
    rating = sample_stats("LaMP-3", ["1", "5", "abc"], ["2", "5", "4"])
    got = rating.finalize(np.array([0.0, 1.0, 2.0]) @ rating.matrix, 3)
    assert float(got["RMSE"]) == pytest.approx(math.sqrt((0 + 2 * 9) / 3))


def test_p_value_matches_an_exhaustive_permutation_test_on_a_small_case():
    # 4 samples differ in correctness: exact two-sided p over 2^4 swaps is 2/16 for a 4-0 split
    golds = {str(i): "[1]" for i in range(6)}
    a = {"0": "[2]", "1": "[2]", "2": "[2]", "3": "[2]", "4": "[1]", "5": "[1]"}
    b = {i: "[1]" for i in golds}
    c = compare_predictions(golds, a, b, "LaMP-1", n_resamples=20000, seed=0)
    assert c.metrics["accuracy"].p_value == pytest.approx(2 / 16, abs=0.01)


def test_mismatched_ids_are_refused():
    with pytest.raises(LampError, match="predictions B"):
        compare_predictions({"1": "3", "2": "3"}, {"1": "3", "2": "3"}, {"1": "3"}, "LaMP-3")


def test_lamp_compare_cli_prints_a_table_and_writes_json(tmp_path, capsys):
    golds, a, b = _classification_sets(120, 0.3, 0.7)

    def dump(name, d):
        path = tmp_path / name
        path.write_text(json.dumps({"task": "LaMP_2", "golds": [{"id": i, "output": o} for i, o in d.items()]}))
        return str(path)

    out = tmp_path / "cmp.json"
    code = lamp_main(["compare", dump("a.json", a), dump("b.json", b), "--golds", dump("g.json", golds),
                      "--n_resamples", "500", "--names", "bm25", "contriever", "--output_file", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "contriever-bm25" in text and "LaMP_2" in text and "accuracy ↑" in text
    data = json.loads(out.read_text())["LaMP_2"]
    assert data["n_resamples"] == 500 and data["metrics"]["accuracy"]["p_value"] < 0.05
