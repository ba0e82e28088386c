"""``lamp run``: the flags of :class:`~lamp.pipeline.run.RunConfig` (one per key, ``--scrub`` among
them) and ``--config FILE``; the pipeline itself is :func:`lamp.pipeline.run.run_pipeline`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamp.core.settings import add_flags, from_args
from lamp.pipeline.run import RunConfig, run_pipeline
from retrievers.base import retriever_options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON or YAML (.yaml/.yml) file with any of these keys; flags override it")
    options = ", ".join(f"{name} ({', '.join(users)})" for name, users in retriever_options().items())
    add_flags(parser, RunConfig, help_extra={"retriever_options": f"; options: {options}"})
    parser.epilog = ("examples:\n  lamp run --config data/demo_run.json\n"
                     "  lamp run --config my_run.yaml --limit 10\n"
                     "  lamp run --tasks LaMP-3 --retrievers none bm25 --k 4 --limit 20 --output_dir runs/try\n"
                     "  lamp run --backend openai --model llama-3-8b "
                     "--backend_options '{\"base_url\": \"http://127.0.0.1:8000/v1\", \"chat\": true, "
                     "\"tokenizer\": \"meta-llama/Llama-3.1-8B-Instruct\"}'")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the config file, then the flags; validated before anything is written."""
    cfg = from_args(RunConfig, args, config=args.config)
    cfg.validate(args.config or "the run flags")
    return cfg


def run(args: argparse.Namespace) -> int:
    result = run_pipeline(config_from_args(args))
    report = Path(result["run_dir"]) / "report.md"
    if report.exists():
        print(report.read_text(encoding="utf-8"))
    print(f"run directory: {result['run_dir']}")
    return 0
