"""``lamp rank`` and ``lamp merge``, and the official ``rank_profiles.py`` / ``merge_with_rank.py``.

Ranking writes the official ranking file ``{question id: [profile ids, best first]}`` with
:func:`retrievers.ranking.rank_file`; merging writes the sorted dataset of
:func:`retrievers.merge.merge_with_rank`. ``rank_profiles.py`` works for every task, LaMP-2 included
(the official script crashes there, reference §2.2); as officially its ``--ranker`` is required and
``--ranker contriever`` ranks with ``facebook/contriever`` (``--contriever_checkpoint``): offline
without it in the Hugging Face cache the script stops and says so (``--contriever_checkpoint
all-MiniLM-L6-v2`` picks the bundled encoder, whose numbers differ from the paper's). ``lamp rank``
keeps the bundled encoder as its default.
"""

from __future__ import annotations

import argparse

from lamp.core.errors import LampError
from lamp.core.outputs import load_outputs, load_rankings
from lamp.core.questions import load_questions
from lamp.core.tasks import TASKS
from lamp.core.writing import check_distinct_outputs, write_json
from lamp.privacy.scrub import add_scrub_flag, scrub_transform
from retrievers.base import add_retriever_flags, retriever_kwargs, retriever_names
from retrievers.merge import merge_with_rank
from retrievers.official import CONTRIEVER, announce, require_official
from retrievers.ranking import partial_path_for, rank_file

RANK_EXAMPLE = """example:
  lamp rank --input_data_addr data/demo/LaMP_2/dev/dev_questions.json \\
      --output_ranking_addr runs/LaMP_2_dev_bm25.json --task LaMP-2 --ranker bm25
  lamp rank ... --ranker contriever --contriever_checkpoint facebook/contriever --use_date
  lamp rank ... --ranker rrf --fuse bm25,contriever --rrf_k 60
"""

MERGE_EXAMPLE = """example:
  lamp merge --lamp_questions_addr data/demo/LaMP_2/dev/dev_questions.json \\
      --lamp_output_addr data/demo/LaMP_2/dev/dev_outputs.json \\
      --profile_ranking_addr runs/LaMP_2_dev_bm25.json --merged_output_addr runs/LaMP_2_dev_sorted.json
"""


# --------------------------------------------------------------------------- lamp rank / rank_profiles.py

def configure_rank(parser: argparse.ArgumentParser, official: bool = False) -> None:
    """``lamp rank``'s flags; ``official``: ``rank_profiles.py``'s, where ``--ranker`` is required."""
    parser.epilog = RANK_EXAMPLE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--input_data_addr", "--input", required=True,
                        help="questions file (or an official folder/zip holding exactly one)")
    parser.add_argument("--output_ranking_addr", "--output", required=True,
                        help="where to write {question id: [profile ids, best first]}")
    parser.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    parser.add_argument("--ranker", required=official, default=None if official else "bm25",
                        choices=retriever_names())
    parser.add_argument("--use_date", action="store_true", help="append ' date: {date}' to every document")
    add_retriever_flags(parser)         # every registered retriever's options (rankers that take each in brackets)
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    add_scrub_flag(parser)


def run_rank(args: argparse.Namespace) -> int:
    partial = partial_path_for(args.output_ranking_addr)
    check_distinct_outputs([args.input_data_addr], [args.output_ranking_addr, partial])
    had_partial = partial.exists()
    try:
        ranking = rank_file(args.input_data_addr, args.output_ranking_addr, args.task, args.ranker,
                            use_date=args.use_date, progress=not args.no_progress,
                            transform=scrub_transform(args.scrub), **retriever_kwargs(args))
    except LampError:
        if not had_partial:          # an error, not a kill: leave nothing half-written behind
            partial.unlink(missing_ok=True)
        raise
    print(f"ranked {len(ranking)} questions -> {args.output_ranking_addr}")
    return 0


def configure_official_rank(parser: argparse.ArgumentParser) -> None:
    """``rank_profiles.py``: ``lamp rank``'s flags with the official requirements and defaults."""
    configure_rank(parser, official=True)


def run_official_rank(args: argparse.Namespace) -> int:
    """``rank_profiles.py``: ``--ranker contriever`` means the official ``facebook/contriever`` unless
    ``--contriever_checkpoint`` names another; never a silent substitute."""
    if args.ranker == "contriever":
        given = getattr(args, "retriever_contriever_checkpoint", None)
        name = given or require_official(CONTRIEVER, script="rank_profiles.py", what="Contriever checkpoint",
                                         flag="--contriever_checkpoint")
        args.retriever_contriever_checkpoint = name
        announce("rank_profiles.py", "encoder", name, CONTRIEVER)
    return run_rank(args)


# --------------------------------------------------------------------------- lamp merge / merge_with_rank.py

def configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.epilog = MERGE_EXAMPLE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--lamp_questions_addr", required=True, help="questions file")
    parser.add_argument("--lamp_output_addr", default=None, help="outputs file {task, golds} (omit for test)")
    parser.add_argument("--profile_ranking_addr", default=None, help="ranking file (omit: keep file order)")
    parser.add_argument("--merged_output_addr", required=True, help="where to write the sorted dataset")
    parser.add_argument("--task", default=None, help="task name, to check item fields and the outputs' task")
    parser.add_argument("--allow_missing_outputs", action="store_true",
                        help='write "output": null for questions missing from the outputs file')


def run_merge(args: argparse.Namespace) -> int:
    check_distinct_outputs([args.lamp_questions_addr, args.lamp_output_addr, args.profile_ranking_addr],
                           [args.merged_output_addr])
    questions = load_questions(args.lamp_questions_addr, task=args.task)
    outputs = load_outputs(args.lamp_output_addr, task=args.task).by_id() if args.lamp_output_addr else None
    ranking = load_rankings(args.profile_ranking_addr) if args.profile_ranking_addr else None
    merged = merge_with_rank(questions, outputs, ranking, allow_missing_outputs=args.allow_missing_outputs,
                             ranking_file=args.profile_ranking_addr, outputs_file=args.lamp_output_addr)
    write_json(args.merged_output_addr, merged)
    print(f"merged {len(merged)} questions -> {args.merged_output_addr}")
    return 0
