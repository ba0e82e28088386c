"""``python lamp/evaluate_llm.py``: the official evaluation script's flags, over the library.

Reads ``--validation_data`` (a merged, ranked dataset from ``merge_with_rank.py`` — a list of
``{id, input, profile, output}`` — or a questions file with ``{split}_outputs.json`` beside it;
golds found as ``lamp train`` finds them, :func:`lamp.core.splits.read_split`),
builds the official prompts (``--use_profile``: top ``--num_retrieved`` items, already ranked with
``--is_ranked`` or ranked here with ``--retriever``), generates, and writes to ``--output_dir``:
``predictions.json`` (official format) and ``results_output.json`` (metrics with the HF-style
``eval_`` prefix, as the official script writes them).

    python lamp/evaluate_llm.py --validation_data merged_dev.json --model_addr google/flan-t5-base \\
        --task LaMP-2 --output_dir out --use_profile --is_ranked --num_retrieved 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lamp.cli.flags import add_backend_flags, add_prompt_flags
from lamp.core.errors import LampError
from lamp.generation.backends.base import answer_settings, can_score_labels
from lamp.generation.backends.opener import open_backend
from eval.metrics import score_task
from lamp.core.splits import read_split
from lamp.core.tasks import get_task
from lamp.core.writing import write_json, write_outputs
from lamp.generation.cache import GenerationCache
from lamp.generation.driver import build_examples, generate_all
from lamp.generation.models import cache_dir
from retrievers.ranking import rank_questions

PROG = "evaluate_llm.py"
EXAMPLE = """example:
  python lamp/evaluate_llm.py --validation_data merged_dev.json --model_addr google/flan-t5-base \\
      --task LaMP-2 --output_dir out --use_profile --is_ranked --num_retrieved 4"""


def configure_official(parser: argparse.ArgumentParser) -> None:
    """``evaluate_llm.py``: as officially, ``--model_addr`` is required (no silent default model)."""
    configure(parser, official=True)


def configure(parser: argparse.ArgumentParser, official: bool = False) -> None:
    """The flags; ``official``: the official script's, where ``--model_addr`` is required."""
    parser.add_argument("--validation_data", required=True, help="merged ranked dataset or questions file")
    parser.add_argument("--validation_outputs", help="outputs file (default: the one beside the questions, "
                                                     "or 'output' fields of a merged dataset)")
    parser.add_argument("--model_addr", required=official, default=None,
                        help="local folder, hub id or the bundled model's name; with --backend openai, the "
                             "served model's name (" + ("required, as officially; SmolLM2-135M-Instruct is the "
                             "bundled one" if official else "default: the bundled SmolLM2-135M-Instruct") + ")")
    parser.add_argument("--task", required=True, help="LaMP-1 … LaMP-7 (or LaMP-2-old)")
    parser.add_argument("--output_dir", required=True, help="predictions.json and results_output.json go here")
    add_prompt_flags(parser, k=1, retriever_help="ranker when the data is not ranked (--is_ranked)")
    parser.add_argument("--per_device_batch_size", type=int, default=16, help="prompts per batch (default 16)")
    parser.add_argument("--cache_dir", default=None,
                        help="where hub downloads are cached, as officially (sets HF_HUB_CACHE; default: the "
                             "hub's own cache)")
    add_backend_flags(parser)
    parser.add_argument("--backend_options", type=json.loads, default=None,
                        help="JSON object of extra backend arguments, e.g. '{\"profiles\": \"dev_questions.json\"}' "
                             "for --backend uemb")
    parser.add_argument("--label_choice", action="store_true",
                        help="classification/rating: pick the most likely label instead of free generation")
    parser.epilog = EXAMPLE


def run(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    questions, golds = read_split(args.validation_data, task, args.validation_outputs,
                                  require_outputs=False).pair()
    ranking = None
    if args.use_profile and not args.is_ranked:
        ranking = rank_questions(questions, task, args.retriever)
    k = args.num_retrieved if args.use_profile else 0
    if args.cache_dir:
        import os
        os.environ["HF_HUB_CACHE"] = str(Path(args.cache_dir).resolve())
    # float32 as the official script and `lamp train`'s dev evaluation: the same checkpoint, the same scores
    backend = open_backend(args.backend, args.model_addr, args.backend_options, source=PROG,
                           served={"base_url": args.base_url, "tokenizer": args.tokenizer, "chat": args.chat or None},
                           batch_size=args.per_device_batch_size, defaults={"dtype": "float32"})
    choose = args.label_choice and task.labels is not None
    if choose and not can_score_labels(backend):
        raise LampError(f"--label_choice needs a backend that scores labels; {type(backend).__name__} cannot "
                        "(drop --label_choice for free generation)")
    examples = build_examples(task, questions, k, args.max_length, backend.tokenizer, ranking)
    settings = answer_settings(args.generation_max_length, args.num_beams, args.max_length)
    with GenerationCache(cache_dir() / "generations.sqlite") as cache:
        outputs = generate_all(backend, examples, settings, cache, mode="choose" if choose else "generate",
                               options=list(task.labels) if choose else None)
    preds = {ex.id: out for ex, out in zip(examples, outputs)}
    out_dir = Path(args.output_dir)
    write_outputs(out_dir / "predictions.json", task.name, preds)
    if golds:
        missing = [q.id for q in questions if q.id not in golds]
        if missing:
            raise LampError(f"no gold output for {len(missing)} questions (e.g. {missing[:3]})")
        metrics = score_task(task, {i: golds[i] for i in preds}, preds)
        write_json(out_dir / "results_output.json", {f"eval_{k}": v for k, v in metrics.items()}, indent=1)
        print({f"eval_{k}": round(v, 4) for k, v in metrics.items()})
    print(f"predictions: {out_dir / 'predictions.json'}")
    return 0
