"""The official ``rank_profiles.py`` command line (same flags, same defaults), over :mod:`retrievers.rank`.

Works for every task, LaMP-2 included (the official script crashes there, reference §2.2). As
officially, ``--ranker`` is required and ``--ranker contriever`` ranks with ``facebook/contriever``
(``--contriever_checkpoint``); offline without it in the Hugging Face cache, the script stops and
says so (``--contriever_checkpoint all-MiniLM-L6-v2`` picks the bundled encoder, whose numbers
differ from the paper's). ``lamp rank`` keeps the bundled encoder as its default.
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli.main import script_main  # noqa: E402
from retrievers import rank  # noqa: E402

PROG = "rank_profiles.py"


def configure(parser: argparse.ArgumentParser) -> None:
    """``lamp rank``'s flags with the official requirements and defaults."""
    rank.configure(parser)
    for action in parser._actions:
        if action.dest == "ranker":
            action.required, action.default = True, None


def run(args: argparse.Namespace) -> int:
    from retrievers.official import CONTRIEVER, announce, require_official

    if args.ranker == "contriever":
        given = getattr(args, "retriever_contriever_checkpoint", None)
        name = given or require_official(CONTRIEVER, script=PROG, what="Contriever checkpoint",
                                         flag="--contriever_checkpoint")
        args.retriever_contriever_checkpoint = name
        announce(PROG, "encoder", name, CONTRIEVER)
    return rank.run(args)


if __name__ == "__main__":
    sys.exit(script_main(configure, run, prog=PROG, description="Rank each user's profile for each question."))
