"""Flag groups that several verbs share, so each is spelled (and documented) once."""

from __future__ import annotations

import argparse

from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL


def add_prompt_flags(parser: argparse.ArgumentParser, k: int, retriever_help: str) -> None:
    """The official evaluation flags for the profile, the prompt and beam search (``evaluate_llm.py`` and
    RSPG's scorer)."""
    parser.add_argument("--use_profile", action="store_true", help="personalize the prompts with profile items")
    parser.add_argument("--retriever", default="bm25", help=retriever_help)
    parser.add_argument("--is_ranked", action="store_true", help="profiles are already in ranked order")
    parser.add_argument("--num_retrieved", type=int, default=k, help=f"k, profile items in the prompt (default {k})")
    parser.add_argument("--max_length", type=int, default=OFFICIAL.max_input_length,
                        help=f"prompt token budget (default {OFFICIAL.max_input_length})")
    parser.add_argument("--generation_max_length", type=int, default=OFFICIAL.max_new_tokens,
                        help=f"max generated tokens (default {OFFICIAL.max_new_tokens})")
    parser.add_argument("--generation_num_beams", "--num_beams", dest="num_beams", type=int,
                        default=OFFICIAL.num_beams,
                        help=f"beam search width (official name; --num_beams is an alias; default {OFFICIAL.num_beams})")


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that pick and reach the LLM backend (``evaluate_llm.py`` and ``lamp ropg score``)."""
    parser.add_argument("--backend", default="auto",
                        help="auto (openai with --base_url, else seq2seq or causal from the model's config) | "
                             "hf-seq2seq | hf-causal | openai | dummy | ...")
    parser.add_argument("--base_url", default=None,
                        help="--backend openai: the OpenAI-compatible server, or several replicas separated by "
                             "commas (default $OPENAI_BASE_URL; the key comes from $OPENAI_API_KEY)")
    parser.add_argument("--tokenizer", default=None,
                        help="--backend openai: the served model's tokenizer (folder, hub id, the bundled model's "
                             "name, or 'chars/4'), for the prompt budget and to score labels and log-likelihoods")
    parser.add_argument("--chat", action="store_true",
                        help="--backend openai: chat endpoint (instruct models), and prompts scored with the "
                             "tokenizer's chat template")


def add_dtype_flag(parser: argparse.ArgumentParser, official: bool) -> None:
    """``--dtype`` of a local LLM: the official feedback runs float32; the ``lamp`` verbs default to
    the backend's choice (bfloat16 on a GPU that has it, else float32)."""
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32" if official else None,
                        help="precision of a local LLM (" + ("float32, as officially" if official else
                        "default: bfloat16 on a GPU that supports it, else float32; float32 as officially") + ")")
