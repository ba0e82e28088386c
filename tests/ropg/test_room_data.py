"""The generator's usefulness mode (data/room.py): the useful item shares the input's director, not its
topic, so ranking by similarity misses it and only a rule about the hidden attribute finds it."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from lamp.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"train": 12, "dev": 12, "test": 4}
WORD = re.compile(r"[a-z]+")


def _load(name: str):
    if name not in sys.modules:
        sys.path.insert(0, str(ROOT / "data"))
        spec = importlib.util.spec_from_file_location(name, ROOT / "data" / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def room():
    return _load("room")


def _description(text: str) -> str:
    return text.split("description: ", 1)[1] if "description: " in text else text


def _overlap(a: str, b: str) -> float:
    """Jaccard overlap of word sets: a stand-in for topic similarity that needs no model."""
    x, y = set(WORD.findall(a.lower())), set(WORD.findall(b.lower()))
    return len(x & y) / len(x | y)


def test_only_the_item_by_the_inputs_director_carries_the_gold_tag(room):
    splits, facts = room.build(3, SIZES)
    for questions, golds in splits.values():
        for q, g in zip(questions, golds):
            f = facts[q["id"]]
            useful = next(it for it in q["profile"] if it["id"] == f["useful"])
            assert f["director"] in useful["description"] and f["director"] in q["input"]
            assert [it["id"] for it in q["profile"] if it["tag"] == g["output"]] == [f["useful"]]
            others = [it for it in q["profile"] if it["id"] != f["useful"]]
            assert not any(f["director"] in it["description"] for it in others)


def test_topic_similarity_prefers_a_lookalike_and_the_attribute_rule_finds_the_useful_item(room):
    splits, facts = room.build(3, SIZES)
    questions = [q for qs, _ in splits.values() for q in qs]
    similar_first = attribute_first = 0
    for q in questions:
        f = facts[q["id"]]
        text = _description(q["input"])
        top = max(q["profile"], key=lambda it: _overlap(text, it["description"]))
        similar_first += top["id"] == f["useful"]
        by_director = [it["id"] for it in q["profile"] if f["director"] in it["description"]]
        attribute_first += by_director == [f["useful"]]
    assert attribute_first == len(questions)
    assert similar_first <= 0.3 * len(questions)


def test_users_are_disjoint_across_splits_and_the_same_seed_gives_the_same_bytes(room, tmp_path):
    room.write_room(tmp_path / "a", 5, SIZES)
    room.write_room(tmp_path / "b", 5, SIZES)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    assert files and all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in files)
    splits, _ = room.build(5, SIZES)
    users = [{q["user_id"] for q in qs} for qs, _ in splits.values()]
    assert sum(map(len, users)) == len(set().union(*users))
    room.write_room(tmp_path / "c", 6, SIZES)
    dev = Path("LaMP_2/dev/dev_questions.json")
    assert (tmp_path / "a" / dev).read_bytes() != (tmp_path / "c" / dev).read_bytes()


def test_the_usefulness_mode_of_the_demo_generator_is_validate_clean(tmp_path, capsys):
    demo = _load("make_demo_data")
    demo.main(["--usefulness", "--out", str(tmp_path), "--train", "6", "--dev", "4", "--test", "2"])
    assert "LaMP_2 (usefulness)" in capsys.readouterr().out
    assert main(["validate", str(tmp_path)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_the_usefulness_mode_refuses_to_overwrite_the_bundled_demo(capsys):
    demo = _load("make_demo_data")
    with pytest.raises(SystemExit) as exc:
        demo.main(["--usefulness"])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err


def _bench():
    if "ropg_experiment" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ropg_experiment", ROOT / "bench" / "ropg_experiment.py")
        module = sys.modules["ropg_experiment"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["ropg_experiment"]


def test_the_room_check_reads_the_oracle_gap_and_the_initial_top_share_off_the_feedback(room, tmp_path):
    """Feedback 1 on the useful item only, profiles in file order: the oracle is 1, the initial ranking
    scores the share of questions whose first item is the useful one, and that share is also how often
    the initial top item is a best one."""
    from lamp.core.splits import read_split

    room.write_room(tmp_path, 3, SIZES)
    _, facts = room.build(3, SIZES)
    questions, golds = read_split(tmp_path / "LaMP_2" / "dev" / "dev_questions.json", "LaMP-2").pair()
    scores = {f"{q.id}-{it.id}": {"accuracy": float(it.id == facts[q.id]["useful"])} for q in questions
              for it in q.profile}
    first = sum(q.profile[0].id == facts[q.id]["useful"] for q in questions) / len(questions)
    check = _bench().room_check(scores, questions, golds, 5, "accuracy")
    assert check["questions"] == len(questions) == SIZES["dev"]
    assert check["oracle"] == 1.0 and check["initial"] == pytest.approx(first)
    assert check["gap"] == pytest.approx(1.0 - first) and check["initial_top_is_best"] == pytest.approx(first)
    scores = {key: {"accuracy": 0.0} for key in scores}                    # no item helps: every item ties
    assert _bench().room_check(scores, questions, golds, 5, "accuracy")["initial_top_is_best"] == 1.0
