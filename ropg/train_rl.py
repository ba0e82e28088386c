"""The official ``train_rl.py`` command line (same flags): ROPG-RL, over :mod:`ropg.train`.

    python ropg/train_rl.py --train_data merged_train.json --scores_path scores.json --task LaMP-2 \\
        --checkpoint_dir checkpoints --name rl --do_train [--per_gpu_batch_size 8 --accumulation_steps 8]

Reinforcement learning: items are sampled from the retriever's distribution and the LLM's feedback
on the sampled item, less that on the initial top-1 item, is the reward of a policy-gradient step
(reference §6.4).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("train_rl.py"))
