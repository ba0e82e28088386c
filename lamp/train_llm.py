"""The official ``train_llm.py`` command line (reference §4), over :mod:`lamp.cli.train` and :mod:`lamp.training.llm`.

    python lamp/train_llm.py --train_data train_sorted.json --validation_data dev_sorted.json \\
        --model_name google/flan-t5-base --task LaMP-2 --output_dir runs/lamp2 \\
        --use_profile --is_ranked --num_retrieved 4

Same flags and defaults as the official script, plus those of ``lamp train`` (``--config``,
``--lora``, ``--save_steps``, ``--resume``, ``--report_to``, ``--train_outputs`` …); see
:mod:`lamp.training.llm` for data shapes, outputs, resuming and multi-GPU launches
(``torchrun --nproc_per_node 8 lamp/train_llm.py ...``).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("train_llm.py"))
