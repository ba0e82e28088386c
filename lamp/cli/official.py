"""The official-name scripts (``python retrievers/rank_profiles.py …``): one table, one entry point.

Each script at its official path is the same thin file: it puts the repository first on
``sys.path`` (in place of its own folder, so ``rspg/rspg.py`` never shadows the ``rspg`` package)
and calls :func:`main` with its name. The table says which flags and which run each name means;
the official flags, defaults and requirements live with those functions.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

from lamp.cli.main import script_main

#: script name -> ("module:configure", "module:run", description). Imported only when the script runs.
SCRIPTS: dict[str, tuple[str, str, str]] = {
    "rank_profiles.py": ("retrievers.cli:configure_official_rank", "retrievers.cli:run_official_rank",
                         "Rank each user's profile for each question."),
    "merge_with_rank.py": ("retrievers.cli:configure_merge", "retrievers.cli:run_merge",
                           "Merge questions, a profile ranking and outputs into one sorted dataset."),
    "evaluate_llm.py": ("lamp.cli.evaluate_llm:configure_official", "lamp.cli.evaluate_llm:run",
                        "Generate and score with an LLM on a LaMP split, with the official evaluation "
                        "script's flags."),
    "train_llm.py": ("lamp.cli.train:configure_official", "lamp.cli.train:run",
                     "Fine-tune an LLM on a LaMP task with retrieval-augmented prompts."),
    "eval_task.py": ("eval.cli:configure_task", "eval.cli:run_task",
                     "Score one LaMP task's predictions (the official metrics)."),
    "eval_all.py": ("eval.cli:configure_all", "eval.cli:run_all",
                    "Score LaMP predictions for all seven tasks (the official metrics)."),
    "profile_item_utilization_scorer.py": ("ropg.cli:configure_official_score", "ropg.cli:run_score",
                                           "The LLM's feedback on each profile item (ROPG)."),
    "train_kd.py": ("ropg.cli:configure_official_train", "ropg.cli:run_official_kd",
                    "Train the retriever from the LLM's feedback (ROPG-KD)."),
    "train_rl.py": ("ropg.cli:configure_official_train", "ropg.cli:run_official_rl",
                    "Train the retriever from the LLM's feedback (ROPG-RL)."),
    "retriever_utilization_scorer.py": ("rspg.cli:configure_official_score", "rspg.cli:run_score",
                                        "LLM feedback for one retriever: prompt, output and metrics per question."),
    "create_data.py": ("rspg.cli:configure_official_data", "rspg.cli:run_data",
                       "Combine the pool's feedback into the selector's data."),
    "rspg.py": ("rspg.cli:configure_official", "rspg.cli:run_official",
                "Train (--do_train) and apply (--do_validation) the retriever selector."),
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def main(script: str, argv: Sequence[str] | None = None) -> int:
    """Run the official-name script ``script`` on ``argv`` (default: the process's arguments)."""
    configure, run, description = SCRIPTS[script]
    return script_main(_load(configure), _load(run), argv, prog=script, description=description)
