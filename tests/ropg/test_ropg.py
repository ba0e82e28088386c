"""ROPG: feedback per profile item, shards, the KD/RL losses, training with resume, the oracle ranker."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

from lamp.generation.backends.base import GenerationSettings, load_backend
from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampDataError, LampError
from lamp.core.questions import load_questions
from lamp.core.writing import write_json
from lamp.generation.cache import GenerationCache
from lamp.core.records import ProfileItem
from lamp.core.splits import read_split
from retrievers.base import Query
from retrievers.merge import merge_with_rank
from ropg.feedback import flatten_pairs, merge_shards, read_scores, score_items, shard_path, write_scores
from lamp.training.losses import gold_values, kd_loss, official_padding, rl_loss
from ropg.oracle import OracleRetriever

ROOT = Path(__file__).resolve().parents[2]
DEMO2 = ROOT / "data" / "demo" / "LaMP_2" / "train"
SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=8, max_input_length=128, stop_at_newline=True)


def softmax(xs):
    e = [math.exp(x - max(xs)) for x in xs]
    return [v / sum(e) for v in e]


# ----------------------------------------------------------------------------- losses


def test_kd_kl_loss_matches_the_hand_computed_value():
    s, g = [1.0, 2.0, 0.0], [1.0, 0.0, 0.0]
    t, p = softmax(g), softmax(s)
    expected = sum(ti * math.log(ti / pi) for ti, pi in zip(t, p))
    got = kd_loss(torch.tensor([s]), torch.tensor([g]), torch.ones(1, 3, dtype=torch.bool))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert got.item() == pytest.approx(0.4322781, rel=1e-5)          # worked by hand: 0.4933 - 0.2424 + 0.1814


def test_kd_paper_form_divides_both_scores_and_gold_by_the_temperature():
    s, g = [1.0, 2.0, 0.0], [1.0, 0.0, 0.0]
    t, p = softmax([x / 2 for x in g]), softmax([x / 2 for x in s])
    expected = sum(ti * math.log(ti / pi) for ti, pi in zip(t, p))
    got = kd_loss(torch.tensor([s]), torch.tensor([g]), torch.ones(1, 3, dtype=torch.bool), temperature=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert kd_loss(torch.tensor([s]), torch.tensor([g]), None, 2.0, "kl").item() == pytest.approx(expected, rel=1e-6)


def test_official_double_softmax_at_t2_with_padding_is_the_official_unmasked_sum():
    """Official ROPG at T=2: softmax(s/T) taken as logits, target softmax(g/T), padded slots real (gold 0)."""
    s, g = [1.0, 2.0, 0.0, 0.3], [1.0, 0.0, 0.0, 0.0]            # the last slot is an empty padding document
    t = softmax([x / 2 for x in g])
    log_q = [math.log(q) for q in softmax(softmax([x / 2 for x in s]))]
    official = -sum(ti * lq for ti, lq in zip(t, log_q))
    assert t[3] == pytest.approx(math.exp(0) / sum(math.exp(x / 2) for x in g))    # padding's target mass
    gold, mask = official_padding(torch.tensor([g]), torch.tensor([[True, True, True, False]]))
    got = kd_loss(torch.tensor([s]), gold, mask, 2.0, "official_double_softmax")
    assert got.item() == pytest.approx(official, rel=1e-6)
    masked = kd_loss(torch.tensor([s]), torch.tensor([g]), torch.tensor([[True, True, True, False]]), 2.0,
                     "official_double_softmax")
    t3, q3 = softmax([x / 2 for x in g[:3]]), softmax(softmax([x / 2 for x in s[:3]]))
    assert masked.item() == pytest.approx(-sum(a * math.log(b) for a, b in zip(t3, q3)), rel=1e-6)
    assert masked.item() != pytest.approx(got.item(), rel=1e-3)


def test_official_kldiv_at_t2_divides_log_probabilities_and_masks_padding():
    """Official RSPG: KLDivLoss(batchmean)(log_softmax(s)/T, softmax(g)), the target unscaled."""
    s, g = [0.5, -1.0, 2.0], [0.2, 1.0, 0.0]
    t, lp = softmax(g), [math.log(x) for x in softmax(s)]
    expected = sum(ti * (math.log(ti) - l / 2) for ti, l in zip(t, lp))
    got = kd_loss(torch.tensor([s]), torch.tensor([g]), None, 2.0, "official_kldiv")
    assert got.item() == pytest.approx(expected, rel=1e-6)
    padded = kd_loss(torch.tensor([s + [9.0]]), torch.tensor([g + [5.0]]), torch.tensor([[True] * 3 + [False]]),
                     2.0, "official")
    assert padded.item() == pytest.approx(expected, rel=1e-6)


def test_lamp3_official_padding_puts_most_target_mass_on_the_empty_documents():
    """The [BUG] the default masking fixes: LaMP-3 padding keeps gold w = 3 for gold 4."""
    gold, mask = official_padding(torch.tensor([[1.0, 0.5, 0.0, 0.0]]), torch.tensor([[True, True, False, False]]),
                                  torch.tensor([3.0]))
    assert gold.tolist() == [[1.0, 0.5, 3.0, 3.0]] and mask.all()
    target = torch.softmax(gold, -1)[0]
    assert float(target[2:].sum()) > 0.8


def test_padding_gets_no_target_mass_and_no_reward():
    """The official LaMP-3 bug: padded documents kept gold w >= 2, above any real item's (w-mae)/w."""
    real_s, real_g = torch.tensor([[0.3, -0.2]]), torch.tensor([[1.0, 0.5]])
    padded_s = torch.tensor([[0.3, -0.2, 0.0]])
    padded_g = torch.tensor([[1.0, 0.5, 4.0]])                 # what the official code put there (w)
    mask = torch.tensor([[True, True, False]])
    for form in ("kl", "official_double_softmax"):
        assert kd_loss(padded_s, padded_g, mask, form=form).item() == pytest.approx(
            kd_loss(real_s, real_g, torch.ones(1, 2, dtype=torch.bool), form=form).item(), rel=1e-6)
    huge = torch.tensor([[0.0, 0.0, 50.0]] * 64)               # the retriever would love the padding
    loss, picked, reward = rl_loss(huge, padded_g.repeat(64, 1), mask.repeat(64, 1), torch.Generator().manual_seed(0))
    assert (picked != 2).all() and reward.max() <= 0.0


def test_lamp3_gold_is_w_minus_mae_over_w():
    # gold 4: w = max(|4-1|, |4-5|) = 3
    assert gold_values([{"mae": 0.0}, {"mae": 3.0}, {"mae": 1.0}], "mae", "4", "rating") == [1.0, 0.0, 2 / 3]
    assert gold_values([{"accuracy": 1.0}], "accuracy", "comedy", "classification") == [1.0]
    assert gold_values([{"loss": 2.5}], "loss", "a title", "generation") == [-2.5]


def test_rl_reward_is_relative_to_the_initial_top_item():
    scores = torch.tensor([[-30.0, -30.0, 30.0], [30.0, -30.0, -30.0]])   # samples item 2, then item 0
    gold = torch.tensor([[0.25, 0.0, 1.0], [0.5, 1.0, 0.0]])
    mask = torch.ones(2, 3, dtype=torch.bool)
    loss, picked, reward = rl_loss(scores, gold, mask, torch.Generator().manual_seed(0))
    assert picked.tolist() == [2, 0]
    assert reward.tolist() == [0.75, 0.0]                     # g_j - g_0
    log_p = torch.log_softmax(scores, -1)
    assert loss.item() == pytest.approx(-(log_p[0, 2] * 0.75 + log_p[1, 0] * 0.0).item() / 2, abs=1e-9)


# ----------------------------------------------------------------------------- feedback


@pytest.fixture(scope="module")
def merged_lamp2(tmp_path_factory) -> Path:
    """The demo LaMP-2 train split as a sorted dataset (file order as the initial ranking)."""
    questions, golds = read_split(DEMO2 / "train_questions.json", "LaMP-2").pair()
    path = tmp_path_factory.mktemp("ropg") / "merged.json"
    write_json(path, merge_with_rank(questions, golds))
    return path


@pytest.fixture
def dummy():
    return load_backend("dummy")


def test_feedback_scores_the_first_items_of_each_profile_with_official_keys(merged_lamp2, dummy):
    questions, golds = read_split(merged_lamp2, "LaMP-2").pair()
    scores = score_items("LaMP-2", questions, golds, dummy, SETTINGS, profile_size=3, label_choice=True,
                         with_loglik=True, progress=False)
    expected = [f"{q.id}-{item.id}" for q in questions for item in q.profile[:3]]
    assert list(scores) == expected
    assert any(len(q.profile) < 3 for q in questions)          # short profiles use what they have
    for record in scores.values():
        assert set(record) == {"accuracy", "f1", "loglik", "loss"}
        assert record["f1"] == pytest.approx(record["accuracy"] / 15)   # macro-F1 over all 15 tags
        assert record["loglik"] <= 0 and record["loss"] >= 0
    assert 0 < sum(r["accuracy"] for r in scores.values()) < len(scores)   # the items' feedback differs


def test_rating_feedback_uses_the_official_lower_case_error_keys(dummy):
    questions, golds = read_split(ROOT / "data" / "demo" / "LaMP_3" / "dev" / "dev_questions.json",
                                  "LaMP-3").pair()
    scores = score_items("LaMP-3", questions[:3], golds, dummy, SETTINGS, profile_size=2, label_choice=True,
                         progress=False)
    assert all(set(r) == {"mae", "rmse"} for r in scores.values())


def test_sharded_and_merged_feedback_equals_unsharded(merged_lamp2, dummy, tmp_path):
    questions, golds = read_split(merged_lamp2, "LaMP-2").pair()
    whole = score_items("LaMP-2", questions, golds, dummy, SETTINGS, profile_size=4, progress=False)
    n = len(flatten_pairs(questions, golds, 4))
    paths = []
    for start, end in ((0, 100), (100, 250), (250, -1)):
        part = score_items("LaMP-2", questions, golds, dummy, SETTINGS, profile_size=4, start=start, end=end,
                           progress=False)
        paths.append(shard_path(tmp_path, start, end))
        write_scores(paths[-1], part)
    assert merge_shards(reversed(paths), flatten_pairs(questions, golds, 4)) == whole
    assert n > 250


def test_merge_refuses_overlapping_missing_and_foreign_shards(merged_lamp2, dummy, tmp_path):
    questions, golds = read_split(merged_lamp2, "LaMP-2").pair()
    pairs = flatten_pairs(questions, golds, 2)
    for start, end in ((0, 50), (40, -1), (50, -1), (60, -1)):
        write_scores(shard_path(tmp_path, start, end), score_items(
            "LaMP-2", questions, golds, dummy, SETTINGS, profile_size=2, start=start, end=end, progress=False))
    with pytest.raises(LampError, match="overlapping"):
        merge_shards([shard_path(tmp_path, 0, 50), shard_path(tmp_path, 40, -1)], pairs)
    with pytest.raises(LampError, match="missing range: no shard covers pairs 50..59"):
        merge_shards([shard_path(tmp_path, 0, 50), shard_path(tmp_path, 60, -1)], pairs)
    with pytest.raises(LampError, match="missing range"):
        merge_shards([shard_path(tmp_path, 0, 50)], pairs)
    with pytest.raises(LampDataError, match="does not match the training data"):   # scored with another size
        merge_shards([shard_path(tmp_path, 0, 50), shard_path(tmp_path, 50, -1)], flatten_pairs(questions, golds, 3))
    assert len(merge_shards([shard_path(tmp_path, 0, 50), shard_path(tmp_path, 50, -1)], pairs)) == len(pairs)


def test_feedback_rerun_takes_every_answer_from_the_cache(merged_lamp2, tmp_path):
    questions, golds = read_split(merged_lamp2, "LaMP-2").pair()
    with GenerationCache(tmp_path / "cache.sqlite") as cache:
        first = load_backend("dummy")
        a = score_items("LaMP-2", questions, golds, first, SETTINGS, profile_size=2, with_loglik=True,
                        cache=cache, progress=False)
        again = load_backend("dummy")
        b = score_items("LaMP-2", questions, golds, again, SETTINGS, profile_size=2, with_loglik=True,
                        cache=cache, progress=False)
    assert a == b and first.calls > 0 and again.calls == 0


def test_score_cli_writes_the_official_file_name_and_the_official_script_runs(merged_lamp2, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    rc = lamp_main(["ropg", "score", "--train_data", str(merged_lamp2), "--task", "LaMP-2", "--output_dir",
                    str(tmp_path), "--profile_size", "2", "--backend", "dummy", "--end_index", "20", "--no_progress"])
    assert rc == 0 and len(read_scores(tmp_path / "scores_0_20.json")) == 20
    script = subprocess.run([sys.executable, str(ROOT / "ropg" / "profile_item_utilization_scorer.py"),
                             "--train_data", str(merged_lamp2), "--model_name", "SmolLM2-135M-Instruct", "--task",
                             "LaMP-2", "--output_dir", str(tmp_path), "--profile_size", "2", "--backend", "dummy",
                             "--start_index", "20", "--no_progress",
                             "--cache_dir", str(tmp_path / "cache")], capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
    rc = lamp_main(["ropg", "merge", "--train_data", str(merged_lamp2), "--task", "LaMP-2", "--profile_size", "2",
                    "--inputs", str(tmp_path / "scores_0_20.json"), str(tmp_path / "scores_20_-1.json"),
                    "--output", str(tmp_path / "scores.json")])
    assert rc == 0


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 1-layer BERT with a WordPiece vocabulary trained on the demo movie descriptions."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = [q.input for q in load_questions(DEMO2 / "train_questions.json")]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                 sep_token="[SEP]", mask_token="[MASK]")
    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(hf), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=128), add_pooling_layer=False
              ).save_pretrained(folder)
    hf.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def feedback_file(merged_lamp2, tmp_path_factory) -> Path:
    questions, golds = read_split(merged_lamp2, "LaMP-2").pair()
    path = tmp_path_factory.mktemp("fb") / "scores.json"
    write_scores(path, score_items("LaMP-2", questions, golds, load_backend("dummy"), SETTINGS, profile_size=4,
                                   label_choice=True, with_loglik=True, progress=False))
    return path


def train_args(merged, scores, encoder, out, method="kd", **extra) -> Namespace:
    from ropg.cli import configure_train
    import argparse

    parser = argparse.ArgumentParser()
    configure_train(parser)
    argv = ["--method", method, "--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2",
            "--model_path", str(encoder), "--checkpoint_dir", str(out), "--name", method, "--ctx_size", "4",
            "--per_gpu_batch_size", "4", "--max_length_query", "48", "--max_length_document", "48",
            "--lr", "1e-3", "--no_progress"]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("method", ["kd", "rl"])
def test_training_resumed_after_a_stop_ends_with_the_weights_of_an_uninterrupted_run(
        merged_lamp2, feedback_file, tiny_encoder, tmp_path, method):
    from ropg.train import train

    straight = train(train_args(merged_lamp2, feedback_file, tiny_encoder, tmp_path / "a", method,
                                total_steps=6, save_freq=3, metric="loglik"))
    train(train_args(merged_lamp2, feedback_file, tiny_encoder, tmp_path / "b", method, total_steps=3,
                     save_freq=3, metric="loglik"))                       # stopped after its step-3 checkpoint
    resumed = train(train_args(merged_lamp2, feedback_file, tiny_encoder, tmp_path / "b", method,
                               total_steps=6, save_freq=3, metric="loglik"))
    assert straight.name == resumed.name == "step-6"
    assert (tmp_path / "b" / method / "checkpoint" / "latest").resolve() == resumed
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = weights(tiny_encoder) if (tiny_encoder / "model.safetensors").exists() else None
    assert start is not None and any(not torch.equal(a[k], start[k]) for k in a)   # it did learn something


def test_a_checkpoint_ranks_through_the_dense_ranker_and_the_embedding_cache_keeps_weights_apart(
        merged_lamp2, feedback_file, tiny_encoder, tmp_path):
    from retrievers.ranking import rank_questions
    from ropg.train import train

    final = train(train_args(merged_lamp2, feedback_file, tiny_encoder, tmp_path, "kd", total_steps=4,
                             save_freq=10, metric="loglik", lr="0.05"))
    questions = [q for q in load_questions(merged_lamp2, task="LaMP-2") if len(q.profile) > 3][:20]
    cache = tmp_path / "emb"
    before = rank_questions(questions, "LaMP-2", "contriever", contriever_checkpoint=str(tiny_encoder),
                            embedding_cache=str(cache), progress=False)
    after = rank_questions(questions, "LaMP-2", "contriever", contriever_checkpoint=str(final.parent / "latest"),
                           embedding_cache=str(cache), progress=False)
    assert before != after
    fresh = rank_questions(questions, "LaMP-2", "contriever", contriever_checkpoint=str(final),
                           use_cache=False, progress=False)
    assert after == fresh


def run_cli(argv, capsys) -> tuple[int, str]:
    rc = lamp_main(argv)
    return rc, capsys.readouterr().err


def cli_train(merged, scores, encoder, out, *extra) -> list[str]:
    return ["ropg", "train", "--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2",
            "--model_path", str(encoder), "--checkpoint_dir", str(out), "--ctx_size", "4", "--total_steps", "1",
            "--no_progress", *extra]


def test_an_unknown_metric_is_refused_with_the_right_one_suggested(merged_lamp2, feedback_file, tiny_encoder,
                                                                     tmp_path, capsys):
    rc, err = run_cli(cli_train(merged_lamp2, feedback_file, tiny_encoder, tmp_path, "--metric", "acuracy"), capsys)
    assert rc == 2 and "Did you mean 'accuracy'" in err and "Traceback" not in err


def test_feedback_that_does_not_match_the_training_data_names_the_file_and_key(
        merged_lamp2, feedback_file, tiny_encoder, tmp_path, capsys):
    scores = read_scores(feedback_file)
    key = next(iter(scores))
    del scores[key]
    bad = tmp_path / "partial_scores.json"
    write_scores(bad, scores)
    rc, err = run_cli(cli_train(merged_lamp2, bad, tiny_encoder, tmp_path), capsys)
    assert rc == 2 and str(bad) in err and key in err
    assert not (tmp_path / "experiment_name").exists()           # nothing written


def test_an_encoder_folder_that_is_not_a_model_is_a_clear_error(merged_lamp2, feedback_file, tmp_path, capsys):
    (tmp_path / "not_a_model").mkdir()
    rc, err = run_cli(cli_train(merged_lamp2, feedback_file, tmp_path / "not_a_model", tmp_path), capsys)
    assert rc == 2 and "not an encoder model" in err


def test_resuming_with_other_settings_is_refused(merged_lamp2, feedback_file, tiny_encoder, tmp_path, capsys):
    assert lamp_main(cli_train(merged_lamp2, feedback_file, tiny_encoder, tmp_path, "--metric", "loglik")) == 0
    rc, err = run_cli(cli_train(merged_lamp2, feedback_file, tiny_encoder, tmp_path, "--metric", "accuracy"), capsys)
    assert rc == 2 and "other settings (metric)" in err


# ----------------------------------------------------------------------------- oracle


def item(pid: str) -> ProfileItem:
    return ProfileItem(id=pid, description="d", tag="comedy")


def test_oracle_orders_items_by_feedback_with_unscored_items_last():
    q = Query(id="7", text="q", profile=[item("a"), item("b"), item("c"), item("d")], docs=["d"] * 4)
    scores = {"7-a": {"accuracy": 0.0, "mae": 2.0}, "7-b": {"accuracy": 1.0, "mae": 0.0},
              "7-c": {"accuracy": 0.0, "mae": 1.0}}
    assert OracleRetriever(scores=scores).rank_batch([q]) == [[1, 0, 2, 3]]          # ties keep the given order
    assert OracleRetriever(scores=scores, feedback_metric="mae").rank_batch([q]) == [[1, 2, 0, 3]]   # lower first
    with pytest.raises(LampDataError, match="no item of this question"):
        OracleRetriever(scores={"8-a": {"accuracy": 1.0}}).rank_batch([q])


def test_oracle_is_a_registered_ranker_of_lamp_rank(feedback_file, merged_lamp2, tmp_path):
    out = tmp_path / "oracle.json"
    rc = lamp_main(["rank", "--input_data_addr", str(merged_lamp2), "--output_ranking_addr", str(out),
                    "--task", "LaMP-2", "--ranker", "oracle", "--feedback_scores", str(feedback_file),
                    "--feedback_metric", "loglik", "--no_progress"])
    assert rc == 0
    ranking, scores = json.loads(out.read_text()), read_scores(feedback_file)
    qid, ids = next((k, v) for k, v in ranking.items() if len(v) >= 4)
    top = [scores[f"{qid}-{pid}"]["loglik"] for pid in ids[:4]]
    assert top == sorted(top, reverse=True)


def test_training_runs_under_torchrun_with_two_cpu_processes(merged_lamp2, feedback_file, tiny_encoder, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "lamp.cli.main",
           *cli_train(merged_lamp2, feedback_file, tiny_encoder, tmp_path, "--metric", "loglik",
                      "--per_gpu_batch_size", "2", "--save_freq", "1")]
    cmd[cmd.index("--total_steps") + 1] = "2"
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, "\n".join(l for l in done.stderr.splitlines() if "rror" in l or "File" in l)[-3000:]
    folder = tmp_path / "experiment_name" / "checkpoint"
    assert (folder / "latest").resolve().name == "step-2" and (folder / "step-1").is_dir()
    assert done.stdout.count("ROPG-KD (loglik)") == 1                   # rank 0 reports, once


@pytest.mark.parametrize("script", ["train_kd.py", "train_rl.py"])
def test_official_train_scripts_without_contriever_offline_stop_naming_it(merged_lamp2, feedback_file, tmp_path, script):
    import os

    done = subprocess.run([sys.executable, str(ROOT / "ropg" / script), "--train_data", str(merged_lamp2),
                           "--scores_path", str(feedback_file), "--task", "LaMP-2", "--do_train",
                           "--checkpoint_dir", str(tmp_path / "ck"), "--name", "x"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "facebook/contriever" in done.stderr and "--model_path" in done.stderr
    assert "differ from the paper" in done.stderr and not (tmp_path / "ck").exists()
