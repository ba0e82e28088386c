"""The verbs that take a task take the LaMP family's tasks too (issue #21 item 1): ``lamp train``,
``lamp adapters train|predict``, ``lamp uemb train|predict`` and ``lamp serve``'s /personalize on
the demo's LongLaMP product-review task (and /personalize on a LaMP-QA category), each with a tiny
random model built here over the demo data's own words, so every test runs in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import make_word_encoder, save_small_llama, word_tokenizer

from lamp.cli.main import main as lamp_main
from lamp.core.tasks import get_task

REVIEW = "LongLaMP-product_review"
REVIEW_DIR = "LongLaMP_product_review"
QA = "LaMP-QA-Lifestyle_and_Personal_Development"
QA_DIR = "LaMP_QA_Lifestyle_and_Personal_Development"


def _texts(value) -> list[str]:
    """Every string inside a JSON value (the words the tiny tokenizer must know)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [str(value)]


def _split(demo: Path, folder: str, split: str) -> Path:
    return demo / folder / split / f"{split}_questions.json"


def _small(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` questions of ``src`` (the demo's few users, fewer still)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(json.loads(src.read_text())[:n]))
    return dst


DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


@pytest.fixture(scope="module")
def demo() -> Path:
    """The bundled demo data (module-scoped: the tiny models are built once over its words)."""
    if not (DEMO / REVIEW_DIR).exists() or not (DEMO / QA_DIR).exists():
        pytest.skip("bundled demo data not generated")
    return DEMO


@pytest.fixture(scope="module")
def corpus(demo: Path) -> list[str]:
    texts = []
    for folder in (REVIEW_DIR, QA_DIR):
        for split in ("train", "dev"):
            texts += _texts(json.loads(_split(demo, folder, split).read_text()))
    for name in (REVIEW, QA):
        task = get_task(name)
        texts += [task.prompt.item, task.prompt.frame, task.prompt.no_profile, task.adapter_template]
    return texts


@pytest.fixture(scope="module")
def llama(tmp_path_factory, corpus) -> Path:
    return save_small_llama(tmp_path_factory.mktemp("family-llama"), word_tokenizer(corpus, chat=True))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, corpus) -> Path:
    return make_word_encoder(tmp_path_factory.mktemp("family-encoder"), corpus, hidden=8)


def _ids(path: Path) -> list[str]:
    """The question ids the readers give the file (LongLaMP's are made: it has none)."""
    from lamp.core.questions import load_questions

    return [q.id for q in load_questions(path, task=REVIEW)]


def _golds(path: Path) -> dict[str, str]:
    return {g["id"]: g["output"] for g in json.loads(path.read_text())["golds"]}


def test_lamp_train_fine_tunes_on_a_longlamp_task_and_scores_dev_with_its_metrics(tmp_path, demo, llama):
    train = _small(_split(demo, REVIEW_DIR, "train"), tmp_path / "d" / "train_questions.json", 4)
    dev = _small(_split(demo, REVIEW_DIR, "dev"), tmp_path / "d" / "dev_questions.json", 2)
    out = tmp_path / "out"
    assert lamp_main(["train", "--train_data", str(train), "--validation_data", str(dev), "--model", str(llama),
                      "--task", REVIEW, "--output_dir", str(out), "--use_profile", "--num_retrieved", "1",
                      "--num_train_epochs", "1", "--per_device_batch_size", "4", "--generation_num_beams", "1",
                      "--generation_max_length", "4", "--max_length", "256", "--logging_steps", "1"]) == 0
    assert (out / "model.safetensors").is_file()
    assert list(_golds(out / "dev_predictions.json")) == _ids(dev)
    results = json.loads((out / "results_output.json").read_text())
    assert {"eval_rouge-1", "eval_rouge-L", "eval_meteor"} <= set(results), results


def test_lamp_adapters_train_and_predict_on_a_longlamp_task(tmp_path, demo, llama, capsys):
    questions = _small(_split(demo, REVIEW_DIR, "dev"), tmp_path / "dev_questions.json", 2)
    store, out = tmp_path / "store", tmp_path / "preds.json"
    assert lamp_main(["adapters", "train", "--questions", str(questions), "--task", REVIEW, "--model", str(llama),
                      "--adapter_dir", str(store), "--epochs", "1", "--batch_size", "4", "--max_length", "128"]) == 0
    users = {q["reviewerId"] for q in json.loads(questions.read_text())}
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["trained"], summary["no_pairs"]) == (len(users), 0)    # every review a training pair
    assert len(list(store.rglob("adapter_config.json"))) == len(users)
    assert lamp_main(["adapters", "predict", "--questions", str(questions), "--task", REVIEW, "--model", str(llama),
                      "--adapter_dir", str(store), "--use_retrieval", "--num_beams", "1", "--max_new_tokens", "3",
                      "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["task"] == get_task(REVIEW).file_name and list(_golds(out)) == _ids(questions)


def test_lamp_uemb_train_and_predict_on_a_longlamp_task(tmp_path, demo, llama, encoder):
    train = _small(_split(demo, REVIEW_DIR, "train"), tmp_path / "train_questions.json", 4)
    dev = _small(_split(demo, REVIEW_DIR, "dev"), tmp_path / "dev_questions.json", 2)
    art, out = tmp_path / "art", tmp_path / "preds.json"
    assert lamp_main(["uemb", "train", "--questions", str(train), "--task", REVIEW, "--out", str(art),
                      "--model", str(llama), "--encoder", str(encoder), "--epochs", "1", "--batch_size", "4",
                      "--hidden", "8", "--max_length", "128"]) == 0
    assert lamp_main(["uemb", "predict", "--artifact", str(art), "--questions", str(dev), "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["task"] == get_task(REVIEW).file_name and list(_golds(out)) == _ids(dev)


@pytest.mark.parametrize("name,folder", [(REVIEW, REVIEW_DIR), (QA, QA_DIR)])
def test_serve_personalize_takes_a_family_task_and_builds_the_prompt_a_run_builds(demo, llama, name, folder):
    """The user's items go in as the benchmark's files hold them (LongLaMP's have no ids: the server
    makes them as the data readers do); the answer is generated, LaMP-QA needing no gold."""
    from fastapi.testclient import TestClient

    from lamp.core.questions import load_questions
    from lamp.generation.backends.base import GenerationSettings
    from lamp.generation.backends.hf import CausalBackend
    from lamp.generation.driver import build_examples
    from lamp.serving.app import create_app
    from lamp.serving.store import ProfileStore
    from retrievers import get_retriever, rank_questions

    path = _split(demo, folder, "dev")
    raw = json.loads(path.read_text())[0]
    question = load_questions(path, task=name)[0]
    backend = CausalBackend(str(llama), batch_size=2)
    settings = GenerationSettings(num_beams=1, max_new_tokens=4, max_input_length=256)
    client = TestClient(create_app(backend, ProfileStore(":memory:"), settings=settings))
    r = client.put("/users/u1/profile", json={"task": name, "profile": raw["profile"]})
    assert r.status_code < 300, r.text
    r = client.post("/personalize", json={"user_id": "u1", "task": name, "input": question.input, "k": 1})
    assert r.status_code == 200, r.text
    got = r.json()
    ranking = rank_questions([question], name, get_retriever("bm25"), progress=False)
    example = build_examples(name, [question], 1, 256, backend.tokenizer, ranking)[0]
    assert got["retrieved"] == [it.id for it in example.items] and got["prompt"] == example.prompt
    assert isinstance(got["output"], str) and got["output"].strip()


def test_serve_appends_longlamp_items_and_refuses_one_missing_a_field_naming_it():
    from fastapi.testclient import TestClient

    from lamp.generation.backends.dummy import DummyBackend
    from lamp.serving.app import create_app
    from lamp.serving.store import ProfileStore

    client = TestClient(create_app(DummyBackend(), ProfileStore(":memory:")))
    item = {"description": "a lamp", "overall": 4.0, "summary": "nice", "reviewText": "It lights up."}
    assert client.put("/users/u1/profile", json={"task": REVIEW, "profile": [item]}).status_code == 200
    r = client.post("/users/u1/items", json={"profile": [{**item, "reviewText": "Still lights up."}]})
    assert r.status_code < 300, r.text
    assert len(client.get("/users/u1/profile").json()["profile"]) == 2
    del item["reviewText"]
    r = client.put("/users/u2/profile", json={"task": REVIEW, "profile": [item]})
    assert r.status_code == 422 and "profile[0].reviewText" in r.text, r.text
