"""The profile-baseline backend: majority / mean / copy over the top-k items, and profile-blind."""

from __future__ import annotations

import pytest

from lamp.generation.backends.base import Example, GenerationSettings, load_backend
from lamp.generation.backends.baselines import ProfileBaselineBackend, first_sentence, round_half_up
from lamp.core.errors import LampError
from lamp.generation.cache import GenerationCache
from lamp.generation.driver import generate_all
from lamp.core.records import ProfileItem
from lamp.core.tasks import get_task

S = GenerationSettings()


def ex(input_text: str, *items: ProfileItem) -> Example:
    return Example(id="q", input=input_text, items=tuple(items))


def predict(task: str, example: Example, variant: str = "profile", prior: str | None = None) -> str:
    return ProfileBaselineBackend(task, variant, prior).predict_examples([example], S)[0]


def test_registry_name_loads_the_baseline():
    backend = load_backend("profile-baseline", task="LaMP-2", variant="blind")
    assert isinstance(backend, ProfileBaselineBackend) and backend.identity == "profile-baseline:LaMP-2:blind:prior=None"
    with pytest.raises(LampError, match="variant"):
        load_backend("profile-baseline", task="LaMP-2", variant="oracle")


def test_lamp1_picks_the_reference_that_overlaps_the_top_items():
    text = get_task("LaMP-1").make_input(title="Deep nets", ref1="Protein folding in yeast",
                                         ref2="Convolutional networks for vision")
    items = [ProfileItem("1", title="Deep convolutional networks", abstract="vision models"),
             ProfileItem("2", title="Graph kernels", abstract="molecules")]
    assert predict("LaMP-1", ex(text, *items)) == "[2]"
    assert predict("LaMP-1", ex(text, ProfileItem("3", title="yeast protein folding", abstract="cells"))) == "[1]"
    assert predict("LaMP-1", ex(text)) == "[1]"                      # nothing retrieved: blind default


def test_classification_majority_breaks_ties_by_rank():
    items = [ProfileItem(str(i), description="d", tag=t) for i, t in enumerate(["comedy", "sci-fi", "sci-fi", "comedy"])]
    assert predict("LaMP-2", ex("x", *items)) == "comedy"             # 2-2 tie: comedy ranks first
    assert predict("LaMP-2", ex("x", *items[1:])) == "sci-fi"
    assert predict("LaMP-2", ex("x", ProfileItem("9", description="d", tag="not a tag"))) == "sci-fi"


def test_rating_is_the_mean_rounded_half_up():
    items = [ProfileItem("1", text="t", score="4"), ProfileItem("2", text="t", score="5")]
    assert predict("LaMP-3", ex("x", *items)) == "5"                  # 4.5 -> 5 (not banker's 4)
    assert predict("LaMP-3", ex("x", ProfileItem("1", text="t", score="2"))) == "2"
    assert round_half_up(2.5) == 3 and round_half_up(3.49) == 3


@pytest.mark.parametrize("task, item, expected", [
    ("LaMP-4", ProfileItem("1", title="Storm hits coast", text="t"), "Storm hits coast"),
    ("LaMP-5", ProfileItem("1", title="Sparse coding", abstract="a"), "Sparse coding"),
    ("LaMP-6", ProfileItem("1", title="Report due", text="t"), "Report due"),
])
def test_generation_copies_the_top_items_target(task, item, expected):
    assert predict(task, ex("Generate: x", item, ProfileItem("2", title="second", text="second"))) == expected


def test_tweet_paraphrase_keeps_the_input_and_adds_the_words_the_users_items_repeat():
    items = [ProfileItem("1", text="coffee first #grind lol"), ProfileItem("2", text="rainy day #grind lol"),
             ProfileItem("3", text="Coffee once")]
    # "#grind" and "lol" recur in the items; "coffee" is already in the input; "rainy" appears once.
    assert predict("LaMP-7", ex("Paraphrase the following tweet: need coffee now", *items)) == \
        "need coffee now #grind lol"


def test_blind_variants_ignore_the_profile():
    items = [ProfileItem("1", description="d", tag="comedy")]
    assert predict("LaMP-2", ex("x", *items), "blind") == "sci-fi"    # unfitted: the first label
    assert predict("LaMP-3", ex("x", ProfileItem("1", text="t", score="5")), "blind") == "3"
    article = "Generate a headline for the following article: Rain floods the town. Crews respond."
    assert predict("LaMP-4", ex(article, ProfileItem("1", title="T", text="t")), "blind") == "Rain floods the town."
    assert first_sentence("One! Two.") == "One!"


def test_fit_learns_the_global_majority_and_mean():
    backend = ProfileBaselineBackend("LaMP-2", "blind").fit(["comedy", "romance", "romance", "junk"])
    assert backend.prior == "romance" and backend.identity.endswith("prior=romance")
    assert ProfileBaselineBackend("LaMP-3", "blind").fit(["1", "2", "4", "x"]).prior == "2"   # 7/3 -> 2
    assert ProfileBaselineBackend("LaMP-2", "blind", prior="action").predict_examples([ex("x")], S) == ["action"]


def test_driver_passes_examples_and_caches_by_items(tmp_path):
    backend = ProfileBaselineBackend("LaMP-2")
    a = ex("x", ProfileItem("1", description="d", tag="comedy"))
    b = ex("x", ProfileItem("2", description="d", tag="romance"))   # same input, other items
    cache = GenerationCache(tmp_path / "c.sqlite")
    assert generate_all(backend, [a, b], S, cache, progress=False) == ["comedy", "romance"]
    assert len(cache) == 2
    with pytest.raises(LampError, match="Example"):
        generate_all(backend, ["x"], S, cache, progress=False)
    with pytest.raises(LampError, match="Example"):
        backend.generate(["x"], S)
    assert ProfileBaselineBackend("LaMP-2", "blind").generate(["x"], S) == ["sci-fi"]
