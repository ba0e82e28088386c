"""The bundled demo data carries a personalization signal: profile-aware non-LLM baselines beat
profile-blind ones by a clear margin on every task (run with ``-s`` to see the table)."""

from __future__ import annotations

import pytest

from eval.metrics import score_task
from lamp.generation.backends.baselines import ProfileBaselineBackend
from lamp.generation.backends.base import GenerationSettings
from lamp.core.outputs import load_outputs
from lamp.core.questions import load_questions
from lamp.generation.driver import build_examples
from lamp.core.tasks import BENCHMARK_TASKS, get_task
from retrievers.ranking import rank_questions

#: (metric, least improvement of the BM25 top-k baseline over the blind one; MAE must fall)
MARGINS = {"classification": ("accuracy", 0.15), "rating": ("MAE", 0.3), "generation": ("rouge-1", 0.05)}


def baseline_scores(demo_dir, task: str, variant: str, ranker: str | None, k: int = 4) -> dict[str, float]:
    questions = load_questions(demo_dir, split="dev", task=task)
    golds = load_outputs(demo_dir, split="dev", task=task).by_id()
    ranking = rank_questions(questions, task, ranker, progress=False) if ranker else None
    examples = build_examples(task, questions, k if ranker else 0, 256, None, ranking)
    backend = ProfileBaselineBackend(task, variant=variant)
    backend.fit(g.output for g in load_outputs(demo_dir, split="train", task=task).golds)
    preds = backend.predict_examples(examples, GenerationSettings())
    return score_task(task, golds, {ex.id: p for ex, p in zip(examples, preds)})


@pytest.mark.parametrize("task", BENCHMARK_TASKS)
def test_profile_aware_baseline_beats_the_profile_blind_one(demo_dir, task):
    metric, margin = MARGINS[get_task(task).family]
    blind = baseline_scores(demo_dir, task, "blind", None)[metric]
    aware = baseline_scores(demo_dir, task, "profile", "bm25")[metric]
    gain = blind - aware if metric == "MAE" else aware - blind
    print(f"\n{task:7} {metric:9} blind {blind:.3f}  bm25 top-4 {aware:.3f}  gain {gain:+.3f}")
    assert gain >= margin


@pytest.mark.parametrize("task", ["LaMP-2", "LaMP-3"])
def test_the_right_items_beat_random_and_recent_items(demo_dir, task):
    metric, _ = MARGINS[get_task(task).family]
    sign = -1 if metric == "MAE" else 1
    bm25 = sign * baseline_scores(demo_dir, task, "profile", "bm25")[metric]
    for other in ("random", "recency"):
        assert bm25 > sign * baseline_scores(demo_dir, task, "profile", other)[metric], other
