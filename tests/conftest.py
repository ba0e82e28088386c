"""Shared fixtures: small LaMP files written to a temp folder, and the demo data location."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from tiny_lamp3 import lamp3_records, write, write_split

import lamp.cli.registrations  # noqa: F401  (the registries' higher-layer entries, as the lamp command loads them)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def lamp3_files(tmp_path: Path) -> tuple[Path, Path]:
    """A valid LaMP-3 dev questions/outputs pair in the official layout."""
    prefix = "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without further explanation. review: "
    questions = [
        {"id": "300", "input": prefix + "great kit", "user_id": "u1",
         "profile": [{"id": "3000", "text": "broke fast", "score": "2", "date": "2020-01-02"},
                     {"id": "3001", "text": "lovely book", "score": "5", "date": "2021-05-06"}]},
        {"id": "301", "input": prefix + "meh", "user_id": "u2",
         "profile": [{"id": "3010", "text": "okay", "score": "3", "date": "2019-07-08"}]},
    ]
    outputs = {"task": "LaMP_3", "golds": [{"id": "300", "output": "4"}, {"id": "301", "output": "3"}]}
    q = write(tmp_path / "LaMP_3" / "dev" / "dev_questions.json", questions)
    o = write(tmp_path / "LaMP_3" / "dev" / "dev_outputs.json", outputs)
    return q, o


@pytest.fixture
def demo_dir() -> Path:
    if not (DEMO / "LaMP_1").exists():
        pytest.skip("bundled demo data not generated")
    return DEMO


@pytest.fixture
def lamp3_data(tmp_path: Path) -> dict[str, Path]:
    """Train/dev/test LaMP-3 splits of :mod:`tiny_lamp3` (8, 4 and 3 users; test without golds)."""
    train_q, train_o = lamp3_records(8)
    dev_q, dev_o = lamp3_records(4, start=8)
    test_q, _ = lamp3_records(3, start=12)
    return {"train": write_split(tmp_path / "data", "train", train_q, train_o),
            "dev": write_split(tmp_path / "data", "dev", dev_q, dev_o),
            "test": write_split(tmp_path / "data", "test", test_q, None)}


def load_bench():
    """bench/bench_learning.py as a module: the learning tests run its checks on small planted sets."""
    if "bench_learning" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_learning", ROOT / "bench" / "bench_learning.py")
        module = sys.modules["bench_learning"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["bench_learning"]


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def planted_data(bench, tmp_path_factory) -> Path:
    return bench.make_data(tmp_path_factory.mktemp("planted"), seed=7, train=60, dev=30)
