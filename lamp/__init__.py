"""LaMP harness core: data format, task registry, prompts, LLM backends, training, pipeline, CLI."""

__version__ = "0.1.0"
