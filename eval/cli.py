"""The eval verbs: ``lamp eval``, ``lamp compare``, ``lamp report``, ``lamp submit``, and the official-style
``eval_task.py`` / ``eval_all.py`` command lines.

The scoring verbs score with :mod:`eval.scoring`; golds and predictions may be a JSON file, a folder
or a zip. ``--temp_dir`` of ``eval_all.py`` (default ``./tmp``, as officially) is accepted for
compatibility and never touched: zips are read in place (the official script empties that folder).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from lamp.core.errors import LampError
from lamp.core.sources import find_file
from lamp.core.tasks import BENCHMARK_TASKS, get_task
from lamp.core.writing import atomic_write, check_distinct_outputs, write_json

from eval.breakdown import breakdown, format_breakdown
from eval.compare import compare_predictions, format_comparison
from eval.loading import pair_sets, read_outputs_set
from eval.report import build_report, load_run_dirs
from eval.scoring import ScoredTask, format_table, results_json, score_paths
from eval.submit import SEPARATIONS, check_submission, collect_predictions, write_submission
from eval.judge import JudgeSettings, read_responses, rubric
from eval.metrics import id_mismatch_message
from lamp.core.errors import LampDataError
from lamp.core.questions import load_questions
from lamp.core.tasks import TASKS
from lamp.generation.backends.opener import open_backend
from lamp.generation.cache import GenerationCache
from lamp.pipeline.judging import judge_with


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
    parser.add_argument("--golds", required=True, help="gold outputs: a JSON file, a folder or a zip (LongLaMP: "
                        "its dataset file itself, whose rows hold the gold text)")
    parser.add_argument("--preds", required=True, help="predictions: a JSON file, a folder or a zip")
    parser.add_argument("--task", help="score only this task (any of lamp tasks: LaMP-1 … LaMP-7, LaMP-2-old, "
                        "LongLaMP-…); the output "
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


def _questions_source(path: str, task: str, n_tasks: int, split: str | None) -> Path:
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
    parser.add_argument("--temp_dir", default="./tmp", help="accepted for compatibility (official default "
                        "./tmp) and left untouched (the official script empties it); zips are read in place")
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


# --------------------------------------------------------------------------- lamp compare

def configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preds_a", metavar="A", help="predictions A (the baseline): JSON file, folder or zip")
    parser.add_argument("preds_b", metavar="B", help="predictions B: JSON file, folder or zip")
    parser.add_argument("--golds", required=True, help="gold outputs: JSON file, folder or zip")
    parser.add_argument("--task", help="compare only this task (default: every task in both A and B)")
    parser.add_argument("--split", help="with an official data folder/zip as --golds: its {split}_outputs.json")
    parser.add_argument("--n_resamples", type=int, default=10_000, help="bootstrap and randomization rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level for the * mark")
    parser.add_argument("--names", nargs=2, metavar=("NAME_A", "NAME_B"), help="column names (default A B)")
    parser.add_argument("--output_file", help="write the comparisons as JSON")
    parser.epilog = ("example:\n  lamp compare run/predictions/bm25 run/predictions/contriever "
                     "--golds data/demo --split dev --n_resamples 10000 --seed 0")


def run_compare(args: argparse.Namespace) -> int:
    golds = read_outputs_set(args.golds, "golds", args.task, args.split)
    set_a = read_outputs_set(args.preds_a, "predictions A", args.task)
    set_b = read_outputs_set(args.preds_b, "predictions B", args.task)
    common = [t for t in set_a if t in set_b]
    if not common:
        raise LampError(f"{args.preds_a} and {args.preds_b} share no task (A: {', '.join(set_a)}; "
                        f"B: {', '.join(set_b)})")
    pairs_a = pair_sets(golds, {t: set_a[t] for t in common}, False, args.golds, args.preds_a)
    pairs_b = pair_sets(golds, {t: set_b[t] for t in common}, False, args.golds, args.preds_b)
    name_a, name_b = args.names or ("A", "B")
    results, comparisons = {}, []
    for (gold, pa), (_, pb) in zip(pairs_a, pairs_b):
        c = compare_predictions(gold.outputs, pa.outputs, pb.outputs, gold.task, args.n_resamples, args.seed)
        results[get_task(gold.task).file_name] = c.to_dict()
        comparisons.append(c)
    print(format_comparison(comparisons, name_a, name_b, args.alpha))
    print(f"\n{name_a} = {args.preds_a}\n{name_b} = {args.preds_b}\nCI: paired bootstrap; p: approximate "
          f"randomization, two-sided; {args.n_resamples} rounds each, seed {args.seed}; * p < {args.alpha}")
    if args.output_file:
        write_json(args.output_file, results, indent=1)
    return 0


# --------------------------------------------------------------------------- lamp report

def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (see the layout below)")
    parser.add_argument("--baseline", help="method the † marks compare against (default: the first method)")
    parser.add_argument("--markdown", metavar="FILE", help="write the markdown table here (default: print it)")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with plots")
    parser.add_argument("--json", metavar="FILE", help="write scores and comparisons as JSON")
    parser.add_argument("--n_resamples", type=int, default=1000, help="randomization rounds for the † marks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.epilog = ("run directory layout:\n  RUN_DIR/scores.json  {\"<method>\": {\"LaMP_1\": {metric: value}}, "
                     "\"_golds\": {\"LaMP_1\": \"path/to/outputs.json\"}}\n"
                     "  RUN_DIR/predictions/<method>/LaMP_1.json  (official predictions format, optional)\n"
                     "example:\n  lamp report runs/demo --baseline none --html report.html")


def run_report(args: argparse.Namespace) -> int:
    report = build_report(load_run_dirs(args.run_dirs), args.baseline, args.n_resamples, args.seed, args.alpha)
    text = report.markdown()
    if args.markdown:
        with atomic_write(args.markdown) as fh:
            fh.write(text)
    else:
        print(text, end="")
    if args.html:
        with atomic_write(args.html) as fh:
            fh.write(report.html())
    if args.json:
        write_json(args.json, report.to_dict(), indent=1)
    return 0


# --------------------------------------------------------------------------- lamp submit

def configure_submit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preds", nargs="+", metavar="PREDS", help="prediction files, folders or zips (one benchmark)")
    parser.add_argument("--questions", required=True,
                        help="folder or zip holding each task's questions (LaMP_i/.../test_questions.json; "
                        "time-based: the time/ folder)")
    parser.add_argument("--split", default="test", help="which questions the ids must match (default: test)")
    parser.add_argument("--output", required=True, help="the zip to write")
    parser.add_argument("--separation", choices=SEPARATIONS,
                        help="user- or time-based predictions (default: read from the run that made them and "
                        "the questions' path: a time/ folder is time-based, else user-based); recorded in the zip")
    parser.add_argument("--force", action="store_true", help="replace --output if it exists")
    parser.add_argument("--require-all", dest="require_all", action="store_true",
                        help="refuse a partial entry (fewer than all the benchmark's tasks), as eval_all.py does")
    parser.add_argument("--allow-incomplete", dest="allow_incomplete", action="store_true",
                        help="kept for old scripts: partial entries are packed by default, with a warning")
    parser.epilog = ("Each task's member is in its benchmark's official format (LaMP {task, golds}; LongLaMP "
                     "[{id, generated_text, output}]; LaMP-QA {id: [{output}]}); the entry's benchmark, separation "
                     "and tasks go in the zip comment and SUBMISSION.txt, never in a .json member.\n"
                     "examples:\n  lamp submit run/predictions/bm25 --questions data/lamp --output bm25_test.zip\n"
                     "  lamp submit run/predictions/bm25 --questions data/lamp/time --output bm25_time.zip")


def run_submit(args: argparse.Namespace) -> int:
    check_distinct_outputs([*args.preds, args.questions], [args.output])
    if args.require_all and args.allow_incomplete:
        raise LampError("--require-all and --allow-incomplete contradict each other; give one")
    preds = collect_predictions(args.preds)
    if Path(args.output).exists() and not args.force:
        raise LampError(f"{args.output}: already exists; choose another --output or pass --force to replace it")
    sub = check_submission(preds, args.questions, args.split, args.require_all, args.separation, args.preds)
    for note in sub.warnings:
        print(f"warning: {note}", file=sys.stderr)
    path = write_submission(sub, args.output, args.force)
    total = sum(len(p.outputs) for p in preds.values())
    print(f"wrote {path}: {sub.benchmark}, {sub.separation}-based ({sub.why_separation}), {len(preds)} tasks, "
          f"{total} predictions")
    return 0


# --------------------------------------------------------------------------- lamp judge

def configure_judge(parser: argparse.ArgumentParser) -> None:
    d = JudgeSettings()
    parser.add_argument("--data", required=True, help="LaMP-QA questions (with narrative and rubric_aspects): "
                        "the dataset's JSON/JSON Lines, an Arrow folder or Parquet, or a LaMP-form questions file")
    parser.add_argument("--preds", required=True, help="the responses: the official LaMP-QA file {id: [{\"output\": "
                        "...}]}, a LaMP predictions file {\"task\", \"golds\"} or {id: text}")
    parser.add_argument("--task", help="the LaMP-QA category the data belongs to (default: the first; all share "
                        "the record layout)")
    parser.add_argument("--split", help="with a folder or zip as --data: its {split} questions file")
    parser.add_argument("--output", required=True, help="where to write the scores, per question and aspect, "
                        "with the judge named")
    parser.add_argument("--cache", help="the generation cache of the judge's answers (default: OUTPUT's name "
                        "+ .cache.sqlite); a rerun after an interruption redoes only unfinished batches")
    parser.add_argument("--backend", default="auto", help="the judge's backend: auto | hf-causal | hf-seq2seq | "
                        "openai | dummy | ...")
    parser.add_argument("--model", help="the judge model (hf: folder, hub id or bundled name; openai: the served "
                        "model's name)")
    parser.add_argument("--base_url", help="--backend openai: the OpenAI-compatible server(s), comma-separated")
    parser.add_argument("--tokenizer", help="--backend openai: the served model's tokenizer for the prompt budget")
    parser.add_argument("--chat", action="store_true", help="--backend openai: the chat endpoint")
    parser.add_argument("--batch_size", type=int, help="prompts per batch (default: the backend's)")
    parser.add_argument("--retries", type=int, default=d.retries, help="re-asks after an unreadable answer, "
                        f"then the aspect scores 0 and is counted (default {d.retries})")
    parser.add_argument("--max_new_tokens", type=int, default=d.max_new_tokens,
                        help=f"most tokens per judge answer (official {d.max_new_tokens})")
    parser.add_argument("--max_length", type=int, default=d.max_input_length,
                        help=f"judge prompt budget in tokens (official max_model_len {d.max_input_length})")
    parser.epilog = ("Decoding is greedy (temperature 0). Judge scores are comparable only between runs of the "
                     "same judge (model, prompt hash, retries), which the output names.\n"
                     "examples:\n"
                     "  lamp judge --data qa_dev.json --preds responses.json --backend hf-causal "
                     "--model Qwen/Qwen2.5-7B-Instruct --output judged.json\n"
                     "  lamp judge --data qa_dev.json --preds responses.json --backend openai "
                     "--base_url http://localhost:8000/v1 --chat --model judge --output judged.json")


def run_judge(args: argparse.Namespace) -> int:
    cache_path = args.cache or f"{args.output}.cache.sqlite"
    check_distinct_outputs([args.data, args.preds], [args.output, cache_path])
    if args.retries < 0:
        raise LampError(f"--retries must be 0 or more, got {args.retries}")
    task = get_task(args.task) if args.task else next(t for t in TASKS.values() if t.family == "rubric-qa")
    if task.family != "rubric-qa":
        raise LampError(f"--task {task.name}: not a task scored by the judge ({task.family}); "
                        "the judge scores rubric-qa tasks")
    questions = load_questions(args.data, split=args.split, task=task.name)
    for q in questions:
        try:
            rubric(q)
        except LampDataError as err:
            raise LampDataError(err.reason, file=args.data, record_id=err.record_id, field=err.field) from None
    responses = read_responses(args.preds)
    problem = id_mismatch_message([q.id for q in questions], list(responses), task.name,
                                  args.data, args.preds, reference="question")
    if problem:
        raise LampError(problem)
    served = {"base_url": args.base_url, "tokenizer": args.tokenizer, "chat": True if args.chat else None}
    backend = open_backend(args.backend, args.model, source="lamp judge", served=served, batch_size=args.batch_size)
    settings = JudgeSettings(args.retries, args.max_new_tokens, args.max_length, args.batch_size)
    with GenerationCache(cache_path) as cache:
        result = judge_with(backend, questions, responses, settings, cache, progress=sys.stderr.isatty())
    out = result.to_json()
    out.update(task=task.name, data=str(args.data), preds=str(args.preds), cache=str(cache_path))
    write_json(args.output, out, indent=1)
    j = result.judge
    print(f"{task.name}: rubric-score {result.score:.4f} over {len(questions)} questions, {out['aspects']} aspects; "
          f"judge {j['identity']} (prompt {j['prompt_version']} {j['prompt_hash']}, greedy, "
          f"{j['retries']} retries)")
    if result.retried or result.unparsable:
        never = [(qid, i) for qid, verdicts in result.questions.items() for i, a in enumerate(verdicts)
                 if a.score is None]
        first = f" (first: question {never[0][0]!r}, aspect {never[0][1]})" if never else ""
        print(f"warning: {result.retried} aspects needed a re-ask; {result.unparsable} never gave a readable "
              f"answer and score 0{first}; their answers are in {args.output}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 0
