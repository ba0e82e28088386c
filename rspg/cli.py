"""``lamp rspg score|data|train|select``: retriever selection per input (RSPG, Pre and Post).

The official scripts keep their names and flags beside this module: ``retriever_utilization_scorer.py``
(``score``), ``create_data.py`` (``data``) and ``rspg.py`` (``--do_train`` = ``train``,
``--do_validation`` = ``select``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lamp.cli.flags import add_dtype_flag, add_prompt_flags
from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.errors import LampError
from lamp.generation.backends.base import Backend
from lamp.generation.backends.opener import open_backend
from retrievers.official import RSPG_ENCODER, announce, require_official
from eval.scoring import format_table, results_json, score_paths
from lamp.core.splits import read_split
from lamp.core.writing import write_json
from lamp.generation.cache import GenerationCache
from lamp.generation.models import cache_dir
from rspg.data import create_data_files
from rspg.feedback import FeedbackConfig, score_member
from rspg.pool import NO_RETRIEVAL, PoolMember, parse_member
from rspg.selection import format_pool_table, pool_table, select_records, write_selection

EXAMPLES = """examples (one task, a pool of three, then the selector):
  for r in none bm25 contriever; do for s in train dev; do
    lamp rspg score --data_addr data/demo --split $s --task LaMP-2 --retriever $r --use_profile \\
        --num_retrieved 2 --generation_max_length 24 --generation_num_beams 1 --label_choice \\
        --output_dir runs/rspg/LaMP_2/$s/$r; done; done
  lamp rspg data --retrivers_data_addr runs/rspg/LaMP_2/train/{none,bm25,contriever} \\
      --task_inputs_addr data/demo/LaMP_2/train/train_questions.json \\
      --task_outputs_addr data/demo/LaMP_2/train/train_outputs.json \\
      --output_dataset_addr runs/rspg/LaMP_2/train.json --metric accuracy
  lamp rspg train --train_data runs/rspg/LaMP_2/train.json --val_data runs/rspg/LaMP_2/dev.json \\
      --task LaMP-2 --rspg_type Post --name runs/rspg/LaMP_2/post --epochs 2 --lr 5e-5
  lamp rspg select --model_path runs/rspg/LaMP_2/post --val_data runs/rspg/LaMP_2/dev.json \\
      --val_lamp_golds data/demo/LaMP_2/dev/dev_outputs.json --task LaMP-2 --name runs/rspg/LaMP_2/post
Pool members: any registered ranker, with an argument and a name: bm25, trained:DIR,
  ropg-kd=trained:runs/ropg/kd, rrf:bm25,contriever, or a JSON pool file."""


# --------------------------------------------------------------------------- score

def configure_score(parser: argparse.ArgumentParser, official: bool = False) -> None:
    parser.add_argument("--data_addr", required=True, help="questions: file, official folder or zip "
                        "(with --is_ranked: a sorted file from `lamp merge`, its profile order is the ranking)")
    parser.add_argument("--split", default=None, help="with a folder/zip: which split's questions")
    parser.add_argument("--outputs_addr", default=None, help="gold outputs (default: next to the questions, or "
                        "the 'output' of a sorted file)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--output_dir", required=True, help="where scores.json goes (one folder per retriever)")
    parser.add_argument("--model_name", default="SmolLM2-135M-Instruct", help="the LLM (folder or hub id)")
    parser.add_argument("--backend", default="hf-causal", help="LLM backend (hf-causal, hf-seq2seq, openai)")
    parser.add_argument("--backend_options", type=json.loads, default=None, help="JSON object for the backend")
    add_prompt_flags(parser, k=4, retriever_help="pool member: RANKER[:ARG] or NAME=RANKER[:ARG]")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--label_choice", action="store_true",
                        help="LaMP-1/2/3: answer with the most likely label (as `lamp run --label_choice`)")
    parser.add_argument("--use_date", action="store_true", help="append the date to every document")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run_dir", default=None, help="a `lamp run` directory whose prompts and predictions "
                        "of this retriever are read instead of generating")
    parser.add_argument("--cache_dir", default=None, help="generation cache folder (default: lamp's cache)")
    add_dtype_flag(parser, official)
    parser.add_argument("--no_progress", action="store_true")


def run_score(args: argparse.Namespace) -> int:
    member = parse_member(args.retriever) if args.use_profile else PoolMember(NO_RETRIEVAL, NO_RETRIEVAL)
    questions, golds = read_split(args.data_addr, args.task, args.outputs_addr, split=args.split).pair()
    golds_file = str(args.outputs_addr or args.data_addr)
    cfg = FeedbackConfig(k=args.num_retrieved, max_length=args.max_length,
                         max_new_tokens=args.generation_max_length, num_beams=args.num_beams,
                         batch_size=args.batch_size, label_choice=args.label_choice, use_date=args.use_date,
                         seed=args.seed)

    def backend() -> Backend:
        return open_backend(args.backend, args.model_name, args.backend_options, source="rspg score",
                            batch_size=args.batch_size, defaults={"dtype": args.dtype} if args.dtype else None)

    folder = Path(args.cache_dir) if args.cache_dir else cache_dir()
    with GenerationCache(folder / "generations.sqlite") as cache:
        scores = score_member(args.task, questions, golds, member, cfg, backend, cache, args.output_dir,
                              run_dir=args.run_dir, is_ranked=args.is_ranked, progress=not args.no_progress,
                              golds_file=golds_file)
    print(f"{member.name}: {len(scores)} questions -> {Path(args.output_dir) / 'scores.json'}")
    return 0


# --------------------------------------------------------------------------- data

def configure_data(parser: argparse.ArgumentParser, official: bool = False) -> None:
    """``lamp rspg data``'s flags; ``official``: ``create_data.py``'s, where ``--metric`` is required."""
    parser.add_argument("--retrivers_data_addr", "--names-list", nargs="+", required=True,
                        help="feedback folders (each with scores.json), one per retriever, in pool order")
    parser.add_argument("--task_inputs_addr", required=True, help="the questions file")
    parser.add_argument("--task_outputs_addr", required=True, help="the gold outputs file")
    parser.add_argument("--output_dataset_addr", required=True, help="where the selector's data goes")
    parser.add_argument("--metric", required=official, default=None,
                        help="feedback metric key (" + ("required, as officially" if official else
                                                      "default: accuracy, mae or rouge-1 by task")
                        + "); note the key is 'rouge-L', not the official README's 'rouge-l'")
    parser.add_argument("--names", nargs="+", default=None, help="retriever names (default: from the folders)")
    parser.add_argument("--task", default=None, help="task (default: the outputs file's)")


def run_data(args: argparse.Namespace) -> int:
    records = create_data_files(args.retrivers_data_addr, args.task_inputs_addr, args.task_outputs_addr,
                                args.output_dataset_addr, args.metric, args.task, args.names)
    print(f"{len(records)} records, {len(records[0]['labels'])} retrievers -> {args.output_dataset_addr}")
    return 0


# --------------------------------------------------------------------------- train / select

def configure_train(parser: argparse.ArgumentParser, official: bool = False) -> None:
    """``lamp rspg train``'s flags; ``official``: ``rspg.py``'s, with its defaults (the step schedule,
    Longformer's pooler, the official loss) and its meaning of ``--name`` (the run under ``--checkpoint_dir``)."""
    parser.add_argument("--train_data", required=True, help="records made by `lamp rspg data`")
    parser.add_argument("--val_data", required=official, help="validation records (scored after every epoch)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--rspg_type", required=official, default=None if official else "Pre", choices=("Pre", "Post"),
                        help="Pre: the prompt; Post: the prompt and the generated output")
    if official:
        parser.add_argument("--name", default="experiment_name", help="the experiment: its folder under "
                            "--checkpoint_dir (selector, checkpoint/step-N, predictions/)")
        parser.add_argument("--checkpoint_dir", default="./checkpoint/", help="where experiments are saved")
    else:
        parser.add_argument("--name", required=True, help="output folder of the selector")
    parser.add_argument("--model_name", default=None, help="encoder folder or hub id (default: bundled "
                        "all-MiniLM-L6-v2; rspg.py: allenai/longformer-base-4096, as officially)")
    parser.add_argument("--pooling", default="pooler" if official else "auto", choices=("auto", "pooler", "cls", "mean"),
                        help="auto: the model's pooler when it has trained weights, else mean pooling "
                             "(rspg.py: pooler, the official pooler_output)")
    parser.add_argument("--max_length_input", type=int, default=512)
    parser.add_argument("--loss", default="official" if official else "paper", choices=("paper", "official"),
                        help="paper: KL(softmax(labels/T)||softmax(o/T)); official: the code's form "
                             "(rspg.py's default)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--epochs", type=int, default=None if official else 20,
                        help="passes over the data" + (" instead of --total_steps" if official else ""))
    parser.add_argument("--total_steps", type=int, default=1000 if official else None,
                        help="optimizer steps (official 1000); instead of --epochs")
    parser.add_argument("--official_steps", action=argparse.BooleanOptionalAction, default=official,
                        help="with --total_steps N: run N + 1 steps and end with step-(N+1), as the official loop "
                             "does (rspg.py: on)")
    parser.add_argument("--official_accumulation", action=argparse.BooleanOptionalAction, default=official,
                        help="sum the micro-batches' gradients as officially (default: their mean; rspg.py: on)")
    parser.add_argument("--save_freq", type=int, default=5000 if official else 0,
                        help="a selector checkpoint every N steps under checkpoint/step-N (and at the end)")
    parser.add_argument("--eval_freq", type=int, default=500 if official else 0,
                        help="score the validation picks every N steps")
    parser.add_argument("--per_gpu_batch_size", type=int, default=1, help="questions per step (each with all n)")
    parser.add_argument("--accumulation_steps", type=int, default=1)
    parser.add_argument("--scheduler", default="fixed", choices=("fixed", "linear"))
    parser.add_argument("--warmup_ratio", type=float, default=0.05, help="linear: warmup share of the total")
    parser.add_argument("--warmup_steps", type=int, default=1000 if official else None,
                        help="linear: warmup steps (overrides --warmup_ratio)")
    parser.add_argument("--scheduler_steps", type=int, default=None, help="linear: the decay's end (default: total)")
    parser.add_argument("--fixed_lr", action="store_true", help="linear: stay at the peak after warmup")
    parser.add_argument("--optim", default="adam", choices=("adam", "adamw"))
    parser.add_argument("--weight_decay", type=float, default=0.0)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument("--freeze_encoder", action="store_true", help="train the head only (a linear probe)")
    parser.add_argument("--retriever_prior", action="store_true",
                        help="add a learned score per retriever (not in the official model): lets the selector "
                             "learn which retriever is best on average")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_progress", action="store_true")


def train_config(args: argparse.Namespace) -> "TrainConfig":
    from rspg.train import TrainConfig

    init = getattr(args, "model_path", None)
    return TrainConfig(task=args.task, rspg_type=args.rspg_type, model_name=args.model_name, pooling=args.pooling,
                       max_length_input=args.max_length_input, loss=args.loss, temperature=args.temperature,
                       lr=args.lr, epochs=args.epochs or 20, per_gpu_batch_size=args.per_gpu_batch_size,
                       accumulation_steps=args.accumulation_steps, scheduler=args.scheduler,
                       warmup_ratio=args.warmup_ratio, max_grad_norm=args.clip, freeze_encoder=args.freeze_encoder,
                       retriever_prior=args.retriever_prior, seed=args.seed,
                       total_steps=None if args.epochs else args.total_steps, save_freq=args.save_freq,
                       eval_freq=args.eval_freq, warmup_steps=args.warmup_steps, scheduler_steps=args.scheduler_steps,
                       fixed_lr=args.fixed_lr, optim=args.optim, weight_decay=args.weight_decay,
                       init_selector=init if init and init != "none" else None,
                       official_steps=args.official_steps, official_accumulation=args.official_accumulation)


def run_train(args: argparse.Namespace) -> int:
    from rspg.train import train_selector

    cfg = train_config(args)
    log = train_selector(cfg, args.train_data, args.name, args.val_data, progress=not args.no_progress)
    print(f"selector ({cfg.rspg_type}, pooling {log['pooling']}) -> {args.name}")
    return 0


def configure_select(parser: argparse.ArgumentParser, official: bool = False) -> None:
    if not official:
        parser.add_argument("--val_data", required=True, help="records made by `lamp rspg data`")
        parser.add_argument("--task", required=True)
        parser.add_argument("--name", required=True, help="output folder (final_preds.json, selection.json)")
        parser.add_argument("--no_progress", action="store_true")
    if official:
        parser.add_argument("--model_path", default="none", help="--do_train: a selector folder to start from; "
                            "--do_validation alone: the selector to apply (default: the experiment's)")
    else:
        parser.add_argument("--model_path", default=None, help="the trained selector folder (default: --name)")
    parser.add_argument("--val_lamp_golds", required=official, default=None,
                        help="gold outputs to score final_preds.json against")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--n_resamples", type=int, default=10_000,
                        help="paired bootstrap / randomization rounds against the best single retriever")


def run_select(args: argparse.Namespace) -> int:
    from rspg.train import load_records

    records = load_records(args.val_data)
    picks, scores, config = select_records(args.model_path or args.name, records, args.batch_size,
                                           progress=not args.no_progress)
    path = write_selection(args.name, args.task, records, picks, scores)
    print(f"{config['rspg_type']} selector: {len(picks)} picks -> {path}")
    table = pool_table(args.task, records, {f"rspg-{config['rspg_type'].lower()}": picks},
                       n_resamples=args.n_resamples)
    write_json(Path(args.name) / "report.json", table, indent=1)
    print(format_pool_table(table))
    if args.val_lamp_golds:
        scored = score_paths(args.val_lamp_golds, path)
        write_json(Path(args.name) / "final_scores.json", results_json(scored, flat=True), indent=1)
        print(format_table(scored))
    return 0


# --------------------------------------------------------------------------- the verb

COMMANDS = {"score": (configure_score, run_score, "feedback per retriever: prompts, outputs, metrics (scores.json)"),
            "data": (configure_data, run_data, "the selector's data from the pool's feedback"),
            "train": (configure_train, run_train, "train the selector (Pre or Post)"),
            "select": (configure_select, run_select, "pick a retriever per input, write final_preds.json")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "rspg_command", EXAMPLES)


run = run_subverb


# --------------------------------------------------------------------------- the official scripts

def configure_official_score(parser: argparse.ArgumentParser) -> None:
    """``retriever_utilization_scorer.py``: ``lamp rspg score``'s flags, with the examples."""
    parser.epilog = EXAMPLES
    configure_score(parser, official=True)


def configure_official_data(parser: argparse.ArgumentParser) -> None:
    """``create_data.py``: ``lamp rspg data``'s flags, ``--metric`` required as officially."""
    configure_data(parser, official=True)


def configure_official(parser: argparse.ArgumentParser) -> None:
    """``rspg.py``: ``--do_train`` and/or ``--do_validation`` in one command line, every official flag
    with its official default (``--do_filtering``, ``--eval_print_freq`` and ``--dropout`` are accepted
    and unused, as officially; ``--local-rank`` and ``--main_port`` are set by launchers)."""
    parser.epilog = EXAMPLES
    configure_train(parser, official=True)
    configure_select(parser, official=True)
    parser.add_argument("--do_train", action="store_true")
    parser.add_argument("--do_validation", action="store_true")
    parser.add_argument("--do_filtering", action="store_true", help="accepted; unused, as officially")
    parser.add_argument("--eval_print_freq", type=int, default=1000, help="accepted; unused, as officially")
    parser.add_argument("--dropout", type=float, default=0.1, help="accepted; unused, as officially")
    parser.add_argument("--local-rank", "--local_rank", dest="local_rank", type=int, default=-1,
                        help="set by launchers; WORLD_SIZE/RANK/LOCAL_RANK from the environment are used")
    parser.add_argument("--main_port", type=int, default=-1, help="accepted for the official command lines")


def run_official(args: argparse.Namespace) -> int:
    """The official layout: the experiment is ``CHECKPOINT_DIR/NAME`` (the selector, its
    ``checkpoint/step-N`` and ``latest``), validation writes ``predictions/validation/final_preds.json``."""
    if not (args.do_train or args.do_validation):
        raise LampError("rspg.py: pass --do_train and/or --do_validation")
    run_dir = Path(args.checkpoint_dir) / args.name
    if args.do_train:
        starting = args.model_path not in (None, "", "none")
        if not args.model_name and not starting:
            args.model_name = require_official(RSPG_ENCODER, script="rspg.py", what="selector encoder",
                                               flag="--model_name")
        if not starting:
            announce("rspg.py", "selector encoder", args.model_name, RSPG_ENCODER)
        run_train(argparse.Namespace(**{**vars(args), "name": str(run_dir)}))
    if args.do_validation:
        chosen = args.model_path if args.model_path not in (None, "", "none") and not args.do_train else str(run_dir)
        run_select(argparse.Namespace(**{**vars(args), "name": str(run_dir / "predictions" / "validation"),
                                         "model_path": chosen}))
    return 0
