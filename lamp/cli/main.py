"""The ``lamp`` command: one verb per capability, each a small module loaded only when used.

Each verb module defines ``configure(parser)`` (flags, with an example in the epilog) and
``run(args) -> int``. User errors (:class:`LampError`) print one clear message and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Mapping, Sequence

import lamp
import lamp.cli.registrations  # noqa: F401  (the higher layers' backends and rankers, registered)
from lamp.core.errors import LampError
from lamp.core.registry import Registry
from lamp.core.settings import accept_both_spellings

#: verb -> (module, one-line help). Modules are imported lazily so ``lamp --help`` is instant.
#: "pkg.mod" runs that module's configure/run; "pkg.mod:NAME" its configure_NAME/run_NAME (a module
#: holding several verbs, as ``eval.cli``).
VERBS: Registry[tuple[str, str]] = Registry("verb", {
    "tasks": ("lamp.cli.tasks", "print the task registry"),
    "validate": ("lamp.cli.validate", "check LaMP questions/outputs files and report every problem"),
    "data": ("lamp.cli.data", "download the official LaMP files, or LongLaMP / LaMP-QA via Hugging Face datasets"),
    "rank": ("retrievers.cli:rank", "rank each user's profile for each question"),
    "merge": ("retrievers.cli:merge", "merge questions, a ranking and outputs into one sorted dataset"),
    "eval": ("eval.cli", "score predictions (one task, or zips/folders of all tasks)"),
    "compare": ("eval.cli:compare", "paired significance test between two prediction sets"),
    "report": ("eval.cli:report", "markdown/HTML report of one or many runs"),
    "submit": ("eval.cli:submit", "pack a leaderboard zip from prediction files"),
    "judge": ("eval.cli:judge", "score LaMP-QA answers with an LLM judge (rubric aspects 0/1/2)"),
    "run": ("lamp.cli.run", "the whole pipeline: rank, prompt, generate, score, report"),
    "serve": ("lamp.cli.serve", "HTTP service: personalized generation and an OpenAI-compatible API"),
    "train": ("lamp.cli.train", "fine-tune the LLM with retrieval (train_llm)"),
    "adapters": ("lamp.cli.adapters", "train and use one LoRA adapter per user"),
    "uemb": ("lamp.cli.uemb", "personalize with a user embedding: train, predict, compare methods"),
    "rspg": ("rspg.cli", "retriever selection per input (RSPG): score | data | train | select"),
    "scrub": ("lamp.cli.scrub", "replace PII in a questions file by per-user placeholders"),
    "ropg": ("ropg.cli", "ROPG: the LLM's feedback per profile item, and retriever training from it (KD, RL)"),
})


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
            verb_functions(module)[0](sp)
            accept_both_spellings(sp)          # --max_length and --max-length alike
    return parser


def verb_functions(target: str) -> tuple[Callable[[argparse.ArgumentParser], None],
                                          Callable[[argparse.Namespace], int]]:
    """A verb's (configure, run), imported now: see :data:`VERBS` for the two spellings of ``target``."""
    module, _, name = target.partition(":")
    loaded = importlib.import_module(module)
    suffix = f"_{name}" if name else ""
    return getattr(loaded, "configure" + suffix), getattr(loaded, "run" + suffix)


def version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("lamp-harness")
    except metadata.PackageNotFoundError:
        return lamp.__version__


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
    return run_verb(verb_functions(VERBS[verb][0])[1], args)


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


#: A sub-command of a verb: (configure(parser), run(args) -> exit code, one-line help).
SubVerb = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]


def add_subverbs(parser: argparse.ArgumentParser, commands: Mapping[str, SubVerb], dest: str,
                 epilog: str | None = None) -> None:
    """Give a verb its sub-commands (``lamp rspg score``), each with its own flags, help and run;
    :func:`run_subverb` then calls the chosen one. ``dest`` names the chosen command in ``args``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = epilog
    sub = parser.add_subparsers(dest=dest, metavar="COMMAND", required=True)
    for name, (configure, run, help_text) in commands.items():
        sp = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        configure(sp)
        sp.set_defaults(run_subverb=run)


def run_subverb(args: argparse.Namespace) -> int:
    """Run the sub-command :func:`add_subverbs` chose (taken out of ``args`` first, so that a run that
    records ``vars(args)`` sees only its flags)."""
    return vars(args).pop("run_subverb")(args)


def script_main(configure, run, argv: Sequence[str] | None = None, prog: str | None = None,
                description: str | None = None) -> int:
    """Entry point for the official-style scripts (``python rank_profiles.py ...``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run_verb(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
