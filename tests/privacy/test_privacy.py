"""Users' data: PII scrubbing, per-user access, erasure, export, retention and limits that hold.

The service tests run the real app over HTTP on 127.0.0.1 with the model-free ``dummy`` backend
(it answers with the first quoted text of its prompt, i.e. the first retrieved profile item, so a
leak of another user's item would show in the answer).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import httpx
import pytest

from lamp.generation.backends.base import GenerationSettings, load_backend
from lamp.cli.main import main
from lamp.core.errors import LampError
from lamp.core.questions import load_questions
from lamp.serving.store import ProfileStore, TooManyItems
from lamp.core.records import ProfileItem, Question
from lamp.privacy.scrub import KeyedPlaceholders, Scrubber, coverage, get_scrubber, scrub_transform
from lamp.serving.app import create_app, running_server
from lamp.serving.shapes import ServeLimits
from lamp.serving.auth import Credentials, load_credentials

PREFIX = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
          "without further explanation. review: ")
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef00"}
CANARY = "CANARY-7f3a9c-zebra-quartz"
SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=12, max_input_length=200)


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return get_scrubber()


# --------------------------------------------------------------------------- scrubbing

def test_scrub_replaces_pattern_pii_and_keeps_ids_dates_and_scores(scrubber):
    q = Question("q1", PREFIX + "write to jane.doe@example.com", user_id="u1", profile=[
        ProfileItem("i1", text="Call me at (415) 555-0132 or mail Jane.Doe@example.com", score="4",
                    date="2020-01-02"),
        ProfileItem("i2", text="card 4111 1111 1111 1111, SSN 219-09-9999, from 10.20.30.40", score="2"),
        ProfileItem("i3", text="ship to 1600 Pennsylvania Avenue, see https://shop.example.org/x?id=9"),
    ])
    out = scrubber.scrub_question(q)
    text = json.dumps(out.to_json())
    for secret in ("jane.doe", "555-0132", "4111", "219-09-9999", "10.20.30.40", "1600 Pennsylvania", "shop.example"):
        assert secret not in text.lower(), secret
    assert "<EMAIL_ADDRESS_1>" in out.input and "<EMAIL_ADDRESS_1>" in out.profile[0].text   # one email, one token
    assert out.profile[0].score == "4" and out.profile[0].date == "2020-01-02" and out.profile[1].id == "i2"
    for kind in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "STREET_ADDRESS", "URL"):
        assert f"<{kind}_1>" in text, kind


def test_placeholders_are_consistent_per_user_and_unrelated_across_users(scrubber):
    def q(qid, user, mail):
        return Question(qid, f"from {mail}", user_id=user, profile=[ProfileItem("a", text=f"cc {mail} and x@y.org")])

    a1, a2, b1 = scrubber.scrub_questions([q("1", "ua", "me@a.com"), q("2", "ua", "ME@a.com"), q("3", "ub", "x@y.org")])
    assert a1.input == a2.input == "from <EMAIL_ADDRESS_1>"            # same user, same email: same token
    assert a1.profile[0].text == "cc <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>"
    assert b1.input == "from <EMAIL_ADDRESS_1>"                        # another user's numbering starts afresh
    keyed_a, keyed_b = KeyedPlaceholders(b"k" * 32, "ua"), KeyedPlaceholders(b"k" * 32, "ub")
    ta, tb = scrubber.scrub_text("me@a.com", keyed_a), scrubber.scrub_text("me@a.com", keyed_b)
    assert ta != tb and ta == scrubber.scrub_text("me@a.com", KeyedPlaceholders(b"k" * 32, "ua"))


def test_coverage_states_that_names_and_places_need_an_ner_model():
    cov = coverage()
    assert "EMAIL_ADDRESS" in cov["entities"] and "STREET_ADDRESS" in cov["entities"]
    if cov["ner_model"] is None:
        assert cov["not_covered"] == ["PERSON", "LOCATION"] and "PERSON" not in cov["entities"]


def test_scrubbing_never_reaches_the_network(scrubber, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access while scrubbing")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert scrubber.scrub_text("mail a.b@corp.co.uk", {}) == "mail <EMAIL_ADDRESS_1>"


def _pii_questions(tmp_path: Path) -> Path:
    qs = [{"id": "1", "input": PREFIX + "mail me at bob.smith@example.net", "user_id": "u1",
           "profile": [{"id": "a", "text": "bob.smith@example.net says great kit", "score": "5", "date": "2020-01-01"},
                       {"id": "b", "text": "call 212-555-0187 when it broke", "score": "1", "date": "2020-02-01"}]}]
    path = tmp_path / "q.json"
    path.write_text(json.dumps(qs))
    return path


def test_scrub_setting_applies_at_load_so_nothing_downstream_sees_pii(tmp_path):
    path = _pii_questions(tmp_path)
    (q,) = load_questions(path, task="LaMP-3", transform=scrub_transform(True))
    dumped = json.dumps(q.to_json())
    assert "bob.smith" not in dumped and "555-0187" not in dumped and "<EMAIL_ADDRESS_1>" in q.input
    assert q.profile[0].text.startswith("<EMAIL_ADDRESS_1>")          # input and profile share the token
    (raw,) = load_questions(path, task="LaMP-3")
    assert "bob.smith" in raw.input                                   # off by default, and nothing stays on
    assert scrub_transform(False) is None


def test_lamp_scrub_writes_a_scrubbed_copy_and_rank_accepts_the_flag(tmp_path):
    path = _pii_questions(tmp_path)
    out = tmp_path / "scrubbed.json"
    assert main(["scrub", str(path), "--output", str(out), "--task", "LaMP-3"]) == 0
    assert "bob.smith" not in out.read_text() and "<PHONE_NUMBER_1>" in out.read_text()
    ranking = tmp_path / "r.json"
    assert main(["rank", "--input", str(path), "--output", str(ranking), "--task", "LaMP-3",
                 "--ranker", "bm25", "--workers", "1", "--no_progress", "--scrub"]) == 0
    assert sorted(json.loads(ranking.read_text())["1"]) == ["a", "b"]


def test_rank_file_with_a_transform_ranks_the_transformed_questions_in_one_process(tmp_path, monkeypatch):
    import retrievers.ranking as ranking

    path = _pii_questions(tmp_path)
    seen: list[str] = []

    def record(q, state):
        seen.append(q.id)
        return q

    monkeypatch.setattr(ranking, "_rank_file_shared", lambda *a, **k: pytest.fail("ranked in shares"))
    got = ranking.rank_file(path, tmp_path / "r.json", "LaMP-3", "bm25", workers=2, progress=False,
                            transform=record)
    assert seen == ["1"] and sorted(got["1"]) == ["a", "b"]


# --------------------------------------------------------------------------- credentials

def test_credentials_come_from_env_and_files_never_argv(tmp_path, capsys):
    creds_file = tmp_path / "creds.json"
    import hashlib

    creds_file.write_text(json.dumps({"users": {"alice": KEYS["alice"],
                                                "bob": "sha256:" + hashlib.sha256(KEYS["bob"].encode()).hexdigest()}}))
    creds_file.chmod(0o600)
    creds = load_credentials(credentials_file=str(creds_file), env={"LAMP_SERVE_ADMIN_KEY": ADMIN_KEY})
    assert creds.who(ADMIN_KEY) == "admin" and creds.who(KEYS["alice"]) == "user:alice"
    assert creds.who(KEYS["bob"]) == "user:bob" and creds.who("nope") is None
    with pytest.raises(LampError, match="at least 16"):
        load_credentials(env={"LAMP_SERVE_ADMIN_KEY": "short"})
    creds_file.write_text(json.dumps({"users": {"a": KEYS["alice"], "b": KEYS["alice"]}}))
    with pytest.raises(LampError, match="distinct"):
        load_credentials(credentials_file=str(creds_file), env={})
    # lamp serve: a key on the command line and no credentials at all are refused before anything starts
    db = tmp_path / "p.sqlite3"
    assert main(["serve", "--api-key", ADMIN_KEY, "--db", str(db)]) == 2
    assert "visible" in capsys.readouterr().err
    env_before = {k: os.environ.pop(k) for k in ("LAMP_SERVE_ADMIN_KEY", "LAMP_SERVE_API_KEY",
                                                  "LAMP_SERVE_CREDENTIALS_FILE") if k in os.environ}
    try:
        assert main(["serve", "--db", str(db)]) == 2
        assert "no credentials" in capsys.readouterr().err
        assert main(["serve", "--no-auth", "--host", "0.0.0.0", "--db", str(db)]) == 2
    finally:
        os.environ.update(env_before)
    assert not db.exists()


@pytest.fixture
def service(tmp_path):
    store = ProfileStore(tmp_path / "profiles.sqlite3")
    creds = Credentials(admin=None)
    from lamp.serving.auth import _digest

    creds.admin = _digest(ADMIN_KEY)
    creds.users = {u: _digest(k) for u, k in KEYS.items()}
    limits = ServeLimits(max_input_chars=300, max_items=20, max_body_bytes=200_000)
    app = create_app(load_backend("dummy"), store, model_name="dummy", settings=SETTINGS, limits=limits,
                     credentials=creds)
    with running_server(app) as url:
        yield url, store, tmp_path
    store.close()


def client(url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=30)


def put(c: httpx.Client, user: str, items: list[dict]) -> httpx.Response:
    return c.put(f"/users/{user}/profile", json={"task": "LaMP-3", "profile": items})


ALICE = [{"id": "a1", "text": "alice loved the red kettle", "score": "5"},
         {"id": "a2", "text": "alice found the blender loud", "score": "2"}]
BOB = [{"id": "b1", "text": "bob returned the broken lamp", "score": "1"},
       {"id": "b2", "text": "bob enjoyed the kettle too", "score": "4"}]


def test_a_user_key_reaches_only_that_users_data(service):
    url, _, _ = service
    with client(url, KEYS["alice"]) as alice, client(url, KEYS["bob"]) as bob, client(url, ADMIN_KEY) as admin, \
            client(url, None) as anon:
        assert put(alice, "alice", ALICE).status_code == 200
        assert put(bob, "bob", BOB).status_code == 200
        assert anon.get("/users/alice/profile").status_code == 401
        assert anon.get("/health").status_code == 200
        assert alice.get("/users/bob/profile").status_code == 403
        assert put(alice, "bob", ALICE).status_code == 403
        assert alice.delete("/users/bob").status_code == 403
        assert alice.get("/users/bob/export").status_code == 403
        assert alice.post("/personalize", json={"user_id": "bob", "input": PREFIX + "kettle", "k": 1}).status_code == 403
        assert alice.post("/v1/completions", json={"prompt": "x", "user": "bob", "max_tokens": 2}).status_code == 403
        r = alice.post("/personalize", json={"user_id": "alice", "input": PREFIX + "kettle", "k": 1})
        assert r.status_code == 200 and r.json()["retrieved"][0].startswith("a")
        assert admin.get("/users/bob/profile").json()["profile"][0]["id"] == "b1"      # admin manages all
        assert bob.get("/users/bob/export").json()["profile"] == BOB


def test_concurrent_users_never_see_each_others_items(service):
    url, _, _ = service
    users = {f"u{i}": [{"id": f"u{i}-{j}", "text": f"secret{i} item {j} kettle", "score": "3"} for j in range(3)]
             for i in range(6)}
    with client(url, ADMIN_KEY) as admin:
        for user, items in users.items():
            assert put(admin, user, items).status_code == 200
    leaks: list[str] = []

    def ask(user: str) -> None:
        with client(url, ADMIN_KEY) as c:
            for _ in range(5):
                r = c.post("/personalize", json={"user_id": user, "input": PREFIX + "kettle", "k": 2})
                body = r.json()
                own = f"secret{user[1:]} "
                if r.status_code != 200 or any(not i.startswith(f"{user}-") for i in body["retrieved"]) or \
                        ("secret" in body["output"] and own not in body["output"]):
                    leaks.append(f"{user}: {r.status_code} {body}")

    threads = [threading.Thread(target=ask, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert leaks == []


def test_sixty_concurrent_appends_never_exceed_the_item_cap(service):
    url, store, _ = service
    with client(url, ADMIN_KEY) as admin:
        assert put(admin, "cap", [{"id": "c0", "text": "first", "score": "3"}]).status_code == 200
    codes: list[int] = []

    def append(n: int) -> None:
        with client(url, ADMIN_KEY) as c:
            codes.append(c.post("/users/cap/items", json={"profile": [{"id": f"c{n}-a", "text": "x", "score": "1"}]})
                         .status_code)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(1, 61)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.summary("cap")[1] == 20
    assert codes.count(200) == 19 and codes.count(413) == 41


def test_store_refuses_an_overrun_inside_its_transaction(tmp_path):
    store = ProfileStore(tmp_path / "s.sqlite3")
    store.add_items("u", [ProfileItem(str(i), text="t") for i in range(3)], "LaMP-3", max_items=4)
    with pytest.raises(TooManyItems):
        store.add_items("u", [ProfileItem("x", text="t"), ProfileItem("y", text="t")], max_items=4)
    assert store.summary("u") == ("LaMP-3", 3)


def test_strings_nested_at_any_depth_are_under_the_size_limit(service):
    url, store, _ = service
    deep = {"id": "n1", "text": "ok", "score": "3", "meta": {"notes": [{"body": "x" * 301}]}}
    with client(url, ADMIN_KEY) as admin:
        r = put(admin, "nest", [deep])
        assert r.status_code == 413 and "meta.notes[0].body" in r.json()["error"]["message"]
    assert store.get_profile("nest") is None


def test_request_bodies_are_refused_while_streaming(service):
    url, _, _ = service

    def chunks():
        yield b'{"task": "LaMP-3", "profile": [{"id": "1", "text": "'
        for _ in range(400):
            yield b"x" * 1000
        yield b'"}]}'

    with client(url, ADMIN_KEY) as admin, client(url, KEYS["alice"]) as alice:
        r = admin.put("/users/big/profile", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = alice.post("/personalize", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_store_files_are_private(service):
    url, store, _ = service
    with client(url, ADMIN_KEY) as admin:
        assert put(admin, "p", ALICE).status_code == 200
    assert store.files()
    for path in store.files():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def _grep(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_delete_erases_the_users_text_from_every_file_the_service_wrote(service):
    url, store, folder = service
    with client(url, KEYS["alice"]) as alice, client(url, ADMIN_KEY) as admin:
        items = [{"id": f"k{i}", "text": f"{CANARY} item {i} " + "padding " * 30, "score": "3"} for i in range(8)]
        assert put(alice, "alice", items).status_code == 200
        assert alice.post("/users/alice/items", json={"profile": [{"id": "k9", "text": CANARY, "score": "1"}]}
                          ).status_code == 200
        assert put(admin, "other", BOB).status_code == 200
        assert alice.post("/personalize", json={"user_id": "alice", "input": PREFIX + CANARY, "k": 2}).status_code == 200
        assert _grep(folder, CANARY.encode())                     # it was written somewhere
        assert alice.delete("/users/alice").status_code == 200
        assert _grep(folder, CANARY.encode()) == []
        assert admin.get("/users/other/profile").json()["profile"] == BOB    # others untouched
        assert alice.get("/users/alice/profile").status_code == 404


def test_delete_erases_the_users_documents_from_a_dense_retrievers_embedding_cache(tmp_path):
    from lamp.core.tasks import get_task
    from retrievers.embedding_cache import EmbeddingCache

    store = ProfileStore(tmp_path / "profiles.sqlite3")
    svc = create_app(load_backend("dummy"), store, model_name="dummy", settings=SETTINGS,
                     retriever_options={"use_cache": True, "embedding_cache": str(tmp_path / "emb")}).state.service
    task = get_task("LaMP-3")
    docs = {}
    for user, raw in (("alice", ALICE), ("bob", BOB)):
        items = [ProfileItem(**it) for it in raw]
        store.put_profile(user, "LaMP-3", items)
        docs[user] = [task.document(it) for it in items]
        assert svc.example("contriever", task, user, PREFIX + "kettle", items, 1).items   # ranked: cached
    on_disk = EmbeddingCache(tmp_path / "emb", svc.retriever("contriever").encoder.identity)
    assert len(on_disk.get_many(docs["alice"])) == len(on_disk.get_many(docs["bob"])) == 2
    assert svc.delete_user("alice") == {"user_id": "alice", "deleted": True}
    assert on_disk.get_many(docs["alice"]) == {}                       # the user's documents are gone
    assert len(on_disk.get_many(docs["bob"])) == 2                     # another user's stay
    assert len(on_disk.get_many([task.query(PREFIX + "kettle")])) == 1  # a query is no one's profile
    on_disk.close()
    store.close()


def test_generation_and_embedding_caches_erase_a_users_text(tmp_path):
    import numpy as np

    from lamp.generation.cache import GenerationCache
    from retrievers.embedding_cache import EmbeddingCache

    cache = GenerationCache(tmp_path / "gen" / "g.sqlite")
    cache.put_many([("k1", "id", "generate", f"prompt quoting {CANARY} here", "out"),
                    ("k2", "id", "generate", "another user's prompt", "out")])
    emb = EmbeddingCache(tmp_path / "emb", "identity")
    emb.put_many([(f"doc {CANARY}", np.ones(4)), ("other doc", np.zeros(4))])
    assert _grep(tmp_path, CANARY.encode())
    assert cache.erase_containing([CANARY]) == 1 and emb.erase([f"doc {CANARY}"]) == 1
    assert len(cache) == 1 and len(emb) == 1 and _grep(tmp_path, CANARY.encode()) == []
    cache.close()
    emb.close()


def test_retention_drops_items_stored_longer_ago(tmp_path):
    import time

    store = ProfileStore(tmp_path / "r.sqlite3", retention_days=1 / 86400)      # one second
    store.put_profile("u", "LaMP-3", [ProfileItem("1", text=CANARY, score="3")])
    assert store.get_profile("u") is not None
    time.sleep(1.2)
    assert store.get_profile("u") is None
    assert _grep(tmp_path, CANARY.encode()) == []
    with pytest.raises(LampError):
        ProfileStore(tmp_path / "x.sqlite3", retention_days=0)


def test_serve_scrub_stores_keyed_placeholders_and_scrubs_the_input(tmp_path):
    store = ProfileStore(tmp_path / "s.sqlite3")
    app = create_app(load_backend("dummy"), store, model_name="dummy", settings=SETTINGS, scrub=True)
    with running_server(app) as url, client(url, None) as c:
        items = [{"id": "1", "text": "write to carol.white@example.com about the kettle", "score": "4"}]
        assert put(c, "carol", items).status_code == 200
        stored = c.get("/users/carol/profile").json()["profile"][0]["text"]
        assert "carol.white" not in stored and "<EMAIL_ADDRESS_" in stored
        r = c.post("/personalize", json={"user_id": "carol", "input": PREFIX + "carol.white@example.com kettle",
                                         "k": 1}).json()
        assert "carol.white" not in r["prompt"]
        token = stored.split()[2]
        assert token in r["prompt"]                    # the same email is the same token across requests
        assert c.get("/users/carol/export").json()["scrubbed"] is True
    assert _grep(tmp_path, b"carol.white") == []
    store.close()


def test_lamp_run_with_scrub_keeps_pii_out_of_every_file_it_writes(tmp_path, monkeypatch):
    """``lamp run --scrub``: rankings, prompts, predictions, reports and the generation cache hold no PII."""
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    secrets = ["dana.lee@example.org", "415-555-0199", "4111 1111 1111 1111"]
    qs = [{"id": str(n), "input": PREFIX + f"kettle for {secrets[0]}", "user_id": f"u{n}",
           "profile": [{"id": f"{n}a", "text": f"kettle broke, mail {secrets[0]} or call {secrets[1]}", "score": "2",
                        "date": "2020-01-01"},
                       {"id": f"{n}b", "text": f"paid with {secrets[2]}, lovely kettle", "score": "5",
                        "date": "2020-02-01"}]} for n in range(3)]
    data = tmp_path / "data" / "LaMP_3" / "dev"
    data.mkdir(parents=True)
    (data / "dev_questions.json").write_text(json.dumps(qs))
    (data / "dev_outputs.json").write_text(json.dumps({"task": "LaMP_3", "golds": [
        {"id": str(n), "output": "3"} for n in range(3)]}))
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"data": str(tmp_path / "data"), "split": "dev", "tasks": ["LaMP-3"],
                               "retrievers": ["bm25"], "k": 2, "backend": "dummy", "baselines": False,
                               "output_dir": str(tmp_path / "run")}))
    assert main(["run", "--config", str(cfg), "--scrub"]) == 0
    prompts = (tmp_path / "run" / "prompts" / "LaMP_3" / "bm25.jsonl").read_text()
    assert "<EMAIL_ADDRESS_1>" in prompts and "<PHONE_NUMBER_1>" in prompts
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file()] + \
        [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert any("generations" in p.name for p in written)
    for secret in secrets:
        assert _grep(tmp_path / "run", secret.encode()) == [] and _grep(tmp_path / "cache", secret.encode()) == []
