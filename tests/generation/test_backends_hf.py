"""hf-seq2seq and hf-causal on tiny random T5 / Llama models built here (fast, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

import tiny_models

from lamp.generation.backends.base import GenerationSettings, load_backend
from lamp.generation.backends.base import first_line
from lamp.generation.backends.hf import CausalBackend, Seq2SeqBackend, StopAtNewline
from lamp.core.errors import LampError

SENTENCES = [
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5.",
    "Which tag does this movie relate to among the following tags? sci-fi, comedy, romance, dark comedy",
    "Generate a headline for the following article: the city council voted to expand bike lanes.",
    "a robot learns to love\nanother line\n", "great kit, broke fast, lovely book [1] [2]",
]
GREEDY = GenerationSettings(num_beams=1, max_new_tokens=6)


def byte_bpe(eos_after: bool) -> PreTrainedTokenizerFast:
    return tiny_models.byte_bpe(SENTENCES, eos_after)


@pytest.fixture(scope="module", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Weight hashes go to a temp cache, not the user's ~/.cache/lamp; one torch thread."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LAMP_CACHE_DIR", str(tmp_path_factory.mktemp("lamp-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # tiny matrices: threads only add contention on a shared CPU
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def causal_dir(tmp_path_factory) -> Path:
    return tiny_models.save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), byte_bpe(eos_after=False))


@pytest.fixture(scope="module")
def seq2seq_dir(tmp_path_factory) -> Path:
    return tiny_models.save_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), byte_bpe(eos_after=True))


@pytest.fixture(scope="module")
def causal(causal_dir) -> CausalBackend:
    return CausalBackend(model=str(causal_dir), device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def seq2seq(seq2seq_dir) -> Seq2SeqBackend:
    return Seq2SeqBackend(model=str(seq2seq_dir), device="cpu", batch_size=3)


PROMPTS = ["great kit", "Which tag does this movie relate to among the following tags? sci-fi, comedy",
           "a robot learns to love", "What is the score of the following review?", "lovely book"]
OPTIONS = ["sci-fi", "comedy", "dark comedy", "[1]", "5"]


def brute_force_causal(backend: CausalBackend, prompt: str, option: str) -> float:
    """Sum of option token log-probs from one unpadded forward over prompt+option."""
    context = backend.tokenizer(backend.format_prompt(prompt), add_special_tokens=False)["input_ids"]
    cont = backend.tokenizer(option, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = backend.model(torch.tensor([context + cont])).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    return sum(logp[len(context) - 1 + j, t].item() for j, t in enumerate(cont))


def brute_force_seq2seq(backend: Seq2SeqBackend, prompt: str, option: str) -> float:
    enc = backend.tokenizer(prompt, return_tensors="pt")
    labels = backend.tokenizer(option, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = backend.model(**enc, labels=labels).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    return sum(logp[j, t].item() for j, t in enumerate(labels[0].tolist()))


def test_registry_loads_the_hf_backends(causal_dir):
    backend = load_backend("hf-causal", model=str(causal_dir), device="cpu")
    assert isinstance(backend, CausalBackend) and backend.device.type == "cpu"


def test_causal_prompt_is_the_user_turn_of_the_chat_template(causal):
    assert causal.format_prompt("hello") == "<|user|>hello\n<|assistant|>"


def test_causal_generate_batched_equals_one_at_a_time_and_keeps_order(causal):
    batched = causal.generate(PROMPTS, GREEDY)
    single = [causal.generate([p], GREEDY)[0] for p in PROMPTS]
    assert batched == single and len(batched) == len(PROMPTS)
    assert causal.generate(PROMPTS, GREEDY) == batched          # deterministic


def test_causal_greedy_loop_answers_as_model_generate_does(causal, monkeypatch):
    settings = GenerationSettings(num_beams=1, max_new_tokens=8, stop_at_newline=True)
    assert causal._plain_greedy(settings)
    fast = causal.generate(PROMPTS, settings)
    monkeypatch.setattr(causal, "_plain_greedy", lambda s: False)
    assert causal.generate(PROMPTS, settings) == fast


def test_a_repetition_penalty_in_the_model_config_is_left_to_model_generate(causal, monkeypatch):
    monkeypatch.setattr(causal.model.generation_config, "repetition_penalty", 1.3)
    assert not causal._plain_greedy(GREEDY)
    assert not causal._plain_greedy(GenerationSettings(num_beams=4))


def test_seq2seq_generate_batched_equals_one_at_a_time(seq2seq):
    batched = seq2seq.generate(PROMPTS, GREEDY)
    assert batched == [seq2seq.generate([p], GREEDY)[0] for p in PROMPTS]


def test_beam_search_runs_for_both(causal, seq2seq):
    beams = GenerationSettings(num_beams=4, max_new_tokens=4)
    assert len(causal.generate(PROMPTS[:2], beams)) == 2 and len(seq2seq.generate(PROMPTS[:2], beams)) == 2


def test_sampling_is_seeded(causal):
    sample = GenerationSettings(num_beams=1, do_sample=True, temperature=1.5, max_new_tokens=6, seed=7)
    assert causal.generate(PROMPTS, sample) == causal.generate(PROMPTS, sample)


def test_causal_choose_scores_match_an_unbatched_forward(causal):
    scores = causal.option_scores([causal.format_prompt(p) for p in PROMPTS], OPTIONS, GREEDY)
    expected = torch.tensor([[brute_force_causal(causal, p, o) for o in OPTIONS] for p in PROMPTS])
    assert torch.allclose(scores, expected, atol=1e-4)
    assert causal.choose(PROMPTS, OPTIONS, GREEDY) == [OPTIONS[int(i)] for i in expected.argmax(1)]


def test_causal_choose_scores_with_eager_attention_match_an_unbatched_forward(causal, causal_dir):
    eager = CausalBackend(model=LlamaForCausalLM.from_pretrained(causal_dir, attn_implementation="eager"),
                          tokenizer=causal.tokenizer, identity="tiny-eager", device="cpu")
    scores = eager.option_scores([eager.format_prompt(p) for p in PROMPTS], OPTIONS, GREEDY)
    expected = torch.tensor([[brute_force_causal(eager, p, o) for o in OPTIONS] for p in PROMPTS])
    assert torch.allclose(scores, expected, atol=1e-4)


def test_label_choice_with_an_attention_that_takes_no_tree_mask_is_a_clear_error(causal, monkeypatch):
    monkeypatch.setattr(causal.model.config, "_attn_implementation", "flash_attention_2")
    with pytest.raises(LampError, match="sdpa or eager"):
        causal.choose(PROMPTS[:1], OPTIONS, GREEDY)


def test_seq2seq_choose_scores_match_an_unbatched_forward(seq2seq):
    scores = seq2seq.option_scores(PROMPTS, OPTIONS, GREEDY)
    expected = torch.tensor([[brute_force_seq2seq(seq2seq, p, o) for o in OPTIONS] for p in PROMPTS])
    assert torch.allclose(scores, expected, atol=1e-4)
    assert seq2seq.choose(PROMPTS, OPTIONS, GREEDY) == [OPTIONS[int(i)] for i in expected.argmax(1)]


def test_choose_with_single_token_options_and_no_options(causal):
    opts = ["5", "1"]
    assert causal.choose(PROMPTS, opts, GREEDY) == [
        max(opts, key=lambda o: brute_force_causal(causal, p, o)) for p in PROMPTS]
    with pytest.raises(LampError):
        causal.choose(PROMPTS, [], GREEDY)


def test_inputs_are_cut_to_max_input_length(causal, seq2seq):
    long = " ".join(["the city council voted"] * 40)
    short = GenerationSettings(num_beams=1, max_new_tokens=3, max_input_length=8)
    cut = causal._cut(long, 8)
    assert len(causal.tokenizer(cut, add_special_tokens=False)["input_ids"]) == 8
    assert causal.generate([long], short) == causal.generate([cut], short)
    assert seq2seq._encode([long], short)["input_ids"].shape[1] == 8       # 7 tokens + </s>, as officially


def test_identity_names_backend_weights_and_dtype(causal, seq2seq, causal_dir):
    assert causal.identity.startswith(f"hf-causal:{causal_dir.name}@sha256:") and causal.identity.endswith(":float32")
    assert seq2seq.identity.startswith("hf-seq2seq:")
    assert CausalBackend(model=str(causal_dir), device="cpu").identity == causal.identity


def test_in_memory_model_needs_tokenizer_and_identity(causal):
    with pytest.raises(LampError, match="identity"):
        CausalBackend(model=causal.model, device="cpu")
    wrapped = CausalBackend(model=causal.model, tokenizer=causal.tokenizer, identity="step-100", device="cpu")
    assert wrapped.identity == "hf-causal:step-100:float32"


def test_unknown_model_folder_is_a_user_error(tmp_path):
    with pytest.raises(LampError, match="cannot load model"):
        CausalBackend(model=str(tmp_path / "nope"), device="cpu")


def test_first_line_and_newline_stopping(causal):
    assert first_line("\n\n comedy \nand then more") == "comedy"
    assert first_line("  [1]  ") == "[1]"
    nl = causal.tokenizer("a\nb", add_special_tokens=False)["input_ids"]
    plain = causal.tokenizer("a b", add_special_tokens=False)["input_ids"]
    leading = causal.tokenizer("\nab", add_special_tokens=False)["input_ids"]
    width = max(len(nl), len(plain), len(leading))
    rows = [[9, 9] + ids + [0] * (width - len(ids)) for ids in (nl, plain, leading)]
    done = StopAtNewline(causal.tokenizer, start=2)(torch.tensor(rows), None)
    assert done.tolist() == [True, False, False]


def test_stop_at_newline_returns_one_line(causal):
    settings = GenerationSettings(num_beams=1, max_new_tokens=12, stop_at_newline=True)
    assert all("\n" not in out for out in causal.generate(PROMPTS, settings))


def test_calibrated_choice_subtracts_the_content_free_prompts_label_scores(causal):
    from dataclasses import replace

    calibrated = replace(GREEDY, calibration_prompt="N/A")
    prior = torch.tensor([brute_force_causal(causal, "N/A", o) for o in OPTIONS])
    expected = torch.tensor([[brute_force_causal(causal, p, o) for o in OPTIONS] for p in PROMPTS]) - prior
    assert causal.choose(PROMPTS, OPTIONS, calibrated) == [OPTIONS[int(i)] for i in expected.argmax(1)]


CONTINUATIONS = ["sci-fi", "a robot learns", "sci-fi", "5", "great kit broke"]


def test_causal_loglikelihood_matches_an_unbatched_forward_with_token_counts(causal):
    found = causal.loglikelihood(PROMPTS, CONTINUATIONS, GREEDY)
    for (logp, n), prompt, cont in zip(found, PROMPTS, CONTINUATIONS):
        assert logp == pytest.approx(brute_force_causal(causal, prompt, cont), abs=1e-4)
        assert n == len(causal.tokenizer(cont, add_special_tokens=False)["input_ids"])


def test_seq2seq_loglikelihood_matches_an_unbatched_forward_with_eos_counted(seq2seq):
    found = seq2seq.loglikelihood(PROMPTS, CONTINUATIONS, GREEDY)
    for (logp, n), prompt, cont in zip(found, PROMPTS, CONTINUATIONS):
        assert logp == pytest.approx(brute_force_seq2seq(seq2seq, prompt, cont), abs=1e-4)
        assert n == len(seq2seq.tokenizer(cont)["input_ids"])       # the labels end with </s>


def test_label_choice_is_the_argmax_of_the_option_scores(causal):
    rows = causal.score_options(PROMPTS, OPTIONS, GREEDY)
    assert causal.choose(PROMPTS, OPTIONS, GREEDY) == [OPTIONS[max(range(len(OPTIONS)), key=r.__getitem__)]
                                                       for r in rows]
