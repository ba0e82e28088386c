"""``lamp uemb train|predict|compare``: personalization through a user embedding (examples: :data:`EXAMPLE`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.errors import LampError
from lamp.core.settings import add_flags, alias, from_args
from lamp.core.splits import read_split
from lamp.core.tasks import get_task
from lamp.core.writing import atomic_write, write_json, write_outputs
from lamp.generation.backends.base import GenerationSettings
from lamp.methods.uemb.personalizer import entries_for, load_personalizer, user_perplexity
from lamp.methods.uemb.training import UembSettings, train_uemb
from lamp.pipeline.compare_methods import VARIANTS, compare_task, markdown

EXAMPLE = """examples:
  lamp uemb train --questions data/demo/LaMP_2/train/train_questions.json --task LaMP-2 \\
      --aggregator attention --out runs/uemb/LaMP_2/attention
  lamp uemb predict --artifact runs/uemb/LaMP_2/attention \\
      --questions data/demo/LaMP_2/dev/dev_questions.json --output runs/uemb/LaMP_2/attention/dev.json
  lamp uemb compare --data data/demo --tasks LaMP-2 LaMP-7 --out runs/uemb"""


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--questions", required=True, help="training questions (outputs beside them, or --outputs)")
    parser.add_argument("--outputs", help="gold outputs of the training questions")
    parser.add_argument("--task", required=True, help="LaMP task of the questions, e.g. LaMP-2")
    parser.add_argument("--out", required=True, help="artifact folder to write")
    parser.add_argument("--model", default="SmolLM2-135M-Instruct",
                        help="base model (frozen): folder, hub id or bundled")
    parser.add_argument("--encoder", help="item encoder folder or hub id (default: the retrievers' bundled MiniLM)")
    add_flags(parser, UembSettings, defaults=True)


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifact", required=True, help="artifact folder written by 'lamp uemb train'")
    parser.add_argument("--questions", required=True, help="questions to answer")
    parser.add_argument("--outputs", help="gold outputs (for --perplexity); default: the file beside the questions")
    parser.add_argument("--output", required=True, help="predictions file to write ({task, golds})")
    model = parser.add_argument("--model", help="where the base model is now (checked against the artifact's "
                                                "identity; also --base_model)")
    alias(parser, model, "--base_model")
    parser.add_argument("--encoder", help="where the encoder is now (checked against the artifact's identity)")
    parser.add_argument("--label_choice", action=argparse.BooleanOptionalAction, default=None,
                        help="most likely label for tasks with labels (default: on for them)")
    parser.add_argument("--max_new_tokens", type=int, default=24, help="most generated tokens (default 24)")
    parser.add_argument("--num_beams", type=int, default=1, help="beam search width (default 1)")
    parser.add_argument("--batch_size", type=int, default=8, help="prompts per batch (default 8)")
    parser.add_argument("--perplexity", help="also write each user's perplexity of the gold outputs to this JSON file")


def run_train(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    questions, golds = read_split(args.questions, task, args.outputs).pair()
    art = train_uemb(questions, golds, task, args.out, from_args(UembSettings, args), base_model=args.model,
                     encoder=args.encoder)
    print(json.dumps({"artifact": str(args.out), "bytes": art.size_bytes(), **art.info}))
    return 0


def predict_command(args: argparse.Namespace) -> int:
    p, art = load_personalizer(args.artifact, args.model, args.encoder, batch_size=args.batch_size)
    questions, golds = read_split(args.questions, art.task, args.outputs,
                                  require_outputs=bool(args.perplexity)).pair()
    s = art.settings
    entries = entries_for(questions, art.task, p.tokenizer, int(s.get("max_length", 256)), golds,
                          bool(s.get("use_retrieval")), int(s.get("k", 2)), str(s.get("retriever", "bm25")))
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams,
                                  max_input_length=int(s.get("max_length", 256)), stop_at_newline=True)
    label_choice = bool(p.task.labels) if args.label_choice is None else args.label_choice
    outputs = p.predict(entries, settings, label_choice)
    write_outputs(args.output, p.task.name, {e.id: o for e, o in zip(entries, outputs)})
    fallbacks = sum(p.fallbacks.values())
    print(f"wrote {len(outputs)} predictions to {args.output}; {fallbacks} answered by the base model "
          f"(no usable profile)")
    if args.perplexity:
        ppl = user_perplexity(entries, p.nll(entries))
        write_json(args.perplexity, {"task": p.task.name, "artifact": str(Path(args.artifact)),
                                     "per_user": ppl, "mean": sum(ppl.values()) / max(len(ppl), 1)}, indent=1)
        print(f"perplexity per user: {args.perplexity}")
    return 0


def configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/demo", help="LaMP data folder with train and dev splits")
    parser.add_argument("--tasks", nargs="+", default=["LaMP-2", "LaMP-7"])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--train_split", default="train")
    parser.add_argument("--out", default="runs/uemb")
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--k", type=int, default=2, help="retrieved items in RAG prompts")
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--max_new_tokens", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=2, help="user-embedding training epochs")
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--lora_epochs", type=float, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--no_lora", action="store_true", help="skip the per-user LoRA row")
    parser.add_argument("--n_resamples", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N dev questions (a quick look)")
    parser.add_argument("--train_limit", type=int, default=None, help="only the first N training questions")
    parser.add_argument("--encoder", default=None, help="item encoder (default: the retrievers' bundled MiniLM)")


def run_compare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.epochs < 1:
        raise LampError(f"--epochs must be at least 1, got {args.epochs}")
    started = time.perf_counter()
    settings = {k: v for k, v in vars(args).items() if k not in ("verb", "action")}
    results = [{**compare_task(args, t, out), "settings": settings} for t in args.tasks]
    done = {get_task(r["task"]).name for r in results}
    if (out / "results.json").exists():      # keep other tasks' results (e.g. run one task at a time)
        earlier = json.loads((out / "results.json").read_text())["results"]
        results = [r for r in earlier if get_task(r["task"]).name not in done] + results
    write_json(out / "results.json", {"results": results}, indent=1)
    table = markdown(results)
    with atomic_write(out / "report.md") as fh:
        fh.write(table + f"\nTotal wall time this invocation: {time.perf_counter() - started:.0f} s "
                         f"(finished steps of earlier invocations are kept, with their recorded times).\n")
    print(table)
    print(f"results: {out / 'results.json'}, {out / 'report.md'}")
    return 0


COMMANDS = {"train": (configure_train, run_train,
                      "train a user conditioner on a frozen LLM; writes an artifact folder"),
            "predict": (configure_predict, predict_command,
                        "answer questions with an artifact (and the gold perplexity per user)"),
            "compare": (configure_compare, run_compare,
                        "the whole comparison: none, RAG, per-user LoRA, user embeddings")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "action", EXAMPLE)


run = run_subverb
