"""RSPG: feedback per retriever, selector data, losses, Pre/Post inputs, the oracle, final_preds.json,
training (seeded, resumable), the rspg-pre retriever, the official scripts and bad input."""

from __future__ import annotations

import json
import os
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lamp.generation.backends.base import Backend
from lamp.core.errors import LampDataError, LampError
from lamp.generation.cache import GenerationCache
from lamp.core.tasks import get_task

from rspg.data import check_metric, create_data, create_data_files
from rspg.feedback import FeedbackConfig, load_scores, question_metrics, score_member
from lamp.training.losses import kd_loss, rating_values
from rspg.model import selector_text
from rspg.pool import load_pool, parse_member
from rspg.selection import final_preds, oracle_picks, pool_table, selector_accuracy, write_selection

ROOT = Path(__file__).resolve().parents[2]
LAMP2 = ROOT / "data" / "demo" / "LaMP_2" / "dev"


class TagBackend(Backend):
    """A deterministic stand-in LLM: chooses the first label written in the prompt's profile part."""

    identity = "test-tag-backend"
    tokenizer = None

    def __init__(self) -> None:
        self.calls = 0

    def choose(self, prompts, options, settings):
        self.calls += len(prompts)
        out = []
        for p in prompts:
            head = p.split("Which tag")[0]
            out.append(next((o for o in options if o in head), options[0]))
        return out

    def generate(self, prompts, settings):
        self.calls += len(prompts)
        return [p.split()[-1] for p in prompts]


def lamp2(n: int = 6):
    from lamp.core.outputs import load_outputs
    from lamp.core.questions import load_questions

    questions = load_questions(LAMP2 / "dev_questions.json", task="LaMP-2")[:n]
    golds = load_outputs(LAMP2 / "dev_outputs.json", task="LaMP-2").by_id()
    return questions, {q.id: golds[q.id] for q in questions}


def fake_records(labels, outputs=None, names=("none", "bm25", "recency")):
    outputs = outputs or [[f"out{i}{k}" for k in range(len(row))] for i, row in enumerate(labels)]
    return [{"id": str(i), "gold": f"out{i}{int(np.argmax(row))}", "labels": list(row), "outputs": list(out),
             "inputs": [f"Prompt {i} by {n}" for n in names], "retrievers": list(names)}
            for i, (row, out) in enumerate(zip(labels, outputs))]


# --------------------------------------------------------------------------- losses and inputs

def test_paper_kd_loss_is_kl_of_label_softmax_to_score_softmax_by_hand():
    t = [math.e / (1 + math.e), 1 / (1 + math.e)]              # softmax([1, 0])
    expected = sum(ti * (math.log(ti) - math.log(0.5)) for ti in t)   # scores [0, 0] -> p = [0.5, 0.5]
    got = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), None, 1.0, "paper")
    assert got.item() == pytest.approx(expected, abs=1e-6)          # 0.1109
    # temperature scales both sides: labels [2, 0] at T=2 give the same target as [1, 0] at T=1
    got_t = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), None, 2.0, "paper")
    assert got_t.item() == pytest.approx(expected, abs=1e-6)


def test_official_kd_loss_divides_log_probabilities_by_t_and_not_the_target():
    t = [math.e / (1 + math.e), 1 / (1 + math.e)]
    inp = [math.log(0.5) / 2.0] * 2                                  # log_softmax([0, 0]) / T, T = 2
    expected = sum(ti * (math.log(ti) - x) for ti, x in zip(t, inp))  # KLDivLoss(batchmean), batch of 1
    got = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), None, 2.0, "official")
    assert got.item() == pytest.approx(expected, abs=1e-6)           # -0.2356: the quirk can go negative
    assert expected < 0


def test_rspg_and_ropg_share_one_kd_definition():
    """The selector trains with lamp.training.losses.kd_loss itself; rspg defines no loss of its own."""
    import rspg.model
    import rspg.train
    import ropg.train
    from lamp.training import losses

    assert rspg.train.kd_loss is losses.kd_loss and rspg.train.rating_values is losses.rating_values
    assert not hasattr(rspg.model, "kd_loss") and not hasattr(rspg.model, "rating_labels")
    for package in (ropg.train, rspg.train):
        for source in Path(package.__file__).parent.glob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "def kd_loss" not in text and "torch.log_softmax" not in text, source


def test_kd_loss_averages_over_the_batch():
    one = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), None, 1.0, "official")
    two = kd_loss(torch.tensor([[0.0, 0.0], [3.0, 3.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]), None, 1.0,
                  "official")
    assert two.item() == pytest.approx(one.item(), abs=1e-6)


def test_rating_labels_map_absolute_error_to_w_minus_mae_over_w():
    assert rating_values([0, 1, 3], "4") == pytest.approx([1.0, 2 / 3, 0.0])     # w = max(3, 1) = 3
    assert rating_values([2, 0.5], " 3") == pytest.approx([0.0, 0.75])          # w = 2


def test_pre_reads_the_prompt_and_post_adds_the_separator_and_the_output_only_the_prompt_lower_cased():
    """The official dataset lower-cases ``inputs`` (the prompts); the generated outputs keep their case."""
    assert selector_text("Pre", "Tag THIS Movie", "Comedy", "</s>") == "tag this movie"
    assert selector_text("Post", "Tag THIS Movie", "Comedy", "</s>") == "tag this movie </s> Comedy"
    with pytest.raises(LampError, match="rspg_type"):
        selector_text("Middle", "a", "b", "</s>")


# --------------------------------------------------------------------------- oracle, selection, final_preds

def test_oracle_takes_the_best_retriever_per_input_and_selector_accuracy_counts_ties():
    labels = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.2, 0.1, 0.9]])
    assert oracle_picks(labels) == [1, 0, 2]
    assert oracle_picks(labels, prefer=1) == [1, 1, 2]          # ties go to the preferred retriever
    assert selector_accuracy(labels, [1, 1, 0]) == pytest.approx(2 / 3)   # the tie on input 1 counts


def test_final_preds_json_is_official_and_scored_by_the_official_scorer(tmp_path):
    from eval.scoring import score_paths
    from lamp.core.writing import write_outputs

    records = fake_records([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    for r in records:
        r["gold"] = "out" + r["id"] + "1"      # retriever 1 is right on inputs 0 and 3 only
    picks = [1, 0, 2, 1]
    path = write_selection(tmp_path / "sel", "LaMP-5", records, picks)
    data = json.loads(path.read_text())
    assert data == final_preds("LaMP-5", records, picks)
    assert data["task"] == "LaMP_5" and data["golds"][2] == {"id": "2", "output": "out22", "index": 2}
    golds = tmp_path / "golds.json"
    write_outputs(golds, "LaMP-5", {r["id"]: r["gold"] for r in records})
    metrics = score_paths(golds, path)[0].metrics
    # outputs 0 and 3 equal the gold (rouge 1); "out10" vs "out11" and "out22" vs "out21" share no token
    assert metrics["rouge-1"] == pytest.approx(0.5) and metrics["rouge-L"] == pytest.approx(0.5)


def test_pool_table_reports_singles_oracle_selector_spread_and_significance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(40, 3)).astype(float)
    records = fake_records(labels.tolist())
    for r, row in zip(records, labels):
        r["gold"] = r["outputs"][int(np.argmax(row))] if row.max() > 0 else "nothing matches"
    table = pool_table("LaMP-5", records, {"rspg-post": [2] * 40}, n_resamples=200)
    rows = table["rows"]
    assert set(rows) == {"none", "bm25", "recency", "oracle", "rspg-post"}
    assert rows["oracle"]["metrics"]["rouge-1"] >= max(rows[n]["metrics"]["rouge-1"] for n in ("none", "bm25", "recency"))
    assert rows["rspg-post"]["picks"] == {"none": 0, "bm25": 0, "recency": 40}
    assert rows["rspg-post"]["metrics"] == rows["recency"]["metrics"]
    assert set(rows["oracle"]["vs_best_single"]) == {"rouge-1", "rouge-L"}
    assert rows["oracle"]["selector_accuracy"] == 1.0


# --------------------------------------------------------------------------- pool specs

def test_pool_members_take_any_registered_ranker_with_options_and_names(tmp_path):
    ckpt = tmp_path / "kd"
    ckpt.mkdir()
    assert parse_member("bm25").to_json() == {"name": "bm25", "ranker": "bm25", "options": {}}
    kd = parse_member(f"ropg-kd=trained:{ckpt}")
    assert (kd.name, kd.ranker, kd.options) == ("ropg-kd", "trained", {"contriever_checkpoint": str(ckpt)})
    assert parse_member("rrf:bm25,contriever").options == {"members": "bm25,contriever"}
    spec = tmp_path / "pool.json"
    spec.write_text(json.dumps([{"name": "rl", "ranker": "trained", "options": {"contriever_checkpoint": str(ckpt)}}]))
    assert [m.name for m in load_pool(["none", "recency", str(spec)])] == ["none", "recency", "rl"]


def test_pool_rejects_unknown_rankers_missing_checkpoints_and_repeated_names(tmp_path):
    with pytest.raises(LampError, match="Did you mean 'bm25'"):
        parse_member("bm52")
    with pytest.raises(LampError, match="no such checkpoint folder"):
        parse_member(f"trained:{tmp_path / 'missing'}")
    with pytest.raises(LampError, match="repeated: bm25"):
        load_pool(["bm25", "bm25"])


# --------------------------------------------------------------------------- feedback

def test_feedback_writes_official_scores_json_and_never_generates_twice(tmp_path):
    questions, golds = lamp2()
    member = parse_member("recency")
    cfg = FeedbackConfig(k=2, max_length=256, max_new_tokens=8, num_beams=1, label_choice=True)
    with GenerationCache(tmp_path / "gen.sqlite") as cache:
        first = TagBackend()
        scores = score_member("LaMP-2", questions, golds, member, cfg, first, cache, tmp_path / "fb")
        assert first.calls == len({r["input"] for r in scores.values()})
        again = TagBackend()
        score_member("LaMP-2", questions, golds, member, cfg, lambda: again, cache, tmp_path / "fb2")
        assert again.calls == 0
    stored = load_scores(tmp_path / "fb")
    assert list(stored) == [q.id for q in questions]
    rec = stored[questions[0].id]
    assert set(rec) == {"metric", "output", "input"} and set(rec["metric"]) == {"accuracy", "f1"}
    assert rec["metric"]["accuracy"] == float(rec["output"] == golds[questions[0].id])
    assert rec["input"].endswith(questions[0].input)        # the profile items come first (LaMP-2 template)
    ranking = json.loads((tmp_path / "fb" / "ranking.json").read_text())
    assert set(ranking) == set(golds)


def test_feedback_reads_a_lamp_run_directory_without_loading_a_model(tmp_path):
    from lamp.core.writing import write_json, write_outputs

    questions, golds = lamp2(3)
    run = tmp_path / "run"
    write_json(run / "config.json", {"k": 2, "max_length": 256, "max_new_tokens": 8, "num_beams": 1,
                                     "label_choice": True})
    (run / "prompts" / "LaMP_2").mkdir(parents=True)
    (run / "prompts" / "LaMP_2" / "bm25.jsonl").write_text(
        "".join(json.dumps({"id": q.id, "prompt": f"prompt {q.id}"}) + "\n" for q in questions))
    write_outputs(run / "predictions" / "bm25" / "LaMP_2.json", "LaMP-2", {q.id: golds[q.id] for q in questions})

    def no_model():
        raise AssertionError("the model must not be loaded")

    cfg = FeedbackConfig(k=2, max_length=256, max_new_tokens=8, num_beams=1, label_choice=True)
    scores = score_member("LaMP-2", questions, golds, parse_member("bm25"), cfg, no_model, None, tmp_path / "fb",
                          run_dir=run)
    assert all(s["metric"]["accuracy"] == 1.0 and s["input"] == f"prompt {qid}" for qid, s in scores.items())
    with pytest.raises(LampError, match="other settings"):
        score_member("LaMP-2", questions, golds, parse_member("bm25"), FeedbackConfig(k=4), no_model, None,
                     tmp_path / "fb3", run_dir=run)


def test_rating_feedback_carries_the_official_lower_case_keys_too():
    assert question_metrics("LaMP-3", "4", "2") == {"MAE": 2.0, "RMSE": 2.0, "mae": 2.0, "rmse": 2.0}


# --------------------------------------------------------------------------- create_data and bad input

def _pool_dirs(tmp_path, ids, outputs_by_member, gold):
    from lamp.core.writing import write_json

    dirs = []
    for name, outs in outputs_by_member.items():
        folder = tmp_path / name
        write_json(folder / "scores.json", {i: {"metric": question_metrics("LaMP-5", gold[i], o), "output": o,
                                                "input": f"{name} prompt {i}"} for i, o in zip(ids, outs)})
        dirs.append(folder)
    return dirs


def _task_files(tmp_path, ids, gold):
    from lamp.core.writing import write_json, write_outputs

    q = write_json(tmp_path / "q.json", [{"id": i, "input": f"abstract {i}", "profile": [{"id": f"{i}-0", "title": "t", "abstract": "a"}]}
                                          for i in ids]) \
        or tmp_path / "q.json"
    o = tmp_path / "o.json"
    write_outputs(o, "LaMP-5", gold)
    return q, o


def test_create_data_reads_prompts_from_scores_json_for_a_pool_of_any_size(tmp_path):
    ids = ["50", "51"]
    gold = {"50": "deep nets", "51": "graph search"}
    dirs = _pool_dirs(tmp_path, ids, {"a": ["deep nets", "x"], "b": ["y", "graph search"], "c": ["deep", "graph"]},
                      gold)
    q, o = _task_files(tmp_path, ids, gold)
    records = create_data_files(dirs, str(q), str(o), str(tmp_path / "data.json"), "rouge-1")
    assert [r["labels"] for r in records] == [[1.0, 0.0, pytest.approx(2 / 3)], [0.0, 1.0, pytest.approx(2 / 3)]]
    assert records[0]["inputs"] == ["a prompt 50", "b prompt 50", "c prompt 50"]
    assert records[1]["outputs"] == ["x", "graph search", "graph"] and records[0]["retrievers"] == ["a", "b", "c"]
    assert "profile" not in records[0] and records[0]["gold"] == "deep nets"
    assert json.loads((tmp_path / "data.json").read_text()) == json.loads(json.dumps(records))


def test_create_data_names_the_file_and_record_when_pool_ids_differ(tmp_path):
    ids = ["50", "51"]
    gold = {"50": "deep nets", "51": "graph search"}
    dirs = _pool_dirs(tmp_path, ids, {"a": ["deep nets", "x"]}, gold)
    dirs += _pool_dirs(tmp_path, ["50"], {"b": ["y"]}, gold)         # b misses question 51
    q, o = _task_files(tmp_path, ids, gold)
    out = tmp_path / "data.json"
    with pytest.raises(LampDataError) as err:
        create_data_files(dirs, str(q), str(o), str(out), "rouge-1")
    assert "b/scores.json" in str(err.value) and "'51'" in str(err.value) and "differ" in str(err.value)
    assert not out.exists()                                           # nothing half-written


def test_metric_not_in_feedback_suggests_the_right_key():
    with pytest.raises(LampError, match="Did you mean 'rouge-L'"):
        check_metric("rouge-l", ["rouge-1", "rouge-L"], "x/scores.json")
    with pytest.raises(LampError, match="Did you mean 'accuracy'"):
        check_metric("acuracy", ["accuracy", "f1"], "x/scores.json")


def test_create_data_needs_two_retrievers():
    with pytest.raises(LampError, match="at least two"):
        create_data([{"id": "1"}], {"1": "a"}, [{"1": {"metric": {"f1": 1}, "output": "a", "input": "p"}}], "f1", ["a"])


def test_cli_exits_2_on_bad_input_naming_the_problem(tmp_path, capsys):
    from lamp.cli.main import main

    ids = ["50", "51"]
    gold = {"50": "deep nets", "51": "graph search"}
    dirs = _pool_dirs(tmp_path, ids, {"a": ["deep nets", "x"], "b": ["y", "graph search"]}, gold)
    q, o = _task_files(tmp_path, ids, gold)
    code = main(["rspg", "data", "--retrivers_data_addr", *map(str, dirs), "--task_inputs_addr", str(q),
                 "--task_outputs_addr", str(o), "--output_dataset_addr", str(tmp_path / "d.json"),
                 "--metric", "rouge-l"])
    assert code == 2 and "Did you mean 'rouge-L'" in capsys.readouterr().err


def test_training_refuses_labels_that_are_all_equal(tmp_path):
    from rspg.train import TrainConfig, train_selector

    path = tmp_path / "train.json"
    path.write_text(json.dumps(fake_records([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])))
    with pytest.raises(LampDataError, match="all equal"):
        train_selector(TrainConfig(task="LaMP-2"), path, tmp_path / "sel")
    assert not (tmp_path / "sel").exists()


# --------------------------------------------------------------------------- training with a tiny encoder

def make_tiny_encoder(folder: Path) -> Path:
    from tiny_models import make_tiny_encoder as make

    return make(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


def learnable_records(n: int = 24):
    """Retriever 'cat' is right when its prompt names a cat, retriever 'dog' otherwise."""
    records = []
    for i in range(n):
        cat = i % 2 == 0
        records.append({"id": str(i), "gold": "a", "labels": [1.0, 0.0] if cat else [0.0, 1.0],
                        "outputs": ["a", "b"] if cat else ["b", "a"], "retrievers": ["cat", "dog"],
                        "inputs": ["the cat runs" if cat else "the bird runs", "the dog sleeps"]})
    return records


def test_selector_learns_a_learnable_pool_and_resumes_to_the_same_weights(tiny, tmp_path, monkeypatch):
    import rspg.train as train
    from rspg.model import load_selector

    data = tmp_path / "train.json"
    data.write_text(json.dumps(learnable_records()))
    cfg = train.TrainConfig(task="LaMP-2", rspg_type="Pre", model_name=str(tiny), pooling="mean", lr=3e-2,
                            epochs=3, per_gpu_batch_size=4, max_length_input=16)
    log = train.train_selector(cfg, data, tmp_path / "a", val_path=data, progress=False)
    assert log["epochs"][-1]["val"]["accuracy"] == 1.0 and log["pooling"] == "mean"
    assert log["epochs"][-1]["train_loss"] < log["epochs"][0]["train_loss"]

    real_dumps = json.dumps

    def dumps_then_stop(obj, *a, **k):      # killed while reporting epoch 2, after epoch 1 was saved
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise KeyboardInterrupt
        return real_dumps(obj, *a, **k)

    monkeypatch.setattr(train.json, "dumps", dumps_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train.train_selector(cfg, data, tmp_path / "b", val_path=data, progress=False)
    monkeypatch.setattr(train.json, "dumps", real_dumps)
    assert torch.load(tmp_path / "b" / train.STATE_FILE, weights_only=False)["epoch"] == 1
    train.train_selector(cfg, data, tmp_path / "b", val_path=data, progress=False)
    a, _, _ = load_selector(tmp_path / "a")
    b, _, config = load_selector(tmp_path / "b")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(pa, pb, atol=1e-6), name
    assert config["rspg_type"] == "Pre" and config["retrievers"] == ["cat", "dog"]
    again = train.train_selector(cfg, data, tmp_path / "b", val_path=data, progress=False)
    assert again["finished"] and again["epochs"] == log["epochs"]


def test_frozen_encoder_trains_only_the_head(tiny, tmp_path):
    import rspg.train as train
    from rspg.model import load_encoder, load_selector

    data = tmp_path / "train.json"
    data.write_text(json.dumps(learnable_records()))
    cfg = train.TrainConfig(task="LaMP-2", rspg_type="Post", model_name=str(tiny), pooling="cls", lr=5e-2,
                            epochs=2, per_gpu_batch_size=4, max_length_input=16, freeze_encoder=True)
    train.train_selector(cfg, data, tmp_path / "s", progress=False)
    model, _, config = load_selector(tmp_path / "s")
    base, _, _ = load_encoder(str(tiny), "mean")
    tuned, original = model.encoder.state_dict(), base.state_dict()
    for name, value in original.items():
        if not name.startswith("pooler."):      # the tiny encoder has no pooler weights: each load draws them
            assert torch.equal(tuned[name], value), name
    assert config["pooling"] == "cls" and config["rspg_type"] == "Post"


def test_auto_pooling_uses_mean_when_the_checkpoint_has_no_trained_pooler(tiny):
    from rspg.model import load_encoder

    assert load_encoder(str(tiny), "auto")[2] == "mean"      # its pooler would be freshly drawn weights
    assert load_encoder(str(tiny), "cls")[2] == "cls"
    with pytest.raises(LampError, match="--pooling must be one of"):
        load_encoder(str(tiny), "max")


# --------------------------------------------------------------------------- rspg-pre as a retriever

def _zero_selector(tiny, folder: Path, members: list[dict]) -> Path:
    """A saved Pre selector whose head scores every prompt 0, so the first member always wins."""
    from rspg.model import Selector, load_encoder, save_selector

    encoder, tokenizer, pooling = load_encoder(str(tiny), "mean")
    model = Selector(encoder, pooling)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    save_selector(model, tokenizer, folder, {"task": "LaMP-2", "rspg_type": "Pre", "max_length_input": 16,
                                             "retrievers": [m["name"] for m in members],
                                             "pool": {"members": members, "k": 2, "max_length": 256,
                                                      "tokenizer": str(tiny)}})
    return folder


def test_rspg_pre_retriever_returns_the_chosen_members_ranking(tiny, tmp_path):
    from retrievers.ranking import rank_questions

    questions, _ = lamp2(4)
    members = [{"name": "recency", "ranker": "recency", "options": {}}, {"name": "bm25", "ranker": "bm25", "options": {}}]
    folder = _zero_selector(tiny, tmp_path / "sel", members)
    got = rank_questions(questions, "LaMP-2", "rspg-pre", rspg_selector=str(folder), progress=False)
    assert got == rank_questions(questions, "LaMP-2", "recency", progress=False)


def test_rspg_pre_retriever_falls_back_from_no_profile_to_the_best_profile_member(tiny, tmp_path, monkeypatch):
    from retrievers import Query, get_retriever
    from retrievers.ranking import make_query, rank_questions

    questions, _ = lamp2(3)
    members = [{"name": "none", "ranker": "none", "options": {}}, {"name": "bm25", "ranker": "bm25", "options": {}}]
    folder = _zero_selector(tiny, tmp_path / "sel", members)
    monkeypatch.setenv("LAMP_RSPG_SELECTOR", str(folder))
    retriever = get_retriever("rspg-pre")
    queries = [make_query(q, get_task("LaMP-2"))[0] for q in questions]
    assert all(isinstance(q, Query) and q.input == src.input for q, src in zip(queries, questions))
    orders = retriever.rank_batch(queries)
    bm25 = rank_questions(questions, "LaMP-2", "bm25", progress=False)
    assert [[q.profile[i].id for i in o] for q, o in zip(queries, orders)] == [bm25[q.id] for q in questions]
    assert retriever.choices == {"none->bm25": 3}


def test_rspg_pre_retriever_refuses_a_post_selector(tiny, tmp_path):
    from retrievers import get_retriever

    folder = _zero_selector(tiny, tmp_path / "sel", [{"name": "bm25", "ranker": "bm25", "options": {}}])
    config = json.loads((folder / "rspg_config.json").read_text())
    (folder / "rspg_config.json").write_text(json.dumps({**config, "rspg_type": "Post"}))
    with pytest.raises(LampError, match="only a Pre selector"):
        get_retriever("rspg-pre", rspg_selector=str(folder))


# --------------------------------------------------------------------------- official scripts

@pytest.mark.parametrize("script", ["rspg/rspg.py", "rspg/create_data.py", "rspg/retriever_utilization_scorer.py"])
def test_official_scripts_run_by_path(script):
    done = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--names-list" in done.stdout if "create_data" in script else "usage" in done.stdout


def test_official_rspg_py_trains_and_validates_in_one_command(tiny, tmp_path):
    """The official command line: --name is the experiment under --checkpoint_dir, --total_steps (+ 1, as the
    official loop) at batch 1, a checkpoint every --save_freq steps and at the end, validation in
    predictions/validation."""
    from lamp.core.writing import write_outputs

    records = learnable_records(8)
    data = tmp_path / "d.json"
    data.write_text(json.dumps(records))
    golds = tmp_path / "golds.json"
    write_outputs(golds, "LaMP-5", {r["id"]: r["gold"] for r in records})
    done = subprocess.run([sys.executable, str(ROOT / "rspg" / "rspg.py"), "--train_data", str(data), "--val_data",
                           str(data), "--val_lamp_golds", str(golds), "--task", "LaMP-5", "--rspg_type", "Post",
                           "--model_name", str(tiny), "--do_train", "--do_validation", "--total_steps", "5",
                           "--warmup_steps", "0", "--save_freq", "2", "--eval_freq", "2", "--checkpoint_dir",
                           str(tmp_path / "ck"), "--name", "post", "--max_length_input", "16", "--do_filtering",
                           "--eval_print_freq", "7", "--optim", "adam", "--weight_decay", "0", "--dropout", "0.1",
                           "--clip", "1.0", "--fixed_lr", "--scheduler_steps", "5", "--local-rank", "-1",
                           "--main_port", "-1", "--no_progress"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "ck" / "post"
    # the official loop stops once the step exceeds --total_steps: N + 1 steps, the last saved as step-(N+1)
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == ["latest", "step-2", "step-4", "step-6"]
    assert (run / "checkpoint" / "latest").resolve().name == "step-6"
    assert json.loads((run / "train_log.json").read_text())["step"] == 6
    assert "official" in done.stderr and "6 steps at batch 1 (gradients summed)" in done.stdout
    preds = json.loads((run / "predictions" / "validation" / "final_preds.json").read_text())
    assert preds["task"] == "LaMP_5" and len(preds["golds"]) == 8
    scores = json.loads((run / "predictions" / "validation" / "final_scores.json").read_text())
    assert set(scores) == {"rouge-1", "rouge-L"}
    again = subprocess.run([sys.executable, str(ROOT / "rspg" / "rspg.py"), "--train_data", str(data), "--val_data",
                            str(data), "--val_lamp_golds", str(golds), "--task", "LaMP-5", "--rspg_type", "Post",
                            "--do_validation", "--model_path", str(run / "checkpoint" / "step-2"), "--checkpoint_dir",
                            str(tmp_path / "ck"), "--name", "post2", "--no_progress"],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "ck" / "post2" / "predictions" / "validation" / "final_preds.json").exists()


def test_official_rspg_py_without_longformer_offline_stops_naming_it(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(json.dumps(learnable_records(4)))
    done = subprocess.run([sys.executable, str(ROOT / "rspg" / "rspg.py"), "--train_data", str(data), "--val_data",
                           str(data), "--val_lamp_golds", str(data), "--task", "LaMP-5", "--rspg_type", "Pre",
                           "--do_train", "--checkpoint_dir", str(tmp_path / "ck")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "allenai/longformer-base-4096" in done.stderr and "--model_name" in done.stderr
    assert "differ from the paper" in done.stderr and not (tmp_path / "ck").exists()


@pytest.mark.slow
def test_bundled_minilm_is_the_default_selector_encoder_with_its_pooler(tmp_path):
    import rspg.train as train

    data = tmp_path / "train.json"
    data.write_text(json.dumps(learnable_records(8)))
    log = train.train_selector(train.TrainConfig(task="LaMP-2", epochs=1, max_length_input=32, per_gpu_batch_size=4),
                               data, tmp_path / "sel", val_path=data, progress=False)
    assert log["pooling"] == "pooler" and "minilm" in log["encoder"].lower()
    assert (tmp_path / "sel" / "encoder" / "config.json").exists()


def test_retriever_prior_learns_the_pools_best_retriever_when_texts_say_nothing(tiny, tmp_path):
    import rspg.train as train
    from rspg.model import load_selector

    records = [{"id": str(i), "gold": "a", "labels": [0.0, 1.0, 0.0], "outputs": ["b", "a", "c"],
                "retrievers": ["x", "y", "z"], "inputs": ["the cat runs"] * 3} for i in range(12)]
    data = tmp_path / "train.json"
    data.write_text(json.dumps(records))
    cfg = train.TrainConfig(task="LaMP-5", model_name=str(tiny), pooling="mean", lr=5e-2, epochs=3,
                            per_gpu_batch_size=4, max_length_input=16, freeze_encoder=True, retriever_prior=True)
    log = train.train_selector(cfg, data, tmp_path / "s", val_path=data, progress=False)
    assert log["epochs"][-1]["val_picks"] == {"x": 0, "y": 12, "z": 0}   # identical texts: only the prior separates
    model, tokenizer, config = load_selector(tmp_path / "s")
    assert config["prior"] == 3 and int(model.prior.argmax()) == 1
    assert "retriever_prior" not in train.TrainConfig(task="LaMP-5").key()


def test_serve_hands_the_whole_input_to_the_retriever():
    from lamp.core.records import ProfileItem
    from lamp.serving.service import personal_example
    from retrievers import Retriever

    seen = []

    class Spy(Retriever):
        def rank_batch(self, queries):
            seen.extend(q.input for q in queries)
            return [list(range(len(q.profile))) for q in queries]

    task = get_task("LaMP-2")
    text = task.make_input(description="A pilot returns for one last flight.")
    items = [ProfileItem(id="1", tag="sci-fi", description="space"), ProfileItem(id="2", tag="comedy", description="x")]
    assert [i.id for i in personal_example(Spy(), task, "u1", text, items, 1, 256, None).items] == ["1"]
    assert seen == [text]


def test_a_finished_selector_is_retrained_when_its_training_data_changes(tiny, tmp_path):
    import rspg.train as train

    data = tmp_path / "train.json"
    data.write_text(json.dumps(learnable_records(8)))
    cfg = train.TrainConfig(task="LaMP-2", model_name=str(tiny), pooling="mean", lr=1e-2, epochs=1,
                            per_gpu_batch_size=4, max_length_input=16, freeze_encoder=True)
    first = train.train_selector(cfg, data, tmp_path / "s", progress=False)
    data.write_text(json.dumps(learnable_records(12)))
    second = train.train_selector(cfg, data, tmp_path / "s", progress=False)
    assert first["train_data_sha256"] != second["train_data_sha256"]
