"""Retrievers: rank each user's profile items for the current input (reference §2)."""
