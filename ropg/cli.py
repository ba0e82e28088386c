"""``lamp ropg score|merge|train``: ROPG from the command line (the official scripts' flags)."""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from lamp.cli.flags import add_backend_flags, add_dtype_flag
from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.errors import LampError
from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL, answer_settings
from lamp.generation.backends.opener import open_backend
from retrievers.official import CONTRIEVER, require_official
from lamp.training.losses import KD_LOSSES
from ropg.train import METHODS, train
from lamp.core.questions import load_questions
from lamp.core.splits import read_split
from lamp.generation.cache import GenerationCache
from lamp.generation.models import cache_dir
from ropg.feedback import flatten_pairs, merge_shards, score_items, shard_path, short_profiles, write_scores

EXAMPLE = """examples:
  # 1. the LLM's feedback on each of the first 16 items of every (pre-ranked, merged) training question
  lamp ropg score --train_data runs/LaMP_2_train_merged.json --model_name SmolLM2-135M-Instruct \\
      --task LaMP-2 --output_dir runs/ropg_feedback --profile_size 16 --label_choice --with_loglik
  #    ... or in shards (official indices over the flattened pairs), then merged
  lamp ropg score ... --start_index 0 --end_index 800
  lamp ropg score ... --start_index 800 --end_index -1
  lamp ropg merge --train_data runs/LaMP_2_train_merged.json --profile_size 16 \\
      --inputs runs/ropg_feedback/scores_0_800.json runs/ropg_feedback/scores_800_-1.json \\
      --output runs/ropg_feedback/scores.json
  # 2. train the retriever (KD or RL) from the feedback; resumes from its latest checkpoint
  lamp ropg train --method kd --train_data runs/LaMP_2_train_merged.json --scores_path runs/ropg_feedback/scores.json \\
      --task LaMP-2 --checkpoint_dir runs/ropg --name kd --do_train
  # 3. rank with it
  lamp rank --ranker contriever --contriever_checkpoint runs/ropg/kd/checkpoint/latest ...
"""


def configure_score(parser: argparse.ArgumentParser, official: bool = False) -> None:
    """``lamp ropg score``'s flags; ``official``: ``profile_item_utilization_scorer.py``'s, where
    ``--model_name`` is required as officially."""
    parser.add_argument("--train_data", required=True,
                        help="the sorted dataset of merge_with_rank ({id, input, profile, output}, profiles ranked)")
    parser.add_argument("--train_outputs", default=None, help="outputs file, when --train_data is a questions file")
    parser.add_argument("--model_name", required=official, default=None if official else "SmolLM2-135M-Instruct",
                        help="LLM: local folder, hub id, or the bundled SmolLM2-135M-Instruct ("
                        + ("required, as officially" if official else "default") + "); the model name for "
                        "--backend openai")
    parser.add_argument("--task", required=True, help="LaMP-1 ... LaMP-7")
    parser.add_argument("--output_dir", required=True, help="where scores_{start}_{end}.json is written")
    parser.add_argument("--profile_size", type=int, required=True,
                        help="score the first N items of each profile (-1: all); shorter profiles use what they have")
    parser.add_argument("--max_length", type=int, default=512, help="prompt token budget (official default 512)")
    parser.add_argument("--generation_max_length", type=int, default=OFFICIAL.max_new_tokens, help="max new tokens")
    parser.add_argument("--generation_num_beams", type=int, default=OFFICIAL.num_beams,
                        help=f"beam size (official {OFFICIAL.num_beams}; 1: greedy)")
    parser.add_argument("--per_device_batch_size", type=int, default=16, help="prompts per model call")
    parser.add_argument("--start_index", type=int, default=0, help="first flattened (question, item) pair")
    parser.add_argument("--end_index", type=int, default=-1, help="pair after the last one (-1: to the end)")
    parser.add_argument("--cache_dir", default=None,
                        help="folder of the generation cache (default $LAMP_CACHE_DIR or ~/.cache/lamp)")
    add_backend_flags(parser)
    parser.add_argument("--label_choice", action="store_true",
                        help="classification/rating: answer with the likeliest label instead of free generation")
    parser.add_argument("--with_loglik", action="store_true",
                        help="add 'loglik' (log p(gold | prompt with the item)) and 'loss' (per-token NLL)")
    add_dtype_flag(parser, official)
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", nargs="+", required=True, help="the scores_{start}_{end}.json shards")
    parser.add_argument("--train_data", required=True, help="the training data the shards were scored on")
    parser.add_argument("--train_outputs", default=None, help="outputs file, when --train_data is a questions file")
    parser.add_argument("--task", default=None, help="task name (checks the items' fields)")
    parser.add_argument("--profile_size", type=int, required=True, help="as when scoring")
    parser.add_argument("--output", required=True, help="the merged scores file")


def _load(args: argparse.Namespace):
    if args.task is None:
        raise LampError("--task is required")
    return read_split(args.train_data, args.task, args.train_outputs).pair()


def run_score(args: argparse.Namespace) -> int:
    questions, golds = _load(args)
    out = shard_path(args.output_dir, args.start_index, args.end_index)
    backend = open_backend(args.backend, args.model_name, source="ropg score", batch_size=args.per_device_batch_size,
                           served={"base_url": args.base_url, "tokenizer": args.tokenizer, "chat": args.chat or None},
                           defaults={"dtype": args.dtype} if args.dtype else None)
    settings = answer_settings(args.generation_max_length, args.generation_num_beams, args.max_length)
    cache_path = Path(args.cache_dir or cache_dir()) / "generations.sqlite"
    with GenerationCache(cache_path) as cache:
        scores = score_items(args.task, questions, golds, backend, settings, profile_size=args.profile_size,
                             start=args.start_index, end=args.end_index, label_choice=args.label_choice,
                             with_loglik=args.with_loglik, cache=cache, progress=not args.no_progress,
                             batch_size=args.per_device_batch_size)
    write_scores(out, scores)
    short = short_profiles(questions, args.profile_size)
    if short:
        print(f"{short} of {len(questions)} questions have fewer than {args.profile_size} profile items "
              f"(all of theirs were scored)", file=sys.stderr)
    print(f"scored {len(scores)} (question, item) pairs -> {out}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    questions, golds = _load(args) if args.task else _load_any_task(args)
    merged = merge_shards(args.inputs, flatten_pairs(questions, golds, args.profile_size))
    write_scores(args.output, merged)
    print(f"merged {len(args.inputs)} shards, {len(merged)} pairs -> {args.output}")
    return 0


def _load_any_task(args: argparse.Namespace):
    """Merging needs no task knowledge: read the data without checking item fields."""
    questions = load_questions(args.train_data)
    return questions, {q.id: str((q.extra or {}).get("output", "")) for q in questions}


# --------------------------------------------------------------------------- train

def configure_train(parser: argparse.ArgumentParser) -> None:
    """The official train_kd.py / train_rl.py flags, plus the method and loss choices."""
    parser.add_argument("--method", choices=METHODS, default="kd", help="kd (distillation) or rl (REINFORCE)")
    parser.add_argument("--train_data", required=True, help="the sorted (pre-ranked, merged) training data")
    parser.add_argument("--train_outputs", default=None, help="outputs file, when --train_data is a questions file")
    parser.add_argument("--scores_path", required=True, help="the feedback of 'lamp ropg score' (merged)")
    parser.add_argument("--task", required=True, help="LaMP-1 ... LaMP-7")
    parser.add_argument("--do_train", action="store_true", help="accepted for the official command lines (training "
                                                                "always runs)")
    parser.add_argument("--model_path", default="", help="the encoder to start from: a folder or hub id "
                        "(e.g. facebook/contriever); default the bundled all-MiniLM-L6-v2 (train_kd.py / "
                        "train_rl.py: facebook/contriever, as officially)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer for a --model_path saved without one (an "
                        "official ROPG checkpoint); default: the base model its config names")
    parser.add_argument("--max_length_query", type=int, default=512, help="query tokens")
    parser.add_argument("--max_length_document", type=int, default=512, help="document tokens")
    parser.add_argument("--name", default="experiment_name", help="the run's folder under --checkpoint_dir")
    parser.add_argument("--checkpoint_dir", default="./checkpoint/", help="where runs are saved")
    parser.add_argument("--per_gpu_batch_size", type=int, default=1, help="questions per process and micro-batch")
    parser.add_argument("--accumulation_steps", type=int, default=1, help="micro-batches per optimizer step")
    parser.add_argument("--total_steps", type=int, default=1000, help="optimizer steps")
    parser.add_argument("--official_steps", action=argparse.BooleanOptionalAction, default=False,
                        help="run --total_steps + 1 steps and end with checkpoint step-(total+1), as the official "
                             "loop does (it stops once the step exceeds the total); train_kd.py / train_rl.py: on")
    parser.add_argument("--official_accumulation", action=argparse.BooleanOptionalAction, default=False,
                        help="sum the micro-batches' gradients as officially (clipping and lr see "
                             "--accumulation_steps times the mean); default: the mean; train_kd.py / train_rl.py: on")
    parser.add_argument("--epochs", type=float, default=None,
                        help="instead of --total_steps: passes over the training questions (the paper: 10)")
    parser.add_argument("--scheduler", choices=("fixed", "linear"), default="fixed",
                        help="fixed: constant lr; linear: warm up, then decay to 0 at --scheduler_steps")
    parser.add_argument("--scheduler_steps", type=int, default=None, help="the linear decay's end (default: total)")
    parser.add_argument("--warmup_steps", type=int, default=1000, help="linear warmup steps")
    parser.add_argument("--warmup_ratio", type=float, default=None,
                        help="warmup as a share of the total steps (the paper: 0.05); overrides --warmup_steps")
    parser.add_argument("--fixed_lr", action="store_true", help="linear: stay at the peak after warmup")
    parser.add_argument("--lr", type=float, default=1e-5, help="learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument("--optim", choices=("adam", "adamw"), default="adam", help="optimizer")
    parser.add_argument("--weight_decay", type=float, default=0.0, help="weight decay")
    parser.add_argument("--dropout", type=float, default=0.1, help="accepted; unused, as officially")
    parser.add_argument("--ctx_size", type=int, default=20, help="documents per query (the paper: 16)")
    parser.add_argument("--temperature", type=float, default=1.0, help="KD temperature T")
    parser.add_argument("--kd_loss", choices=KD_LOSSES, default="paper",
                        help="paper (alias kl): KL(softmax(g/T) || softmax(s/T)), ROPG Eq. 4; "
                             "official_double_softmax: the official code's cross-entropy over softmax(s/T) "
                             "taken as logits (the train_kd.py default)")
    parser.add_argument("--official_padding", action="store_true",
                        help="profiles shorter than --ctx_size are padded with empty documents that get a "
                             "target and can be sampled, as officially (gold 0; LaMP-3: w); default: masked")
    parser.add_argument("--metric", default=None,
                        help="feedback key to learn from (default: accuracy, mae or rouge-1 by task; "
                             "'loglik' or 'loss' with 'ropg score --with_loglik')")
    parser.add_argument("--use_date", action=argparse.BooleanOptionalAction, default=False,
                        help="append ' date: {date}' to documents, as the official ROPG prompts always do "
                             "(then rank with --use_date too); train_kd.py / train_rl.py: on")
    parser.add_argument("--seed", type=int, default=0, help="data order, RL samples")
    parser.add_argument("--save_freq", type=int, default=5000, help="save every N steps (and at the end)")
    parser.add_argument("--cache_dir", default=None, help="hub download cache for --model_path")
    parser.add_argument("--local-rank", "--local_rank", dest="local_rank", type=int, default=-1,
                        help="set by launchers; WORLD_SIZE/RANK/LOCAL_RANK from the environment are used")
    parser.add_argument("--main_port", type=int, default=-1, help="accepted for the official command lines")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> int:
    random.seed(args.seed)
    final = train(args)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"ROPG-{args.method.upper()} ({args.metric}) -> {final}\n"
              f"rank with: lamp rank --ranker contriever --contriever_checkpoint {final.parent / 'latest'}"
              + (" --use_date" if args.use_date else ""))
    return 0


# --------------------------------------------------------------------------- the verb

COMMANDS = {"score": (configure_score, run_score,
                      "the LLM's feedback on each profile item (profile_item_utilization_scorer.py)"),
            "merge": (configure_merge, run_merge, "join feedback shards, refusing overlapping or missing ranges"),
            "train": (configure_train, run_train,
                      "train the dense retriever from the feedback (train_kd.py / train_rl.py)")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "ropg_command", EXAMPLE)


run = run_subverb


# --------------------------------------------------------------------------- the official scripts

def configure_official_score(parser: argparse.ArgumentParser) -> None:
    """``profile_item_utilization_scorer.py``: ``lamp ropg score``'s flags, ``--model_name`` required."""
    configure_score(parser, official=True)


def configure_official_train(parser: argparse.ArgumentParser) -> None:
    """``train_kd.py`` / ``train_rl.py``: the official flags and defaults: the official double-softmax
    KD loss and documents with dates (as the official ROPG prompts), ``--total_steps`` 1,000 of batch 1
    run as the official loop runs them (1,001 steps, ending with checkpoint ``step-1001``), summed
    micro-batch gradients, a save every 5,000 steps and at the end; the method is fixed by the
    script's name."""
    configure_train(parser)
    parser.set_defaults(kd_loss="official_double_softmax", use_date=True, official_steps=True,
                        official_accumulation=True)


def _run_official_train(args: argparse.Namespace, method: str) -> int:
    """Start from ``facebook/contriever``; offline without it, stop (exit 2) rather than train another encoder."""
    args.method = method
    resuming = (Path(args.checkpoint_dir) / args.name / "checkpoint" / "latest").exists()
    if not args.model_path and not resuming:
        args.model_path = require_official(CONTRIEVER, script=f"train_{method}.py", what="retriever to start from",
                                           flag="--model_path")
    return run_train(args)


def run_official_kd(args: argparse.Namespace) -> int:
    """``train_kd.py``: ROPG-KD."""
    return _run_official_train(args, "kd")


def run_official_rl(args: argparse.Namespace) -> int:
    """``train_rl.py``: ROPG-RL."""
    return _run_official_train(args, "rl")
