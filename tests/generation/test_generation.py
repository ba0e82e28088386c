"""The generation driver and its SQLite cache: batching, skipping, kill-and-resume."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
import torch

from lamp.generation.backends.base import Backend, Example, GenerationSettings
from lamp.core.errors import LampError
from lamp.generation.cache import GenerationCache, cache_key
from lamp.generation.driver import build_examples, generate_all
from lamp.core.records import ProfileItem, Question
from tiny_models import save_small_llama, word_tokenizer

SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=4)


class EchoBackend(Backend):
    """A deterministic stand-in model: answers with the prompt reversed; records every batch."""

    identity = "echo:v1"
    batch_size = 3

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def generate(self, prompts, settings):
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("injected failure")
        self.calls.append(list(prompts))
        return [p[::-1] for p in prompts]

    def choose(self, prompts, options, settings):
        self.calls.append(list(prompts))
        return [options[len(p) % len(options)] for p in prompts]


PROMPTS = [f"prompt {'x' * (i * 7 % 11)} {i}" for i in range(10)]


def test_cache_key_covers_identity_prompt_settings_mode_and_options():
    base = cache_key("m@1", "p", SETTINGS.key())
    variants = [cache_key("m@2", "p", SETTINGS.key()), cache_key("m@1", "q", SETTINGS.key()),
                cache_key("m@1", "p", GenerationSettings(num_beams=4).key()),
                cache_key("m@1", "p", SETTINGS.key(), "choose", ["a", "b"]),
                cache_key("m@1", "p", SETTINGS.key(), "choose", ["b", "a"])]
    assert len({base, *variants}) == 6
    assert cache_key("m@1", "p", SETTINGS.key()) == base
    with pytest.raises(LampError):
        cache_key("", "p", SETTINGS.key())


def test_cache_persists_in_wal_mode(tmp_path):
    path = tmp_path / "gen.sqlite"
    with GenerationCache(path) as cache:
        cache.put_many([("k1", "m", "generate", "p1", "out1"), ("k2", "m", "generate", "p2", "out2")])
    with GenerationCache(path) as cache:
        assert cache.get_many(["k1", "k2", "k3"]) == {"k1": "out1", "k2": "out2"} and len(cache) == 2
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_sqlite_is_a_user_error(tmp_path):
    bad = tmp_path / "gen.sqlite"
    bad.write_text("not a database" * 100)
    with pytest.raises(LampError, match="gen.sqlite"):
        GenerationCache(bad)


def test_generate_all_keeps_order_dedupes_and_sorts_batches_longest_first(tmp_path):
    backend = EchoBackend()
    prompts = PROMPTS + PROMPTS[:3]
    out = generate_all(backend, prompts, SETTINGS, GenerationCache(tmp_path / "c.sqlite"), progress=False)
    assert out == [p[::-1] for p in prompts]
    sent = [p for batch in backend.calls for p in batch]
    assert sorted(sent) == sorted(PROMPTS)                          # each distinct prompt once
    assert [len(p) for p in sent] == sorted((len(p) for p in sent), reverse=True)
    assert all(len(batch) <= 3 for batch in backend.calls)


def test_rerun_skips_everything_cached(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite")
    first = generate_all(EchoBackend(), PROMPTS, SETTINGS, cache, progress=False)
    again = EchoBackend()
    assert generate_all(again, PROMPTS, SETTINGS, cache, progress=False) == first and again.calls == []
    other = GenerationSettings(num_beams=2, max_new_tokens=4)     # new settings: a miss
    generate_all(again, PROMPTS, other, cache, progress=False)
    assert sum(map(len, again.calls)) == len(PROMPTS)


def test_run_interrupted_after_two_batches_resumes_identically(tmp_path):
    reference = generate_all(EchoBackend(), PROMPTS, SETTINGS, None, progress=False)
    cache = GenerationCache(tmp_path / "c.sqlite")
    crashing = EchoBackend(fail_on_call=2)
    with pytest.raises(RuntimeError, match="injected"):
        generate_all(crashing, PROMPTS, SETTINGS, cache, progress=False)
    assert len(cache) == 6                                           # two batches of 3 committed
    resumed = EchoBackend()
    assert generate_all(resumed, PROMPTS, SETTINGS, cache, progress=False) == reference
    finished = {p for batch in crashing.calls for p in batch}
    redone = [p for batch in resumed.calls for p in batch]
    assert len(redone) == 4 and not finished & set(redone)


KILL_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from lamp.generation.backends.base import Backend, GenerationSettings
    from lamp.generation.cache import GenerationCache
    from lamp.generation.driver import generate_all

    class Killed(Backend):  # EchoBackend that dies on its third batch
        identity, batch_size, calls = "echo:v1", 3, 0
        def generate(self, prompts, settings):
            if self.calls == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            self.calls += 1
            return [p[::-1] for p in prompts]

    settings = GenerationSettings(**json.loads(sys.argv[2]))
    generate_all(Killed(), json.loads(sys.argv[3]), settings, GenerationCache(sys.argv[1]), progress=False)
""")


def test_run_killed_with_sigkill_resumes_identically(tmp_path):
    path = tmp_path / "c.sqlite"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(path), json.dumps(SETTINGS.key()), json.dumps(PROMPTS)],
                          capture_output=True, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL
    cache = GenerationCache(path)
    assert len(cache) == 6
    resumed = EchoBackend()
    assert generate_all(resumed, PROMPTS, SETTINGS, cache, progress=False) == \
        generate_all(EchoBackend(), PROMPTS, SETTINGS, None, progress=False)
    assert sum(map(len, resumed.calls)) == 4


def test_choose_mode_is_cached_apart_from_generate(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite")
    backend = EchoBackend()
    chosen = generate_all(backend, PROMPTS, SETTINGS, cache, mode="choose", options=["a", "b", "c"], progress=False)
    assert chosen == [["a", "b", "c"][len(p) % 3] for p in PROMPTS]
    assert generate_all(backend, PROMPTS, SETTINGS, cache, progress=False) == [p[::-1] for p in PROMPTS]
    with pytest.raises(LampError, match="options"):
        generate_all(backend, PROMPTS, SETTINGS, cache, mode="choose", progress=False)
    with pytest.raises(LampError, match="mode"):
        generate_all(backend, PROMPTS, SETTINGS, cache, mode="sample", progress=False)


def test_partial_failures_keep_the_answers_that_arrived(tmp_path):
    class Partial(EchoBackend):
        def generate(self, prompts, settings):
            err = LampError("2 requests failed")
            err.outputs = [None if i % 2 else p[::-1] for i, p in enumerate(prompts)]
            raise err

    cache = GenerationCache(tmp_path / "c.sqlite")
    with pytest.raises(LampError):
        generate_all(Partial(), PROMPTS[:3], SETTINGS, cache, progress=False)
    assert len(cache) == 2


def test_examples_are_sent_as_prompts_to_string_backends():
    backend = EchoBackend()
    examples = [Example("1", "raw input"), Example("2", "raw", prompt="built prompt")]
    assert generate_all(backend, examples, SETTINGS, None, progress=False) == ["tupni war", "tpmorp tliub"]


def test_build_examples_follows_the_ranking_and_k():
    items = [ProfileItem("a", title="A", text="alpha"), ProfileItem("b", title="B", text="beta")]
    q = Question("q1", "Generate a headline for the following article: x", items)
    (ex,) = build_examples("LaMP-4", [q], k=1, max_length=256, tokenizer=None, ranking={"q1": ["b", "a"]})
    assert [i.id for i in ex.items] == ["b"] and ex.prompt.startswith('"B" is the title for "beta" . ')
    (raw,) = build_examples("LaMP-4", [q], k=0, max_length=256, tokenizer=None)
    assert raw.prompt == q.input and raw.items == ()
    with pytest.raises(LampError, match="'q1'.*'zz'"):
        build_examples("LaMP-4", [q], k=1, max_length=256, tokenizer=None, ranking={"q1": ["zz"]})
    with pytest.raises(LampError, match="no entry"):
        build_examples("LaMP-4", [q], k=1, max_length=256, tokenizer=None, ranking={})


# --------------------------------------------------------------------------- a real (tiny) model

@pytest.fixture(scope="module")
def one_thread():
    """Tiny matrices: extra torch threads only add contention on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory, one_thread):
    words = "the a kit great broke fast lovely book movie tag score review love robot city bike"
    return save_small_llama(tmp_path_factory.mktemp("tiny"), word_tokenizer([words]), seed=1)


def test_real_model_interrupted_and_resumed_gives_byte_identical_predictions(tiny_causal, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "lamp-cache"))
    from lamp.generation.backends.hf import CausalBackend

    backend = CausalBackend(model=str(tiny_causal), device="cpu", batch_size=2)
    prompts = [" ".join(["great kit", "the movie tag", "robot love", "city bike lovely book"][i % 4].split()[: 1 + i % 3])
               + f" {'the ' * i}score" for i in range(9)]
    settings = GenerationSettings(num_beams=1, max_new_tokens=5)
    reference = generate_all(backend, prompts, settings, GenerationCache(tmp_path / "ref.sqlite"), progress=False)

    calls = {"n": 0}
    real = backend.generate

    def dies_after_two(batch, s):
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(batch, s)

    cache_path = tmp_path / "run.sqlite"
    monkeypatch.setattr(backend, "generate", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        generate_all(backend, prompts, settings, GenerationCache(cache_path), progress=False)
    monkeypatch.setattr(backend, "generate", real)
    resumed = generate_all(backend, prompts, settings, GenerationCache(cache_path), progress=False)
    assert json.dumps(resumed) == json.dumps(reference)
    rows = sqlite3.connect(cache_path).execute("SELECT identity, mode FROM generations").fetchall()
    assert len(rows) == 9 and {r[0] for r in rows} == {backend.identity}


def test_uncached_backend_without_identity_cannot_use_a_cache(tmp_path):
    class Anonymous(EchoBackend):
        identity = ""

    assert generate_all(Anonymous(), ["a"], SETTINGS, None, progress=False) == ["a"]
    with pytest.raises(LampError, match="identity"):
        generate_all(Anonymous(), ["a"], SETTINGS, GenerationCache(tmp_path / "c.sqlite"), progress=False)


def test_progress_bar_counts_cached_work(tmp_path, capsys):
    cache = GenerationCache(tmp_path / "c.sqlite")
    generate_all(EchoBackend(), PROMPTS[:4], SETTINGS, cache, progress=False)
    generate_all(EchoBackend(), PROMPTS, SETTINGS, cache, progress=True, desc="demo")
    err = capsys.readouterr().err
    assert "demo" in err and "10/10" in err
