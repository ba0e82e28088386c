"""Retrievers: rank each user's profile items for the current input (reference §2)."""

from retrievers.base import Query, Retriever, get_retriever, retriever_names
from retrievers.ranking import rank_file, rank_questions

__all__ = ["Query", "Retriever", "get_retriever", "rank_file", "rank_questions", "retriever_names"]
