"""``lamp report``: markdown and self-contained HTML from RunResults or run directories, with † marks."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from eval.metrics import score_task
from eval.report import RunResult, build_report, load_run_dirs
from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampError


def make_run_dir(root: Path, seed: int = 0, n: int = 80) -> Path:
    """A run with methods none / bm25 / contriever on LaMP-1 and LaMP-3; contriever is much better."""
    rng = np.random.default_rng(seed)
    golds = {"LaMP_1": {f"1{i}": ("[1]", "[2]")[rng.integers(2)] for i in range(n)},
             "LaMP_3": {f"3{i}": str(rng.integers(1, 6)) for i in range(n)}}
    skill = {"none": 0.5, "bm25": 0.55, "contriever": 0.95}
    scores: dict = {"_golds": {}}
    for task, g in golds.items():
        path = root / "golds" / f"{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"task": task, "golds": [{"id": i, "output": o} for i, o in g.items()]}))
        scores["_golds"][task] = f"golds/{task}.json"
        for method, p in skill.items():
            preds = {i: o if rng.random() < p else ("[2]" if task == "LaMP_1" else "1") for i, o in g.items()}
            out = root / "predictions" / method / f"{task}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"task": task, "golds": [{"id": i, "output": o} for i, o in preds.items()]}))
            scores.setdefault(method, {})[task] = score_task(task, g, preds)
    (root / "scores.json").write_text(json.dumps(scores))
    return root


def test_markdown_marks_significant_differences_and_bolds_the_best():
    golds = {str(i): "[1]" for i in range(100)}
    weak = {i: "[1]" if int(i) < 50 else "[2]" for i in golds}
    strong = dict(golds)
    results = [RunResult("none", "LaMP_1", score_task("LaMP-1", golds, weak), golds, weak),
               RunResult("bm25", "LaMP-1", score_task("LaMP-1", golds, strong), golds, strong),
               RunResult("no-preds", "LaMP-1", {"accuracy": 0.6, "f1": 0.3})]
    md = build_report(results, n_resamples=300).markdown()
    lines = md.splitlines()
    assert lines[0] == "| task | metric | none (baseline) | bm25 | no-preds |"
    assert lines[2] == "| LaMP-1 | accuracy ↑ | 0.5000 | **1.0000** † | 0.6000 |"
    assert "† differs from the baseline **none** at p < 0.05" in md


def test_lower_is_better_metrics_bold_the_minimum():
    results = [RunResult("a", "LaMP-3", {"MAE": 0.5, "RMSE": 0.9}), RunResult("b", "LaMP-3", {"MAE": 0.3, "RMSE": 1.1})]
    md = build_report(results, baseline="b").markdown()
    assert "| LaMP-3 | MAE ↓ | 0.5000 | **0.3000** |" in md
    assert "| LaMP-3 | RMSE ↓ | **0.9000** | 1.1000 |" in md


def test_unknown_baseline_is_a_clear_error():
    with pytest.raises(LampError, match="baseline 'x' is not one of the methods"):
        build_report([RunResult("a", "LaMP-3", {"MAE": 0.5, "RMSE": 0.9})], baseline="x")


def test_run_dir_convention_loads_scores_predictions_and_golds(tmp_path):
    run = make_run_dir(tmp_path / "run")
    results = load_run_dirs([run])
    assert {(r.method, r.task) for r in results} == {(m, t) for m in ("none", "bm25", "contriever")
                                                     for t in ("LaMP-1", "LaMP-3")}
    assert all(r.preds and r.golds for r in results)


def test_same_method_in_two_runs_is_disambiguated(tmp_path):
    results = load_run_dirs([make_run_dir(tmp_path / "r1"), make_run_dir(tmp_path / "r2", seed=1)])
    assert "bm25 (r1)" in {r.method for r in results} and "bm25 (r2)" in {r.method for r in results}


def test_lamp_report_writes_markdown_and_self_contained_html(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run")
    html_path = tmp_path / "report.html"
    md_path = tmp_path / "report.md"
    assert lamp_main(["report", str(run), "--baseline", "none", "--html", str(html_path), "--markdown", str(md_path),
                      "--n_resamples", "300"]) == 0
    md = md_path.read_text()
    assert re.search(r"\| LaMP-1 \| accuracy ↑ \| [0-9.]+ \| [0-9.]+ \| \*\*[0-9.]+\*\* † \|", md)
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "http" not in page        # nothing fetched from outside
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)


def test_report_without_scores_json_is_a_clear_error(tmp_path, capsys):
    assert lamp_main(["report", str(tmp_path)]) == 2
    assert "no scores.json" in capsys.readouterr().err
