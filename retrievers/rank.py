"""``lamp rank`` and ``rank_profiles.py``: rank each question's profile into the official ranking file."""

from __future__ import annotations

import argparse

from lamp.tasks import TASKS

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
    from retrievers.base import retriever_names

    parser.add_argument("--ranker", default="bm25", choices=retriever_names())
    parser.add_argument("--batch_size", type=int, default=16, help="encoder batch size (dense rankers)")
    parser.add_argument("--use_date", action="store_true", help="append ' date: {date}' to every document")
    parser.add_argument("--contriever_checkpoint", default=None,
                        help="encoder folder (save_pretrained) or hub id; default: the bundled all-MiniLM-L6-v2")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random ranker")
    parser.add_argument("--fuse", default="bm25,recency", help="rrf: comma-separated rankers to fuse")
    parser.add_argument("--rrf_k", type=float, default=60.0, help="rrf: the k in 1/(k + rank)")
    parser.add_argument("--workers", type=int, default=0, help="bm25 worker processes (0: one per core)")
    parser.add_argument("--feedback_scores", default=None,
                        help="oracle: the per-item feedback of 'lamp ropg score' (items ranked by it)")
    parser.add_argument("--feedback_metric", default=None,
                        help="oracle: the feedback key to rank by (default accuracy, mae or rouge-1)")
    parser.add_argument("--embedding_cache", default=None,
                        help="embedding cache folder (default $LAMP_CACHE_DIR/embeddings or ~/.cache/lamp/embeddings)")
    parser.add_argument("--no_embedding_cache", action="store_true", help="encode every text, store nothing")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    from lamp.scrub import add_scrub_flag

    add_scrub_flag(parser)


def run(args: argparse.Namespace) -> int:
    from lamp.errors import LampError
    from lamp.files import check_distinct_outputs
    from lamp.scrub import set_active
    from retrievers.ranking import partial_path_for

    if args.batch_size < 1:
        raise LampError(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.workers < 0:
        raise LampError(f"--workers must be 0 (one per core) or more, got {args.workers}")
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
    from retrievers.ranking import rank_file

    return rank_file(args.input_data_addr, args.output_ranking_addr, args.task, args.ranker,
                     use_date=args.use_date, progress=not args.no_progress,
                     batch_size=args.batch_size, contriever_checkpoint=args.contriever_checkpoint,
                     seed=args.seed, members=args.fuse, rrf_k=args.rrf_k, workers=args.workers,
                     embedding_cache=args.embedding_cache, use_cache=not args.no_embedding_cache,
                     feedback_scores=args.feedback_scores, feedback_metric=args.feedback_metric)
