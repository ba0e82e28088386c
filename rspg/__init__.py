"""RSPG: pick one retriever per input (Pre and Post generation)."""

from retrievers.base import RETRIEVERS

RETRIEVERS.load_with("rspg.retriever")       # the `rspg-pre` ranker: a trained selector picks one per input
