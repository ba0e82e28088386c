"""``lamp uemb train|predict|compare``: personalization through a user embedding.

Example::

    lamp uemb train --questions data/demo/LaMP_2/train/train_questions.json --task LaMP-2 \\
        --aggregator attention --out runs/uemb/LaMP_2/attention
    lamp uemb predict --artifact runs/uemb/LaMP_2/attention \\
        --questions data/demo/LaMP_2/dev/dev_questions.json --output runs/uemb/LaMP_2/attention/dev.json
    lamp uemb compare --data data/demo --tasks LaMP-2 LaMP-7 --out runs/uemb
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from lamp.core.tasks import get_task


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    from lamp.methods.uemb.model import AGGREGATORS, INJECTIONS
    from lamp.methods.uemb.training import UembSettings

    choices = {"aggregator": AGGREGATORS, "injection": INJECTIONS}
    for f in fields(UembSettings):
        default = getattr(UembSettings(), f.name)
        if isinstance(default, bool):
            parser.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(f"--{f.name}", type=type(default), default=default, choices=choices.get(f.name),
                                help=f"(default: {default})")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    tr = sub.add_parser("train", help="train a user conditioner on a frozen LLM; writes an artifact folder")
    tr.add_argument("--questions", required=True, help="training questions (outputs beside them, or --outputs)")
    tr.add_argument("--outputs", help="gold outputs of the training questions")
    tr.add_argument("--task", required=True)
    tr.add_argument("--out", required=True, help="artifact folder to write")
    tr.add_argument("--model", default="SmolLM2-135M-Instruct", help="base model (frozen): folder, hub id or bundled")
    tr.add_argument("--encoder", help="item encoder folder or hub id (default: the retrievers' bundled MiniLM)")
    _settings_flags(tr)
    pr = sub.add_parser("predict", help="answer questions with an artifact (and the gold perplexity per user)")
    pr.add_argument("--artifact", required=True)
    pr.add_argument("--questions", required=True)
    pr.add_argument("--outputs", help="gold outputs (for --perplexity); default: the file beside the questions")
    pr.add_argument("--output", required=True, help="predictions file to write ({task, golds})")
    pr.add_argument("--base_model", help="where the base model is now (checked against the artifact's identity)")
    pr.add_argument("--encoder", help="where the encoder is now (checked against the artifact's identity)")
    pr.add_argument("--label_choice", action=argparse.BooleanOptionalAction, default=None,
                    help="most likely label for tasks with labels (default: on for them)")
    pr.add_argument("--max_new_tokens", type=int, default=24)
    pr.add_argument("--num_beams", type=int, default=1)
    pr.add_argument("--batch_size", type=int, default=8)
    pr.add_argument("--perplexity", help="also write each user's perplexity of the gold outputs to this JSON file")
    cp = sub.add_parser("compare", help="the whole comparison: none, RAG, per-user LoRA, user embeddings")
    from lamp.pipeline.compare_methods import configure as configure_compare

    configure_compare(cp)
    parser.epilog = __doc__.split("Example::", 1)[1].rstrip() if __doc__ else None


def run(args: argparse.Namespace) -> int:
    if args.action == "compare":
        from lamp.pipeline.compare_methods import run as run_compare

        return run_compare(args)
    from lamp.training.data import load_split

    if args.action == "train":
        from lamp.methods.uemb.training import UembSettings, train_uemb

        task = get_task(args.task)
        questions, golds = load_split(args.questions, task, args.outputs)
        settings = UembSettings(**{f.name: getattr(args, f.name) for f in fields(UembSettings)})
        art = train_uemb(questions, golds, task, args.out, settings, base_model=args.model, encoder=args.encoder)
        print(json.dumps({"artifact": str(args.out), "bytes": art.size_bytes(), **art.info}))
        return 0
    return predict_command(args)


def predict_command(args: argparse.Namespace) -> int:
    from lamp.generation.backends.base import GenerationSettings
    from lamp.core.files import write_json, write_outputs
    from lamp.training.data import load_split
    from lamp.methods.uemb.personalizer import entries_for, load_personalizer, user_perplexity

    p, art = load_personalizer(args.artifact, args.base_model, args.encoder, batch_size=args.batch_size)
    questions, golds = load_split(args.questions, art.task, args.outputs, require_outputs=bool(args.perplexity))
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

