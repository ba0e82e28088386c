"""The official ``train_kd.py`` command line (same flags), over :mod:`ropg.train` (ROPG-KD).

    python ropg/train_kd.py --train_data merged_train.json --scores_path scores.json --task LaMP-2 \\
        --checkpoint_dir checkpoints --name kd --do_train [--per_gpu_batch_size 8 --accumulation_steps 8]
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli import script_main  # noqa: E402
from ropg.train import configure_train, run_train  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure_train, run_train, prog="train_kd.py", argv=sys.argv[1:] + ["--method", "kd"],
                         description="Train the retriever from the LLM's feedback (ROPG-KD)."))
