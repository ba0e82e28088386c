"""Log-likelihoods through OpenAI-compatible servers: the ``openai`` backend against ``lamp serve``.

A tiny random Llama with a byte-level BPE (so every demo text tokenizes) is served on 127.0.0.1;
the ``openai`` backend scores through it with the lm-evaluation-harness protocol (token-id prompts,
``echo``, ``logprobs``) and must give what the ``hf-causal`` backend gives on the same folder: the
same option scores and log-likelihoods (within 1e-4) and the same label choices, through the
library, ``evaluate_llm.py --label_choice`` and ``lamp ropg score --with_loglik``. Servers that
cannot echo prompt log-probabilities, tokenizer mismatches, wrong model names and unreachable
servers are refused before anything is written.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from lamp.generation.backends.base import GenerationSettings
from lamp.generation.backends.openai_api import OpenAIBackend
from lamp.generation.backends.openai_loglik import prompt_token_logprobs
from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampError
from lamp.serving.store import ProfileStore
from lamp.serving.app import create_app, running_server
from tiny_models import byte_bpe, save_tiny_llama

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=4, max_input_length=48)
LABELS_3 = ["1", "2", "3", "4", "5"]
TAGS = ["sci-fi", "dark comedy", "based on a book", "true story", "dystopia"]


def demo_texts() -> list[str]:
    texts = []
    for task, split in (("LaMP_2", "train"), ("LaMP_3", "dev")):
        for q in json.loads((DEMO / task / split / f"{split}_questions.json").read_text(encoding="utf-8")):
            texts.append(q["input"])
            texts.extend(str(v) for item in q["profile"][:3] for v in item.values())
    return texts


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    tok = byte_bpe(demo_texts(), eos_after=False, vocab_size=400)
    return str(save_tiny_llama(tmp_path_factory.mktemp("tiny-bpe-llama"), tok, max_positions=2048))


@pytest.fixture(scope="module")
def hf(folder):
    from lamp.generation.backends.hf import CausalBackend

    return CausalBackend(folder, dtype="float32", batch_size=4)


@pytest.fixture(scope="module")
def url(hf):
    store = ProfileStore()
    with running_server(create_app(hf, store, model_name="tiny")) as base:
        yield base
    store.close()


_OPEN: list[OpenAIBackend] = []


@pytest.fixture(autouse=True)
def close_backends():
    yield
    while _OPEN:
        _OPEN.pop().close()


def remote(url: str, folder: str | None, **kw) -> OpenAIBackend:
    kw.setdefault("model", "tiny")
    kw.setdefault("chat", True)
    _OPEN.append(OpenAIBackend(url, tokenizer=folder, trust_env=False, progress=False, backoff_base=0.01, **kw))
    return _OPEN[-1]


PROMPTS = ["What is the score of the following review? review: the charger died after a week",
           "Which tag does this movie relate to? description: a crew wakes on a ship far from earth " * 4,
           "x"]


# --------------------------------------------------------------------------- the numbers match hf-causal

def test_loglikelihoods_through_lamp_serve_match_the_hf_backend_within_1e_4(url, folder, hf):
    continuations = ["2", "a story about a lost crew", "sci-fi"]
    ours = remote(url, folder).loglikelihood(PROMPTS, continuations, SETTINGS)
    theirs = hf.loglikelihood(PROMPTS, continuations, SETTINGS)
    assert [n for _, n in ours] == [n for _, n in theirs]          # the same tokens, the long prompt cut
    assert [v for v, _ in ours] == pytest.approx([v for v, _ in theirs], abs=1e-4)
    assert remote(url, folder).continuation_length("dark comedy") == hf.continuation_length("dark comedy")


def test_label_choice_and_option_scores_through_lamp_serve_match_the_hf_backend(url, folder, hf):
    backend = remote(url, folder)
    for options in (LABELS_3, TAGS):
        ours, theirs = backend.score_options(PROMPTS, options, SETTINGS), hf.score_options(PROMPTS, options, SETTINGS)
        for a, b in zip(ours, theirs):
            assert a == pytest.approx(b, abs=1e-4)
        assert backend.choose(PROMPTS, options, SETTINGS) == hf.choose(PROMPTS, options, SETTINGS)
    calibrated = GenerationSettings(num_beams=1, max_input_length=48, calibration_prompt="review: N/A")
    assert backend.choose(PROMPTS, TAGS, calibrated) == hf.choose(PROMPTS, TAGS, calibrated)


def test_echo_and_vllm_prompt_logprobs_answers_give_the_same_prompt_token_logprobs(url, hf):
    ids = hf.tokenizer("great kit, works well")["input_ids"]
    with httpx.Client(base_url=url, trust_env=False) as client:
        echo = client.post("/v1/completions", json={"model": "tiny", "prompt": ids, "echo": True, "logprobs": 1,
                                                    "max_tokens": 1, "temperature": 0}).json()
        vllm = client.post("/v1/completions", json={"model": "tiny", "prompt": ids, "prompt_logprobs": 2,
                                                    "max_tokens": 1, "temperature": 0}).json()
    a = prompt_token_logprobs(echo["choices"][0], ids, "echo")
    b = prompt_token_logprobs(vllm["choices"][0], ids, "prompt_logprobs")
    assert len(a) == len(ids) and a == pytest.approx(b, abs=1e-6)
    assert echo["choices"][0]["logprobs"]["token_logprobs"][0] is None      # the first token has no context
    assert len(echo["choices"][0]["logprobs"]["tokens"]) == len(ids) + 1   # the prompt, then the generated token
    entry = vllm["choices"][0]["prompt_logprobs"][1]
    assert str(ids[1]) in entry and 2 <= len(entry) <= 3                   # the actual token and the top 2
    assert echo["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}


def test_lamp_serve_tokenize_answers_like_vllm_and_refuses_what_it_cannot_do(url, hf):
    with httpx.Client(base_url=url, trust_env=False) as client:
        out = client.post("/tokenize", json={"prompt": "great kit"}).json()
        assert out["tokens"] == hf.tokenizer("great kit")["input_ids"] and out["count"] == len(out["tokens"])
        chat = client.post("/tokenize", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        assert chat["tokens"] == hf.tokenizer(hf.format_prompt("hi"), add_special_tokens=False)["input_ids"]
        refused = {"stream": client.post("/v1/completions", json={"prompt": [5, 6], "echo": True, "stream": True}),
                   "logprobs": client.post("/v1/completions", json={"prompt": [5, 6], "logprobs": 99}),
                   "prompt": client.post("/v1/completions", json={"prompt": [5, 10 ** 6], "echo": True})}
    for param, resp in refused.items():
        assert resp.status_code == 422 and resp.json()["error"]["param"] == param, resp.text


# --------------------------------------------------------------------------- the command lines

def evaluate_llm(argv: list[str]) -> int:
    from lamp.cli.main import run_verb
    from lamp.cli.evaluate_llm import configure, run

    parser = argparse.ArgumentParser()
    configure(parser)
    return run_verb(run, parser.parse_args(argv))


def test_evaluate_llm_label_choice_through_the_openai_backend_matches_hf_causal(url, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    common = ["--validation_data", str(DEMO / "LaMP_3" / "dev" / "dev_questions.json"), "--task", "LaMP-3",
              "--use_profile", "--num_retrieved", "2", "--max_length", "96", "--label_choice"]
    assert evaluate_llm(common + ["--model_addr", folder, "--backend", "hf-causal",
                                  "--output_dir", str(tmp_path / "hf")]) == 0
    assert evaluate_llm(common + ["--model_addr", "tiny", "--backend", "openai", "--base_url", url, "--chat",
                                  "--tokenizer", folder, "--output_dir", str(tmp_path / "api")]) == 0
    hf_preds = json.loads((tmp_path / "hf" / "predictions.json").read_text())
    api_preds = json.loads((tmp_path / "api" / "predictions.json").read_text())
    assert len(hf_preds["golds"]) == 40 and api_preds == hf_preds
    assert len({g["output"] for g in hf_preds["golds"]}) > 1               # the prompts decide, not a prior


def test_ropg_score_with_loglik_through_the_openai_backend_matches_hf_causal(url, folder, tmp_path, monkeypatch):
    from ropg.feedback import read_scores

    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    common = ["ropg", "score", "--train_data", str(DEMO / "LaMP_2" / "train" / "train_questions.json"),
              "--task", "LaMP-2", "--profile_size", "2", "--end_index", "12", "--max_length", "96",
              "--label_choice", "--with_loglik", "--no_progress"]
    assert lamp_main(common + ["--model_name", folder, "--backend", "hf-causal", "--output_dir", str(tmp_path / "hf")]) == 0
    assert lamp_main(common + ["--model_name", "tiny", "--backend", "openai", "--base_url", url, "--chat",
                               "--tokenizer", folder, "--output_dir", str(tmp_path / "api")]) == 0
    theirs, ours = (read_scores(tmp_path / d / "scores_0_12.json") for d in ("hf", "api"))
    assert list(ours) == list(theirs) and len(ours) == 12
    for key in theirs:
        assert set(ours[key]) == set(theirs[key]) and "loglik" in ours[key]
        for metric, value in theirs[key].items():
            assert ours[key][metric] == pytest.approx(value, abs=1e-4), (key, metric)


# --------------------------------------------------------------------------- refused before anything is written

def _llama_cpp_like(seen: list[dict]) -> FastAPI:
    """A server like llama.cpp's: it ignores echo and prompt_logprobs and gives the generated token's logprob only."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "tiny", "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict:
        body = await request.json()
        seen.append(body)
        return {"model": "tiny", "choices": [{"index": 0, "text": "x", "logprobs": {
            "tokens": ["x"], "token_logprobs": [-0.5], "top_logprobs": [{"x": -0.5}], "text_offset": [0]}}]}
    return app


def test_a_server_that_cannot_echo_prompt_logprobs_is_refused_once_with_a_clear_message(folder):
    seen: list[dict] = []
    with running_server(_llama_cpp_like(seen)) as base:
        backend = remote(base, folder)
        for _ in range(2):
            with pytest.raises(LampError, match="cannot score.*llama.cpp") as info:
                backend.choose(PROMPTS, LABELS_3, SETTINGS)
        assert base in str(info.value)
    assert len(seen) == 2                               # asked once each way (echo, prompt_logprobs), then refused
    assert seen[0]["echo"] is True and seen[0]["logprobs"] == 1 and "prompt_logprobs" in seen[1]


def test_a_tokenizer_that_is_not_the_served_models_stops_at_start_naming_the_url(url, tmp_path):
    other = byte_bpe(["completely different words make another vocabulary"] * 3, eos_after=False, vocab_size=300)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(LampError, match=r"is not the one of the model 'tiny' at http://127\.0\.0\.1:\d+/v1"):
        remote(url, str(tmp_path / "other")).identity


def test_a_wrong_model_name_or_an_unreachable_server_stops_at_start_naming_the_url(url, folder):
    with pytest.raises(LampError, match=rf"{url}/v1 does not serve the model 'llama-70b'.*it serves 'tiny'"):
        remote(url, folder, model="llama-70b").identity
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(LampError, match=f"cannot reach the OpenAI-compatible server at {dead}/v1"):
        remote(dead, folder).identity


def test_evaluate_llm_against_an_unreachable_server_exits_2_and_writes_nothing(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    rc = evaluate_llm(["--validation_data", str(DEMO / "LaMP_3" / "dev" / "dev_questions.json"), "--task", "LaMP-3",
                       "--model_addr", "tiny", "--backend", "openai", "--base_url", dead, "--tokenizer", folder,
                       "--label_choice", "--output_dir", str(tmp_path / "out")])
    assert rc == 2 and f"{dead}/v1" in capsys.readouterr().err
    assert not (tmp_path / "out" / "predictions.json").exists()


def test_scoring_without_the_chat_flag_reads_plain_text_like_hf_causal_on_a_tokenizer_without_template(
        url, folder, tmp_path, hf):
    """chat=False: the prompt's own special tokens and " " + option, as hf-causal reads a plain model."""
    from transformers import AutoTokenizer

    from lamp.generation.backends.hf import CausalBackend

    plain_tok = AutoTokenizer.from_pretrained(folder)
    plain_tok.chat_template = None
    plain = CausalBackend(hf.model, tokenizer=plain_tok, identity="plain")
    ours = remote(url, folder, chat=False).score_options(PROMPTS, TAGS, SETTINGS)
    for a, b in zip(ours, plain.score_options(PROMPTS, TAGS, SETTINGS)):
        assert a == pytest.approx(b, abs=1e-4)
