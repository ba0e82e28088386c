"""The official ``train_llm.py`` command line (reference §4), over :mod:`lamp.training.llm`.

    python lamp/train_llm.py --train_data train_sorted.json --validation_data dev_sorted.json \\
        --model_name google/flan-t5-base --task LaMP-2 --output_dir runs/lamp2 \\
        --use_profile --is_ranked --num_retrieved 4

Same flags and defaults as the official script, plus those of ``lamp train`` (``--config``,
``--lora``, ``--save_steps``, ``--resume``, ``--report_to``, ``--train_outputs`` …); see
:mod:`lamp.training.llm` for data shapes, outputs, resuming and multi-GPU launches
(``torchrun --nproc_per_node 8 lamp/train_llm.py ...``).
"""

import sys

from lamp.cli.main import script_main
from lamp.cli.train import configure_official, run

if __name__ == "__main__":
    sys.exit(script_main(configure_official, run, prog="train_llm.py",
                         description="Fine-tune an LLM on a LaMP task with retrieval-augmented prompts."))
