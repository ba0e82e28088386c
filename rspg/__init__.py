"""RSPG: pick one retriever per input (Pre and Post generation)."""
