"""The ``lamp`` command: one verb per capability, each a small module loaded only when used.

Each verb module defines ``configure(parser)`` (flags, with an example in the epilog) and
``run(args) -> int``. User errors (:class:`LampError`) print one clear message and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from lamp.core.errors import LampError

#: verb -> (module, one-line help). Modules are imported lazily so ``lamp --help`` is instant.
VERBS: dict[str, tuple[str, str]] = {
    "tasks": ("lamp.cli.tasks", "print the task registry"),
    "validate": ("lamp.core.validate", "check LaMP questions/outputs files and report every problem"),
    "data": ("lamp.core.download", "download the official LaMP files"),
    "rank": ("retrievers.rank", "rank each user's profile for each question"),
    "merge": ("retrievers.merge", "merge questions, a ranking and outputs into one sorted dataset"),
    "eval": ("eval.cli", "score predictions (one task, or zips/folders of all tasks)"),
    "compare": ("eval.compare", "paired significance test between two prediction sets"),
    "report": ("eval.report", "markdown/HTML report of one or many runs"),
    "submit": ("eval.submit", "pack a leaderboard zip from prediction files"),
    "run": ("lamp.pipeline.run", "the whole pipeline: rank, prompt, generate, score, report"),
    "serve": ("lamp.serving.app", "HTTP service: personalized generation and an OpenAI-compatible API"),
    "train": ("lamp.training.llm", "fine-tune the LLM with retrieval (train_llm)"),
    "adapters": ("lamp.methods.adapters", "train and use one LoRA adapter per user"),
    "uemb": ("lamp.cli.uemb", "personalize with a user embedding: train, predict, compare methods"),
    "rspg": ("rspg.cli", "retriever selection per input (RSPG): score | data | train | select"),
    "scrub": ("lamp.privacy.scrub", "replace PII in a questions file by per-user placeholders"),
    "ropg": ("ropg.cli", "ROPG: the LLM's feedback per profile item, and retriever training from it (KD, RL)"),
}


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lamp", description="LaMP personalization harness.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Run 'lamp VERB --help' for a verb's flags and an example.\n\n"
                                            "example:\n  lamp run --config data/demo_run.json")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (module, help_text) in VERBS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == verb:
            importlib.import_module(module).configure(sp)
    return parser


def version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("lamp-harness")
    except metadata.PackageNotFoundError:
        from lamp import __version__

        return __version__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = argv[0] if argv and argv[0] in VERBS else None
    try:
        parser = build_parser(verb)
    except LampError as exc:                   # e.g. the verb needs an extra that is not installed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:                  # --help, --version, or a usage error (argparse printed it)
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 2
    if verb is None:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return run_verb(importlib.import_module(VERBS[verb][0]).run, args)


def run_verb(func, args) -> int:
    """Call a verb, turning user errors into one message on stderr and exit code 2."""
    try:
        return int(func(args) or 0)
    except LampError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
        return 130


def script_main(configure, run, argv: Sequence[str] | None = None, prog: str | None = None,
                description: str | None = None) -> int:
    """Entry point for the official-style scripts (``python rank_profiles.py ...``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run_verb(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
