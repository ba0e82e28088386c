"""``lamp rank`` and ``rank_profiles.py``: rank each question's profile into the official ranking file."""

from __future__ import annotations

import argparse

from lamp.core.tasks import TASKS

EXAMPLE = """example:
  lamp rank --input_data_addr data/demo/LaMP_2/dev/dev_questions.json \\
      --output_ranking_addr runs/LaMP_2_dev_bm25.json --task LaMP-2 --ranker bm25
  lamp rank ... --ranker contriever --contriever_checkpoint facebook/contriever --use_date
  lamp rank ... --ranker rrf --fuse bm25,contriever --rrf_k 60
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--input_data_addr", "--input", required=True,
                        help="questions file (or an official folder/zip holding exactly one)")
    parser.add_argument("--output_ranking_addr", "--output", required=True,
                        help="where to write {question id: [profile ids, best first]}")
    parser.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    from retrievers.base import add_retriever_flags, retriever_names

    parser.add_argument("--ranker", default="bm25", choices=retriever_names())
    parser.add_argument("--use_date", action="store_true", help="append ' date: {date}' to every document")
    add_retriever_flags(parser)         # every registered retriever's options (rankers that take each in brackets)
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    from lamp.privacy.scrub import add_scrub_flag

    add_scrub_flag(parser)


def run(args: argparse.Namespace) -> int:
    from lamp.core.errors import LampError
    from lamp.core.files import check_distinct_outputs
    from lamp.privacy.scrub import set_active
    from retrievers.ranking import partial_path_for

    partial = partial_path_for(args.output_ranking_addr)
    check_distinct_outputs([args.input_data_addr], [args.output_ranking_addr, partial])
    set_active(args.scrub)
    had_partial = partial.exists()
    try:
        ranking = _rank(args)
    except LampError:
        if not had_partial:          # an error, not a kill: leave nothing half-written behind
            partial.unlink(missing_ok=True)
        raise
    print(f"ranked {len(ranking)} questions -> {args.output_ranking_addr}")
    return 0


def _rank(args: argparse.Namespace) -> dict:
    from retrievers.base import retriever_kwargs
    from retrievers.ranking import rank_file

    return rank_file(args.input_data_addr, args.output_ranking_addr, args.task, args.ranker,
                     use_date=args.use_date, progress=not args.no_progress, **retriever_kwargs(args))
