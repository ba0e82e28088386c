"""LLM backends, each a registry entry loaded lazily (see :mod:`lamp.backends.base`)."""

from lamp.backends.base import BACKENDS, Backend, Example, GenerationSettings, load_backend, register_backend

__all__ = ["BACKENDS", "Backend", "Example", "GenerationSettings", "load_backend", "register_backend"]
