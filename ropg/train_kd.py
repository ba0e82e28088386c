"""The official ``train_kd.py`` command line (same flags): ROPG-KD, over :mod:`ropg.train`.

Knowledge distillation: the retriever's softmax over a question's profile items is pulled towards
the softmax of the LLM's feedback on each item (reference §6.3). As officially: ``facebook/contriever``
to start from, the double-softmax loss, documents with dates, 1,000 steps of batch 1.

    python ropg/train_kd.py --train_data merged_train.json --scores_path scores.json --task LaMP-2 \\
        --checkpoint_dir checkpoints --name kd --do_train [--per_gpu_batch_size 8 --accumulation_steps 8]
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("train_kd.py"))
