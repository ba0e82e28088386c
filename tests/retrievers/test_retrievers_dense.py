"""Dense (Contriever recipe): mean pooling + raw dot product, the embedding cache, any saved folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lamp.core.records import ProfileItem
from retrievers import get_retriever
from retrievers.base import Query
from retrievers.dense import Encoder

from tiny_models import make_tiny_encoder

WORDS = "the a cat dog bird fish runs sleeps eats red blue green big small apple pear".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


def reference_embedding(folder: Path, text: str) -> np.ndarray:
    """The Contriever recipe written out: mask-weighted mean of the last hidden state."""
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    enc = tok([text], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    return hidden.mean(dim=0).numpy()


def query(qid: str, text: str, docs: list[str]) -> Query:
    return Query(qid, text, [ProfileItem(id=f"{qid}{i}", text=d) for i, d in enumerate(docs)], docs)


def test_embeddings_are_unnormalised_mean_pooling_and_padding_does_not_change_them(tiny, tmp_path):
    enc = Encoder(str(tiny), batch_size=4, cache_dir=tmp_path)
    texts = ["cat", "the big red dog runs", "fish eats green apple and pear"]
    vecs = enc.embed(texts)
    for t in texts:   # batched with padding vs. alone without padding
        np.testing.assert_allclose(vecs[t], reference_embedding(tiny, t), rtol=1e-5, atol=1e-6)
    assert abs(np.linalg.norm(vecs["cat"]) - 1.0) > 1e-3   # no normalisation


def test_ranking_is_by_raw_dot_product(tiny, tmp_path):
    docs = ["cat sleeps", "dog runs", "bird eats", "red apple"]
    r = get_retriever("contriever", contriever_checkpoint=str(tiny), embedding_cache=str(tmp_path))
    order = r.rank_batch([query("1", "cat runs", docs)])[0]
    q = reference_embedding(tiny, "cat runs")
    scores = [float(reference_embedding(tiny, d) @ q) for d in docs]
    assert order == sorted(range(4), key=lambda i: -scores[i])


def test_cache_encodes_each_distinct_text_once_and_survives_a_new_process_view(tiny, tmp_path):
    queries = [query("1", "cat", ["dog runs", "cat sleeps"]), query("2", "dog", ["dog runs", "bird"])]
    first = get_retriever("contriever", contriever_checkpoint=str(tiny), embedding_cache=str(tmp_path))
    a = first.rank_batch(queries)
    assert first.encoder.encoded == 5                   # cat, dog, dog runs, cat sleeps, bird
    again = get_retriever("contriever", contriever_checkpoint=str(tiny), embedding_cache=str(tmp_path))
    assert again.rank_batch(queries) == a
    assert again.encoder.encoded == 0 and again.encoder._model is None   # never loaded the model


def test_cache_is_keyed_by_the_weights(tiny, tmp_path):
    other = make_tiny_encoder(tmp_path / "other", seed=1)
    e1 = Encoder(str(tiny), cache_dir=tmp_path / "c")
    e2 = Encoder(str(other), cache_dir=tmp_path / "c")
    assert e1.identity != e2.identity
    v1, v2 = e1.embed(["cat dog"])["cat dog"], e2.embed(["cat dog"])["cat dog"]
    assert e2.encoded == 1 and not np.allclose(v1, v2)


def test_no_cache_option_writes_nothing(tiny, tmp_path):
    enc = Encoder(str(tiny), cache_dir=tmp_path / "none", use_cache=False)
    enc.embed(["cat"])
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())


def test_trained_entry_takes_a_saved_folder_and_requires_one(tiny, tmp_path):
    from lamp.core.errors import LampError

    r = get_retriever("trained", contriever_checkpoint=str(tiny), embedding_cache=str(tmp_path))
    assert r.name == "trained" and sorted(r.rank_batch([query("1", "cat", ["dog", "cat"])])[0]) == [0, 1]
    with pytest.raises(LampError, match="contriever_checkpoint"):
        get_retriever("trained")


@pytest.mark.slow
def test_bundled_minilm_ranks_the_paraphrase_first(tmp_path):
    r = get_retriever("contriever", embedding_cache=str(tmp_path))
    docs = ["The stock market fell sharply on Monday.", "A recipe for chocolate chip cookies.",
            "Kittens love to nap in warm sunny spots."]
    order = r.rank_batch([query("1", "my cat sleeps in the sun", docs)])[0]
    assert order[0] == 2
    again = get_retriever("contriever", embedding_cache=str(tmp_path))
    assert again.rank_batch([query("1", "my cat sleeps in the sun", docs)])[0] == order and again.encoder.encoded == 0


def test_rank_file_with_a_saved_encoder_folder_and_dates(tiny, tmp_path):
    import json

    from retrievers.ranking import rank_file

    prefix = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
              "without further explanation. review: ")
    questions = [{"id": "1", "input": prefix + "cat runs", "profile": [
        {"id": "10", "text": "dog sleeps", "score": "1", "date": "2020-01-01"},
        {"id": "11", "text": "cat runs", "score": "5", "date": "2021-01-01"},
        {"id": "12", "text": "red apple", "score": "3", "date": "2019-01-01"}]}]
    src = tmp_path / "q.json"
    src.write_text(json.dumps(questions))
    ranking = rank_file(src, tmp_path / "r.json", "LaMP-3", "contriever", use_date=True, progress=False,
                        contriever_checkpoint=str(tiny), embedding_cache=str(tmp_path / "cache"))
    q = reference_embedding(tiny, "cat runs")
    docs = ["dog sleeps date: 2020-01-01", "cat runs date: 2021-01-01", "red apple date: 2019-01-01"]
    scores = [float(reference_embedding(tiny, d) @ q) for d in docs]
    assert ranking == {"1": [["10", "11", "12"][i] for i in sorted(range(3), key=lambda i: -scores[i])]}
