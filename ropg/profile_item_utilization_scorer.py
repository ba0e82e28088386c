"""The official ``profile_item_utilization_scorer.py`` command line (same flags), over :mod:`ropg.feedback`.

    python ropg/profile_item_utilization_scorer.py --train_data merged_train.json --model_name MODEL \\
        --task LaMP-2 --output_dir feedback --profile_size 16 [--start_index 0 --end_index 800]
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli.main import script_main  # noqa: E402
from ropg.cli import configure_score, run_score  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure_score, run_score, prog="profile_item_utilization_scorer.py",
                         description="The LLM's feedback on each profile item (ROPG)."))
