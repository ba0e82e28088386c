"""``lamp adapters train|predict``: one LoRA adapter per user (:mod:`lamp.methods.adapters`);
examples in :data:`EXAMPLES` (a constant, so the help keeps them under ``python -OO``)."""

from __future__ import annotations

import argparse
import json

from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.errors import LampError
from lamp.core.outputs import load_rankings
from lamp.core.questions import load_questions
from lamp.core.records import Question
from lamp.core.settings import add_flags, from_args
from lamp.core.tasks import get_task
from lamp.core.writing import write_outputs
from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL
from lamp.methods.adapters import AdapterSettings, predict_with_adapters, train_user_adapters
from lamp.privacy.scrub import add_scrub_flag, scrub_transform

EXAMPLES = """examples:
  lamp adapters train --questions data/demo/LaMP_3/dev/dev_questions.json --task LaMP-3 \\
      --model SmolLM2-135M-Instruct --adapter_dir runs/adapters3 --epochs 3
  lamp adapters predict --questions data/demo/LaMP_3/dev/dev_questions.json --task LaMP-3 \\
      --model SmolLM2-135M-Instruct --adapter_dir runs/adapters3 --use_retrieval --num_retrieved 1 \\
      --output runs/adapters3/dev_predictions.json"""


def _common_flags(parser: argparse.ArgumentParser) -> None:
    add_scrub_flag(parser)
    parser.add_argument("--questions", required=True, help="LaMP questions file (the users and their profiles)")
    parser.add_argument("--task", required=True, help="LaMP task of the questions, e.g. LaMP-3")
    parser.add_argument("--model", default="SmolLM2-135M-Instruct",
                        help="base model: a folder (e.g. a 'lamp train' output), hub id, or the bundled model")
    parser.add_argument("--adapter_dir", help="the adapter store (one folder per user)")


def _questions(args: argparse.Namespace) -> list[Question]:
    return load_questions(args.questions, task=get_task(args.task).name, transform=scrub_transform(args.scrub))


def configure_train(parser: argparse.ArgumentParser) -> None:
    _common_flags(parser)
    parser.add_argument("--num_shards", type=int, default=1, help="split the users into this many shards (default 1)")
    parser.add_argument("--shard_id", type=int, default=0, help="which shard this process trains (0-based)")
    parser.add_argument("--user_ids", nargs="*", help="only these users")
    add_flags(parser, AdapterSettings, defaults=True)


def run_train(args: argparse.Namespace) -> int:
    if not args.adapter_dir:
        raise LampError("--adapter_dir is required to train")
    counts = train_user_adapters(_questions(args), args.task, args.model, args.adapter_dir,
                                 from_args(AdapterSettings, args), num_shards=args.num_shards,
                                 shard_id=args.shard_id, user_ids=args.user_ids)
    print(json.dumps(counts))
    return 0


def configure_predict(parser: argparse.ArgumentParser) -> None:
    _common_flags(parser)
    parser.add_argument("--output", required=True, help="predictions file to write ({task, golds})")
    parser.add_argument("--use_retrieval", action="store_true", help="retrieval-augmented prompts (RAG+PEFT)")
    parser.add_argument("--ranking", help="ranking file {question id: [profile ids]}; default: rank with --retriever")
    parser.add_argument("--retriever", default="bm25",
                        help="ranker for --use_retrieval without --ranking (default bm25)")
    parser.add_argument("--num_retrieved", type=int, default=1, help="k, profile items in the prompt (default 1)")
    parser.add_argument("--max_length", type=int, default=512, help="prompt token budget (PEFT default 512)")
    parser.add_argument("--max_new_tokens", type=int, default=OFFICIAL.max_new_tokens,
                        help=f"most generated tokens (default {OFFICIAL.max_new_tokens})")
    parser.add_argument("--num_beams", type=int, default=OFFICIAL.num_beams,
                        help=f"beam search width (default {OFFICIAL.num_beams})")
    parser.add_argument("--batch_size", type=int, default=16, help="prompts per batch (default 16)")


def run_predict(args: argparse.Namespace) -> int:
    ranking = load_rankings(args.ranking) if args.ranking else None
    preds = predict_with_adapters(_questions(args), args.task, args.model, args.adapter_dir, args.use_retrieval,
                                  ranking, args.num_retrieved, retriever=args.retriever, max_length=args.max_length,
                                  max_new_tokens=args.max_new_tokens, num_beams=args.num_beams,
                                  batch_size=args.batch_size)
    write_outputs(args.output, get_task(args.task).name, preds)
    print(f"wrote {len(preds)} predictions to {args.output}")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, {"train": (configure_train, run_train, "train the missing adapters of this shard's users"),
                          "predict": (configure_predict, run_predict, "generate with each user's adapter")},
                 dest="action", epilog=EXAMPLES)


run = run_subverb
