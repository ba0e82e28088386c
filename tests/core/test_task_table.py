"""Task knowledge lives in the task table (lamp/core/tasks.py) and metric knowledge in the metric registry.

Everything a task decides — its metrics, its baseline rule, its adapter fields, its download
folder, the task its files name — is a field of its entry; code elsewhere reads the fields and
never compares task names. Each metric is defined once, with its formula and its direction.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from eval.metrics import (HIGHER_IS_BETTER, METRICS, STATISTICS, default_feedback_metric, get_metric, score_task,
                          task_stats)
from lamp.generation.backends.baselines import RULES, ProfileBaselineBackend
from lamp.core.download import remote_folder
from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.tasks import TASKS, find_task, get_task, tasks_table

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lamp", "retrievers", "eval", "ropg", "rspg")
#: "LaMP" followed by a separator or a regex class: 'LaMP-1', 'LaMP_2', 'LaMP-', 'LaMP[_-]'.
TASK_NAME = re.compile(r"LaMP[-_\[]")
#: Call keywords (and attributes assigned, e.g. ``parser.epilog = ...``) whose strings are CLI prose or examples.
PROSE_KEYWORDS = frozenset({"help", "epilog", "description", "usage", "default", "metavar"})


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _prose(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        values = []
        if isinstance(node, ast.Call):
            values = [kw.value for kw in node.keywords if kw.arg in PROSE_KEYWORDS]
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in PROSE_KEYWORDS
                                                  for t in node.targets):
            values = [node.value]
        for value in values:
            found.update(id(n) for n in ast.walk(value))
    return found


def task_name_literals(source: str) -> list[tuple[int, str]]:
    """String constants that name a task in code: not docstrings, not CLI prose, not sentences.

    A string with whitespace is prose (a message, a help text, an example command); a bare name
    like the key in ``{"LaMP-1": ...}`` or the operand of ``== "LaMP-7"`` is code."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | _prose(tree)
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                  and TASK_NAME.search(node.value) and not re.search(r"\s", node.value))


# --------------------------------------------------------------------------- no task names outside the table

def test_no_task_names_in_code_outside_the_task_table():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel != "lamp/core/tasks.py":
                found += [f"{rel}:{line}: {value!r}" for line, value in task_name_literals(path.read_text("utf-8"))]
    assert not found, "task names in code (make them fields of lamp/core/tasks.py):\n" + "\n".join(found)


def test_the_scan_catches_dict_keys_comparisons_and_built_names_but_not_prose():
    code = '''
"""Module doc about LaMP-1."""
TARGETS = {"LaMP-1": "abstract"}
def f(task, parser, m):
    """LaMP-7 splits tweets."""
    if task.name == "LaMP-7":
        return f"LaMP-{m}"
    parser.add_argument("--task", help="e.g. LaMP-3", default="LaMP-3")
    parser.epilog = "lamp run --tasks LaMP-3"
    raise ValueError("LaMP_1 golds are missing")
'''
    assert task_name_literals(code) == [(3, "LaMP-1"), (6, "LaMP-7"), (7, "LaMP-")]


# --------------------------------------------------------------------------- the metric registry

def test_every_task_metric_is_registered_for_its_family():
    for task in TASKS.values():
        assert task.metrics, task.name
        for name in task.metrics:
            assert name in METRICS, f"{task.name}: metric {name!r} is not in eval.metrics.METRICS"
            assert task.family in METRICS[name].families, (task.name, name)
        assert task.family in STATISTICS


def test_every_metric_documents_its_formula_and_direction():
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.formula.startswith(f"{name} = "), f"{name}: the docstring must open with its formula"
        assert HIGHER_IS_BETTER[name] is metric.higher_is_better
        assert get_metric(metric.training_key) is metric


def test_directions_are_the_official_ones():
    assert [n for n, m in METRICS.items() if not m.higher_is_better] == ["MAE", "RMSE"]


def test_an_unknown_metric_name_suggests_the_close_one():
    with pytest.raises(LampError, match="Did you mean 'rouge-L'"):
        get_metric("rouge-l")


def test_primary_metrics_are_the_official_best_model_and_feedback_choices():
    assert {t: get_task(t).primary_metric for t in ("LaMP-1", "LaMP-3", "LaMP-5")} == \
        {"LaMP-1": "accuracy", "LaMP-3": "MAE", "LaMP-5": "rouge-1"}
    # Feedback files spell rating errors as the official training code does.
    assert [default_feedback_metric(t) for t in ("LaMP-2", "LaMP-3", "LaMP-7")] == ["accuracy", "mae", "rouge-1"]


def test_the_table_decides_which_metrics_are_reported():
    only_rouge_l = dataclasses.replace(get_task("LaMP-4"), metrics=("rouge-L",))
    assert list(score_task(only_rouge_l, {"1": "a b"}, {"1": "a"})) == ["rouge-L"]
    stats = task_stats("LaMP-3", {"1": "3", "2": "5"}, {"1": "4", "2": "1"})
    assert stats.metrics() == {"MAE": 2.5, "RMSE": pytest.approx((17 / 2) ** 0.5)}


def test_tasks_table_lists_each_tasks_metrics():
    row = next(line for line in tasks_table().splitlines() if line.startswith("LaMP-3 "))
    assert row.rstrip().endswith("MAE, RMSE")


# --------------------------------------------------------------------------- baselines, adapters, downloads

def test_every_baseline_rule_names_a_method():
    for task in TASKS.values():
        assert task.baseline in RULES, task.name
        assert callable(getattr(ProfileBaselineBackend, RULES[task.baseline]))


def test_the_table_picks_the_baseline_rule():
    from lamp.generation.backends.base import Example, GenerationSettings

    items = [ProfileItem("a", title="T", abstract="graph kernels")] * 2
    example = Example(id="q", input='For an author who has written the paper with the title "X", which reference '
                                   'is related? Just answer with [1] or [2] without explanation. [1]: "cats" '
                                   '[2]: "graph kernels"', items=items)
    settings = GenerationSettings()
    assert ProfileBaselineBackend("LaMP-1").predict_examples([example], settings) == ["[2]"]
    by_copy = dataclasses.replace(get_task("LaMP-1"), baseline="copy_top", target_field="title")
    assert ProfileBaselineBackend(by_copy).predict_examples([example], settings) == ["T"]


def test_adapter_pairs_follow_the_adapter_fields():
    from lamp.methods.adapters import user_training_pairs

    item = ProfileItem("1", title="A title", abstract="one two three four five six seven eight nine ten")
    assert user_training_pairs("LaMP-1", [item], "u") == [("Write an abstract for this title: A title",
                                                           "one two three four five six seven eight nine ten")]
    by_title = dataclasses.replace(get_task("LaMP-1"), adapter_target="title")
    assert user_training_pairs(by_title, [item], "u")[0][1] == "A title"
    split = dataclasses.replace(get_task("LaMP-7"), adapter_target="abstract")
    (prompt, rest), = user_training_pairs(split, [item], "u")
    assert prompt.startswith("Complete the following tweet: one") and rest.endswith("nine ten")


def test_download_folders_and_shared_file_names_come_from_the_table():
    assert remote_folder(dataclasses.replace(get_task("LaMP-4"), download_folder="mirror/x"), "dev") == "mirror/x/dev"
    assert [t.name for t in TASKS.values() if t.file_task] == ["LaMP-2-old"]
    assert find_task("LaMP_2_old").name == "LaMP-2-old" and find_task("dev") is None
