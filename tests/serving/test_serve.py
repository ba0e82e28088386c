"""``lamp serve`` and its profile store, over real HTTP on 127.0.0.1 with a real (tiny) hf-causal model.

The tiny model is a randomly initialised LlamaForCausalLM with a word-level tokenizer and a chat
template, built and saved in the test; the hf-causal backend loads it from that folder.
"""

from __future__ import annotations

import argparse

import httpx
import pytest

from lamp.generation.backends.base import GenerationSettings
from lamp.generation.backends.openai_api import OpenAIBackend
from lamp.core.errors import LampError
from lamp.serving.store import DuplicateItems, ProfileStore
from lamp.core.records import ProfileItem
from lamp.cli.serve import configure
from lamp.serving.app import create_app, running_server
from lamp.serving.engine import find_stop
from lamp.serving.shapes import ServeLimits
from tiny_serve import LAMP3, USER_A, USER_B, build_tiny_causal_lm

LIMITS = ServeLimits(max_input_chars=500, max_items=6, max_tokens_limit=16, max_prompts=4, max_body_bytes=20_000)
SERVER_SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=6, max_input_length=64)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def hf(tiny_folder):
    from lamp.generation.backends.hf import CausalBackend

    return CausalBackend(tiny_folder, batch_size=4)


@pytest.fixture(scope="module")
def served(hf):
    """(base url, store) of a running service; tests use their own user ids."""
    store = ProfileStore()
    app = create_app(hf, store, model_name="tiny", settings=SERVER_SETTINGS, limits=LIMITS)
    with running_server(app) as url:
        yield url, store
    store.close()


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served[0], trust_env=False, timeout=30) as c:
        yield c


def put(client, user, items, task="LaMP-3"):
    r = client.put(f"/users/{user}/profile", json={"task": task, "profile": items})
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------- profile store

def test_store_round_trips_items_in_order_and_replaces_on_put():
    store = ProfileStore()
    items = [ProfileItem(id="x2", text="b", score="2"), ProfileItem(id="x1", text="a", score="5", extra={"k": 1})]
    store.put_profile("u", "LaMP-3", items)
    got = store.get_profile("u")
    assert (got.task, got.items) == ("LaMP-3", items)
    store.put_profile("u", "LaMP-4", [ProfileItem(id="n", title="t", text="x")])
    assert [it.id for it in store.get_profile("u").items] == ["n"] and store.get_profile("u").task == "LaMP-4"


def test_store_add_items_appends_and_a_duplicate_id_writes_nothing():
    store = ProfileStore()
    assert store.add_items("u", [ProfileItem(id="1", text="a")], task="LaMP-7") == 1
    assert store.add_items("u", [ProfileItem(id="2", text="b")]) == 2
    with pytest.raises(DuplicateItems, match="'1'"):
        store.add_items("u", [ProfileItem(id="3", text="c"), ProfileItem(id="1", text="again")])
    with pytest.raises(DuplicateItems, match="repeated in the request"):
        store.add_items("u", [ProfileItem(id="4", text="c"), ProfileItem(id="4", text="d")])
    assert [it.id for it in store.get_profile("u").items] == ["1", "2"]
    with pytest.raises(KeyError):
        store.add_items("nobody", [ProfileItem(id="1", text="a")])


def test_store_keeps_users_apart_even_with_the_same_item_ids():
    store = ProfileStore()
    store.put_profile("a", "LaMP-7", [ProfileItem(id="1", text="mine")])
    store.put_profile("b", "LaMP-7", [ProfileItem(id="1", text="theirs")])
    assert store.get_profile("a").items[0].text == "mine"
    assert store.delete_user("b") and store.get_profile("b") is None and not store.delete_user("b")
    assert store.summary("a") == ("LaMP-7", 1) and store.summary("b") is None


def test_store_persists_in_its_sqlite_file(tmp_path):
    path = tmp_path / "p.sqlite3"
    s = ProfileStore(path)
    s.put_profile("u", "LaMP-3", [ProfileItem(id="1", text="t", score="3")])
    s.close()
    assert ProfileStore(path).get_profile("u").items[0].score == "3"


def test_store_bad_path_is_a_user_error(tmp_path):
    with pytest.raises(LampError, match="cannot (open|create)"):
        ProfileStore(tmp_path / "missing-dir" / "p.sqlite3")


def test_every_statement_on_items_is_filtered_by_the_requesting_user():
    store = ProfileStore()
    store.put_profile("other", "LaMP-7", [ProfileItem(id="1", text="secret")])
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)          # the SQL as run, parameters expanded
    store.put_profile("me", "LaMP-7", [ProfileItem(id="1", text="a")])
    store.add_items("me", [ProfileItem(id="2", text="b")])
    store.get_profile("me")
    store.summary("me")
    store.delete_user("me")
    on_items = [sql for sql in seen if " items" in sql]
    assert len(on_items) >= 8
    for sql in on_items:
        assert "user_id = 'me'" in sql or (sql.startswith("INSERT INTO items") and "'me'" in sql), sql
    assert store.get_profile("other").items[0].text == "secret"


# --------------------------------------------------------------------------- profiles over HTTP

def test_put_then_get_profile_returns_the_items(client):
    assert put(client, "u-get", USER_A) == {"user_id": "u-get", "task": "LaMP-3", "items": 3}
    got = client.get("/users/u-get/profile").json()
    assert got == {"user_id": "u-get", "task": "LaMP-3", "profile": USER_A}


def test_post_items_appends_and_refuses_duplicates_and_unknown_users(client):
    put(client, "u-add", USER_A[:1])
    r = client.post("/users/u-add/items", json={"profile": USER_A[1:]})
    assert r.json()["items"] == 3
    r = client.post("/users/u-add/items", json={"profile": USER_A[:1]})
    assert r.status_code == 409 and "'a1'" in r.json()["error"]["message"]
    assert client.post("/users/u-none/items", json={"profile": USER_A}).status_code == 404
    r = client.post("/users/u-new/items", json={"profile": USER_A, "task": "LaMP_3"})
    assert r.json() == {"user_id": "u-new", "task": "LaMP-3", "items": 3}
    r = client.post("/users/u-new/items", json={"profile": [{"id": "t", "title": "x", "text": "y"}], "task": "LaMP-4"})
    assert r.status_code == 409


def test_delete_user_forgets_the_profile(client):
    put(client, "u-del", USER_A)
    assert client.delete("/users/u-del").json() == {"user_id": "u-del", "deleted": True}
    assert client.get("/users/u-del/profile").status_code == 404
    assert client.delete("/users/u-del").status_code == 404


def test_invalid_items_are_refused_with_every_problem_named(client):
    bad = [{"id": "ok", "text": "fine", "score": "3"}, {"id": "nos", "text": "no score"}, {"text": "no id"},
           {"id": "bd", "text": "t", "score": "1", "date": "yesterday"}]
    r = client.put("/users/u-bad/profile", json={"task": "LaMP-3", "profile": bad})
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "'nos'" in msg and "'score'" in msg and "no 'id'" in msg and "YYYY-MM-DD" in msg
    assert client.get("/users/u-bad/profile").status_code == 404     # nothing written


def test_unknown_task_gets_a_did_you_mean(client):
    r = client.put("/users/u-t/profile", json={"task": "LaMP-33", "profile": USER_A})
    assert r.status_code == 422 and "Did you mean" in r.json()["error"]["message"] and r.json()["error"]["param"] == "task"


def test_size_limits_answer_413_naming_the_field(client):
    r = client.put("/users/u-big/profile", json={"task": "LaMP-3", "profile": USER_A * 3})
    assert r.status_code == 413 and "9 items" in r.json()["error"]["message"]
    long_item = [{"id": "1", "text": "x" * 501, "score": "3"}]
    r = client.put("/users/u-big/profile", json={"task": "LaMP-3", "profile": long_item})
    assert r.status_code == 413 and "profile[0].text" in r.json()["error"]["message"]
    put(client, "u-big", USER_A)
    r = client.post("/users/u-big/items", json={"profile": [{"id": f"n{i}", "text": "t", "score": "1"} for i in range(4)]})
    assert r.status_code == 413 and "would have 7 items" in r.json()["error"]["message"]
    r = client.post("/personalize", json={"user_id": "u-big", "input": "x" * 501})
    assert r.status_code == 413 and r.json()["error"]["param"] == "input"
    r = client.post("/personalize", content=b'{"user_id": "' + b"x" * 30_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "body over 20000 bytes" in r.json()["error"]["message"]


def test_shape_errors_answer_422_naming_the_field(client):
    r = client.post("/personalize", json={"user_id": "u"})
    assert r.status_code == 422 and "input" in r.json()["error"]["message"]
    r = client.post("/personalize", json={"user_id": "u", "input": "x", "k": -1})
    assert r.status_code == 422 and r.json()["error"]["param"] == "k"
    put(client, "u-mt", USER_A)
    r = client.post("/personalize", json={"user_id": "u-mt", "input": "x", "max_tokens": 17})
    assert r.status_code == 422 and "at most 16" in r.json()["error"]["message"]
    r = client.put("/users/" + "u" * 257 + "/profile", json={"task": "LaMP-3", "profile": USER_A})
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"


# --------------------------------------------------------------------------- personalize

def test_personalize_retrieves_bm25_top_k_of_the_user_and_builds_the_official_prompt(client, hf):
    from lamp.generation.prompts import build_prompt
    from lamp.core.tasks import get_task
    from retrievers.bm25 import bm25_rank

    put(client, "u-p", USER_A)
    text = LAMP3 + "works well for kids"
    r = client.post("/personalize", json={"user_id": "u-p", "input": text, "k": 2})
    assert r.status_code == 200, r.text
    got = r.json()
    task = get_task("LaMP-3")
    items = [ProfileItem(**it) for it in USER_A]
    order = bm25_rank([(task.query(text), [task.document(it) for it in items])])[0]
    expected = [items[i] for i in order[:2]]
    assert got["retrieved"] == [it.id for it in expected]
    assert got["prompt"] == build_prompt(task, text, expected, SERVER_SETTINGS.max_input_length, hf.tokenizer)
    assert got["output"] == hf.generate([got["prompt"]], SERVER_SETTINGS)[0]
    assert (got["task"], got["model"], got["user_id"]) == ("LaMP-3", "tiny", "u-p")


@pytest.mark.parametrize("retriever", ["bm25", "recency"])
def test_the_service_builds_the_prompt_a_run_builds_for_the_same_profile_and_input(retriever):
    from lamp.core.records import Question
    from lamp.generation.backends.dummy import DummyBackend
    from lamp.generation.driver import build_examples
    from retrievers import get_retriever, rank_questions

    class Recording(DummyBackend):
        def generate(self, prompts, settings):
            self.seen = list(prompts)
            return super().generate(prompts, settings)

    backend, budget = Recording(), 30                 # words: the budget cuts the items' texts
    settings = GenerationSettings(num_beams=1, max_new_tokens=4, max_input_length=budget)
    profile = [{"id": f"i{n}", "text": f"{text} " + "padding words " * n, "score": str(1 + n % 5),
                "date": f"2020-0{1 + n}-01"} for n, text in enumerate(
                    ["great kit works well", "broke fast after a week", "lovely book for kids",
                     "battery charger died", "works well with the charger"])]
    text = LAMP3 + "the charger works well"
    items = [ProfileItem(**it) for it in profile]
    with running_server(create_app(backend, ProfileStore(), model_name="dummy", settings=settings)) as url, \
            httpx.Client(base_url=url, trust_env=False, timeout=30) as c:
        put(c, "same", profile)
        served = c.post("/personalize", json={"user_id": "same", "input": text, "k": 2, "retriever": retriever})
        assert served.status_code == 200, served.text
        got = served.json()
        # a run's path: the ranking file's order, then the examples the driver builds from it
        question = Question(id="q1", input=text, profile=items)
        ranking = rank_questions([question], "LaMP-3", get_retriever(retriever), progress=False)
        example = build_examples("LaMP-3", [question], 2, budget, backend.tokenizer, ranking)[0]
        assert got["prompt"] == example.prompt and got["prompt"] != text
        assert got["retrieved"] == [it.id for it in example.items]
        assert backend.seen == [example.prompt]
        for path, body in (("/v1/completions", {"prompt": text}),
                           ("/v1/chat/completions", {"messages": [{"role": "user", "content": text}]})):
            r = c.post(path, json={**body, "model": "dummy", "user": "same", "k": 2, "retriever": retriever,
                                   "max_tokens": 4})
            assert r.status_code == 200, r.text
            assert r.json()["lamp"]["retrieved"] == got["retrieved"]
            assert backend.seen == [backend.cut_prompt(example.prompt, budget)]


def test_personalize_with_k_zero_sends_the_raw_input(client):
    put(client, "u-k0", USER_A)
    got = client.post("/personalize", json={"user_id": "u-k0", "input": LAMP3 + "kids", "k": 0}).json()
    assert (got["prompt"], got["retrieved"]) == (LAMP3 + "kids", [])


def test_personalize_never_reads_another_users_profile(client):
    put(client, "iso-a", USER_A)
    put(client, "iso-b", USER_B)
    for text in ("battery charger died", "cable broke fast after a week battery", "great kit"):
        for k in (1, 2, 3, 6):
            got = client.post("/personalize", json={"user_id": "iso-a", "input": LAMP3 + text, "k": k}).json()
            assert got["retrieved"] and set(got["retrieved"]) <= {"a1", "a2", "a3"}
            assert "charger" not in got["prompt"].replace(text, "") and "cable" not in got["prompt"].replace(text, "")
            got = client.post("/personalize", json={"user_id": "iso-b", "input": LAMP3 + text, "k": k}).json()
            assert set(got["retrieved"]) <= {"b1", "b2"}


def test_personalize_uses_the_chosen_retriever_from_the_registry(client):
    put(client, "u-r", USER_A)
    ask = {"user_id": "u-r", "input": LAMP3 + "works well", "k": 2}
    assert client.post("/personalize", json={**ask, "retriever": "recency"}).json()["retrieved"] == ["a3", "a2"]
    none = client.post("/personalize", json={**ask, "retriever": "none"}).json()
    assert (none["retrieved"], none["prompt"]) == ([], LAMP3 + "works well")
    first = client.post("/personalize", json={**ask, "retriever": "random"}).json()["retrieved"]
    assert client.post("/personalize", json={**ask, "retriever": "random"}).json()["retrieved"] == first
    put(client, "u-nodate", USER_B)
    r = client.post("/personalize", json={"user_id": "u-nodate", "input": "x", "retriever": "recency"})
    assert r.status_code == 422 and "date" in r.json()["error"]["message"]


def test_personalize_errors_for_unknown_user_task_mismatch_and_unknown_retriever(client):
    assert client.post("/personalize", json={"user_id": "ghost", "input": "x"}).status_code == 404
    put(client, "u-mm", USER_A)
    r = client.post("/personalize", json={"user_id": "u-mm", "input": "x", "task": "LaMP-4"})
    assert r.status_code == 409 and "LaMP-3 profile" in r.json()["error"]["message"]
    r = client.post("/personalize", json={"user_id": "u-mm", "input": "x", "retriever": "bm52"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "retriever"


# --------------------------------------------------------------------------- OpenAI API

def test_models_lists_the_served_model_with_the_backend_identity(client, hf):
    data = client.get("/v1/models").json()["data"]
    assert [(d["id"], d["root"]) for d in data] == [("tiny", hf.identity)]
    assert client.get("/health").json()["status"] == "ok"


def raw_greedy(hf, prompt: str, max_new_tokens: int) -> str:
    """The greedy continuation of the raw text (no chat template), straight from the model."""
    import torch

    enc = hf.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = hf.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                pad_token_id=hf.tokenizer.pad_token_id)
    return hf.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_completions_continue_the_raw_prompt_list_in_order_as_vllm_does(client, hf):
    prompts = ["great kit", "lovely book for kids and a week"]
    r = client.post("/v1/completions", json={"model": "tiny", "prompt": prompts, "max_tokens": 5, "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["text"] for c in body["choices"]] == [raw_greedy(hf, p, 5) for p in prompts]
    assert [c["index"] for c in body["choices"]] == [0, 1] and body["object"] == "text_completion"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


@pytest.mark.parametrize("extra, status, param", [
    ({"n": 2}, 422, "n"), ({"echo": True, "stream": True}, 422, "stream"), ({"logprobs": 99}, 422, "logprobs"),
    ({"model": "gpt-9"}, 404, "model"), ({"max_tokens": 99}, 422, "max_tokens"),
    ({"prompt": ["a"] * 5}, 413, "prompt"), ({"prompt": []}, 422, "prompt"),
    ({"stop": ["a", "b", "c", "d", "e"]}, 422, "stop"), ({"temperature": 3}, 422, "temperature"),
])
def test_completions_refuse_what_they_cannot_honour_in_openai_error_format(client, extra, status, param):
    r = client.post("/v1/completions", json={"prompt": "kit", **extra})
    assert r.status_code == status
    err = r.json()["error"]
    assert err["param"] == param and err["message"] and err["code"] == status


def test_find_stop_finds_the_earliest_stop_after_leading_whitespace():
    assert find_stop("a b. c\nd", ("\n", ".")) == 3
    assert find_stop("abc", ()) is None and find_stop("abc", ("z",)) is None
    assert find_stop("\n\nanswer\nmore", ("\n",)) == 8     # leading blank lines are not the answer's end


def test_api_key_is_required_everywhere_but_health(hf):
    app = create_app(hf, ProfileStore(), model_name="tiny", api_key="s3cret")
    with running_server(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200


def test_cli_flags_have_the_documented_defaults():
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args([])
    assert (args.model, args.backend, args.host, args.port) == (None, "hf-causal", "127.0.0.1", 8000)
    assert args.max_items == ServeLimits().max_items


def test_cli_rejects_a_zero_limit_before_loading_anything(tmp_path):
    from lamp.cli.main import main

    assert main(["serve", "--max-items", "0", "--db", str(tmp_path / "x.sqlite3")]) == 2
    assert not (tmp_path / "x.sqlite3").exists()
    assert main(["serve", "--backend", "openai", "--db", str(tmp_path / "y.sqlite3")]) == 2


def test_a_body_streamed_without_content_length_is_cut_off_at_the_limit(client):
    def chunks():
        yield b'{"user_id": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'", "input": "x"}'

    r = client.post("/personalize", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "body over 20000 bytes" in r.json()["error"]["message"]


def test_an_upstream_failure_behind_lamp_serve_is_a_502_naming_the_failed_request():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with OpenAIBackend(dead, model="m", max_retries=0, trust_env=False, progress=False) as upstream:
        app = create_app(upstream, ProfileStore(), model_name="proxy")
        with running_server(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
            r = c.post("/v1/completions", json={"prompt": "hi", "temperature": 0})
    assert r.status_code == 502 and "prompt #0: no answer" in r.json()["error"]["message"]


# --------------------------------------------------------------------------- parity (done-when)

PARITY_PROMPTS = ["great kit", "broke fast after a week and lovely book for kids", LAMP3 + "battery charger died",
                  "kids", 'a week . 5 is the score for "great kit works well" . ' + LAMP3 + "cable"]


@pytest.mark.parametrize("stop_at_newline", [False, True])
def test_openai_backend_through_lamp_serve_matches_the_hf_backend_directly(tiny_folder, stop_at_newline):
    """Done-when: the same predictions through ``lamp serve`` on loopback as the hf backend directly."""
    from lamp.generation.backends.hf import CausalBackend

    settings = GenerationSettings(num_beams=1, max_new_tokens=8, max_input_length=64, stop_at_newline=stop_at_newline)
    direct = CausalBackend(tiny_folder).generate(PARITY_PROMPTS, settings)
    served_backend = CausalBackend(tiny_folder)
    app = create_app(served_backend, ProfileStore(), model_name="tiny-llama",
                     settings=GenerationSettings(max_input_length=64), limits=ServeLimits(max_tokens_limit=64))
    with running_server(app) as url, OpenAIBackend(url, model="tiny-llama", max_concurrency=3, trust_env=False,
                                                   progress=False, chat=True) as remote:
        via_http = remote.generate(PARITY_PROMPTS, settings)
        assert remote.identity == f"openai:{url}/v1:tiny-llama:{served_backend.identity}:chat"   # chat endpoint
    assert via_http == direct
    assert any(direct)


@pytest.mark.slow
def test_openai_backend_through_lamp_serve_matches_hf_with_the_real_smollm2():
    from lamp.generation.backends.hf import CausalBackend
    from lamp.generation.models import resolve_model

    folder = resolve_model("SmolLM2-135M-Instruct")
    prompts = ["What is the capital of France? Answer with one word.",
               LAMP3 + "The charger stopped working after two days.",
               "Generate a headline for the following article: The city council approved a new bike lane."]
    settings = GenerationSettings(num_beams=1, max_new_tokens=12, max_input_length=256, stop_at_newline=True)
    backend = CausalBackend(folder)
    direct = backend.generate(prompts, settings)
    app = create_app(backend, ProfileStore(), model_name="smollm2", settings=GenerationSettings(max_input_length=256))
    with running_server(app) as url, OpenAIBackend(url, model="smollm2", max_concurrency=3, trust_env=False,
                                                   progress=False, chat=True) as remote:
        assert remote.generate(prompts, settings) == direct
    assert all(direct)


def test_cli_takes_its_backends_from_the_registry_before_loading_anything(tmp_path, capsys):
    from lamp.cli.main import main

    db = tmp_path / "x.sqlite3"
    base = ["serve", "--no-auth", "--db", str(db)]
    assert main(base + ["--backend", "profile-baseline"]) == 2
    assert "not an LLM backend" in capsys.readouterr().err
    assert main(base + ["--backend", "hf-causl"]) == 2
    assert "Did you mean 'hf-causal'" in capsys.readouterr().err
    assert main(base + ["--backend", "hf-causal", "--base-url", "http://127.0.0.1:1/v1"]) == 2
    assert "has no option 'base_url'" in capsys.readouterr().err          # not silently ignored
    assert not db.exists()


def test_serve_without_its_extra_says_which_extra_to_install(monkeypatch, capsys):
    import sys

    from lamp.cli.main import main

    for name in ("fastapi", "pydantic"):
        monkeypatch.setitem(sys.modules, name, None)      # as if not installed
    for name in [m for m in sys.modules if m.startswith("lamp.serving.") or m == "lamp.cli.serve"]:
        monkeypatch.delitem(sys.modules, name)            # imported afresh, without the extra
    assert main(["serve", "--help"]) == 2
    assert "pip install 'lamp-harness[serve]'" in capsys.readouterr().err
