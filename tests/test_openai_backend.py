"""The openai backend against a real HTTP server on 127.0.0.1 that misbehaves on purpose.

The server answers ``<prompt>`` for a prompt, after playing the prompt's script of failures
(429 with or without Retry-After, 5xx, a hang past the client timeout, a permanent 400). It
counts attempts per prompt and the largest number of requests in flight at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import time
import warnings

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lamp.backends.base import GenerationSettings, load_backend
from lamp.backends.openai_api import (GenerationFailures, OpenAIBackend, normalize_base_url, parse_retry_after)
from lamp.errors import LampError
from lamp.serve import running_server

GREEDY = GenerationSettings(num_beams=1, max_new_tokens=8)


class Script:
    """What the fake server does: per-prompt failure plans, delays, and what it saw."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.plans: dict[str, list] = {}     # prompt -> actions for its first attempts
        self.delays: dict[str, float] = {}   # prompt -> seconds to wait before answering
        self.default_delay = 0.0
        self.attempts: dict[str, int] = {}
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0


def make_fake_server(script: Script) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "root": "/weights/fake-7b"}]}

    async def answer(request: Request, chat: bool):
        body = await request.json()
        script.bodies.append(body)
        script.headers.append(dict(request.headers))
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        script.attempts[prompt] = script.attempts.get(prompt, 0) + 1
        script.in_flight += 1
        script.max_in_flight = max(script.max_in_flight, script.in_flight)
        try:
            await asyncio.sleep(script.delays.get(prompt, script.default_delay))
            plan = script.plans.get(prompt, [])
            action = plan.pop(0) if plan else "ok"
            if action == "hang":
                await asyncio.sleep(1.0)          # longer than the client's timeout
            elif action == "garbage":
                return JSONResponse({"unexpected": True})
            elif action == "multiline":                # a server that ignores "stop"
                return {"choices": [{"index": 0, "text": "\n  first line \nsecond line\n"}]}
            elif isinstance(action, tuple):      # (status, Retry-After)
                return JSONResponse({"error": {"message": "slow down"}}, status_code=action[0],
                                    headers={"Retry-After": action[1]})
            elif isinstance(action, int):
                return JSONResponse({"error": {"message": f"scripted failure {action} for {prompt}"}},
                                    status_code=action)
            text = f"<{prompt}>"
            choice = {"index": 0, "message": {"role": "assistant", "content": text}} if chat else \
                {"index": 0, "text": text}
            return {"id": "x", "object": "text_completion", "model": body["model"], "choices": [choice]}
        finally:
            script.in_flight -= 1

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await answer(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await answer(request, chat=True)

    return app


@pytest.fixture(scope="module")
def server():
    script = Script()
    with running_server(make_fake_server(script)) as url:
        yield script, url


_OPEN: list[OpenAIBackend] = []


@pytest.fixture(autouse=True)
def close_backends():
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def fake(server):
    script, url = server
    script.reset()
    return script, url


def backend(url: str, **kw) -> OpenAIBackend:
    kw.setdefault("model", "fake-model")
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("trust_env", False)
    kw.setdefault("progress", False)
    _OPEN.append(OpenAIBackend(url, **kw))
    return _OPEN[-1]


def test_outputs_come_back_in_prompt_order_even_when_later_prompts_finish_first(fake):
    script, url = fake
    prompts = [f"p{i}" for i in range(6)]
    script.delays = {p: 0.02 * (6 - i) for i, p in enumerate(prompts)}   # the last prompt answers first
    assert backend(url, max_concurrency=6).generate(prompts, GREEDY) == [f"<{p}>" for p in prompts]


def test_no_more_requests_in_flight_than_max_concurrency(fake):
    script, url = fake
    script.default_delay = 0.05
    out = backend(url, max_concurrency=3).generate([f"q{i}" for i in range(12)], GREEDY)
    assert len(out) == 12
    assert script.max_in_flight == 3


def test_429_and_5xx_are_retried_until_the_request_succeeds(fake):
    script, url = fake
    script.plans = {"a": [429, 500, 503], "b": [502]}
    assert backend(url, max_retries=5).generate(["a", "b", "c"], GREEDY) == ["<a>", "<b>", "<c>"]
    assert script.attempts == {"a": 4, "b": 2, "c": 1}


def test_retry_after_header_is_honoured_over_the_backoff(fake):
    script, url = fake
    script.plans = {"a": [(429, "1")]}
    start = time.monotonic()
    assert backend(url, backoff_base=0.001).generate(["a"], GREEDY) == ["<a>"]
    assert time.monotonic() - start >= 1.0
    assert script.attempts["a"] == 2


def test_a_request_that_times_out_is_retried(fake):
    script, url = fake
    script.plans = {"slow": ["hang"]}
    assert backend(url, timeout=0.3).generate(["slow", "fast"], GREEDY) == ["<slow>", "<fast>"]
    assert script.attempts["slow"] == 2


def test_failures_after_retries_name_each_prompt_and_keep_the_successes(fake):
    script, url = fake
    script.plans = {"bad": [500] * 10, "refused": [400], "flaky": [429]}
    b = backend(url, max_retries=2)
    with pytest.raises(GenerationFailures) as info:
        b.generate(["ok0", "bad", "flaky", "refused"], GREEDY)
    exc = info.value
    assert isinstance(exc, LampError)
    assert exc.outputs == ["<ok0>", None, "<flaky>", None]
    assert [(f.index, f.status, f.attempts) for f in exc.failures] == [(1, 500, 3), (3, 400, 1)]
    assert "scripted failure 500 for bad" in exc.failures[0].error
    assert "prompt #1: HTTP 500 after 3 attempt(s)" in str(exc)
    assert "prompt #3: HTTP 400 after 1 attempt(s)" in str(exc)
    assert script.attempts == {"ok0": 1, "bad": 3, "flaky": 2, "refused": 1}   # 400 is never retried


def test_generate_partial_reports_each_answer_as_it_arrives_without_raising(fake):
    script, url = fake
    script.plans = {"x": [404]}
    seen: dict[int, str] = {}
    outputs, failures = backend(url).generate_partial(["a", "x", "c"], GREEDY,
                                                      on_result=lambda i, t: seen.__setitem__(i, t))
    assert outputs == ["<a>", None, "<c>"]
    assert seen == {0: "<a>", 2: "<c>"}
    assert [(f.index, f.status) for f in failures] == [(1, 404)]


def test_a_malformed_answer_is_a_failure_and_is_not_retried(fake):
    script, url = fake
    script.plans = {"g": ["garbage"]}
    outputs, failures = backend(url).generate_partial(["g"], GREEDY)
    assert outputs == [None]
    assert (failures[0].status, failures[0].attempts) == (200, 1)
    assert "unexpected answer" in failures[0].error


def test_answers_are_cleaned_up_like_the_hf_backends(fake):
    script, url = fake
    script.plans = {"m": ["multiline", "multiline"]}
    b = backend(url)
    assert b.generate(["m"], GREEDY) == ["first line \nsecond line"]
    assert b.generate(["m"], GenerationSettings(num_beams=1, stop_at_newline=True)) == ["first line"]


def test_an_unreachable_server_is_reported_without_an_http_status():
    with socket.socket() as s:              # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outputs, failures = backend(f"http://127.0.0.1:{port}", max_retries=1).generate_partial(["a"], GREEDY)
    assert outputs == [None]
    assert (failures[0].index, failures[0].status, failures[0].attempts) == (0, None, 2)


def test_greedy_settings_map_to_temperature_zero_max_tokens_newline_stop_and_seed(fake):
    script, url = fake
    backend(url).generate(["a"], GenerationSettings(num_beams=1, max_new_tokens=7, stop_at_newline=True, seed=3))
    body = script.bodies[0]
    assert {k: body[k] for k in ("model", "prompt", "max_tokens", "temperature", "stop", "seed", "n")} == \
        {"model": "fake-model", "prompt": "a", "max_tokens": 7, "temperature": 0.0, "stop": ["\n"], "seed": 3, "n": 1}
    assert "top_p" not in body


def test_sampling_settings_send_temperature_and_top_p_and_no_stop(fake):
    script, url = fake
    backend(url).generate(["a"], GenerationSettings(num_beams=1, do_sample=True, temperature=0.7, top_p=0.9))
    body = script.bodies[0]
    assert (body["temperature"], body["top_p"], "stop" in body) == (0.7, 0.9, False)


def test_beam_search_settings_warn_that_decoding_is_greedy(fake):
    script, url = fake
    with pytest.warns(UserWarning, match="no beam search"):
        backend(url).generate(["a"], GenerationSettings(num_beams=4))
    assert script.bodies[0]["temperature"] == 0.0


def test_chat_flag_uses_the_chat_completions_endpoint(fake):
    script, url = fake
    assert backend(url, chat=True).generate(["hi"], GREEDY) == ["<hi>"]
    assert script.bodies[0]["messages"] == [{"role": "user", "content": "hi"}]


def test_identity_has_base_url_model_and_the_weights_the_server_reports(fake):
    script, url = fake
    assert backend(url).identity == f"openai:{url}/v1:fake-model:/weights/fake-7b"


def test_model_is_discovered_from_the_server_when_not_given(fake):
    script, url = fake
    b = backend(url, model=None)
    assert b.generate(["a"], GREEDY) == ["<a>"]
    assert b.model == "fake-model" and script.bodies[0]["model"] == "fake-model"


def test_api_key_comes_from_openai_api_key_and_is_sent_as_bearer(fake, monkeypatch):
    script, url = fake
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    b = backend(url)
    b.generate(["a"], GREEDY)
    assert script.headers[0]["authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in b.identity


def test_registry_builds_the_openai_backend(fake):
    script, url = fake
    b = load_backend("openai", base_url=url, model="fake-model", trust_env=False, progress=False, batch_size=8)
    _OPEN.append(b)
    assert isinstance(b, OpenAIBackend) and b.generate(["z"], GREEDY) == ["<z>"]
    assert b.batch_size == 8 and backend(url, max_concurrency=4).batch_size == 32


def test_empty_prompt_list_sends_nothing(fake):
    script, url = fake
    assert backend(url).generate([], GREEDY) == [] and script.bodies == []


def test_backoff_is_exponential_with_jitter_that_repeats_for_the_same_seed():
    b = backend("http://127.0.0.1:1", model="m", backoff_base=1.0, backoff_max=8.0)
    delays = [b.backoff_delay(a, random.Random("0:5")) for a in range(1, 6)]
    steps = [1, 2, 4, 8, 8]                                      # doubling, capped at backoff_max
    assert all(s / 2 <= d <= s for d, s in zip(delays, steps))
    rng1, rng2 = random.Random("0:5"), random.Random("0:5")
    assert [b.backoff_delay(a, rng1) for a in range(1, 6)] == [b.backoff_delay(a, rng2) for a in range(1, 6)]


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(10.0)
    assert parse_retry_after(email.utils.formatdate(0, usegmt=True), now=5.0) == 0.0


def test_base_url_with_or_without_v1_means_the_same_server():
    assert normalize_base_url("http://h:8000") == normalize_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(LampError, match="http://"):
        normalize_base_url("h:8000")


def test_bad_options_are_user_errors():
    for kw in ({"max_concurrency": 0}, {"max_retries": -1}, {"timeout": 0}):
        with pytest.raises(LampError):
            backend("http://127.0.0.1:1", model="m", **kw)


def test_no_warning_for_greedy_single_beam(fake):
    script, url = fake
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend(url).generate(["a"], GREEDY)


# --------------------------------------------------------------------------- nothing changes silently

def test_base_url_comes_from_openai_base_url_when_not_given(fake, monkeypatch):
    script, url = fake
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    b = OpenAIBackend(model="fake-model", trust_env=False, progress=False)
    _OPEN.append(b)
    assert b.base_url == f"{url}/v1" and b.generate(["q"], GREEDY) == ["<q>"]
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(LampError, match="OPENAI_BASE_URL"):
        OpenAIBackend(model="m")


def test_without_a_tokenizer_a_personalized_prompt_is_an_error_not_a_characters_estimate(fake):
    from lamp.prompts import build_prompt
    from lamp.records import ProfileItem

    script, url = fake
    b = backend(url)
    assert b.prompt_budget == "none"
    assert build_prompt("LaMP-4", "headline: x", [], 256, b.tokenizer) == "headline: x"    # no items: fine
    with pytest.raises(LampError, match="chars/4"):
        build_prompt("LaMP-4", "headline: x", [ProfileItem("1", title="t", text="body")], 256, b.tokenizer)


def test_characters_per_four_only_when_asked_for_by_name_and_recorded(fake):
    from lamp.prompts import CharCounter

    script, url = fake
    b = backend(url, tokenizer="chars/4")
    assert isinstance(b.tokenizer, CharCounter) and b.prompt_budget == "chars/4"


@pytest.mark.slow
def test_the_bundled_model_name_works_as_a_tokenizer(fake):
    script, url = fake
    b = backend(url, tokenizer="SmolLM2-135M-Instruct")
    assert b.prompt_budget == "tokenizer:SmolLM2-135M-Instruct"
    assert len(b.tokenizer("Hello world")["input_ids"]) == 2


def test_label_choice_without_a_tokenizer_is_an_error_not_free_generation(fake):
    script, url = fake
    for tokenizer in (None, "chars/4"):
        with pytest.raises(LampError, match="needs the served model's own tokenizer"):
            backend(url, tokenizer=tokenizer).choose(["p"], ["1", "2"], GREEDY)
    assert script.bodies == []                           # refused before any request


def _swappable_server(state: dict) -> FastAPI:
    """A server like llama-cpp-python's: the model alias stays, the weights file it reports changes."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "alias", "object": "model", "owned_by": "me",
                                            "created": time.time(), "permissions": []}]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        return {"id": "x", "object": "text_completion", "model": state["weights"],
                "choices": [{"index": 0, "text": f"[{state['weights']}] {body['prompt']}"}]}
    return app


def test_the_identity_follows_the_model_the_server_reports_and_a_swap_mid_run_fails():
    state = {"weights": "/models/a.gguf"}
    with running_server(_swappable_server(state)) as url:
        first = backend(url, model="alias")
        identity_a = first.identity
        assert "reports=/models/a.gguf" in identity_a
        assert identity_a == backend(url, model="alias").identity          # stable: 'created' is ignored
        state["weights"] = "/models/b.gguf"
        assert backend(url, model="alias").identity != identity_a          # new weights, new cache key
        with pytest.raises(GenerationFailures, match="model behind the URL changed"):
            first.generate(["p"], GREEDY)                                  # never cached under the old key
