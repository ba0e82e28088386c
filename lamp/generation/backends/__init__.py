"""LLM backends, each a registry entry loaded lazily (see :mod:`lamp.generation.backends.base`)."""

from lamp.generation.backends.base import BACKENDS, Backend, Example, GenerationSettings, load_backend

__all__ = ["BACKENDS", "Backend", "Example", "GenerationSettings", "load_backend"]
