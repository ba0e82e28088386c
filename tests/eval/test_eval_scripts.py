"""eval_all.py / eval_task.py / ``lamp eval``: same JSON as an independent computation, zips and
folders, a --temp_dir left alone, and one-paragraph errors with exit code 2 for bad inputs."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from lamp.cli.main import main as lamp_main, script_main
from lamp.core.tasks import BENCHMARK_TASKS, get_task

from eval.cli import configure_all, configure_task, run_all, run_task

ROOT = Path(__file__).resolve().parents[2]

GOLDS = {
    "LaMP-1": ["[1]", "[2]", "[1]", "[2]", "[1]"],
    "LaMP-2": ["sci-fi", "comedy", "dystopia", "comedy", "true story", "action"],
    "LaMP-3": ["4", "3", "1", "5", "2", "5"],
    "LaMP-4": ["Senate passes the budget bill", "Local team wins again", "Markets fall"],
    "LaMP-5": ["Learning to rank with transformers", "A survey of personalization"],
    "LaMP-6": ["Meeting moved to Friday", "Re: quarterly report", "中文主题"],
    "LaMP-7": ["I love rainy days", "Coffee first, then the world"],
}
PREDS = {
    "LaMP-1": ["[1]", " [1] ", "2", "[2]", "[3]"],
    "LaMP-2": ["sci-fi", "Comedy", "dystopia ", "dark comedy", "", "action"],
    "LaMP-3": ["4.0", "abc", "nan", "", " 2 ", "7"],
    "LaMP-4": ["Senate passes budget", "", "Markets fall sharply today"],
    "LaMP-5": ["Transformers for learning to rank", "personalization: a survey"],
    "LaMP-6": ["meeting on friday", "quarterly report", "中文主题"],
    "LaMP-7": ["rainy days, I love them", "coffee then world"],
}


def official_file(task: str, values: list[str], ids_offset: int = 0) -> dict:
    return {"task": get_task(task).file_name,
            "golds": [{"id": f"{task[-1]}{i + ids_offset:02d}", "output": v} for i, v in enumerate(values)]}


def write_zip(path: Path, files: dict[str, dict]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, obj in files.items():
            zf.writestr(name, json.dumps(obj, ensure_ascii=False))
    return path


@pytest.fixture
def zips(tmp_path: Path) -> tuple[Path, Path]:
    golds = write_zip(tmp_path / "golds.zip", {f"golds/{get_task(t).file_name}/dev_outputs.json":
                                               official_file(t, v) for t, v in GOLDS.items()})
    # file names inside the zip do not matter, only the task field
    preds = write_zip(tmp_path / "preds.zip", {f"p{i}.json": official_file(t, PREDS[t])
                                               for i, t in enumerate(reversed(BENCHMARK_TASKS))})
    return golds, preds


def independent_scores() -> dict[str, dict[str, float]]:
    """The same metrics written out directly with scikit-learn and rouge_score."""
    out: dict[str, dict[str, float]] = {}
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    for task in BENCHMARK_TASKS:
        t, g, p = get_task(task), GOLDS[task], PREDS[task]
        if t.family == "classification":
            labels = list(t.labels)
            gi = [labels.index(x.strip()) if x.strip() in labels else -1 for x in g]
            pi = [labels.index(x.strip()) if x.strip() in labels else -1 for x in p]
            out[t.file_name] = {"accuracy": accuracy_score(gi, pi),
                                "f1": f1_score(gi, pi, labels=list(range(len(labels))), average="macro",
                                               zero_division=0)}
        elif t.family == "rating":
            gf = [float(x) for x in g]
            pf = []
            for x, y in zip(p, gf):
                try:
                    v = float(x)
                    assert math.isfinite(v)
                except (ValueError, AssertionError):
                    v = 1.0 if abs(1 - y) > abs(5 - y) else 5.0
                pf.append(v)
            out[t.file_name] = {"MAE": mean_absolute_error(gf, pf), "RMSE": math.sqrt(mean_squared_error(gf, pf))}
        else:
            scores = [scorer.score(a.strip(), b.strip()) for a, b in zip(g, p)]
            out[t.file_name] = {"rouge-1": float(np.mean([s["rouge1"].fmeasure for s in scores])),
                                "rouge-L": float(np.mean([s["rougeL"].fmeasure for s in scores]))}
    return out


def assert_same_json(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for task in want:
        assert list(got[task]) == list(want[task]), task
        for k in want[task]:
            assert got[task][k] == pytest.approx(want[task][k], abs=1e-9), (task, k)


def test_eval_all_script_matches_independent_metrics_and_keeps_temp_dir(zips, tmp_path):
    golds, preds = zips
    temp = tmp_path / "my_temp"
    temp.mkdir()
    (temp / "precious.txt").write_text("keep me")
    out = tmp_path / "scores.json"
    proc = subprocess.run([sys.executable, str(ROOT / "eval" / "eval_all.py"), "--golds_zip", str(golds),
                           "--preds_zip", str(preds), "--temp_dir", str(temp), "--output_file", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert_same_json(json.loads(out.read_text()), independent_scores())
    assert sorted(p.name for p in temp.iterdir()) == ["precious.txt"]
    assert (temp / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("existing", [False, True], ids=["no ./tmp", "a user's ./tmp"])
def test_eval_all_temp_dir_defaults_to_dot_tmp_as_officially_and_is_never_touched(zips, tmp_path, monkeypatch,
                                                                                    existing):
    from lamp.cli.official import main as official_main

    golds, preds = zips
    parser = argparse.ArgumentParser()
    configure_all(parser)
    assert parser.parse_args(["--golds_zip", "g", "--preds_zip", "p", "--output_file", "o"]).temp_dir == "./tmp"
    work = tmp_path / "work"
    work.mkdir()
    if existing:
        (work / "tmp").mkdir()
        (work / "tmp" / "mine.txt").write_text("keep me")
    monkeypatch.chdir(work)
    assert official_main("eval_all.py", ["--golds_zip", str(golds), "--preds_zip", str(preds),
                                         "--output_file", "scores.json"]) == 0
    kept = sorted(p.name for p in (work / "tmp").iterdir()) if existing else None
    assert (work / "tmp").exists() == existing and kept in (None, ["mine.txt"])
    assert json.loads((work / "scores.json").read_text()).keys() == independent_scores().keys()


def test_eval_task_script_writes_flat_metrics(tmp_path):
    g = tmp_path / "g.json"
    p = tmp_path / "p.json"
    g.write_text(json.dumps(official_file("LaMP-3", GOLDS["LaMP-3"])))
    p.write_text(json.dumps(official_file("LaMP-3", PREDS["LaMP-3"])))
    out = tmp_path / "o.json"
    proc = subprocess.run([sys.executable, str(ROOT / "eval" / "eval_task.py"), "--golds_json", str(g),
                           "--preds_json", str(p), "--task_name", "LaMP_3", "--output_file", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    assert list(got) == ["MAE", "RMSE"]
    assert got["MAE"] == pytest.approx(independent_scores()["LaMP_3"]["MAE"], abs=1e-9)


def test_folders_work_like_zips_and_questions_files_are_skipped(tmp_path):
    gold_dir, pred_dir = tmp_path / "golds", tmp_path / "preds"
    for t in BENCHMARK_TASKS:
        d = gold_dir / get_task(t).file_name / "dev"
        d.mkdir(parents=True)
        (d / "dev_outputs.json").write_text(json.dumps(official_file(t, GOLDS[t]), ensure_ascii=False))
        (d / "dev_questions.json").write_text("[not even json")
        pred_dir.mkdir(exist_ok=True)
        (pred_dir / f"{t}.json").write_text(json.dumps(official_file(t, PREDS[t]), ensure_ascii=False))
    out = tmp_path / "o.json"
    assert script_main(configure_all, run_all, ["--golds_zip", str(gold_dir), "--preds_zip", str(pred_dir),
                                                "--output_file", str(out)]) == 0
    assert_same_json(json.loads(out.read_text()), independent_scores())


def test_lamp_eval_scores_tasks_present_and_require_all_refuses(zips, tmp_path, capsys):
    golds, _ = zips
    preds = write_zip(tmp_path / "two.zip", {"a.json": official_file("LaMP-1", PREDS["LaMP-1"]),
                                             "b.json": official_file("LaMP-5", PREDS["LaMP-5"])})
    out = tmp_path / "o.json"
    assert lamp_main(["eval", "--golds", str(golds), "--preds", str(preds), "--output_file", str(out)]) == 0
    got = json.loads(out.read_text())
    assert list(got) == ["LaMP_1", "LaMP_5"]
    capsys.readouterr()
    assert lamp_main(["eval", "--golds", str(golds), "--preds", str(preds), "--require-all"]) == 2
    err = capsys.readouterr().err
    assert "missing LaMP_2, LaMP_3, LaMP_4, LaMP_6, LaMP_7" in err


def test_lamp_eval_with_task_writes_flat_json_from_a_multi_task_zip(zips, tmp_path):
    golds, preds = zips
    out = tmp_path / "o.json"
    assert lamp_main(["eval", "--golds", str(golds), "--preds", str(preds), "--task", "LaMP-2",
                      "--output_file", str(out)]) == 0
    assert json.loads(out.read_text()) == pytest.approx(independent_scores()["LaMP_2"])


def test_lamp2_old_golds_are_detected_and_scored_with_news_categories(tmp_path, capsys):
    g = tmp_path / "g.json"
    p = tmp_path / "p.json"
    g.write_text(json.dumps({"task": "LaMP_2", "golds": [{"id": "1", "output": "sports"},
                                                         {"id": "2", "output": "crime"}]}))
    p.write_text(json.dumps({"task": "LaMP_2", "golds": [{"id": "1", "output": "sports"},
                                                         {"id": "2", "output": "politics"}]}))
    out = tmp_path / "o.json"
    assert lamp_main(["eval", "--golds", str(g), "--preds", str(p), "--output_file", str(out)]) == 0
    assert json.loads(out.read_text())["LaMP_2_old"]["accuracy"] == 0.5
    assert "LaMP-2-old" in capsys.readouterr().err


def test_bare_list_golds_take_the_task_flag(tmp_path):
    g = tmp_path / "g.json"
    g.write_text(json.dumps([{"id": 1, "output": "5"}, {"id": 2, "output": "1"}]))
    p = tmp_path / "p.json"
    p.write_text(json.dumps(official_file("LaMP-3", ["5", "2"])["golds"]))
    p.write_text(json.dumps([{"id": "1", "output": "5"}, {"id": "2", "output": "2"}]))
    out = tmp_path / "o.json"
    assert script_main(configure_task, run_task, ["--golds_json", str(g), "--preds_json", str(p),
                                                  "--task_name", "LaMP_3", "--output_file", str(out)]) == 0
    assert json.loads(out.read_text()) == {"MAE": 0.5, "RMSE": math.sqrt(0.5)}


# --------------------------------------------------------------------------- bad inputs -> exit 2

def _bad_preds(tmp_path: Path, kind: str) -> Path:
    files = {f"{t}.json": official_file(t, PREDS[t]) for t in BENCHMARK_TASKS}
    if kind == "not a zip":
        path = tmp_path / "preds.zip"
        path.write_text("this is not a zip")
        return path
    if kind == "no json":
        return write_zip(tmp_path / "preds.zip", {"readme.txt": {}})
    if kind == "unknown task":
        files["LaMP-3.json"] = {**files["LaMP-3.json"], "task": "LaMP_9"}
    if kind == "wrong task":
        files["LaMP-3.json"] = official_file("LaMP-4", PREDS["LaMP-3"])     # LaMP-3 values under LaMP_4
    if kind == "duplicate tasks":
        files["extra.json"] = official_file("LaMP-1", PREDS["LaMP-1"])
    if kind == "ids":
        files["LaMP-3.json"] = official_file("LaMP-3", PREDS["LaMP-3"], ids_offset=2)
    return write_zip(tmp_path / "preds.zip", files)


@pytest.mark.parametrize("kind, expected", [
    ("not a zip", "not a valid zip file"),
    ("no json", "no JSON outputs files inside"),
    ("unknown task", "Unknown task 'LaMP_9'"),
    ("wrong task", "two files for LaMP_4"),
    ("duplicate tasks", "two files for LaMP_1"),
    ("ids", "2 of 6 gold ids have no prediction (first: '300', '301'); 2 predicted ids are not in the golds "
            "(first: '306', '307')"),
])
def test_bad_zips_give_one_paragraph_and_exit_2(zips, tmp_path, capsys, kind, expected):
    golds, _ = zips
    preds = _bad_preds(tmp_path, kind)
    out = tmp_path / "o.json"
    code = script_main(configure_all, run_all, ["--golds_zip", str(golds), "--preds_zip", str(preds),
                                                "--temp_dir", str(tmp_path), "--output_file", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()


def test_mismatch_message_names_both_files(zips, tmp_path, capsys):
    golds, _ = zips
    preds = _bad_preds(tmp_path, "ids")
    assert lamp_main(["eval", "--golds", str(golds), "--preds", str(preds)]) == 2
    err = capsys.readouterr().err
    assert "preds.zip!LaMP-3.json" in err and "golds.zip!golds/LaMP_3/dev_outputs.json" in err


def test_missing_golds_for_a_predicted_task(tmp_path, capsys):
    golds = write_zip(tmp_path / "g.zip", {"a.json": official_file("LaMP-1", GOLDS["LaMP-1"])})
    preds = write_zip(tmp_path / "p.zip", {"a.json": official_file("LaMP-7", PREDS["LaMP-7"])})
    assert lamp_main(["eval", "--golds", str(golds), "--preds", str(preds)]) == 2
    assert "predictions for LaMP_7 but" in capsys.readouterr().err


def test_breakdown_by_profile_size_and_user(tmp_path, capsys):
    prefix = "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 " \
             "without further explanation. review: "

    def question(qid: str, user: str, size: int) -> dict:
        return {"id": qid, "input": prefix + "x", "user_id": user,
                "profile": [{"id": f"{qid}_{k}", "text": "t", "score": "3", "date": "2020-01-01"}
                            for k in range(size)]}

    questions = [question("a", "u1", 2), question("b", "u1", 3), question("c", "u2", 12), question("d", "u3", 60)]
    qpath = tmp_path / "dev_questions.json"
    qpath.write_text(json.dumps(questions))
    g = tmp_path / "g.json"
    p = tmp_path / "p.json"
    g.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": i, "output": "3"} for i in "abcd"]}))
    p.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "a", "output": "1"}, {"id": "b", "output": "3"},
                                                         {"id": "c", "output": "3"}, {"id": "d", "output": "4"}]}))
    bout = tmp_path / "b.json"
    assert lamp_main(["eval", "--golds", str(g), "--preds", str(p), "--breakdown", str(qpath),
                      "--breakdown_output", str(bout)]) == 0
    result = json.loads(bout.read_text())["LaMP_3"]
    assert result["by_profile_size"]["cold-start (1-3)"] == {"samples": 2, "users": 1, "MAE": 1.0,
                                                             "RMSE": math.sqrt(2)}
    assert "small (4-10)" not in result["by_profile_size"]
    assert result["by_profile_size"]["medium (11-50)"]["MAE"] == 0.0
    assert result["by_profile_size"]["rich (51+)"]["MAE"] == 1.0
    assert result["by_user"]["u1"] == {"samples": 2, "users": 1, "MAE": 1.0, "RMSE": math.sqrt(2)}
    assert "3 users" in capsys.readouterr().out


def test_split_picks_dev_outputs_in_an_official_folder_with_train_and_dev(tmp_path, capsys, lamp3_files):
    questions, dev_outputs = lamp3_files            # tmp_path/LaMP_3/dev/dev_{questions,outputs}.json
    train = tmp_path / "LaMP_3" / "train" / "train_outputs.json"
    train.parent.mkdir(parents=True)
    train.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "9", "output": "1"}]}))
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "300", "output": "5"},
                                                             {"id": "301", "output": "3"}]}))
    assert lamp_main(["eval", "--golds", str(tmp_path), "--preds", str(preds)]) == 2
    assert "two files for LaMP_3" in capsys.readouterr().err
    assert lamp_main(["eval", "--golds", str(tmp_path), "--split", "dev", "--preds", str(preds),
                      "--breakdown", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"LaMP_3\s+2\s+MAE\s+0\.5000", out) and "cold-start (1-3)" in out
