"""``lamp submit``: a leaderboard zip only from a complete, well-formed set whose ids match the test questions."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from lamp.cli.main import main as lamp_main
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
        assert sorted(zf.namelist()) == [f"LaMP_{i}.json" for i in range(1, 8)]
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


def test_incomplete_set_is_refused_unless_allowed(tmp_path, questions, capsys):
    out = tmp_path / "sub.zip"
    preds = str(_preds(tmp_path / "p", tasks=("LaMP-1", "LaMP-2", "LaMP-3", "LaMP-4", "LaMP-5", "LaMP-7")))
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs all 7 tasks; missing LaMP_6" in err and not out.exists()
    assert lamp_main(["submit", preds, "--questions", str(questions), "--output", str(out),
                      "--allow-incomplete"]) == 0


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
