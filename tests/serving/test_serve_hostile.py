"""``lamp serve`` under hostile clients: identity decided once, any text handled, one client's failure
its own, one error envelope, and no secret or deleted user's id in the log or the store's files.

The service runs for real over HTTP on 127.0.0.1 with the model-free ``dummy`` backend (it answers
with the first quoted text of its prompt, so another user's item in an answer would show), and the
engine test uses a tiny real Llama.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamp.generation.backends.base import GenerationSettings, load_backend
from lamp.core.errors import LampError
from lamp.serving.store import ProfileStore
from lamp.serving.app import create_app, running_server
from lamp.serving.shapes import ServeLimits
from lamp.serving.auth import Credentials, _digest, load_credentials, valid_user_id
from lamp.serving.engine import BatchEngine, Job
from lamp.serving.guards import refused_character, route_template

PREFIX = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
          "without further explanation. review: ")
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = {"mallory": "mallory-key-0123456789abc", "victim": "victim-key-0123456789abcd",
        "dave.x": "dave-dot-key-0123456789ab"}
SECRET_TEXT = "VICTIM-SECRET-4f1c"
SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=12, max_input_length=200)


@pytest.fixture
def service(tmp_path):
    store = ProfileStore(tmp_path / "profiles.sqlite3")
    creds = Credentials(admin=_digest(ADMIN_KEY), users={u: _digest(k) for u, k in KEYS.items()})
    app = create_app(load_backend("dummy"), store, model_name="dummy", settings=SETTINGS,
                     limits=ServeLimits(max_input_chars=2000, max_items=50, max_body_bytes=200_000), credentials=creds)
    with running_server(app) as url:
        with client(url, ADMIN_KEY) as admin:
            r = admin.put("/users/victim/profile", json={"task": "LaMP-3", "profile": [
                {"id": "v1", "text": f"{SECRET_TEXT} kettle", "score": "5"}]})
            assert r.status_code == 200, r.text
        yield url, store, tmp_path
    store.close()


def client(url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=30)


def raw(c: httpx.Client, method: str, path: str, body: dict | None = None) -> httpx.Response:
    """A request whose path goes on the wire exactly as written (no re-encoding by the client), with
    the body as JSON with ASCII escapes (so lone surrogates travel as ``\\udXXX``)."""
    content = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} if body is not None else {}
    return c.request(method, httpx.URL(c.base_url, raw_path=path.encode()), content=content, headers=headers)


def assert_envelope(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == status and err["message"]
    return err


# --------------------------------------------------------------------------- 1. identity

# Ids that decode, fold or normalise towards "victim" (or into another id altogether).
TRICK_IDS = ["victim%2500", "%2576ictim", "v%69ctim%2F..", "VICTIM", "Victim", "%EF%BD%96ictim",  # fullwidth v
             "victi%E1%B5%90", "victim%00", "victim%20", "%20victim", "victim.", "victim%2F", "victim%252F",
             "%76ictim%2521", "dave%2Ex", "dave%252Ex"]


@pytest.mark.parametrize("trick", TRICK_IDS)
def test_no_encoding_of_an_id_reaches_another_users_data_on_any_route(service, trick):
    url, store, _ = service
    before = store.get_profile("victim")
    with client(url, KEYS["mallory"]) as mallory:
        answers = [
            raw(mallory, "GET", f"/users/{trick}/profile"),
            raw(mallory, "GET", f"/users/{trick}/export"),
            raw(mallory, "PUT", f"/users/{trick}/profile",
                {"task": "LaMP-3", "profile": [{"id": "m1", "text": "mallory wrote this", "score": "1"}]}),
            raw(mallory, "POST", f"/users/{trick}/items",
                {"task": "LaMP-3", "profile": [{"id": "m2", "text": "mallory again", "score": "1"}]}),
            raw(mallory, "DELETE", f"/users/{trick}"),
        ]
    for r in answers:
        assert r.status_code in (400, 403, 404), (trick, r.status_code, r.text)
        assert SECRET_TEXT not in r.text
        assert_envelope(r, r.status_code)
    assert store.get_profile("victim") == before
    assert store.get_profile("mallory") is None       # nothing was created under any id


@pytest.mark.parametrize("named", ["victim", "\u0076ictim", "VICTIM", "victim\u200b", "ｖｉｃｔｉｍ"])
def test_a_body_naming_another_user_in_any_spelling_is_refused(service, named):
    url, _, _ = service
    with client(url, KEYS["mallory"]) as mallory:
        for path, body in [("/personalize", {"user_id": named, "input": PREFIX + "kettle", "k": 1}),
                           ("/v1/completions", {"prompt": "x", "user": named, "max_tokens": 2}),
                           ("/v1/chat/completions", {"messages": [{"role": "user", "content": "kettle"}],
                                                     "user": named, "max_tokens": 2})]:
            r = raw(mallory, "POST", path, body)
            assert r.status_code == 403 and SECRET_TEXT not in r.text, (path, r.text)
            assert_envelope(r, 403)


def test_an_id_sent_percent_encoded_is_the_same_user_decoded_once(service):
    url, _, _ = service
    with client(url, KEYS["dave.x"]) as dave, client(url, ADMIN_KEY) as admin:
        r = raw(dave, "PUT", "/users/dave%2Ex/profile", {"task": "LaMP-3", "profile": [
            {"id": "d1", "text": "dave's kettle", "score": "4"}]})
        assert r.status_code == 200 and r.json()["user_id"] == "dave.x"
        assert dave.get("/users/dave.x/profile").json()["profile"][0]["id"] == "d1"
        assert raw(dave, "GET", "/users/dave%252Ex/profile").status_code == 403   # "dave%2Ex": another id
        assert raw(admin, "GET", "/users/dave%252Ex/profile").status_code == 404


@pytest.mark.parametrize("bad", ["dave!", "dave%21", "dave/x", "ｄave", "dåve", ".hidden", "", "a" * 257, "a b"])
def test_user_ids_outside_the_safe_alphabet_are_refused_on_creation(service, bad):
    url, store, _ = service
    from urllib.parse import quote

    with client(url, ADMIN_KEY) as admin:
        r = raw(admin, "PUT", f"/users/{quote(bad, safe='')}/profile",
                {"task": "LaMP-3", "profile": [{"id": "x", "text": "t", "score": "1"}]})
        assert r.status_code in (400, 404, 405), r.text     # "" and "/" do not even reach the route
        if r.status_code == 400:
            assert "A-Z, a-z, 0-9" in assert_envelope(r, 400)["message"]
        r = raw(admin, "POST", f"/users/{quote(bad, safe='')}/items",
                {"task": "LaMP-3", "profile": [{"id": "x", "text": "t", "score": "1"}]})
        assert r.status_code in (400, 404, 405)
    assert not valid_user_id(bad) and store.get_profile(bad) is None


def test_a_credentials_file_with_an_unsafe_user_id_is_refused(tmp_path):
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"users": {"dave%21": "k" * 20}}))
    path.chmod(0o600)
    with pytest.raises(LampError, match="not allowed"):
        load_credentials(credentials_file=str(path), env={})


# --------------------------------------------------------------------------- 2. any text

BAD_CHARS = ["\ud800", "\udfff", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\ufffe", "\uffff", "\ufdd0",
             "\U0010ffff"]


def _requests(text: str) -> list[tuple[str, str, dict]]:
    """Every route with ``text`` in each of its string fields."""
    item = {"id": "i1", "text": "fine", "score": "3"}
    return [
        ("PUT", "/users/victim/profile", {"task": "LaMP-3", "profile": [{**item, "text": text}]}),
        ("PUT", "/users/victim/profile", {"task": "LaMP-3", "profile": [{**item, "id": text}]}),
        ("PUT", "/users/victim/profile", {"task": text, "profile": [item]}),
        ("PUT", "/users/victim/profile", {"task": "LaMP-3", "profile": [{**item, text: "x"}]}),
        ("POST", "/users/victim/items", {"profile": [{**item, "id": "i2", "text": text}]}),
        ("POST", "/personalize", {"user_id": "victim", "input": PREFIX + text, "k": 1}),
        ("POST", "/personalize", {"user_id": text, "input": PREFIX, "k": 1}),
        ("POST", "/personalize", {"user_id": "victim", "input": PREFIX, "retriever": text}),
        ("POST", "/v1/completions", {"prompt": text, "max_tokens": 2}),
        ("POST", "/v1/completions", {"prompt": ["ok", text], "max_tokens": 2}),
        ("POST", "/v1/completions", {"prompt": "ok", "user": text, "max_tokens": 2}),
        ("POST", "/v1/completions", {"prompt": "ok", "stop": [text], "max_tokens": 2}),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": text}], "max_tokens": 2}),
        ("POST", "/v1/chat/completions", {"messages": [{"role": text, "content": "x"}], "max_tokens": 2}),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
                                          "model": text}),
    ]


@pytest.mark.parametrize("bad", BAD_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_refused_characters_answer_400_in_the_envelope_in_every_field_of_every_route(service, bad):
    url, store, _ = service
    before = store.get_profile("victim")
    with client(url, ADMIN_KEY) as admin:
        for method, path, body in _requests(f"a{bad}b"):
            r = raw(admin, method, path, body)
            err = assert_envelope(r, 400)
            assert f"U+{ord(bad):04X}" in err["message"], (path, body, err)
    assert store.get_profile("victim") == before


@pytest.mark.parametrize("path", ["/users/vic%00tim/profile", "/users/victim%EF%BF%BE/profile",
                                  "/users/victim/profile?x=%ED%A0%80"])
def test_refused_characters_in_the_path_or_query_answer_400(service, path):
    url, _, _ = service
    with client(url, ADMIN_KEY) as admin:
        assert_envelope(raw(admin, "GET", path), 400)


def test_tab_newline_and_ordinary_unicode_are_stored_losslessly(service):
    url, _, _ = service
    text = "tab\there\nline\r\nemoji 🙂 ünïcödé 漢字 \u200b zero-width \ufffd replacement"
    with client(url, ADMIN_KEY) as admin:
        r = admin.put("/users/victim/profile", json={"task": "LaMP-3", "profile": [
            {"id": "ü1", "text": text, "score": "3"}]})
        assert r.status_code == 200
        assert admin.get("/users/victim/profile").json()["profile"][0] == {"id": "ü1", "text": text, "score": "3"}


ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
                   max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT)
def test_no_text_in_any_field_of_any_route_answers_5xx(service, text):
    url, _, _ = service
    with client(url, ADMIN_KEY) as admin:
        for method, path, body in _requests(text):
            r = raw(admin, method, path, body)
            assert r.status_code < 500, (path, body, r.status_code, r.text)
            if r.status_code >= 400:
                assert_envelope(r, r.status_code)
            expect_refused = refused_character(text) is not None
            assert (r.status_code == 400 and "U+" in r.json()["error"]["message"]) or not expect_refused


# --------------------------------------------------------------------------- 3. failure isolation

@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory):
    from lamp.generation.backends.hf import CausalBackend
    from tiny_models import save_small_llama, word_tokenizer

    words = "the kettle broke fast great book lovely kids cable battery score review answer".split()
    folder = save_small_llama(tmp_path_factory.mktemp("tiny"), word_tokenizer([" ".join(words)], chat=True),
                              hidden=32, layers=2)
    return CausalBackend(str(folder), batch_size=8)


def test_a_poisoned_job_fails_alone_and_the_rest_of_its_batch_answers_as_if_alone(tiny_backend):
    prompts = ["the kettle broke", "great book for kids", "cable battery score", "lovely review answer"]
    engine = BatchEngine(tiny_backend, window_s=0.3, max_batch=8)
    try:
        alone = [engine.run([Job(p, 5)])[0].output for p in prompts]
        jobs = [Job(p, 5) for p in prompts]
        poison = Job("the kettle \ud800 broke", 5)            # the tokenizer cannot encode a lone surrogate
        before = len(engine.batch_sizes)
        engine.submit(jobs[:2] + [poison] + jobs[2:])
        for job in [*jobs, poison]:
            assert job.done.wait(60)
        assert engine.batch_sizes[before] == 4                 # the four decoded together; the poison left
        assert poison.error is not None
        assert [j.error for j in jobs] == [None] * 4
        assert [j.output for j in jobs] == alone
    finally:
        engine.close()


def test_a_poisoned_request_over_http_gets_its_own_error_and_the_others_their_answers(tiny_backend, tmp_path):
    """Five users at once, one of whose prompts fails inside the engine (the guard is bypassed by
    calling the service's own engine, since over HTTP the guard refuses the text first)."""
    store = ProfileStore()
    app = create_app(tiny_backend, store, model_name="tiny", settings=SETTINGS, batch_window_s=0.3)
    svc = app.state.service
    try:
        with running_server(app) as url:
            outcomes: dict[str, object] = {}

            def ask(name: str, prompt: str) -> None:
                with httpx.Client(base_url=url, trust_env=False, timeout=60) as c:
                    outcomes[name] = c.post("/v1/completions", json={"prompt": prompt, "max_tokens": 4}).json()

            def poisoned() -> None:
                try:
                    svc.engine.run([Job("kettle \udc80", 4)])
                except Exception as exc:  # noqa: BLE001
                    outcomes["poison"] = exc

            threads = [threading.Thread(target=ask, args=(f"u{i}", p)) for i, p in
                       enumerate(["the kettle", "great book", "cable battery", "lovely kids"])]
            threads.append(threading.Thread(target=poisoned))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert isinstance(outcomes["poison"], Exception)
            for i in range(4):
                assert "choices" in outcomes[f"u{i}"], outcomes[f"u{i}"]
    finally:
        svc.engine.close()


# --------------------------------------------------------------------------- 4. envelope, logs, WAL

def test_401_and_403_off_v1_use_the_same_envelope(service):
    url, _, _ = service
    with client(url, None) as anon, client(url, "wrong-key-0123456789abcdef") as wrong, \
            client(url, KEYS["mallory"]) as mallory:
        for r in (anon.get("/users/victim/profile"), wrong.get("/users/victim/profile"), anon.get("/v1/models")):
            assert assert_envelope(r, 401)["type"] == "authentication_error"
        assert assert_envelope(mallory.get("/users/victim/profile"), 403)["type"] == "permission_error"
        assert_envelope(anon.get("/no/such/route"), 401)
    with client(url, ADMIN_KEY) as admin:
        assert_envelope(admin.get("/no/such/route"), 404)
        assert_envelope(admin.put("/users/victim/profile", json={"task": "LaMP-3"}), 422)


def test_a_key_in_the_query_string_is_refused_even_when_right(service):
    url, _, _ = service
    with httpx.Client(base_url=url, trust_env=False) as c:
        for name in ("api_key", "key", "access_token"):
            r = c.get("/users/victim/profile", params={name: ADMIN_KEY})
            assert "Authorization header" in assert_envelope(r, 401)["message"]
        with client(url, ADMIN_KEY) as admin:    # a right header does not make a URL key acceptable
            assert_envelope(admin.get("/users/victim/profile", params={"api_key": ADMIN_KEY}), 401)


def test_the_access_log_holds_no_key_no_user_id_and_no_query_string(service, caplog):
    url, _, _ = service
    caplog.set_level(logging.INFO, logger="lamp.serving.app.access")
    with client(url, ADMIN_KEY) as admin:
        admin.put("/users/victim/profile", json={"task": "LaMP-3", "profile": [{"id": "v9", "text": "t", "score": "1"}]})
        admin.get("/users/victim/profile", params={"api_key": ADMIN_KEY})
        admin.delete("/users/victim")
    lines = [r.getMessage() for r in caplog.records if r.name == "lamp.serving.app.access"]
    assert any("/users/{user_id}/profile" in line for line in lines)
    text = "\n".join(lines)
    assert "victim" not in text and ADMIN_KEY not in text and "api_key" not in text


def test_lamp_serve_process_logs_no_secret_and_no_deleted_users_id(tmp_path):
    """The real ``lamp serve`` process: whatever it prints (uvicorn's and our log) is grepped."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAMP_SERVE_ADMIN_KEY": ADMIN_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "lamp", "serve", "--backend", "dummy", "--port", str(port),
                             "--db", str(tmp_path / "p.sqlite3")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/health", trust_env=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        with client(url, ADMIN_KEY) as admin:
            assert admin.put("/users/erasable-user/profile", json={"task": "LaMP-3", "profile": [
                {"id": "e1", "text": f"{SECRET_TEXT} kettle", "score": "2"}]}).status_code == 200
            r = admin.post("/v1/completions", json={"prompt": PREFIX + "kettle", "user": "erasable-user",
                                                    "max_tokens": 3})
            assert r.status_code == 200, r.text          # a personalized /v1 request on the dummy backend
            admin.get("/users/erasable-user/profile", params={"api_key": ADMIN_KEY})
            assert admin.delete("/users/erasable-user").status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "/users/{user_id}/profile" in out                   # it did log the requests
    for secret in ("erasable-user", ADMIN_KEY, SECRET_TEXT, "api_key"):
        assert secret not in out, secret


def _grep(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_replaced_profiles_old_text_leaves_every_store_file(service):
    url, _, folder = service
    with client(url, KEYS["victim"]) as victim:
        assert _grep(folder, SECRET_TEXT.encode())
        r = victim.put("/users/victim/profile", json={"task": "LaMP-3", "profile": [
            {"id": "v2", "text": "a new harmless item", "score": "3"}]})
        assert r.status_code == 200
        assert _grep(folder, SECRET_TEXT.encode()) == []
        assert victim.get("/users/victim/profile").json()["profile"][0]["id"] == "v2"


def test_route_template_takes_the_user_id_out():
    assert route_template("/users/alice/profile") == "/users/{user_id}/profile"
    assert route_template("/users/alice") == "/users/{user_id}"
    assert route_template("/v1/completions") == "/v1/completions"


def test_a_request_arriving_mid_generation_joins_the_running_batch_and_answers_as_alone(tiny_backend):
    """Continuous batching: the late job joins at the next step (the running row keeps its state),
    finishes first when it is shorter, and both outputs equal their outputs alone."""
    engine = BatchEngine(tiny_backend, window_s=0.0, max_batch=8)
    try:
        assert engine.running is not None
        long_alone = engine.run([Job("the kettle broke", 40)])[0]
        short_alone = engine.run([Job("great book for kids", 3)])[0].output
        started = threading.Event()
        long_job = Job("the kettle broke", 40, on_text=lambda piece: started.set())
        before = len(engine.batch_sizes)
        engine.submit([long_job])
        assert started.wait(30)
        short_job = Job("great book for kids", 3)
        engine.submit([short_job])
        assert short_job.done.wait(30) and long_job.done.wait(60)
        sizes = engine.batch_sizes[before:]
        assert sizes[0] == 1 and 2 in sizes                   # it joined a batch already running
        assert short_job.output == short_alone and long_job.output == long_alone.output
        assert long_job.completion_tokens == long_alone.completion_tokens
    finally:
        engine.close()


def test_the_shared_prefix_is_read_once_and_later_rows_that_start_with_it_answer_as_alone(tiny_backend):
    """Prompts that join together and share a prefix (a chat template's system turn) leave its keys
    and values with the running batch; a later prompt that starts with it reuses them and still
    answers as it does alone (read whole, on an engine that kept no prefix)."""
    from lamp.serving.continuous import MIN_PREFIX

    system = "the kettle broke fast great book lovely kids cable battery score review answer "
    prompts = [system + "the kettle", system + "lovely kids", system + "cable battery great"]
    fresh = BatchEngine(tiny_backend, window_s=0.0, max_batch=8)
    try:
        alone = [fresh.run([Job(p, 6)])[0].output for p in prompts]
        assert fresh.running.prefix_ids == []                    # one row at a time: nothing shared
    finally:
        fresh.close()
    engine = BatchEngine(tiny_backend, window_s=0.3, max_batch=8)
    try:
        first = [Job(p, 6) for p in prompts[:2]]
        engine.submit(first)
        assert all(job.done.wait(60) for job in first)
        kept = engine.running.prefix_ids
        assert len(kept) >= MIN_PREFIX
        assert tiny_backend.tokenizer(prompts[2], add_special_tokens=first[0].special_tokens)["input_ids"][:len(kept)] == kept
        late = engine.run([Job(prompts[2], 6)])[0]
        assert [job.output for job in first] + [late.output] == alone
    finally:
        engine.close()
