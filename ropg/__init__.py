"""ROPG: optimise a retriever from the LLM's feedback (knowledge distillation and RL)."""

from retrievers.base import RETRIEVERS

RETRIEVERS.load_with("ropg.oracle")          # the `oracle` ranker: items ordered by their measured feedback
