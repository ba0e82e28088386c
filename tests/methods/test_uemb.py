"""User embeddings on tiny random models built here (Llama, T5 and a BERT encoder): shapes,
injection positions, a frozen LLM, the empty-profile fallback, the artifact round trip and its
identity checks, label choice, the backend in lamp run / evaluate_llm / serve, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, LlamaForCausalLM, PreTrainedTokenizerFast

import tiny_models

from lamp.generation.backends.base import Example, GenerationSettings, load_backend
from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampError
from lamp.core.questions import load_questions
from lamp.core.tasks import MOVIE_TAGS, get_task
from lamp.methods.uemb.artifact import CONFIG, read_artifact
from lamp.methods.uemb.features import UserRow, label_attribute
from lamp.methods.uemb.model import UembSpec, UserConditioner
from lamp.methods.uemb.personalizer import entries_for, load_personalizer
from lamp.methods.uemb.runner import Runner
from lamp.methods.uemb.training import UembSettings, train_uemb

LAMP2 = get_task("LaMP-2")
WORDS = ("space robot alien future war love city crime family dream ship planet murder comedy laugh "
         "book novel true story ending twist dark").split()
GREEDY = GenerationSettings(num_beams=1, max_new_tokens=4, stop_at_newline=True)
#: The user's cache (the converted SmolLM2, cached embeddings) for the one test of the real models.
USER_CACHE = os.environ.get("LAMP_CACHE_DIR")


def tokenizer(eos_after: bool) -> PreTrainedTokenizerFast:
    return tiny_models.byte_bpe([LAMP2.input_template, " ".join(WORDS), *MOVIE_TAGS], eos_after, vocab_size=400,
                                specials=(*tiny_models.SPECIALS, "[CLS]", "[SEP]"))


@pytest.fixture(scope="module", autouse=True)
def private_cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LAMP_CACHE_DIR", str(tmp_path_factory.mktemp("lamp-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory) -> Path:
    return tiny_models.save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), tokenizer(eos_after=False),
                                       max_positions=512)


@pytest.fixture(scope="module")
def other_llama_dir(tmp_path_factory, llama_dir) -> Path:
    """The same architecture with other weights: another identity."""
    folder = tmp_path_factory.mktemp("tiny-llama-2")
    model = LlamaForCausalLM.from_pretrained(llama_dir)
    with torch.no_grad():
        model.lm_head.weight.mul_(1.5)
    model.save_pretrained(folder)
    PreTrainedTokenizerFast.from_pretrained(llama_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory) -> Path:
    return tiny_models.save_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), tokenizer(eos_after=True))


def _bert(folder: Path, seed: int, hidden: int = 16) -> Path:
    tok = tokenizer(eos_after=False)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=512, pad_token_id=0)
    BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return _bert(tmp_path_factory.mktemp("tiny-bert"), 0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Tiny LaMP-2 train/dev files: each of four users prefers one tag."""
    root = tmp_path_factory.mktemp("lamp2")
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 16), ("dev", 6)):
        questions, golds = [], []
        for i in range(n):
            user = f"u{i % 4}"
            tag = MOVIE_TAGS[i % 4]
            profile = [{"id": f"{split}{i}-{j}", "description": " ".join(rng.choice(WORDS, 6)), "tag": tag}
                       for j in range(3 + i % 3)]
            questions.append({"id": f"{split}{i}", "user_id": user, "profile": profile,
                              "input": LAMP2.make_input(description=" ".join(rng.choice(WORDS, 5)))})
            golds.append({"id": f"{split}{i}", "output": tag})
        d = root / "LaMP_2" / split
        d.mkdir(parents=True)
        (d / f"{split}_questions.json").write_text(json.dumps(questions))
        (d / f"{split}_outputs.json").write_text(json.dumps({"task": "LaMP_2", "golds": golds}))
        splits[split] = d / f"{split}_questions.json"
    return splits


def _load(folder: Path, seq2seq: bool = False):
    from lamp.generation.models import model_identity
    from lamp.generation.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(folder))
    return model, tok, model_identity(str(folder))


def _questions(path: Path):
    from lamp.core.splits import read_split

    return read_split(path, "LaMP-2").pair()


def _digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode() + p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


FAST = dict(epochs=2, batch_size=4, hidden=16, max_length=128, learning_rate=1e-2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, llama_dir, encoder_dir, data) -> dict:
    """A mean-aggregator artifact trained on the tiny llama; the model's digest before training."""
    model, tok, identity = _load(llama_dir)
    before = _digest(model)
    questions, golds = _questions(data["train"])
    out = tmp_path_factory.mktemp("art") / "mean"
    art = train_uemb(questions, golds, "LaMP-2", out, UembSettings(aggregator="mean", **FAST),
                     base_model=str(llama_dir), encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity),
                     progress=False)
    return {"dir": out, "art": art, "before": before, "model": model, "tok": tok, "identity": identity}


# --------------------------------------------------------------------------- the conditioner

@pytest.mark.parametrize("aggregator", ["mean", "attention", "control"])
def test_conditioner_makes_n_tokens_of_the_llm_width_per_row(aggregator):
    spec = UembSpec(aggregator=aggregator, n_tokens=3, hidden=8, enc_dim=6, llm_dim=10, n_control=4)
    module = UserConditioner(spec)
    keys, values = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out = module(keys, values, mask, torch.randn(2, 6), torch.tensor([0, 3]))
    assert out.shape == (2, 3, 10)


def test_mean_and_attention_ignore_padded_items():
    spec = UembSpec(aggregator="attention", hidden=8, enc_dim=4, llm_dim=6)
    module = UserConditioner(spec)
    keys, values = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    module.user_vector(keys, values, mask, torch.randn(1, 4), None)      # runs with padding
    keys2, values2 = keys.clone(), values.clone()
    keys2[0, 2], values2[0, 2] = 100.0, -100.0        # padding content must not matter
    q = torch.randn(1, 4)
    assert torch.allclose(module.user_vector(keys, values, mask, q, None),
                          module.user_vector(keys2, values2, mask, q, None))
    mean = UserConditioner(UembSpec(aggregator="mean", hidden=8, enc_dim=4, llm_dim=6))
    expected = torch.cat([keys, values], -1)[0, :2].mean(0)
    assert torch.allclose(mean.user_vector(keys2, values2, mask, None, None)[0], expected)


def test_attention_weights_follow_the_query():
    module = UserConditioner(UembSpec(aggregator="attention", hidden=8, enc_dim=2, llm_dim=4))
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    values = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    u = module.user_vector(keys, values, mask, torch.tensor([[1.0, 0.0]]), None)
    assert u[0, 0] > 0.99 and u[0, 1] < 0.01          # the query picks the first item (temperature 0.1)


def test_bad_specs_are_clear_errors():
    with pytest.raises(LampError, match="aggregator"):
        UembSpec(aggregator="max").check()
    with pytest.raises(LampError, match="n_tokens 1"):
        UembSpec(injection="add", n_tokens=2).check()


# --------------------------------------------------------------------------- injection

def _rows(prompt_lengths=(3, 6)):
    rng = np.random.default_rng(1)
    rows = []
    for i, n in enumerate(prompt_lengths):
        keys = rng.normal(size=(2, 4)).astype(np.float32)
        rows.append(UserRow(f"q{i}", " ".join(["space"] * n), "comedy", f"u{i}", keys, keys.copy(),
                            rng.normal(size=4).astype(np.float32)))
    return rows


def test_prefix_soft_tokens_sit_right_before_the_first_prompt_token(llama_dir):
    model, tok, _ = _load(llama_dir)
    cond = UserConditioner(UembSpec(n_tokens=2, hidden=8, enc_dim=4, llm_dim=32))
    runner = Runner(model, tok, "LaMP-2", cond)
    rows = _rows()
    rows.append(UserRow("q2", "space space", "comedy", "u2"))              # no profile: no soft tokens
    soft = runner.user_tokens(rows)
    enc = runner.inputs(rows, with_target=True)
    plain = Runner(model, tok, "LaMP-2").inputs(rows, with_target=True)
    emb, mask, labels = enc["inputs_embeds"], enc["attention_mask"], enc["labels"]
    width = emb.shape[1]
    for i in range(2):
        n_real = int(plain["attention_mask"][i].sum())
        start = width - n_real - 2                        # left padding, then the 2 soft tokens
        assert mask[i, :start].sum() == 0 and mask[i, start:].all()
        assert torch.allclose(emb[i, start:start + 2], soft[i])
        assert torch.allclose(emb[i, start + 2:], plain["inputs_embeds"][i, -n_real:])
        assert (labels[i, start:start + 2] == -100).all()
        assert torch.equal(labels[i, start + 2:], plain["labels"][i, -n_real:])
        assert torch.equal(enc["position_ids"][i, start:], torch.arange(n_real + 2))
    n_real = int(plain["attention_mask"][2].sum())
    assert int(mask[2].sum()) == n_real                  # the fallback row is the base model's input
    assert torch.allclose(emb[2, -n_real:], plain["inputs_embeds"][2, -n_real:])


def test_add_injection_shifts_prompt_tokens_only(llama_dir):
    model, tok, _ = _load(llama_dir)
    cond = UserConditioner(UembSpec(injection="add", hidden=8, enc_dim=4, llm_dim=32))
    with torch.no_grad():
        cond.projector[2].bias.fill_(0.5)                 # (zero-initialised: make the vector visible)
    runner = Runner(model, tok, "LaMP-2", cond)
    rows = _rows((4,))
    enc, plain = runner.inputs(rows, True), Runner(model, tok, "LaMP-2").inputs(rows, True)
    assert enc["inputs_embeds"].shape == plain["inputs_embeds"].shape
    diff = (enc["inputs_embeds"] - plain["inputs_embeds"])[0]
    answer = plain["labels"][0] != -100
    assert torch.allclose(diff[~answer], runner.user_tokens(rows)[0, 0].expand_as(diff[~answer]))
    assert diff[answer].abs().max() == 0


def test_seq2seq_prefix_goes_before_the_encoder_input(t5_dir):
    model, tok, _ = _load(t5_dir)
    cond = UserConditioner(UembSpec(n_tokens=2, hidden=8, enc_dim=4, llm_dim=32))
    runner = Runner(model, tok, "LaMP-2", cond)
    rows = _rows((3,))
    enc, plain = runner.inputs(rows, True), Runner(model, tok, "LaMP-2").inputs(rows, True)
    n = int(plain["attention_mask"][0].sum())
    assert torch.allclose(enc["inputs_embeds"][0, :2], runner.user_tokens(rows)[0])
    assert torch.allclose(enc["inputs_embeds"][0, 2:2 + n], plain["inputs_embeds"][0, :n])
    assert torch.equal(enc["labels"], plain["labels"])


@pytest.mark.parametrize("which", ["llama", "t5"])
def test_label_choice_scores_equal_one_forward_per_option(which, llama_dir, t5_dir):
    model, tok, _ = _load(llama_dir if which == "llama" else t5_dir)
    cond = UserConditioner(UembSpec(n_tokens=2, hidden=8, enc_dim=4, llm_dim=32))
    runner = Runner(model, tok, "LaMP-2", cond)
    rows = _rows((2, 7))
    options = ["comedy", "based on a book", "twist ending", "sci-fi"]
    ids = runner.option_ids(options)
    with torch.no_grad():
        fast = runner.option_scores(rows, ids)
        for i, row in enumerate(rows):
            for j, option in enumerate(options):
                r = UserRow(row.id, row.prompt, option, row.user_id, row.keys, row.values, row.query)
                enc = runner.inputs([r], with_target=True)
                labels = enc.pop("labels")
                logits = model(**enc, **({"labels": labels} if runner.seq2seq else {})).logits
                if not runner.seq2seq:
                    logits, labels = logits[:, :-1], labels[:, 1:]
                lp = torch.log_softmax(logits.float(), -1)
                keep = labels != -100
                if not runner.seq2seq:     # drop the EOS the training target appends
                    keep[0, keep[0].nonzero()[-1]] = False
                else:
                    keep[0, keep[0].nonzero()[-1]] = not tok.eos_token_id or bool(
                        ids[j][-1] == tok.eos_token_id)
                slow = lp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)[keep].sum()
                assert fast[i, j].item() == pytest.approx(slow.item(), abs=1e-4)


# --------------------------------------------------------------------------- training and artifact

def test_training_leaves_the_llm_weights_unchanged_and_moves_the_conditioner(trained):
    assert _digest(trained["model"]) == trained["before"]
    assert all(not p.requires_grad for p in trained["model"].parameters())
    art = trained["art"]
    torch.manual_seed(0)                                 # the seed training starts from
    start = UserConditioner(art.spec).state_dict()
    assert any(not torch.equal(v, art.state[k]) for k, v in start.items())
    assert art.info["skipped_no_profile"] == 0 and art.info["train_questions"] == 16
    assert len(art.info["epoch_losses"]) == 2


def test_artifact_round_trip_predicts_the_same_answers(trained, llama_dir, encoder_dir, data):
    questions, golds = _questions(data["dev"])
    p1, _ = load_personalizer(str(trained["dir"]), str(llama_dir), str(encoder_dir))
    p2, art = load_personalizer(str(trained["dir"]), str(llama_dir), str(encoder_dir))
    assert art.base_identity == trained["identity"] and art.task == "LaMP-2"
    entries = entries_for(questions, "LaMP-2", p1.tokenizer, 128, golds)
    a = p1.predict(entries, GREEDY, label_choice=True)
    b = p2.predict(entries, GREEDY, label_choice=True)
    assert a == b and all(x in MOVIE_TAGS for x in a)
    assert p1.runner.conditioner.state_dict().keys() == art.conditioner().state_dict().keys()
    for k, v in p1.runner.conditioner.state_dict().items():
        assert torch.equal(v.cpu(), trained["art"].state[k])


def test_a_user_with_an_empty_profile_gets_the_base_model_and_is_counted(trained, llama_dir, encoder_dir, data):
    import dataclasses

    questions, golds = _questions(data["dev"])
    p, _ = load_personalizer(str(trained["dir"]), str(llama_dir), str(encoder_dir))
    entries = entries_for(questions, "LaMP-2", p.tokenizer, 128, golds)
    entries[1] = dataclasses.replace(entries[1], items=())             # e.g. a served user with no items yet
    entries[4] = dataclasses.replace(entries[4], items=())
    conditioned = p.predict(entries, GREEDY, label_choice=True)
    assert p.fallbacks["empty profile"] == 2
    base = Runner(p.runner.model, p.tokenizer, "LaMP-2", max_length=p.runner.max_length)
    rows = p.rows(entries)
    base_answers = base.choose(rows, list(MOVIE_TAGS))
    assert [conditioned[1], conditioned[4]] == [base_answers[1], base_answers[4]]
    empty = [entries[1], entries[4]]
    assert p.nll(empty) == base.nll(p.rows(empty))
    assert p.nll(entries[:1]) != base.nll(rows[:1])                  # a user with items is conditioned


def test_another_base_model_or_encoder_is_refused_by_identity(trained, other_llama_dir, tmp_path, encoder_dir,
                                                              llama_dir):
    with pytest.raises(LampError, match="made for base model"):
        load_personalizer(str(trained["dir"]), str(other_llama_dir), str(encoder_dir))
    other_encoder = _bert(tmp_path / "bert2", seed=1)
    with pytest.raises(LampError, match="made for encoder"):
        load_personalizer(str(trained["dir"]), str(llama_dir), str(other_encoder))


def test_a_dimension_mismatch_is_a_clear_error(trained, tmp_path):
    import shutil

    folder = tmp_path / "art"
    shutil.copytree(trained["dir"], folder)
    config = json.loads((folder / CONFIG).read_text())
    config["spec"]["llm_dim"] = 64
    (folder / CONFIG).write_text(json.dumps(config))
    with pytest.raises(LampError, match="dimension mismatch"):
        read_artifact(folder).conditioner()


def test_training_resumes_from_the_last_finished_epoch(tmp_path, llama_dir, encoder_dir, data, monkeypatch):
    import lamp.methods.uemb.training as training

    model, tok, identity = _load(llama_dir)
    questions, golds = _questions(data["train"])
    settings = UembSettings(aggregator="attention", **{**FAST, "epochs": 3})
    calls = {"n": 0}
    from lamp.methods.uemb.runner import Runner as R

    original = R.loss

    def failing(self, rows):
        calls["n"] += 1
        if calls["n"] == 10:              # 16 rows / batch 4 = 4 steps per epoch: dies in epoch 3
            raise KeyboardInterrupt
        return original(self, rows)
    monkeypatch.setattr(R, "loss", failing)
    with pytest.raises(KeyboardInterrupt):
        train_uemb(questions, golds, "LaMP-2", tmp_path / "a", settings, base_model=str(llama_dir),
                   encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity), progress=False)
    assert (tmp_path / "a" / training.CHECKPOINT).exists() and not (tmp_path / "a" / CONFIG).exists()
    calls["n"] = -100
    art = train_uemb(questions, golds, "LaMP-2", tmp_path / "a", settings, base_model=str(llama_dir),
                     encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity), progress=False)
    assert calls["n"] == -100 + 4                         # only the last epoch ran again
    assert len(art.info["epoch_losses"]) == 3 and not (tmp_path / "a" / training.CHECKPOINT).exists()


def test_control_tokens_use_the_users_most_frequent_label(tmp_path, llama_dir, encoder_dir, data):
    questions, golds = _questions(data["train"])
    q = next(q for q in questions if q.profile)
    assert label_attribute(LAMP2, q.profile) == q.profile[0].tag
    model, tok, identity = _load(llama_dir)
    art = train_uemb(questions, golds, "LaMP-2", tmp_path / "c", UembSettings(aggregator="control", **FAST),
                     base_model=str(llama_dir), encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity),
                     progress=False)
    assert art.control_values == list(MOVIE_TAGS) and art.spec.n_control == len(MOVIE_TAGS)
    p, _ = load_personalizer(str(tmp_path / "c"), str(llama_dir), str(encoder_dir))
    rows = p.rows(entries_for(questions, "LaMP-2", tok, 128, golds))
    assert {r.control for r in rows} == {0, 1, 2, 3}


def test_seq2seq_trains_with_generation_and_perplexity(tmp_path, t5_dir, encoder_dir, data):
    model, tok, identity = _load(t5_dir)
    before = _digest(model)
    questions, golds = _questions(data["train"])
    art = train_uemb(questions, golds, "LaMP-2", tmp_path / "t5", UembSettings(aggregator="attention", n_tokens=2,
                                                                                **FAST),
                     base_model=str(t5_dir), encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity),
                     progress=False)
    assert _digest(model) == before and art.spec.n_tokens == 2
    p, _ = load_personalizer(str(tmp_path / "t5"), str(t5_dir), str(encoder_dir))
    dev, dev_golds = _questions(data["dev"])
    entries = entries_for(dev, "LaMP-2", tok, 128, dev_golds)
    outs = p.predict(entries, GREEDY, label_choice=False)
    assert len(outs) == len(entries) and all(isinstance(o, str) for o in outs)
    nll = p.nll(entries)
    assert all(n > 0 and s > 0 for s, n in nll)


def test_retrieval_and_the_user_embedding_compose(tmp_path, llama_dir, encoder_dir, data):
    model, tok, identity = _load(llama_dir)
    questions, golds = _questions(data["train"])
    art = train_uemb(questions, golds, "LaMP-2", tmp_path / "rag", UembSettings(use_retrieval=True, k=1, **FAST),
                     base_model=str(llama_dir), encoder=str(encoder_dir), model_and_tokenizer=(model, tok, identity),
                     progress=False)
    assert art.settings["use_retrieval"] and art.settings["k"] == 1
    entries = entries_for(questions, "LaMP-2", tok, 128, golds, use_retrieval=True, k=1)
    with_items = [e for e in entries if e.items]
    assert all('the tag for the movie' in e.prompt for e in with_items)   # one retrieved item in the prompt
    assert all(len(e.items) >= 3 for e in with_items)                   # the embedding reads the whole profile


# --------------------------------------------------------------------------- backend, serve, CLI

def test_the_backend_reads_profiles_from_examples_or_a_file(trained, data):
    backend = load_backend("uemb", model=str(trained["dir"]))
    questions = load_questions(data["dev"], task="LaMP-2")
    from lamp.generation.driver import build_examples, generate_all

    plain = build_examples("LaMP-2", questions, 0, 128, backend.tokenizer)           # no items in the examples
    with_items = [Example(e.id, e.input, tuple(q.profile), e.prompt) for e, q in zip(plain, questions)]
    direct = generate_all(backend, with_items, GREEDY, progress=False)
    from_file = load_backend("uemb", model=str(trained["dir"]), profiles=str(data["dev"]))
    assert generate_all(from_file, plain, GREEDY, progress=False) == direct
    assert from_file.identity != backend.identity
    assert all(o in MOVIE_TAGS for o in direct)
    with pytest.raises(LampError, match="not a user-embedding artifact"):
        load_backend("uemb", model=str(data["dev"].parent))
    with pytest.raises(LampError, match="Example objects"):
        backend.generate(["x"], GREEDY)


def test_serve_embeds_the_stored_profile_and_follows_its_changes(trained):
    from fastapi.testclient import TestClient

    from lamp.serving.store import ProfileStore
    from lamp.serving.app import create_app

    backend = load_backend("uemb", model=str(trained["dir"]))
    seen = []
    original = backend.personalizer.rows

    def spy(entries):
        seen.append([len(e.items) for e in entries])
        return original(entries)
    backend.personalizer.rows = spy
    client = TestClient(create_app(backend, ProfileStore(":memory:"),
                                   settings=GenerationSettings(num_beams=1, max_new_tokens=4, max_input_length=128)))
    items = [{"id": str(i), "description": "space robot alien", "tag": "sci-fi"} for i in range(3)]
    assert client.put("/users/u1/profile", json={"task": "LaMP-2", "profile": items}).status_code < 300
    body = {"user_id": "u1", "task": "LaMP-2", "input": LAMP2.make_input(description="a robot on a ship"), "k": 0}
    r1 = client.post("/personalize", json=body)
    assert r1.status_code == 200, r1.text
    assert r1.json()["output"] in MOVIE_TAGS
    added = client.post("/users/u1/items", json={"profile": [{"id": "9", "description": "love family",
                                                               "tag": "romance"}]})
    assert added.status_code < 300, added.text
    assert client.post("/personalize", json=body).status_code == 200
    assert seen == [[3], [4]]


def test_cli_trains_predicts_and_refuses_bad_input_with_exit_2(tmp_path, llama_dir, encoder_dir, data, capsys):
    art = tmp_path / "cli-art"
    flags = ["--epochs", "1", "--batch_size", "4", "--hidden", "8", "--max_length", "128"]
    assert lamp_main(["uemb", "train", "--questions", str(data["train"]), "--task", "LaMP-2", "--out", str(art),
                      "--model", str(llama_dir), "--encoder", str(encoder_dir), *flags]) == 0
    out = tmp_path / "preds.json"
    ppl = tmp_path / "ppl.json"
    assert lamp_main(["uemb", "predict", "--artifact", str(art), "--questions", str(data["dev"]), "--output",
                      str(out), "--perplexity", str(ppl), "--label_choice"]) == 0
    preds = json.loads(out.read_text())
    assert preds["task"] == "LaMP_2" and len(preds["golds"]) == 6
    per_user = json.loads(ppl.read_text())["per_user"]
    assert set(per_user) == {"u0", "u1", "u2", "u3"} and all(v > 1 for v in per_user.values())
    assert "0 answered by the base model" in capsys.readouterr().out
    assert lamp_main(["uemb", "predict", "--artifact", str(tmp_path), "--questions", str(data["dev"]),
                      "--output", str(out)]) == 2
    config = json.loads((art / CONFIG).read_text())
    config["base_identity"] = "someone-else@sha256:0"
    (art / CONFIG).write_text(json.dumps(config))
    assert lamp_main(["uemb", "predict", "--artifact", str(art), "--questions", str(data["dev"]),
                      "--output", str(out)]) == 2
    assert "made for base model" in capsys.readouterr().err


def _lamp7(root: Path) -> None:
    rng = np.random.default_rng(2)
    task = get_task("LaMP-7")
    for split, n in (("train", 8), ("dev", 4)):
        questions, golds = [], []
        for i in range(n):
            profile = [{"id": f"7{split}{i}-{j}", "text": " ".join(rng.choice(WORDS, 5)) + " #love"} for j in range(3)]
            questions.append({"id": f"7{split}{i}", "user_id": f"w{i % 2}", "profile": profile,
                              "input": task.make_input(tweet=" ".join(rng.choice(WORDS, 5)))})
            golds.append({"id": f"7{split}{i}", "output": " ".join(rng.choice(WORDS, 4))})
        d = root / "LaMP_7" / split
        d.mkdir(parents=True)
        (d / f"{split}_questions.json").write_text(json.dumps(questions))
        (d / f"{split}_outputs.json").write_text(json.dumps({"task": "LaMP_7", "golds": golds}))


def test_compare_runs_every_method_with_significance_time_size_and_perplexity(tmp_path, llama_dir, encoder_dir,
                                                                            data, capsys):
    root = data["train"].parents[2]
    if not (root / "LaMP_7").exists():
        _lamp7(root)
    out = tmp_path / "cmp"
    argv = ["uemb", "compare", "--data", str(root), "--tasks", "LaMP-2", "LaMP-7", "--out", str(out),
            "--model", str(llama_dir), "--encoder", str(encoder_dir), "--epochs", "1", "--lora_epochs", "1",
            "--max_length", "128", "--max_new_tokens", "3", "--n_resamples", "50",
            "--variants", "uemb-mean", "uemb-attention+bm25", "uemb-control"]
    assert lamp_main(argv) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    rows2, rows7 = results[0]["rows"], results[1]["rows"]
    assert list(rows2) == ["none", "bm25", "lora", "uemb-mean", "uemb-attention+bm25", "uemb-control"]
    assert set(rows2["bm25"]["vs_none"]) == {"accuracy", "f1"} and 0 < rows2["lora"]["vs_none"]["accuracy"]["p"] <= 1
    assert rows2["lora"]["per_user_bytes"] > 10 * rows2["uemb-mean"]["per_user_bytes"] > 0
    assert all("perplexity_per_user" not in r for r in rows2.values())
    assert all(r["perplexity_per_user"] > 1 for r in rows7.values())
    assert all(r["seconds"] >= 0 for r in rows7.values())
    report = (out / "report.md").read_text()
    assert "uemb-control" in report and "ppl/user" in report
    times = json.loads((out / "LaMP_7" / "timings.json").read_text())
    capsys.readouterr()
    assert lamp_main(argv) == 0                           # a rerun redoes nothing and keeps the times
    assert json.loads((out / "LaMP_7" / "timings.json").read_text()) == times


def test_lamp_run_and_evaluate_llm_load_the_artifact_as_a_backend(trained, data, tmp_path, capsys):
    from lamp.cli.evaluate_llm import configure as eval_configure, run as eval_run
    from lamp.cli.main import script_main

    root = data["dev"].parents[2]
    run_dir = tmp_path / "run"
    options = json.dumps({"profiles": str(data["dev"])})
    assert lamp_main(["run", "--data", str(root), "--tasks", "LaMP-2", "--retrievers", "none", "bm25", "--k", "1",
                      "--backend", "uemb", "--model", str(trained["dir"]), "--no-baselines", "--max_length", "128",
                      "--backend_options", options, "--output_dir", str(run_dir)]) == 0
    scores = json.loads((run_dir / "scores.json").read_text())
    assert set(scores) >= {"none", "bm25"} and "accuracy" in scores["none"]["LaMP_2"]
    preds = json.loads((run_dir / "predictions" / "none" / "LaMP_2.json").read_text())["golds"]
    assert all(p["output"] in MOVIE_TAGS for p in preds)
    out = tmp_path / "eval"
    assert script_main(eval_configure, eval_run, ["--validation_data", str(data["dev"]), "--model_addr",
                                                  str(trained["dir"]), "--task", "LaMP-2", "--output_dir", str(out),
                                                  "--backend", "uemb", "--max_length", "128",
                                                  "--backend_options", options]) == 0
    assert json.loads((out / "predictions.json").read_text())["golds"] == preds
    assert "eval_accuracy" in json.loads((out / "results_output.json").read_text())
    capsys.readouterr()
    assert script_main(eval_configure, eval_run, ["--validation_data", str(data["dev"]), "--model_addr",
                                                  str(trained["dir"]), "--task", "LaMP-2", "--output_dir", str(out),
                                                  "--backend", "uemb", "--max_length", "128"]) == 0
    assert "carry no profile items" in capsys.readouterr().err


def test_lamp_run_scrub_scrubs_the_profiles_file_the_uemb_backend_reads(trained, data, tmp_path, monkeypatch):
    """The backend's own ``profiles`` file goes through --scrub's transform as the run's questions do:
    a planted e-mail address and phone number reach its items without --scrub, never with it."""
    from lamp.methods.uemb.personalizer import Personalizer

    email, phone = "jane.roe@example.com", "(415) 555-0132"
    questions = json.loads(data["dev"].read_text())
    for q in questions:
        q["profile"][0]["description"] += f" mail {email} or call {phone}"
    folder = tmp_path / "data" / "LaMP_2" / "dev"
    folder.mkdir(parents=True)
    (folder / "dev_questions.json").write_text(json.dumps(questions))
    (folder / "dev_outputs.json").write_text((data["dev"].parent / "dev_outputs.json").read_text())
    embedded: list[str] = []
    predict = Personalizer.predict

    def spy(self, entries, *args, **kwargs):
        embedded.extend(json.dumps([item.to_json() for item in entry.items]) for entry in entries)
        return predict(self, entries, *args, **kwargs)

    monkeypatch.setattr(Personalizer, "predict", spy)
    options = json.dumps({"profiles": str(folder / "dev_questions.json")})
    for scrub in (True, False):
        embedded.clear()
        assert lamp_main(["run", "--data", str(tmp_path / "data"), "--tasks", "LaMP-2", "--retrievers", "none",
                          "--backend", "uemb", "--model", str(trained["dir"]), "--no-baselines", "--max_length", "128",
                          "--backend_options", options, "--output_dir", str(tmp_path / f"run-{scrub}")]
                         + (["--scrub"] if scrub else [])) == 0
        assert len(embedded) == len(questions)
        text = "\n".join(embedded)
        assert (email in text, "555-0132" in text) == ((False, False) if scrub else (True, True))
        if scrub:
            assert "<EMAIL_ADDRESS_1>" in text and "<PHONE_NUMBER_1>" in text
    with pytest.raises(LampError, match="--scrub"):
        load_backend("uemb", model=str(trained["dir"]), transform="on")


@pytest.mark.parametrize("which", ["llama", "t5"])
def test_the_answer_only_loss_equals_the_models_own_loss(which, llama_dir, t5_dir):
    model, tok, _ = _load(llama_dir if which == "llama" else t5_dir)
    runner = Runner(model, tok, "LaMP-2")
    rows = _rows((2, 9))
    enc = runner.inputs(rows, with_target=True)
    with torch.no_grad():
        assert runner.loss(rows).item() == pytest.approx(model(**enc).loss.item(), rel=1e-5)


@pytest.mark.slow
def test_the_bundled_smollm2_and_minilm_train_and_answer_through_an_artifact(tmp_path, monkeypatch):
    """The real bundled models: one training step on four LaMP-7 questions, then an answer and a
    perplexity from the saved artifact; the frozen SmolLM2 is unchanged."""
    if USER_CACHE:
        monkeypatch.setenv("LAMP_CACHE_DIR", USER_CACHE)
    else:
        monkeypatch.delenv("LAMP_CACHE_DIR")
    from lamp.core.splits import read_split
    from lamp.methods.uemb.personalizer import resolve_base

    root = Path(__file__).resolve().parents[2] / "data" / "demo" / "LaMP_7"
    train, golds = read_split(root / "train" / "train_questions.json", "LaMP-7").pair()
    path, identity = resolve_base("SmolLM2-135M-Instruct")
    from lamp.generation.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(path)
    before = _digest(model)
    art = train_uemb(train[:4], golds, "LaMP-7", tmp_path / "a", UembSettings(aggregator="attention", epochs=1,
                                                                              batch_size=4, max_length=64),
                     model_and_tokenizer=(model, tok, identity), progress=False)
    assert _digest(model) == before
    assert art.spec.llm_dim == 576 and art.spec.enc_dim == 384 and art.base_identity == identity
    p, _ = load_personalizer(str(tmp_path / "a"))
    dev, dev_golds = read_split(root / "dev" / "dev_questions.json", "LaMP-7").pair()
    entries = entries_for(dev[:2], "LaMP-7", p.tokenizer, 64, dev_golds)
    outs = p.predict(entries, GenerationSettings(num_beams=1, max_new_tokens=6, stop_at_newline=True), False)
    assert len(outs) == 2 and all(isinstance(o, str) for o in outs)
    assert all(n > 0 and 0 < s / n < 20 for s, n in p.nll(entries))
