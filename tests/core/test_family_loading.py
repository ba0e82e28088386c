"""LongLaMP and LaMP-QA as users get them: the Hugging Face datasets' own rows, from every file that
``datasets`` writes (written by ``datasets`` itself here), read through the one questions reader;
``lamp data download --benchmark``; bad records named by file, row and field; the family demo
data; ``lamp rank`` and ``lamp run`` end to end on it."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from lamp.cli.main import main  # noqa: E402
from lamp.core.errors import LampDataError  # noqa: E402
from lamp.core.hub import download_benchmark  # noqa: E402
from lamp.core.questions import load_questions  # noqa: E402
from lamp.core.splits import read_split  # noqa: E402
from lamp.core.tasks import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
REVIEW, QA = "LongLaMP-product_review", "LaMP-QA-Lifestyle_and_Personal_Development"
REVIEW_DIR, QA_DIR = DEMO / get_task(REVIEW).file_name, DEMO / get_task(QA).file_name


def review_rows() -> list[dict]:
    return [{"input": 'Generate the review text ... rating of "5.0" ... "Kettle".', "output": "Boils fast. Would buy again.",
             "reviewerId": "A1B2", "profile": [
                 {"description": "A mug", "overall": 4.0, "reviewText": "Nice mug.", "summary": "Good"},
                 {"description": "A pan", "overall": 2.0, "reviewText": "Bad pan.", "summary": "Meh"}]},
            {"input": "Generate the review text for the lamp", "output": "Bright.", "reviewerId": "C3D4",
             "profile": [{"description": "A lamp", "overall": 5.0, "reviewText": "Bright!", "summary": "Wow"}]}]


def qa_rows() -> list[dict]:
    aspects = [{"aspect": "Vegetarian", "reason": "No meat.", "evidence": "I stopped eating meat."}]
    return [{"id": "qa-1", "question": "How do I plan meals?", "narrative": "Wants a plan.",
             "rubric_aspects": aspects, "profile": [{"id": "p1", "text": "I stopped eating meat."},
                                                    {"id": "p2", "text": "Money is tight."}]}]


def written_by_datasets(tmp_path: Path, rows: list[dict]) -> dict[str, Path]:
    """The same rows in each form ``datasets`` writes: save_to_disk, a DatasetDict, Parquet, JSON Lines."""
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(str(tmp_path / "arrow"))
    datasets.DatasetDict({"train": ds, "val": ds}).save_to_disk(str(tmp_path / "dict"))
    ds.to_parquet(str(tmp_path / "rows.parquet"))
    ds.to_json(str(tmp_path / "rows.jsonl"))
    return {"arrow": tmp_path / "arrow", "dict": tmp_path / "dict", "parquet": tmp_path / "rows.parquet",
            "jsonl": tmp_path / "rows.jsonl"}


# --------------------------------------------------------------------------- the readers

def test_every_file_datasets_writes_reads_to_the_same_questions_with_the_documented_ids(tmp_path):
    paths = written_by_datasets(tmp_path, review_rows())
    loaded = {kind: load_questions(path, task=REVIEW, split="dev" if kind == "dict" else None)
              for kind, path in paths.items()}
    first = [q.to_json() for q in loaded["arrow"]]
    assert all([q.to_json() for q in qs] == first for qs in loaded.values())
    q = loaded["parquet"][0]
    assert q.id == "0-" + hashlib.sha1(review_rows()[0]["input"].encode()).hexdigest()[:8]
    assert q.user_id == "A1B2" and q.extra == {"output": "Boils fast. Would buy again."}
    assert [it.get("overall") for it in q.profile] == ["4.0", "2.0"]          # str(value), as the f-strings print
    assert q.profile[0].id.startswith("0-") and q.profile[1].id.startswith("1-")
    assert [x.id for x in load_questions(paths["arrow"], task=REVIEW)] == [x.id for x in loaded["arrow"]]


def test_a_lamp_qa_record_keeps_its_ids_question_narrative_and_rubric(tmp_path):
    path = written_by_datasets(tmp_path, qa_rows())["arrow"]
    (q,) = load_questions(path, task=QA)
    assert (q.id, q.input, q.user_id) == ("qa-1", "How do I plan meals?", None)
    assert [(it.id, it.text) for it in q.profile] == [("p1", "I stopped eating meat."), ("p2", "Money is tight.")]
    assert q.extra == {"narrative": "Wants a plan.", "rubric_aspects": qa_rows()[0]["rubric_aspects"]}


def test_longlamp_golds_are_each_rows_output_and_lamp_qa_has_empty_unscored_golds(tmp_path):
    split = read_split(written_by_datasets(tmp_path / "r", review_rows())["parquet"], REVIEW)
    assert list(split.golds.values()) == ["Boils fast. Would buy again.", "Bright."]
    qa = read_split(written_by_datasets(tmp_path / "q", qa_rows())["jsonl"], QA)
    assert qa.golds == {"qa-1": ""} and qa.golds_source is None


def test_the_datasets_rows_read_as_golds_under_the_same_ids(tmp_path):
    from lamp.core.outputs import load_outputs

    path = written_by_datasets(tmp_path, review_rows())["jsonl"]
    golds = load_outputs(path, task=REVIEW).by_id()
    assert golds == {q.id: q.extra["output"] for q in load_questions(path, task=REVIEW)}


# --------------------------------------------------------------------------- bad records

@pytest.mark.parametrize("task, rows, change, field", [
    (REVIEW, review_rows, lambda r: r[1]["profile"][0].update(overall="great"), "profile[0].overall"),
    (REVIEW, review_rows, lambda r: r[1].pop("output"), "output"),
    (REVIEW, review_rows, lambda r: r[1].update(input=7), "input"),
    (QA, qa_rows, lambda r: r[0].update(rubric_aspects="be nice"), "rubric_aspects"),
    (QA, qa_rows, lambda r: r[0]["profile"][1].pop("text"), "profile[1].text"),
])
def test_a_missing_or_wrong_typed_field_names_the_file_the_row_and_the_field(tmp_path, capsys, task, rows, change,
                                                                           field):
    data = rows()
    change(data)
    path = tmp_path / get_task(task).file_name / "dev_questions.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LampDataError) as caught:
        load_questions(path, task=task)
    assert (caught.value.file, caught.value.field) == (str(path), field)
    row = len(data) - 1
    assert f"row {row}" in caught.value.reason
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{field}: row {row}" in out and "Traceback" not in out


def test_a_dataset_row_without_a_task_asks_for_one_naming_the_candidates(tmp_path):
    path = written_by_datasets(tmp_path, review_rows())["parquet"]
    with pytest.raises(LampDataError, match=f"pass --task, one of {REVIEW}$"):
        load_questions(path)


# --------------------------------------------------------------------------- lamp data download --benchmark

def test_download_loads_through_datasets_and_writes_the_lamp_layout_with_the_same_ids(tmp_path):
    calls = []

    def loader(dataset, config, split, cache_dir):
        calls.append((dataset, config, split, cache_dir))
        return datasets.Dataset.from_list(review_rows())

    paths = download_benchmark(REVIEW, "dev", tmp_path, setting="temporal", cache_dir="c", loader=loader)
    assert calls == [("LongLaMP/LongLaMP", "product_review_temporal", "val", "c")]
    folder = tmp_path / "time" / get_task(REVIEW).file_name / "dev"
    assert paths == [folder / "dev_questions.json", folder / "dev_outputs.json"]
    split = read_split(paths[0], REVIEW)
    direct = load_questions(written_by_datasets(tmp_path / "d", review_rows())["arrow"], task=REVIEW)
    assert [q.id for q in split.questions] == [q.id for q in direct]
    assert split.golds_source == str(paths[1]) and "output" not in (split.questions[0].extra or {})
    qa = download_benchmark(QA, "test", tmp_path, loader=lambda *a, **k: datasets.Dataset.from_list(qa_rows()))
    assert [p.name for p in qa] == ["test_questions.json"]                 # no gold text, no outputs file


def test_download_offline_without_a_cached_copy_fails_naming_the_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["data", "download", "--benchmark", "longlamp", "--config", "product_review_user", "--split", "dev",
                 "--dest", str(tmp_path / "out"), "--cache_dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "'LongLaMP/LongLaMP'" in err and "product_review_user" in err and "offline" in err
    assert main(["data", "download", "--benchmark", "lamp-qa", "--config", "Cooking", "--dest", str(tmp_path)]) == 2
    assert "Art_and_Entertainment" in capsys.readouterr().err


# --------------------------------------------------------------------------- the demo data

def test_the_family_demo_is_validate_clean(capsys):
    assert main(["validate", str(REVIEW_DIR), str(QA_DIR)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_the_family_demo_is_what_the_generator_writes(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "data"))
    try:
        import family_demo
    finally:
        sys.path.pop(0)
    family_demo.write_family(tmp_path)
    for folder in (REVIEW_DIR, QA_DIR):
        for path in sorted(folder.rglob("*.json")):
            assert (tmp_path / path.relative_to(DEMO)).read_bytes() == path.read_bytes(), path


def test_the_demo_reviews_carry_the_reviewers_habits():
    from rouge_score import rouge_scorer

    rows = json.loads((REVIEW_DIR / "dev" / "dev_questions.json").read_text(encoding="utf-8"))
    score = rouge_scorer.RougeScorer(["rouge1"]).score
    own = [score(r["output"], r["profile"][0]["reviewText"])["rouge1"].fmeasure for r in rows]
    other = [score(r["output"], rows[i - 1]["profile"][0]["reviewText"])["rouge1"].fmeasure for i, r in enumerate(rows)]
    assert sum(own) / len(own) > sum(other) / len(other) + 0.1


def test_the_demo_questions_rubrics_cite_the_askers_own_past_posts():
    rows = json.loads((QA_DIR / "dev" / "dev_questions.json").read_text(encoding="utf-8"))
    for row in rows:
        posts = " ".join(p["text"] for p in row["profile"])
        assert all(a["evidence"] in posts for a in row["rubric_aspects"])
        stranger = random.Random(row["id"]).choice([r for r in rows if r is not row])
        assert not all(a["evidence"] in " ".join(p["text"] for p in stranger["profile"])
                       for a in row["rubric_aspects"])


# --------------------------------------------------------------------------- verbs end to end

@pytest.mark.parametrize("task, folder", [(REVIEW, REVIEW_DIR), (QA, QA_DIR)])
def test_lamp_rank_ranks_the_demo_tasks(tmp_path, task, folder):
    out = tmp_path / "ranking.json"
    assert main(["rank", "--input", str(folder / "dev"), "--output", str(out), "--task", task, "--ranker", "bm25",
                 "--no_progress"]) == 0
    ranking = json.loads(out.read_text(encoding="utf-8"))
    questions = load_questions(folder / "dev", task=task)
    assert {q.id: sorted(ranking[q.id]) for q in questions} == {q.id: sorted(i.id for i in q.profile) for q in questions}


def test_lamp_run_with_the_dummy_backend_runs_the_demo_tasks(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--data", str(DEMO), "--split", "dev", "--tasks", REVIEW, QA, "--retrievers", "none", "bm25",
                 "recency", "--backend", "dummy", "--limit", "3", "--output_dir", str(out)]) == 0
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    review = get_task(REVIEW).file_name
    assert set(scores["bm25"][review]) >= {"rouge-1", "rouge-L", "meteor"}
    assert set(scores["bm25"][get_task(QA).file_name]) == {"rubric-score"}   # the LLM judge scores it
    for method in ("none", "bm25", "recency"):
        for task in (REVIEW, QA):
            preds = json.loads((out / "predictions" / method / f"{get_task(task).file_name}.json").read_text("utf-8"))
            assert len(preds["golds"]) == 3
