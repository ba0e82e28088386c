"""The openai backend against a real HTTP server on 127.0.0.1 that misbehaves on purpose.

The server answers ``<prompt>`` for a prompt, after playing the prompt's script of failures
(429 with or without Retry-After, 5xx, a hang past the client timeout, a permanent 400). It
counts attempts per prompt and the largest number of requests in flight at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import socket
import time
import warnings

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lamp.generation.backends.base import GenerationSettings, load_backend
from lamp.generation.backends.openai_api import OpenAIBackend
from lamp.generation.backends.servers import GenerationFailures, normalize_base_url, parse_retry_after
from lamp.core.errors import LampError
from lamp.serving.app import running_server

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


def make_fake_server(script: Script, root: str = "/weights/fake-7b") -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "root": root}]}

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
    from lamp.generation.prompts import build_prompt
    from lamp.core.records import ProfileItem

    script, url = fake
    b = backend(url)
    assert b.prompt_budget == "none"
    assert build_prompt("LaMP-4", "headline: x", [], 256, b.tokenizer) == "headline: x"    # no items: fine
    with pytest.raises(LampError, match="chars/4"):
        build_prompt("LaMP-4", "headline: x", [ProfileItem("1", title="t", text="body")], 256, b.tokenizer)


def test_characters_per_four_only_when_asked_for_by_name_and_recorded(fake):
    from lamp.generation.prompts import CharCounter

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


# --------------------------------------------------------------------------- several servers

@pytest.fixture(scope="module")
def second_server():
    script = Script()
    with running_server(make_fake_server(script)) as url:
        yield script, url


@pytest.fixture
def two(server, second_server):
    for script, _ in (server, second_server):
        script.reset()
    return server, second_server


def test_base_url_takes_several_servers_as_a_list_or_with_commas():
    b = backend("http://a:1, http://b:2/v1/", model="m")
    assert b.base_urls == ["http://a:1/v1", "http://b:2/v1"] and b.base_url == "http://a:1/v1"
    assert backend(["http://a:1", "http://b:2,http://c:3"], model="m").base_urls == \
        ["http://a:1/v1", "http://b:2/v1", "http://c:3/v1"]
    with pytest.raises(LampError, match="more than once"):
        backend("http://a:1,http://a:1/v1", model="m")


def test_the_default_concurrency_suits_a_gpu_server():
    b = backend("http://a:1,http://b:2", model="m")
    assert b.max_concurrency == 64 and b.batch_size == 8 * 64 * 2


def test_requests_are_spread_over_the_servers_each_within_max_concurrency(two):
    (script_a, url_a), (script_b, url_b) = two
    script_a.default_delay = script_b.default_delay = 0.05
    b = backend([url_a, url_b], max_concurrency=2)
    prompts = [f"s{i}" for i in range(12)]
    assert b.generate(prompts, GREEDY) == [f"<{p}>" for p in prompts]
    assert len(script_a.bodies) + len(script_b.bodies) == 12 and min(len(script_a.bodies), len(script_b.bodies)) >= 4
    assert script_a.max_in_flight == script_b.max_in_flight == 2
    assert b.servers.answered == [len(script_a.bodies), len(script_b.bodies)]


def test_a_failed_request_moves_to_the_other_server_at_once(two):
    (script_a, url_a), (script_b, url_b) = two
    script_a.plans = {"p": [503] * 10}
    script_b.plans = {"p": [503] * 10}
    b = backend([url_a, url_b], backoff_base=30.0, max_retries=1)     # a backoff would take 15 s or more
    start = time.monotonic()
    outputs, failures = b.generate_partial(["p"], GREEDY)
    assert time.monotonic() - start < 5
    assert script_a.attempts.get("p", 0) == script_b.attempts.get("p", 0) == 1     # one try on each
    assert failures[0].attempts == 2 and failures[0].server in (f"{url_a}/v1", f"{url_b}/v1")
    script_a.plans = {"q": [500]}                                     # the first request goes to the first server
    start = time.monotonic()
    first = backend([url_a, url_b], backoff_base=30.0)
    assert first.generate(["q"], GREEDY) == ["<q>"] and first.servers.moved == 1
    assert (script_a.attempts["q"], script_b.attempts["q"]) == (1, 1) and time.monotonic() - start < 5


def test_servers_that_serve_different_models_stop_at_start_naming_both(two):
    (_, url_a), _ = two
    with running_server(make_fake_server(Script(), root="/weights/other-7b")) as url_c:
        with pytest.raises(LampError, match=rf"do not serve the same model.*{url_a}/v1.*fake-7b.*{url_c}/v1.*other-7b"):
            backend([url_a, url_c], model="fake-model").identity
    with running_server(_swappable_server({"weights": "/models/a.gguf"})) as url_d:
        with pytest.raises(LampError, match=rf"{url_d}/v1 does not serve the model 'fake-model'.*it serves 'alias'"):
            backend([url_a, url_d], model="fake-model").identity


# --------------------------------------------------------------------------- real lamp serve processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``lamp serve`` in a subprocess on 127.0.0.1, counting the completions it logs."""

    def __init__(self, folder: str, port: int) -> None:
        import subprocess
        import sys
        import threading

        self.url, self.completions = f"http://127.0.0.1:{port}", 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lamp", "serve", "--model", folder, "--served-model-name", "tiny", "--no-auth",
             "--port", str(port), "--max-batch", "1", "--db", ":memory:"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.counted = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self.counted:
                self.lines.append(line)
                self.completions += "/v1/completions" in line
                self.counted.notify_all()

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("lamp serve exited:\n" + "".join(self.lines))
            try:
                if httpx.get(self.url + "/health", trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("lamp serve did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _evaluate_llm(argv: list[str]) -> int:
    import argparse

    from lamp.cli.main import run_verb
    from lamp.cli.evaluate_llm import configure, run

    parser = argparse.ArgumentParser()
    configure(parser)
    return run_verb(run, parser.parse_args(argv))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    from tiny_models import save_small_llama, word_tokenizer

    words = "what is the score of following review on a scale 1 to 5 great kit works well broke fast book"
    return str(save_small_llama(tmp_path_factory.mktemp("tiny-llama"), word_tokenizer([words], chat=True),
                                hidden=32, layers=2))


def test_two_lamp_serve_processes_one_killed_mid_run_every_prediction_written_once_as_by_one(
        tiny_llama, tmp_path, monkeypatch, capsys):
    import threading
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "data" / "demo" / "LaMP_3" / "dev" / "dev_questions.json"
    servers = [ServeProcess(tiny_llama, _free_port()) for _ in range(2)]
    try:
        for s in servers:
            s.wait_ready()
        a, b = servers

        def run(urls: str, out: str, max_retries: int = 5) -> int:
            monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / f"cache-{out}"))   # no answer from another run
            return _evaluate_llm(["--validation_data", str(data), "--task", "LaMP-3", "--model_addr", "tiny",
                                  "--base_url", urls, "--num_beams", "1", "--generation_max_length", "6",
                                  "--backend_options", json.dumps({"max_concurrency": 2, "backoff_base": 0.05,
                                                                   "max_retries": max_retries}),
                                  "--output_dir", str(tmp_path / out)])

        def kill_after(server: ServeProcess, answered: int, killed: threading.Event) -> None:
            with server.counted:          # the identity probe is one completion; then real answers
                server.counted.wait_for(lambda: server.completions >= answered, timeout=120)
            server.stop()
            killed.set()

        assert run(a.url, "one") == 0
        killed = threading.Event()
        killer = threading.Thread(target=kill_after, args=(b, 4, killed))
        killer.start()
        assert run(f"{a.url},{b.url}", "two") == 0
        killer.join()
        assert killed.is_set() and b.proc.returncode is not None
        one = json.loads((tmp_path / "one" / "predictions.json").read_text())
        two = json.loads((tmp_path / "two" / "predictions.json").read_text())
        ids = [g["id"] for g in two["golds"]]
        assert len(ids) == len(set(ids)) == 40 and two == one
        assert 4 <= b.completions < 1 + 40             # B answered some, and died before the end

        # the last server dies mid-run: exit 2 naming it, and no predictions file at all
        killed = threading.Event()
        killer = threading.Thread(target=kill_after, args=(a, a.completions + 4, killed))
        killer.start()
        capsys.readouterr()
        assert run(a.url, "dead", max_retries=1) == 2
        killer.join()
        err = capsys.readouterr().err
        assert f"{a.url}/v1" in err and "failed" in err and "Traceback" not in err
        assert not (tmp_path / "dead" / "predictions.json").exists()
    finally:
        for s in servers:
            s.stop()
