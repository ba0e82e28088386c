"""Flag groups that several verbs share, so each is spelled (and documented) once."""

from __future__ import annotations

import argparse


def add_prompt_flags(parser: argparse.ArgumentParser, k: int, retriever_help: str) -> None:
    """The official evaluation flags for the profile, the prompt and beam search (``evaluate_llm.py`` and
    RSPG's scorer)."""
    parser.add_argument("--use_profile", action="store_true", help="personalize the prompts with profile items")
    parser.add_argument("--retriever", default="bm25", help=retriever_help)
    parser.add_argument("--is_ranked", action="store_true", help="profiles are already in ranked order")
    parser.add_argument("--num_retrieved", type=int, default=k, help=f"k, profile items in the prompt (default {k})")
    parser.add_argument("--max_length", type=int, default=256, help="prompt token budget (default 256)")
    parser.add_argument("--generation_max_length", type=int, default=128, help="max generated tokens (default 128)")
    parser.add_argument("--generation_num_beams", "--num_beams", dest="num_beams", type=int, default=4,
                        help="beam search width (official name; --num_beams is an alias; default 4)")
