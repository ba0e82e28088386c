"""``lamp train`` and the official ``train_llm.py``: the flags of :class:`~lamp.training.llm.TrainConfig`
and ``--config FILE``; the training itself is :func:`lamp.training.llm.train_llm`.

``lamp train`` spells the model ``--model`` (``--model_name`` an alias) and accepts both spellings
of every flag; ``train_llm.py`` offers exactly the official names (:func:`configure_official`).
"""

from __future__ import annotations

import argparse
import json

from lamp.core.settings import add_flags, from_args
from lamp.training.llm import TrainConfig, train_llm

EPILOG = ("example:\n  lamp train --task LaMP-3 --model SmolLM2-135M-Instruct --use_profile "
          "--num_retrieved 1 \\\n    --train_data data/demo/LaMP_3/train/train_questions.json "
          "--validation_data data/demo/LaMP_3/dev/dev_questions.json \\\n"
          "    --output_dir runs/lamp3 --lora --num_train_epochs 2 --generation_num_beams 1")


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON or YAML (.yaml/.yml) file whose keys are these settings; "
                                         "flags override it")


def configure(parser: argparse.ArgumentParser) -> None:
    """``lamp train``: one flag per setting, the model as ``--model``."""
    _config_flag(parser)
    add_flags(parser, TrainConfig, rename={"model_name": "model"})
    parser.epilog = EPILOG


def configure_official(parser: argparse.ArgumentParser) -> None:
    """``train_llm.py``: the official flag names exactly (``--model_name`` …), plus ``--config``."""
    _config_flag(parser)
    add_flags(parser, TrainConfig, aliases=False)
    parser.epilog = EPILOG.replace("lamp train", "python lamp/train_llm.py").replace("--model ", "--model_name ")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Dataclass defaults, then the config file, then the flags given on the command line."""
    return from_args(TrainConfig, args, config=getattr(args, "config", None))


def run(args: argparse.Namespace) -> int:
    result = train_llm(config_from_args(args))
    print(json.dumps({"output_dir": result.output_dir, "best_checkpoint": result.best_checkpoint,
                      "dev_predictions": result.dev_predictions, "test_predictions": result.test_predictions,
                      "metrics": result.metrics}, indent=1))
    return 0
