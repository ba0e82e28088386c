"""The official ``profile_item_utilization_scorer.py`` command line (same flags), over :mod:`ropg.feedback`.

    python ropg/profile_item_utilization_scorer.py --train_data merged_train.json --model_name MODEL \\
        --task LaMP-2 --output_dir feedback --profile_size 16 [--start_index 0 --end_index 800]

``--model_name`` is required, as officially.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("profile_item_utilization_scorer.py"))
