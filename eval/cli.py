"""``lamp eval`` and the official-style ``eval_task.py`` / ``eval_all.py`` command lines.

All three score with :mod:`eval.scoring`; golds and predictions may be a JSON file, a folder or a
zip. ``--temp_dir`` of ``eval_all.py`` is accepted for compatibility and never touched: zips are
read in place (the official script empties that folder).
"""

from __future__ import annotations

import argparse
import sys

from lamp.core.errors import LampError
from lamp.core.files import check_distinct_outputs, write_json
from lamp.core.tasks import BENCHMARK_TASKS

from eval.scoring import ScoredTask, format_table, results_json, score_paths


def _finish(scored: list[ScoredTask], output_file: str | None, flat: bool, quiet: bool = False) -> None:
    for s in scored:
        for note in s.warnings():
            print(f"warning: {note}", file=sys.stderr)
    if output_file:
        write_json(output_file, results_json(scored, flat), indent=1)
    if not quiet:
        print(format_table(scored))


# --------------------------------------------------------------------------- lamp eval

def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--golds", required=True, help="gold outputs: a JSON file, a folder or a zip")
    parser.add_argument("--preds", required=True, help="predictions: a JSON file, a folder or a zip")
    parser.add_argument("--task", help="score only this task (LaMP-1 … LaMP-7, LaMP-2-old); the output "
                        "file is then flat {metric: value} as eval_task.py writes")
    parser.add_argument("--split", help="with an official data folder/zip as --golds: use its "
                        "{split}_outputs.json files (e.g. dev)")
    parser.add_argument("--output_file", help="write the official JSON: {\"LaMP_1\": {\"accuracy\": …}, …}")
    parser.add_argument("--require-all", dest="require_all", action="store_true",
                        help=f"demand all {len(BENCHMARK_TASKS)} benchmark tasks, as the leaderboard does")
    parser.add_argument("--breakdown", metavar="QUESTIONS",
                        help="questions file/folder/zip: also score per user and per profile-size bucket")
    parser.add_argument("--breakdown_output", metavar="FILE", help="write the breakdowns as JSON")
    parser.epilog = ("examples:\n"
                     "  lamp eval --golds data/demo --split dev --preds run/predictions/bm25 "
                     "--output_file scores.json\n"
                     "  lamp eval --golds dev_outputs.json --preds preds.json --task LaMP-3 "
                     "--breakdown dev_questions.json\n"
                     "  lamp eval --golds golds.zip --preds preds.zip --require-all")


def run(args: argparse.Namespace) -> int:
    from eval.breakdown import breakdown, format_breakdown

    check_distinct_outputs([args.golds, args.preds, args.breakdown], [args.output_file, args.breakdown_output])
    scored = score_paths(args.golds, args.preds, args.task, args.require_all, args.split)
    _finish(scored, args.output_file, flat=bool(args.task))
    if args.breakdown:
        results = {}
        for s in scored:
            b = breakdown(s.stats, _questions_source(args.breakdown, s.task, len(scored), args.split))
            print()
            print(format_breakdown(b))
            results[s.key] = b.to_json()
        if args.breakdown_output:
            write_json(args.breakdown_output, results, indent=1)
    elif args.breakdown_output:
        raise LampError("--breakdown_output needs --breakdown QUESTIONS")
    return 0


def _questions_source(path: str, task: str, n_tasks: int, split: str | None):
    from pathlib import Path
    import zipfile

    from lamp.core.files import find_file
    from lamp.core.tasks import get_task

    p = Path(path)
    if p.is_file() and not zipfile.is_zipfile(p):
        if n_tasks > 1:
            raise LampError(f"{p}: one questions file for {n_tasks} tasks; pass a folder or zip of questions "
                            "files, or --task")
        return p
    return find_file(p, "questions", split, get_task(task).name)


# --------------------------------------------------------------------------- eval_task.py

def configure_task(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--golds_json", required=True, help="gold outputs file (or folder/zip)")
    parser.add_argument("--preds_json", required=True, help="predictions file (or folder/zip)")
    parser.add_argument("--task_name", required=True, help="LaMP_1 … LaMP_7 (any spelling; LaMP-2-old too)")
    parser.add_argument("--output_file", required=True, help="where to write {metric: value}")
    parser.epilog = ("example:\n  python eval/eval_task.py --golds_json dev_outputs.json --preds_json preds.json "
                     "--task_name LaMP_1 --output_file scores.json")


def run_task(args: argparse.Namespace) -> int:
    check_distinct_outputs([args.golds_json, args.preds_json], [args.output_file])
    scored = score_paths(args.golds_json, args.preds_json, args.task_name)
    _finish(scored, args.output_file, flat=True)
    return 0


# --------------------------------------------------------------------------- eval_all.py

def configure_all(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--golds_zip", required=True, help="gold outputs of all tasks: a zip or a folder")
    parser.add_argument("--preds_zip", required=True, help="predictions of all tasks: a zip or a folder")
    parser.add_argument("--temp_dir", help="accepted for compatibility and left untouched (the official "
                        "script empties it); zips are read in place")
    parser.add_argument("--output_file", required=True, help="where to write {\"LaMP_1\": {…}, …}")
    parser.add_argument("--tasks_present", action="store_true",
                        help="score the tasks present instead of demanding all seven (the official script "
                        "demands all seven)")
    parser.epilog = ("example:\n  python eval/eval_all.py --golds_zip golds.zip --preds_zip preds.zip "
                     "--temp_dir /tmp/x --output_file scores.json")


def run_all(args: argparse.Namespace) -> int:
    check_distinct_outputs([args.golds_zip, args.preds_zip], [args.output_file])
    scored = score_paths(args.golds_zip, args.preds_zip, require_all=not args.tasks_present)
    _finish(scored, args.output_file, flat=False)
    return 0
