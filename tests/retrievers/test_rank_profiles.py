"""rank_profiles.py / lamp rank / merge_with_rank.py: official files, resume, errors, demo parity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from lamp.cli.main import main as lamp_main
from lamp.core.questions import load_questions
from lamp.core.tasks import BENCHMARK_TASKS, get_task
from retrievers import rank_questions
from retrievers.ranking import partial_path_for, rank_file

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
PY = sys.executable
LAMP3 = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
         "without further explanation. review: ")


def lamp3(tmp_path: Path, n: int = 6, broken_input: bool = False) -> Path:
    questions = []
    for i in range(n):
        text = "no marker here" if broken_input and i % 2 else LAMP3 + f"great battery {i}"
        questions.append({"id": f"q{i}", "input": text, "profile": [
            {"id": f"q{i}-{j}", "text": f"review {j} battery great" if j % 2 else f"plain {j}", "score": "4",
             "date": f"2020-01-0{1 + j % 3}"} for j in range(5)]})
    path = tmp_path / "dev_questions.json"
    path.write_text(json.dumps(questions))
    return path


def official_bm25(question, task) -> list[str]:
    query = task.query(question.input)
    docs = [task.document(item) for item in question.profile]
    scores = BM25Okapi([d.split() for d in docs]).get_scores(query.split())
    return [question.profile[i].id for i in np.argsort(scores)[::-1]]


def test_rank_profiles_script_writes_the_official_ranking_file(tmp_path):
    src, out = lamp3(tmp_path), tmp_path / "rank.json"
    res = subprocess.run([PY, str(ROOT / "retrievers" / "rank_profiles.py"), "--input_data_addr", str(src),
                          "--output_ranking_addr", str(out), "--task", "LaMP-3", "--ranker", "bm25",
                          "--batch_size", "16"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ranking = json.loads(out.read_text())
    task = get_task("LaMP-3")
    assert ranking == {q.id: official_bm25(q, task) for q in load_questions(src)}
    assert not partial_path_for(out).exists()


def test_inputs_without_marker_fall_back_with_one_counted_warning(tmp_path, capsys):
    src, out = lamp3(tmp_path, broken_input=True), tmp_path / "rank.json"
    assert lamp_main(["rank", "--input_data_addr", str(src), "--output_ranking_addr", str(out), "--task", "LaMP-3",
                      "--ranker", "bm25", "--no_progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "3 of 6 inputs" in err
    assert len(json.loads(out.read_text())) == 6


def test_empty_profile_is_a_clear_error_naming_the_question(tmp_path, capsys):
    path = tmp_path / "q.json"
    path.write_text(json.dumps([{"id": "q9", "input": LAMP3 + "x", "profile": []}]))
    out = tmp_path / "rank.json"
    assert lamp_main(["rank", "--input_data_addr", str(path), "--output_ranking_addr", str(out),
                      "--task", "LaMP-3"]) == 2
    err = capsys.readouterr().err
    assert "q9" in err and "profile" in err and not out.exists()
    from lamp.core.records import Question
    from lamp.core.errors import LampDataError
    with pytest.raises(LampDataError, match="'q9'"):
        rank_questions([Question("q9", LAMP3 + "x", [])], "LaMP-3", "bm25")


def test_recency_with_a_missing_date_exits_2_naming_the_item(tmp_path, capsys):
    src = lamp3(tmp_path)
    data = json.loads(src.read_text())
    del data[2]["profile"][3]["date"]
    src.write_text(json.dumps(data))
    assert lamp_main(["rank", "--input_data_addr", str(src), "--output_ranking_addr", str(tmp_path / "r.json"),
                      "--task", "LaMP-3", "--ranker", "recency", "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "q2-3" in err and "date" in err


def test_interrupted_ranking_resumes_without_redoing_finished_questions(tmp_path, monkeypatch):
    src, out = lamp3(tmp_path, n=8), tmp_path / "rank.json"
    full = rank_file(src, tmp_path / "full.json", "LaMP-3", "recency", progress=False)
    partial = partial_path_for(out)
    settings = {"settings": {"task": "LaMP-3", "use_date": False, "ranker": "recency"}}
    lines = [json.dumps(settings)] + [json.dumps({"id": k, "ranking": v}) for k, v in list(full.items())[:3]]
    partial.write_text("\n".join(lines) + '\n{"id": "q3", "rank')          # cut mid-line
    seen = []
    import retrievers.baselines as baselines
    original = baselines.RecencyRetriever.rank_batch
    monkeypatch.setattr(baselines.RecencyRetriever, "rank_batch",
                        lambda self, qs: seen.extend(q.id for q in qs) or original(self, qs))
    assert rank_file(src, out, "LaMP-3", "recency", progress=False) == full
    assert seen == [f"q{i}" for i in range(3, 8)]
    assert json.loads(out.read_text()) == full and not partial.exists()


def test_partial_file_from_other_settings_is_not_reused(tmp_path):
    src, out = lamp3(tmp_path), tmp_path / "rank.json"
    partial = partial_path_for(out)
    partial.write_text(json.dumps({"settings": {"task": "LaMP-3", "use_date": False, "ranker": "random", "seed": 5}})
                       + "\n" + json.dumps({"id": "q0", "ranking": ["bogus"]}) + "\n")
    ranking = rank_file(src, out, "LaMP-3", "recency", progress=False)
    assert ranking["q0"] != ["bogus"]


def test_use_date_appends_the_date_to_documents(tmp_path):
    src = lamp3(tmp_path, n=1)
    data = json.loads(src.read_text())
    data[0]["input"] = LAMP3 + "2020-01-03"
    src.write_text(json.dumps(data))
    with_date = rank_file(src, tmp_path / "a.json", "LaMP-3", "bm25", use_date=True, progress=False)
    task = get_task("LaMP-3")
    q = load_questions(src)[0]
    docs = [task.document(i, True) for i in q.profile]
    assert docs[0].endswith(" date: 2020-01-01")
    scores = BM25Okapi([d.split() for d in docs]).get_scores(task.query(q.input).split())
    assert with_date["q0"] == [q.profile[i].id for i in np.argsort(scores)[::-1]]


def test_merge_reads_golds_orders_profiles_and_refuses_to_leak_outputs(tmp_path, capsys):
    src = lamp3(tmp_path, n=3)
    outs = tmp_path / "dev_outputs.json"
    outs.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "q0", "output": "5"}, {"id": "q1", "output": "3"}]}))
    ranking = tmp_path / "rank.json"
    ranking.write_text(json.dumps({f"q{i}": [f"q{i}-4", f"q{i}-0"] for i in range(3)}))
    merged = tmp_path / "merged.json"
    args = ["--lamp_questions_addr", str(src), "--lamp_output_addr", str(outs),
            "--profile_ranking_addr", str(ranking), "--merged_output_addr", str(merged)]
    res = subprocess.run([PY, str(ROOT / "retrievers" / "merge_with_rank.py"), *args], capture_output=True, text=True)
    assert res.returncode == 2 and "q2" in res.stderr and "output" in res.stderr and not merged.exists()
    assert lamp_main(["merge", *args, "--allow_missing_outputs"]) == 0
    data = json.loads(merged.read_text())
    assert [d["output"] for d in data] == ["5", "3", None]
    assert [p["id"] for p in data[0]["profile"]] == ["q0-4", "q0-0"]
    assert set(data[0]) >= {"id", "input", "profile", "output"}


def test_merge_names_unknown_profile_ids_in_the_ranking(tmp_path, capsys):
    src = lamp3(tmp_path, n=2)
    ranking = tmp_path / "rank.json"
    ranking.write_text(json.dumps({"q0": ["q0-1"], "q1": ["q1-0", "nope"]}))
    assert lamp_main(["merge", "--lamp_questions_addr", str(src), "--profile_ranking_addr", str(ranking),
                      "--merged_output_addr", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "'q1'" in err and "'nope'" in err and str(ranking) in err


def test_merge_without_ranking_keeps_file_order_and_without_outputs_has_no_output_key(tmp_path):
    src = lamp3(tmp_path, n=1)
    merged = tmp_path / "m.json"
    assert lamp_main(["merge", "--lamp_questions_addr", str(src), "--merged_output_addr", str(merged)]) == 0
    rec = json.loads(merged.read_text())[0]
    assert "output" not in rec and [p["id"] for p in rec["profile"]] == [f"q0-{j}" for j in range(5)]


@pytest.mark.skipif(not DEMO.exists(), reason="no bundled demo data")
@pytest.mark.parametrize("task", BENCHMARK_TASKS)
def test_bundled_demo_bm25_rankings_equal_a_bm25okapi_loop(task, tmp_path):
    t = get_task(task)
    folder = DEMO / t.file_name
    files = sorted(folder.glob("*/*_questions.json"))
    if not files:
        pytest.skip(f"no demo files for {task}")
    for path in files:
        out = tmp_path / f"{path.stem}.json"
        if path.parent.name == "dev":    # the official-style script, end to end
            res = subprocess.run([PY, str(ROOT / "retrievers" / "rank_profiles.py"), "--input_data_addr", str(path),
                                  "--output_ranking_addr", str(out), "--task", task, "--ranker", "bm25"],
                                 capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            ranking = json.loads(out.read_text())
        else:
            ranking = rank_file(path, out, task, "bm25", progress=False, workers=1)
        questions = load_questions(path, task=task)
        assert list(ranking) == [q.id for q in questions]
        for q in questions:
            assert ranking[q.id] == official_bm25(q, t), (path, q.id)


@pytest.mark.parametrize("use_date", [False, True])
def test_documents_in_one_pass_equal_task_document_for_every_task(use_date):
    from lamp.core.records import ITEM_FIELDS, ProfileItem
    from lamp.core.tasks import TASKS
    from retrievers.ranking import documents

    items = [ProfileItem(id="1", **{f: f"{f} words" for f in ITEM_FIELDS}),
             ProfileItem(id="2", title="", text="t", date=None), ProfileItem(id="3", extra={"x": 1})]
    for task in TASKS.values():
        assert documents(task, items, use_date) == [task.document(i, use_date) for i in items], task.name


def test_rank_profiles_equals_the_official_loop_of_the_benchmark(tmp_path):
    """The benchmark's re-implementation of the official loop, on its own generated data (small)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rank_profiles", ROOT / "bench" / "bench_rank_profiles.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = tmp_path / "train_questions.json"
    bench.make_questions(data, 12, seed=3, corpus_words=20_000)
    subprocess.run([PY, "-c", bench.OFFICIAL, str(data), str(tmp_path / "official.json")], check=True)
    ours = rank_file(data, tmp_path / "ours.json", "LaMP-4", "bm25", progress=False, workers=2)
    assert ours == json.loads((tmp_path / "official.json").read_text())


# --------------------------------------------------------------------------- the file shared among workers

@pytest.fixture
def small_shares(monkeypatch):
    """Shares of two questions, so a small file spreads over several worker jobs."""
    import retrievers.ranking as ranking

    monkeypatch.setattr(ranking, "SHARE_QUESTIONS", 2)


def test_workers_decoding_their_own_shares_rank_as_one_process(tmp_path, small_shares, monkeypatch):
    import retrievers.ranking as ranking

    src = lamp3(tmp_path, n=9, broken_input=True)
    one = rank_file(src, tmp_path / "one.json", "LaMP-3", "bm25", progress=False, workers=1)
    monkeypatch.setattr(ranking, "load_questions", None)      # the parent never loads the whole file
    assert rank_file(src, tmp_path / "two.json", "LaMP-3", "bm25", progress=False, workers=2) == one
    lines = tmp_path / "dev_questions.jsonl"
    lines.write_text("\ufeff" + "\n".join(json.dumps(q) for q in json.loads(src.read_text())) + "\n")
    assert rank_file(lines, tmp_path / "lines.json", "LaMP-3", "bm25", progress=False, workers=2) == one


def test_a_bad_record_in_a_worker_share_gets_the_detailed_error(tmp_path, small_shares):
    from lamp.core.errors import LampDataError

    src = lamp3(tmp_path, n=7)
    data = json.loads(src.read_text())
    data[5]["profile"][2]["date"] = "yesterday"
    src.write_text(json.dumps(data))
    with pytest.raises(LampDataError) as err:
        rank_file(src, tmp_path / "r.json", "LaMP-3", "bm25", progress=False, workers=2)
    assert "q5-2" in str(err.value) and "date" in str(err.value)
    assert not (tmp_path / "r.json").exists()


def test_a_question_id_repeated_in_another_share_is_named(tmp_path, small_shares):
    from lamp.core.errors import LampDataError

    src = lamp3(tmp_path, n=7)
    data = json.loads(src.read_text())
    data[6]["id"] = "q1"
    src.write_text(json.dumps(data))
    with pytest.raises(LampDataError, match="duplicate question id"):
        rank_file(src, tmp_path / "r.json", "LaMP-3", "bm25", progress=False, workers=2)


def test_workers_resume_from_the_sidecar_without_reranking_finished_questions(tmp_path, small_shares):
    src, out = lamp3(tmp_path, n=8), tmp_path / "rank.json"
    full = rank_file(src, tmp_path / "full.json", "LaMP-3", "bm25", progress=False, workers=1)
    partial = partial_path_for(out)
    settings = {"settings": {"task": "LaMP-3", "use_date": False, "ranker": "bm25"}}
    kept = {k: list(reversed(v)) for k, v in list(full.items())[:3]}    # marked: reused, not recomputed
    partial.write_text("\n".join([json.dumps(settings)] + [json.dumps({"id": k, "ranking": v}) for k, v in kept.items()])
                       + '\n{"id": "q3", "rank')
    assert rank_file(src, out, "LaMP-3", "bm25", progress=False, workers=2) == {**full, **kept}
    assert not partial.exists()
