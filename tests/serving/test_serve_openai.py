"""``lamp serve`` through the official ``openai`` Python client, on 127.0.0.1 with a tiny real model.

Chat and text completions, streaming of both, ``/v1/models/{id}``, errors in the OpenAI envelope,
stop strings applied during generation with true token counts, personalization through ``user``
and ``extra_body``, and dynamic batching of concurrent requests. The tiny model is the random
Llama of ``tests/serving/test_serve.py`` (word-level tokenizer, a chat template).
"""

from __future__ import annotations

import concurrent.futures

import openai
import pytest

from lamp.generation.backends.base import GenerationSettings
from lamp.serving.store import ProfileStore
from lamp.serving.app import create_app, running_server
from lamp.serving.shapes import ServeLimits
from tiny_serve import LAMP3, USER_A, USER_B, build_tiny_causal_lm

SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=8, max_input_length=64)
LIMITS = ServeLimits(max_tokens_limit=32)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    from lamp.generation.backends.hf import CausalBackend

    return CausalBackend(build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama")))


@pytest.fixture(scope="module")
def server(hf):
    """(base url, app) of a service with users a and b, and an API key."""
    store = ProfileStore()
    app = create_app(hf, store, model_name="tiny", settings=SETTINGS, limits=LIMITS, api_key="sekret",
                     batch_window_s=0.05)
    with running_server(app) as url:
        import httpx

        with httpx.Client(base_url=url, trust_env=False, headers={"Authorization": "Bearer sekret"}) as c:
            for user, items in (("a", USER_A), ("b", USER_B)):
                assert c.put(f"/users/{user}/profile", json={"task": "LaMP-3", "profile": items}).status_code == 200
        yield url, app
    store.close()


@pytest.fixture
def client(server):
    import httpx

    with openai.OpenAI(base_url=server[0] + "/v1", api_key="sekret", max_retries=0, timeout=60,
                       http_client=httpx.Client(trust_env=False)) as c:
        yield c


def chat_greedy(hf, content: str, max_new_tokens: int) -> str:
    """The hf backend's own answer to one user message (chat template, greedy), unstripped."""
    return hf.generate([content], GenerationSettings(num_beams=1, max_new_tokens=max_new_tokens,
                                                     max_input_length=0))[0]


# --------------------------------------------------------------------------- the endpoints

def test_chat_completion_uses_the_chat_template_like_the_hf_backend(client, hf):
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "great kit"}],
                                       max_tokens=6, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.strip() == chat_greedy(hf, "great kit", 6)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens == len(hf.tokenizer(hf.format_prompt("great kit"), add_special_tokens=False)
                                        ["input_ids"])


def test_streamed_chat_deltas_add_up_to_the_unstreamed_answer(client):
    kwargs = {"model": "tiny", "messages": [{"role": "user", "content": "lovely book for kids"}], "max_tokens": 8,
              "temperature": 0}
    whole = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2   # really incremental


def test_streamed_completions_add_up_per_prompt(client):
    prompts = ["great kit", "battery charger died"]
    whole = client.completions.create(model="tiny", prompt=prompts, max_tokens=6, temperature=0)
    pieces = {0: "", 1: ""}
    for chunk in client.completions.create(model="tiny", prompt=prompts, max_tokens=6, temperature=0, stream=True):
        for choice in chunk.choices:
            pieces[choice.index] += choice.text
    assert [pieces[0], pieces[1]] == [c.text for c in whole.choices]


def test_stop_ends_generation_at_the_stop_string_and_usage_counts_only_generated_tokens(client):
    free = client.completions.create(model="tiny", prompt="great kit", max_tokens=12, temperature=0)
    words = free.choices[0].text.split()
    assert len(words) >= 4 and free.usage.completion_tokens == 12
    stop = " " + words[2]                             # the third generated word (word-level tokenizer)
    r = client.completions.create(model="tiny", prompt="great kit", max_tokens=12, temperature=0, stop=[stop])
    cut = free.choices[0].text[: free.choices[0].text.index(stop)]
    assert r.choices[0].text == cut and r.choices[0].finish_reason == "stop"
    used = r.usage.completion_tokens
    assert 0 < used < free.usage.completion_tokens                      # generation stopped, not text cut after
    # true count: the stop appears within exactly ``used`` generated tokens, not one fewer
    exact = client.completions.create(model="tiny", prompt="great kit", max_tokens=used, temperature=0)
    fewer = client.completions.create(model="tiny", prompt="great kit", max_tokens=used - 1, temperature=0) \
        if used > 1 else None
    assert stop in exact.choices[0].text and (fewer is None or stop not in fewer.choices[0].text)


def test_models_and_one_model_by_id(client, hf):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    m = client.models.retrieve("tiny")
    assert m.id == "tiny" and m.model_extra["root"] == hf.identity
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_errors_come_in_the_openai_envelope_including_401(server, client):
    import httpx

    with openai.OpenAI(base_url=server[0] + "/v1", api_key="wrong", max_retries=0,
                       http_client=httpx.Client(trust_env=False)) as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.models.list()
    assert info.value.status_code == 401 and info.value.body["code"] == 401 and info.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "kit"}], n=2)
    assert info.value.body["param"] == "n"


# --------------------------------------------------------------------------- personalization

def test_user_selects_the_stored_profile_and_the_response_names_the_items(client, server):
    query = LAMP3 + "broke fast after a week"
    r = client.completions.create(model="tiny", prompt=query, max_tokens=4, temperature=0, user="a",
                                  extra_body={"k": 2, "retriever": "bm25"})
    lamp = r.model_extra["lamp"]
    assert lamp["user"] == "a" and lamp["task"] == "LaMP-3" and lamp["k"] == 2 and lamp["retriever"] == "bm25"
    assert lamp["retrieved"][0] == "a2" and len(lamp["retrieved"]) == 2 and set(lamp["retrieved"]) <= {"a1", "a2", "a3"}
    # the same as /personalize builds and answers
    import httpx

    with httpx.Client(base_url=server[0], trust_env=False, headers={"Authorization": "Bearer sekret"}) as c:
        p = c.post("/personalize", json={"user_id": "a", "input": query, "k": 2, "max_tokens": 4}).json()
    assert p["retrieved"] == lamp["retrieved"]
    assert r.usage.prompt_tokens == len(server[1].state.service.backend.tokenizer(p["prompt"])["input_ids"])


def test_chat_personalizes_the_last_user_message_with_that_users_items(client):
    msgs = [{"role": "user", "content": LAMP3 + "battery charger died"}]
    a = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=4, temperature=0, user="a")
    b = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=4, temperature=0, user="b")
    assert len(a.model_extra["lamp"]["retrieved"]) == 1 and a.model_extra["lamp"]["retrieved"][0] in {"a1", "a2", "a3"}
    assert len(b.model_extra["lamp"]["retrieved"]) == 1 and b.model_extra["lamp"]["retrieved"][0] in {"b1", "b2"}
    plain = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=4, temperature=0)
    assert "lamp" not in (plain.model_extra or {}) and plain.usage.prompt_tokens < b.usage.prompt_tokens


def test_streamed_personalized_chat_reports_the_items_in_its_chunks(client):
    chunks = list(client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": LAMP3 + "kit"}],
                                                 max_tokens=3, temperature=0, user="b", stream=True,
                                                 extra_body={"k": 1}))
    assert chunks[0].model_extra["lamp"]["user"] == "b" and len(chunks[0].model_extra["lamp"]["retrieved"]) == 1


def test_unknown_user_with_retrieval_options_is_404_and_without_is_unpersonalized(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="tiny", prompt="kit", max_tokens=2, user="nobody", extra_body={"k": 2})
    r = client.completions.create(model="tiny", prompt="kit", max_tokens=2, user="nobody")
    assert "lamp" not in (r.model_extra or {})
    with pytest.raises(openai.UnprocessableEntityError):
        client.completions.create(model="tiny", prompt="kit", max_tokens=2, extra_body={"k": 2})  # no user


# --------------------------------------------------------------------------- batching

def test_concurrent_requests_are_batched_and_answer_as_they_would_alone(client, server):
    engine = server[1].state.service.engine
    prompts = [f"great kit {w}" for w in ("works", "well", "broke", "fast", "lovely", "book")]
    alone = [client.completions.create(model="tiny", prompt=p, max_tokens=5, temperature=0).choices[0].text
             for p in prompts]
    before = len(engine.batch_sizes)
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(lambda p: client.completions.create(model="tiny", prompt=p, max_tokens=5,
                                                                      temperature=0).choices[0].text, prompts))
    assert together == alone
    assert max(engine.batch_sizes[before:]) > 1                       # they shared model calls


def test_stopping_the_engine_ends_a_running_generation_at_its_next_step(hf):
    """What Ctrl-C on ``lamp serve`` does: the batch in progress answers with what it has, at once."""
    from lamp.serving.engine import BatchEngine, Job

    engine = BatchEngine(hf, window_s=0.0)
    job = Job(hf.format_prompt("great kit"), max_tokens=200,
              on_text=lambda piece: engine.stop())               # stop as soon as the first text arrives
    queued = Job("kit", max_tokens=5)
    engine.submit([job])
    assert job.done.wait(30) and job.error is None
    assert 0 < job.completion_tokens < 200 and job.finish_reason == "length"
    with pytest.raises(RuntimeError):
        engine.submit([queued])
    engine.close()
    assert not engine._thread.is_alive()


def test_lamp_serve_in_front_of_another_server_forwards_chat_and_personalizes(server, hf):
    """``lamp serve --backend openai --chat``: personalization here, generation upstream (its chat endpoint)."""
    import httpx

    from lamp.generation.backends.openai_api import OpenAIBackend

    upstream = server[0]
    proxy_backend = OpenAIBackend(upstream, model="tiny", api_key="sekret", chat=True, tokenizer=hf.tokenizer,
                                  trust_env=False, progress=False)
    store = ProfileStore()
    store.put_profile("a", "LaMP-3", server[1].state.service.store.get_profile("a").items)
    app = create_app(proxy_backend, store, model_name="front", settings=SETTINGS, limits=LIMITS)
    assert app.state.service.engine is None                      # forwarded, not batched here
    msgs = [{"role": "user", "content": LAMP3 + "broke fast"}]
    with running_server(app) as url, openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0,
                                                   http_client=httpx.Client(trust_env=False)) as front:
        r = front.chat.completions.create(model="front", messages=msgs, max_tokens=4, temperature=0, user="a",
                                          extra_body={"k": 1})
    with httpx.Client(base_url=upstream, trust_env=False, headers={"Authorization": "Bearer sekret"}) as c:
        p = c.post("/personalize", json={"user_id": "a", "input": LAMP3 + "broke fast", "k": 1}).json()
    direct = chat_greedy(hf, p["prompt"], 4).strip()
    assert r.model_extra["lamp"]["retrieved"] == p["retrieved"]
    assert r.choices[0].message.content == direct
    proxy_backend.close()
    store.close()
