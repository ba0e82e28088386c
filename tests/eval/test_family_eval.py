"""``lamp eval`` and ``lamp report`` on the LaMP family: LongLaMP golds read from its own dataset rows,
the extra LongLaMP metrics in the report, and the LaMP-QA judge named beside its scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval.metrics import score_task
from eval.report import RunResult, build_report, load_run_dirs
from lamp.cli.main import main as lamp_main
from lamp.core.native import made_id

ROOT = Path(__file__).resolve().parents[2]
REVIEWS = ROOT / "data" / "demo" / "LongLaMP_product_review"
DEV = REVIEWS / "dev" / "dev_questions.json"
TASK = "LongLaMP-product_review"
QA = "LaMP-QA-Lifestyle_and_Personal_Development"


def _rows() -> list[dict]:
    return json.loads(DEV.read_text(encoding="utf-8"))


def _copy_top_predictions(path: Path) -> dict[str, str]:
    """The demo dev questions answered with each user's first profile review (made ids, computed here)."""
    preds = {made_id(i, row["input"]): row["profile"][0]["reviewText"] for i, row in enumerate(_rows())}
    path.write_text(json.dumps({"task": "LongLaMP_product_review",
                                "golds": [{"id": i, "output": o} for i, o in preds.items()]}))
    return preds


def test_eval_scores_longlamp_predictions_against_the_dataset_file_itself(tmp_path, capsys):
    preds = _copy_top_predictions(tmp_path / "preds.json")
    golds = {made_id(i, row["input"]): row["output"] for i, row in enumerate(_rows())}
    out = tmp_path / "scores.json"
    assert lamp_main(["eval", "--golds", str(DEV), "--preds", str(tmp_path / "preds.json"), "--task", TASK,
                      "--output_file", str(out)]) == 0
    scores = json.loads(out.read_text())
    expected = score_task(TASK, golds, preds)
    assert scores == pytest.approx(expected)
    assert 0 < scores["rouge-1"] < 1 and {"meteor", "meteor-nonempty", "bleu", "rouge-LSum"} <= set(scores)


def test_eval_reads_longlamp_golds_from_a_data_folder_with_split(tmp_path, capsys):
    preds = _copy_top_predictions(tmp_path / "preds.json")
    out = tmp_path / "scores.json"
    assert lamp_main(["eval", "--golds", str(ROOT / "data" / "demo"), "--split", "dev", "--preds",
                      str(tmp_path / "preds.json"), "--output_file", str(out)]) == 0
    golds = {made_id(i, row["input"]): row["output"] for i, row in enumerate(_rows())}
    assert json.loads(out.read_text())["LongLaMP_product_review"] == pytest.approx(score_task(TASK, golds, preds))


def test_dataset_rows_outside_a_task_folder_need_the_task(tmp_path, capsys):
    shutil.copy(DEV, tmp_path / "rows.json")
    _copy_top_predictions(tmp_path / "preds.json")
    assert lamp_main(["eval", "--golds", str(tmp_path / "rows.json"), "--preds", str(tmp_path / "preds.json")]) == 2
    err = capsys.readouterr().err
    assert "rows.json: dataset rows without ids" in err and "pass --task" in err and TASK in err
    assert "Traceback" not in err


def test_report_shows_the_extra_longlamp_metrics_after_the_tasks_own():
    golds = {"a": "the cat sat on the mat", "b": "a dog ran"}
    results = [RunResult(m, TASK, score_task(TASK, golds, p)) for m, p in
               (("none", {"a": "the cat", "b": ""}), ("bm25", {"a": "the cat sat", "b": "a dog"}))]
    md = build_report(results).markdown()
    rows = [line.split(" | ")[1] for line in md.splitlines() if line.startswith(f"| {TASK} |")]
    assert rows[:3] == ["rouge-1 ↑", "rouge-L ↑", "meteor ↑"]
    assert {"meteor-nonempty ↑", "bleu ↑", "rouge-2 ↑", "rouge-LSum ↑", "rouge-1-nonempty ↑"} <= set(rows)
    nonempty = next(line for line in md.splitlines() if "| meteor-nonempty ↑ |" in line)
    assert f"{results[0].metrics['meteor-nonempty']:.4f}" in nonempty          # the scorer's empty-pair drop


def test_report_of_a_lamp_task_lists_only_its_metrics():
    md = build_report([RunResult("a", "LaMP-3", {"MAE": 0.5, "RMSE": 0.9, "samples": 10})]).markdown()
    rows = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| LaMP-3 |")]
    assert rows == ["MAE ↓", "RMSE ↓"]
    assert "judged by" not in md


def _judged_run(root: Path, judges: dict[str, dict]) -> Path:
    scores = {m: {"LaMP_QA_Lifestyle_and_Personal_Development": {"rubric-score": 0.25 + 0.25 * i}}
              for i, m in enumerate(judges)}
    root.mkdir(parents=True)
    (root / "scores.json").write_text(json.dumps({**scores, "_golds": {}}))
    for method, judge in judges.items():
        path = root / "judged" / method / "LaMP_QA_Lifestyle_and_Personal_Development.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"score": 0.5, "judge": judge, "per_question_scores": []}))
    return root


JUDGE = {"identity": "hf-causal:SmolLM2-135M-Instruct@abc123", "prompt_version": "lamp-qa-v1",
         "prompt_hash": "9f86d081", "retries": 3}


def test_report_names_the_judge_that_scored_a_lamp_qa_task(tmp_path, capsys):
    run = _judged_run(tmp_path / "run", {"none": JUDGE, "bm25": JUDGE})
    out = tmp_path / "report.json"
    assert lamp_main(["report", str(run), "--markdown", str(tmp_path / "r.md"), "--json", str(out)]) == 0
    md = (tmp_path / "r.md").read_text()
    assert f"| {QA} | rubric-score ↑ | 0.2500 | **0.5000** |" in md
    assert (f"{QA} judged by `hf-causal:SmolLM2-135M-Instruct@abc123, prompt lamp-qa-v1 9f86d081, 3 retries`."
            in md) and "different judges" not in md
    assert all(r["judge"] == JUDGE for r in json.loads(out.read_text())["results"])


def test_report_flags_methods_scored_by_different_judges(tmp_path):
    other = {**JUDGE, "identity": "openai:Qwen2.5-32B-Instruct"}
    md = build_report(load_run_dirs([_judged_run(tmp_path / "run", {"none": JUDGE, "bm25": other})])).markdown()
    assert "`openai:Qwen2.5-32B-Instruct, prompt lamp-qa-v1 9f86d081, 3 retries` (bm25)" in md
    assert "different judges: these scores do not compare" in md


def test_report_falls_back_to_the_judge_in_the_run_manifest(tmp_path):
    run = _judged_run(tmp_path / "run", {})
    (run / "scores.json").write_text(json.dumps({"none": {QA: {"rubric-score": 0.4}}}))
    (run / "manifest.json").write_text(json.dumps({"judge": JUDGE}))
    md = build_report(load_run_dirs([run])).markdown()
    assert f"{QA} judged by `hf-causal:SmolLM2-135M-Instruct@abc123" in md


def test_a_longlamp_folder_in_lamp_layout_reads_its_outputs_file_not_its_questions(tmp_path, capsys):
    folder = tmp_path / "data" / "LongLaMP_product_review" / "dev"
    folder.mkdir(parents=True)
    rows = _rows()
    ids = [made_id(i, row["input"]) for i, row in enumerate(rows)]
    (folder / "dev_questions.json").write_text(json.dumps(        # what lamp data download writes
        [{"id": i, "input": row["input"], "profile": []} for i, row in zip(ids, rows)]))
    (folder / "dev_outputs.json").write_text(json.dumps(
        {"task": "LongLaMP_product_review",
         "golds": [{"id": i, "output": row["output"]} for i, row in zip(ids, rows)]}))
    preds = _copy_top_predictions(tmp_path / "preds.json")
    out = tmp_path / "scores.json"
    assert lamp_main(["eval", "--golds", str(tmp_path / "data"), "--split", "dev", "--preds",
                      str(tmp_path / "preds.json"), "--output_file", str(out)]) == 0
    golds = dict(zip(ids, (row["output"] for row in rows)))
    assert json.loads(out.read_text())["LongLaMP_product_review"] == pytest.approx(score_task(TASK, golds, preds))
