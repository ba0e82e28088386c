"""``lamp uemb train|predict|compare``: personalization through a user embedding (examples: :data:`EXAMPLE`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.settings import add_flags, alias, from_args
from lamp.core.splits import read_split
from lamp.core.tasks import get_task
from lamp.core.writing import write_json, write_outputs
from lamp.generation.backends.base import GenerationSettings
from lamp.methods.uemb.personalizer import entries_for, load_personalizer, user_perplexity
from lamp.methods.uemb.training import UembSettings, train_uemb
from lamp.pipeline import compare_methods

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


COMMANDS = {"train": (configure_train, run_train,
                      "train a user conditioner on a frozen LLM; writes an artifact folder"),
            "predict": (configure_predict, predict_command,
                        "answer questions with an artifact (and the gold perplexity per user)"),
            "compare": (compare_methods.configure, compare_methods.run,
                        "the whole comparison: none, RAG, per-user LoRA, user embeddings")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "action", EXAMPLE)


run = run_subverb
