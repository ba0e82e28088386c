"""``lamp submit``: a leaderboard zip of one benchmark whose ids match the test questions, each task in its
official format, partial entries warned about, the separation recorded outside the scorer's reach."""

from __future__ import annotations

import glob
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from lamp.cli.main import main as lamp_main
from eval.judge import read_responses
from eval.loading import read_outputs_set
from lamp.core.questions import iter_questions
from lamp.core.tasks import BENCHMARK_TASKS, get_task


def _ids(task: str) -> list[str]:
    return [f"{task[-1]}{i:02d}" for i in range(3)]


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for task in BENCHMARK_TASKS:
        name = get_task(task).file_name
        for split in ("dev", "test"):
            d = root / name / split
            d.mkdir(parents=True)
            ids = _ids(task) if split == "test" else ["d1"]
            (d / f"{split}_questions.json").write_text(json.dumps(
                [{"id": i, "input": "x", "profile": [{"id": f"{i}p", "text": "t"}]} for i in ids]))
    return root


def _preds(folder: Path, tasks=BENCHMARK_TASKS, output: str | None = None, ids=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        t = get_task(task)
        value = output or (t.labels[0] if t.labels else "a title")
        (folder / f"{t.file_name}.json").write_text(json.dumps(
            {"task": t.file_name, "golds": [{"id": i, "output": value} for i in (ids or _ids)(task)]}))
    return folder


def test_complete_set_is_packed_one_file_per_task(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(_preds(tmp_path / "p")), "--questions", str(questions), "--output", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [f"LaMP_{i}.json" for i in range(1, 8)] + ["SUBMISSION.txt"]
        body = json.loads(zf.read("LaMP_3.json"))
    assert body == {"task": "LaMP_3", "golds": [{"id": i, "output": "1"} for i in _ids("LaMP-3")]}
    assert "7 tasks, 21 predictions" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []     # no temp file left


def test_existing_output_is_kept_unless_force(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    out.write_text("the user's file")
    preds = str(_preds(tmp_path / "p"))
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "the user's file"
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out), "--force"]) == 0
    assert zipfile.is_zipfile(out)


def test_partial_entry_is_packed_with_a_warning_naming_the_missing_tasks(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    preds = str(_preds(tmp_path / "p", tasks=("LaMP-1", "LaMP-2", "LaMP-3", "LaMP-4", "LaMP-5", "LaMP-7")))
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out)]) == 0
    assert "warning: a partial LaMP entry: missing LaMP_6" in capsys.readouterr().err
    with zipfile.ZipFile(out) as zf:
        assert "LaMP_6.json" not in zf.namelist() and "missing: LaMP_6" in zf.read("SUBMISSION.txt").decode()
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out), "--force",
                      "--require-all"]) == 2
    assert "LaMP needs all 7 tasks; missing LaMP_6" in capsys.readouterr().err


def test_ids_not_matching_the_test_questions_are_refused(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    preds = str(_preds(tmp_path / "p", ids=lambda task: ["d1"] if task == "LaMP-4" else _ids(task)))
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "LaMP_4: the ids of" in err and "3 of 3 question ids have no prediction" in err
    assert "test_questions.json" in err and not out.exists()


def test_same_task_in_two_inputs_is_refused(tmp_path, questions, capsys):
    a = _preds(tmp_path / "a")
    b = _preds(tmp_path / "b", tasks=("LaMP-1",))
    assert lamp_main(["submit", str(a), str(b), "--questions", str(questions), "--output",
                      str(tmp_path / "s.zip")]) == 2
    assert "two prediction files for LaMP_1" in capsys.readouterr().err


def test_out_of_label_outputs_only_warn(tmp_path, questions, capsys):
    preds = _preds(tmp_path / "p", output="[1] because")
    assert lamp_main(["submit", str(preds), "--questions", str(questions), "--output", str(tmp_path / "s.zip")]) == 0
    err = capsys.readouterr().err
    assert "LaMP_1.json: 3 of 3 outputs are not one of the task's labels" in err
    assert "LaMP_3.json: 3 of 3 outputs are not numbers" in err


def _official_scorer_reads(zip_path: Path, into: Path) -> dict[str, set[str]]:
    """What the official eval_all.py reads of a predictions zip: every **/*.json extracted, by its 'task'."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    found = {}
    for path in glob.glob(str(into / "**" / "*.json"), recursive=True):
        preds = json.loads(Path(path).read_text())
        found[preds["task"]] = {p["id"] for p in preds["golds"]}
    return found


def test_zip_holds_nothing_the_official_scorer_would_read_as_predictions(tmp_path, questions):
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(_preds(tmp_path / "p")), "--questions", str(questions), "--output", str(out)]) == 0
    read = _official_scorer_reads(out, tmp_path / "x")
    assert read == {get_task(t).file_name: set(_ids(t)) for t in BENCHMARK_TASKS}
    with zipfile.ZipFile(out) as zf:
        record = zf.read("SUBMISSION.txt").decode()
        assert zf.comment.decode() == record
    assert "benchmark: LaMP\nseparation: user-based\nsplit: test\n" in record and "missing: none" in record


def _time_questions(questions: Path) -> Path:
    (questions / "time").mkdir()
    for task in BENCHMARK_TASKS:
        shutil.copytree(questions / get_task(task).file_name, questions / "time" / get_task(task).file_name)
    return questions / "time"


def test_time_based_questions_make_a_time_based_entry(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    preds = str(_preds(tmp_path / "p"))
    assert lamp_main(["submit", preds, "--questions", str(_time_questions(questions)), "--output", str(out)]) == 0
    assert "LaMP, time-based" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert "separation: time-based" in zf.comment.decode()
    assert lamp_main(["submit", preds, "--questions", str(questions / "time"), "--output", str(out), "--force",
                      "--separation", "user"]) == 2
    assert "--separation user, but the questions" in capsys.readouterr().err


def test_separation_is_read_from_the_run_that_made_the_predictions(tmp_path, questions, capsys):
    run = tmp_path / "run"
    preds = _preds(run / "predictions" / "bm25")
    (run / "config.json").write_text(json.dumps({"data": str(tmp_path / "lamp" / "time"), "split": "test"}))
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(preds), "--questions", str(questions), "--output", str(out)]) == 0
    assert f"time-based (the run {run.resolve()} read data from" in capsys.readouterr().out
    (run / "config.json").write_text(json.dumps({"data": str(tmp_path / "lamp")}))
    assert lamp_main(["submit", str(preds), "--questions", str(questions), "--output", str(out), "--force",
                      "--separation", "time"]) == 0
    with zipfile.ZipFile(out) as zf:
        assert "separation: time-based" in zf.read("SUBMISSION.txt").decode()


def test_two_benchmarks_in_one_zip_are_refused(tmp_path, questions, capsys):
    preds = _preds(tmp_path / "p", tasks=("LaMP-1",))
    (preds / "qa.json").write_text(json.dumps({"task": QA_FILE, "golds": [{"id": "q", "output": "a"}]}))
    assert lamp_main(["submit", str(preds), "--questions", str(questions), "--output", str(tmp_path / "s.zip")]) == 2
    err = capsys.readouterr().err
    assert "one benchmark per zip" in err and "LaMP: LaMP_1" in err and f"LaMP-QA: {QA_FILE}" in err


DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
REVIEW = "LongLaMP-product_review"
QA = "LaMP-QA-Lifestyle_and_Personal_Development"
QA_FILE = get_task(QA).file_name


def _demo_preds(folder: Path, task: str) -> dict[str, str]:
    qs = list(iter_questions(DEMO / get_task(task).file_name / "test" / "test_questions.json", task=task))
    preds = {q.id: f"answer {n} to {q.input[:20]}" for n, q in enumerate(qs)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{get_task(task).file_name}.json").write_text(json.dumps(
        {"task": get_task(task).file_name, "golds": [{"id": i, "output": o} for i, o in preds.items()]}))
    return preds


def test_longlamp_predictions_are_written_in_its_official_generation_format(tmp_path, capsys):
    preds = _demo_preds(tmp_path / "p", REVIEW)
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(tmp_path / "p"), "--questions", str(DEMO), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "partial LongLaMP entry: missing LongLaMP_abstract_generation, LongLaMP_topic_writing" in err
    rows = json.loads((DEMO / "LongLaMP_product_review" / "test" / "test_questions.json").read_text())
    with zipfile.ZipFile(out) as zf:
        body = json.loads(zf.read("LongLaMP_product_review.json"))
    assert isinstance(body, list) and len(body) == len(rows)
    # the official scorer (evaluate_data) pairs each row's generated_text with its gold output
    assert [(d["generated_text"], d["output"]) for d in body] == [(preds[d["id"]], r["output"])
                                                                    for d, r in zip(body, rows)]


def test_lamp_qa_predictions_are_written_as_its_official_response_file(tmp_path, capsys):
    preds = _demo_preds(tmp_path / "p", QA)
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(tmp_path / "p"), "--questions", str(DEMO), "--output", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        body = json.loads(zf.read(f"{QA_FILE}.json"))
        zf.extract(f"{QA_FILE}.json", tmp_path)
    assert body == {i: [{"output": o}] for i, o in preds.items()}
    assert read_responses(str(tmp_path / f"{QA_FILE}.json")) == preds
    assert lamp_main(["submit", str(tmp_path / "p"), "--questions", str(DEMO), "--output", str(out), "--force",
                      "--separation", "time"]) == 2
    assert "has no time-based setting" in capsys.readouterr().err


def test_a_packed_longlamp_member_reads_back_as_its_predictions_not_its_golds(tmp_path, capsys):
    preds = _demo_preds(tmp_path / "p", REVIEW)
    out = tmp_path / "sub.zip"
    assert lamp_main(["submit", str(tmp_path / "p"), "--questions", str(DEMO), "--output", str(out)]) == 0
    assert read_outputs_set(out, "predictions", REVIEW)[REVIEW].outputs == preds
